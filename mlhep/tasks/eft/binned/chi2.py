"""The chi2 of a binned EFT fit, its per-dataset split and per-point pulls.

``chi2 = (d - t)^T C^-1 (d - t)``, whitened by the Cholesky factor of C (:mod:`mlhep.stats.chi2`), in float64
(covariances of LHC top data have condition numbers near 1e10).
"""
from __future__ import annotations

import numpy as np

from mlhep.stats.chi2 import Whitening, chi2_per_block


def chi2(theory, data, cholesky):
    """Scalar chi2 of theory (n,) against data (n,) with the lower Cholesky factor (n, n) of the covariance."""
    return Whitening(cholesky).chi2(data - theory)


def chi2_per_dataset(theory: np.ndarray, data: np.ndarray, covariance: np.ndarray,
                     sizes: np.ndarray) -> np.ndarray:
    """(D,) chi2 of each dataset with its own diagonal block of the covariance (cross-correlations dropped)."""
    return chi2_per_block(data - theory, covariance, sizes)


def pulls(theory: np.ndarray, data: np.ndarray, covariance: np.ndarray) -> np.ndarray:
    """(n,) per-point pulls (d - t) / sqrt(C_nn)."""
    return (data - theory) / np.sqrt(np.diag(covariance))
