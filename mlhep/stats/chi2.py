"""chi2 of residuals with an experimental covariance, in total and per dataset block (float64, numpy)."""
from __future__ import annotations

import numpy as np


def chi2(residual: np.ndarray, covariance: np.ndarray) -> float:
    """``r^T C^-1 r`` for residual (n,) and covariance (n, n)."""
    return float(residual @ np.linalg.solve(covariance, residual))


def chi2_per_block(residual: np.ndarray, covariance: np.ndarray, sizes) -> np.ndarray:
    """(D,) chi2 of each consecutive block of ``sizes`` points with its own diagonal covariance block
    (correlations between blocks dropped, as in per-dataset chi2 tables)."""
    edges = np.concatenate([[0], np.cumsum(np.asarray(sizes, dtype=int))])
    return np.array([chi2(residual[a:b], covariance[a:b, a:b]) for a, b in zip(edges[:-1], edges[1:])])
