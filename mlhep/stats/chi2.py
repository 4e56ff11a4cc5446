"""chi2 = r^T C^-1 r, computed one way in every task: whitening by the Cholesky factor of the covariance.

With C = L L^T (L lower triangular), C^-1 = L^-T L^-1, so r^T C^-1 r = |L^-1 r|^2: one triangular solve per
residual, never an explicit inverse. This is also the stable way: the covariances of LHC data have condition
numbers near 1e10, and the triangular solve loses only sqrt of that. All float64.

``whiten`` is the primitive: numpy in, numpy out (scipy); jax arrays in, jax out (jit-, vmap- and grad-able).
A :class:`Whitening` is built once per covariance and reused for every residual, replica and table.
"""
from __future__ import annotations

from dataclasses import dataclass

import jax
import numpy as np
import scipy.linalg


def whiten(lower, x):
    """L^-1 x for the lower Cholesky factor ``lower`` (..., n, n) of C and ``x`` (..., n) or (..., n, m)
    (columns are whitened; leading axes are a batch of factors, as in ``solve_triangular``)."""
    if isinstance(lower, np.ndarray) and isinstance(x, np.ndarray):
        return scipy.linalg.solve_triangular(lower, x, lower=True)
    return jax.scipy.linalg.solve_triangular(lower, x, lower=True)


@dataclass(frozen=True)
class Whitening:
    """The whitening L^-1 of one covariance C = L L^T; ``lower`` (n, n) numpy or jax."""

    lower: np.ndarray | jax.Array

    @classmethod
    def of(cls, covariance: np.ndarray) -> Whitening:
        """Factorise a symmetric positive-definite covariance (n, n); ``np.linalg.LinAlgError`` if it is not
        (callers check their data first, e.g. with :func:`mlhep.stats.checks.cholesky`, to name the dataset)."""
        return cls(np.linalg.cholesky(np.asarray(covariance, dtype=np.float64)))

    def whiten(self, x):
        """L^-1 x for x (n,) or (n, m): residuals, data or model tables whose chi2 is then a plain sum of squares."""
        return whiten(self.lower, x)

    def chi2(self, residual):
        """r^T C^-1 r for residual (..., n) (one row per replica, say) -> (...)."""
        shape = residual.shape
        w = self.whiten(residual.reshape(int(np.prod(shape[:-1])), shape[-1]).T)
        return (w ** 2).sum(axis=0).reshape(shape[:-1])

    def precision(self) -> np.ndarray:
        """C^-1 (n, n), symmetrised (numpy): for the quadratic forms that need the matrix itself."""
        lower = np.asarray(self.lower)
        inverse = scipy.linalg.cho_solve((lower, True), np.eye(len(lower)))
        return 0.5 * (inverse + inverse.T)


def chi2(residual: np.ndarray, covariance: np.ndarray):
    """r^T C^-1 r for residual (..., n) and covariance (n, n) -> (...) (a float for one residual)."""
    return Whitening.of(covariance).chi2(residual)


def chi2_per_block(residual: np.ndarray, covariance: np.ndarray, sizes) -> np.ndarray:
    """(D,) chi2 of each consecutive block of ``sizes`` points with its own diagonal covariance block
    (correlations between blocks dropped, as in per-dataset chi2 tables)."""
    edges = np.concatenate([[0], np.cumsum(np.asarray(sizes, dtype=int))])
    return np.array([chi2(residual[a:b], covariance[a:b, a:b]) for a, b in zip(edges[:-1], edges[1:])])


def precision(covariance: np.ndarray) -> np.ndarray:
    """C^-1 (n, n) of a symmetric positive-definite covariance, through its Cholesky factor (float64)."""
    return Whitening.of(covariance).precision()
