"""A binned EFT fit as arrays: data, SM and EFT corrections, covariances, and the coefficient map."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import jax.numpy as jnp
import numpy as np

from mlhep.stats.covariance import covariance

from .chi2 import chi2
from .loader import DatasetTables
from .theory import CoefficientMap, correction_tables, predict


@dataclass(frozen=True)
class BinnedProblem:
    """Everything a fit needs, concatenated over datasets (n points in total, N coefficients, F free)."""

    datasets: tuple[str, ...]
    sizes: np.ndarray              # (D,) points per dataset
    orders: tuple[str, ...]        # (D,) theory order used per dataset
    central: np.ndarray            # (n,) measured central values
    sm: np.ndarray                 # (n,) best SM predictions
    linear: np.ndarray             # (n, N) linear EFT corrections
    quadratic: Optional[np.ndarray]  # (n, N, N) upper-triangular quadratic corrections, or None
    fit_covariance: np.ndarray     # (n, n) covariance in the chi2 (t0 if requested, + theory)
    sample_covariance: np.ndarray  # (n, n) covariance of the pseudo-data (experimental + theory)
    coefficients: CoefficientMap

    @property
    def fit_cholesky(self) -> np.ndarray:
        return np.linalg.cholesky(self.fit_covariance)

    @property
    def sample_cholesky(self) -> np.ndarray:
        return np.linalg.cholesky(self.sample_covariance)

    def theory(self, free_values):
        """Predictions (n,) for free coefficients (F,) (jit-able)."""
        full = free_values @ jnp.asarray(self.coefficients.matrix).T + self.coefficients.offset
        return predict(full, self.sm, self.linear, self.quadratic)

    def objective(self, cholesky=None):
        """``f(x, data) -> chi2`` for free coefficients x (F,) and data (n,): a pure, jit/vmap-able function."""
        L = jnp.asarray(self.fit_cholesky if cholesky is None else cholesky)
        M, c0 = jnp.asarray(self.coefficients.matrix), jnp.asarray(self.coefficients.offset)
        sm, lin = jnp.asarray(self.sm), jnp.asarray(self.linear)
        quad = None if self.quadratic is None else jnp.asarray(self.quadratic)

        def f(x, data):
            return chi2(predict(M @ x + c0, sm, lin, quad), data, L)

        return f

    def linearised(self) -> tuple[np.ndarray, np.ndarray]:
        """Linear model in the free coefficients: (A (n, F), base (n,)) with t = base + A x (no quadratic)."""
        M, c0 = self.coefficients.matrix, self.coefficients.offset
        return self.linear @ M, self.sm + self.linear @ c0


def build_problem(tables: list[DatasetTables], coefficients: CoefficientMap, use_quadratic: bool,
                  use_theory_covmat: bool, use_t0: bool) -> BinnedProblem:
    """Concatenate datasets; covariances from ``mlhep.stats.covariance`` (SMEFiT conventions: replicas are
    sampled with the experimental covariance, the chi2 uses the t0 one when ``use_t0``; the theory
    covariance, block diagonal per dataset, is added to both)."""
    blocks = [t.uncertainties for t in tables]
    experimental = covariance(blocks)
    fit = covariance(blocks, t0=[t.best_sm for t in tables]) if use_t0 else experimental
    if use_theory_covmat:
        theory_cov = _block_diagonal([t.theory_cov for t in tables])
        experimental, fit = experimental + theory_cov, fit + theory_cov
    linear, quadratic = correction_tables(tables, coefficients.names, use_quadratic)
    return BinnedProblem(
        datasets=tuple(t.name for t in tables),
        sizes=np.array([t.best_sm.size for t in tables]),
        orders=tuple(t.order for t in tables),
        central=np.concatenate([b.central for b in blocks]),
        sm=np.concatenate([t.best_sm for t in tables]),
        linear=linear, quadratic=quadratic,
        fit_covariance=fit, sample_covariance=experimental, coefficients=coefficients)


def _block_diagonal(matrices: list[np.ndarray]) -> np.ndarray:
    n = sum(m.shape[0] for m in matrices)
    out, start = np.zeros((n, n)), 0
    for m in matrices:
        out[start:start + m.shape[0], start:start + m.shape[0]] = m
        start += m.shape[0]
    return out
