"""A binned EFT fit as arrays: data, SM and EFT corrections, covariances, and the coefficient map."""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Optional

import jax.numpy as jnp
import numpy as np

from mlhep.errors import DataError
from mlhep.stats.chi2 import Whitening
from mlhep.stats.covariance import covariance

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

    @cached_property
    def fit_whitening(self) -> Whitening:
        """The whitening of the fit covariance: every chi2 of this problem goes through it."""
        return Whitening.of(self.fit_covariance)

    @property
    def fit_cholesky(self) -> np.ndarray:
        """Lower Cholesky factor (n, n) of the fit covariance."""
        return self.fit_whitening.lower

    @cached_property
    def sample_cholesky(self) -> np.ndarray:
        """Lower Cholesky factor (n, n) of the pseudo-data covariance."""
        return np.linalg.cholesky(self.sample_covariance)

    def theory(self, free_values):
        """Predictions (n,) for free coefficients (F,) (jit-able)."""
        return predict(self.coefficients.full(free_values), self.sm, self.linear, self.quadratic)

    def free_tables(self) -> tuple[np.ndarray, np.ndarray, Optional[np.ndarray]]:
        """The model in the free coefficients x: ``t = base + A x + x^T Q x`` per point.

        With c = M x + c0: base = sm + L c0 + c0^T Q c0, A = L M + c0^T (Q + Q^T) M, Q_free = M^T Q M.
        Returns base (n,), A (n, F), Q_free (n, F, F) or None. Only for a linear coefficient map.
        """
        if not self.coefficients.is_linear:
            raise ValueError("free_tables: the coefficient map has non-linear (UV) constraints")
        M, c0 = self.coefficients.matrix, self.coefficients.offset
        base, A = self.sm + self.linear @ c0, self.linear @ M
        if self.quadratic is None:
            return base, A, None
        Q = self.quadratic
        base = base + np.einsum("nij,i,j->n", Q, c0, c0)
        A = A + np.einsum("i,nij,jf->nf", c0, Q + np.swapaxes(Q, 1, 2), M)
        return base, A, np.einsum("if,nij,jg->nfg", M, Q, M)

    def whitened(self):
        """``(whiten, chi2)``: ``whiten(data (n,)) -> (n,)`` applies L^-1 (C = L L^T, the fit covariance) and
        ``chi2(x (F,), whitened_data (n,))`` is the chi2 with the tables pre-whitened, so the minimisation
        loop has no triangular solves, only small matrix products (which batch well under vmap). With non-linear
        (UV) constraints the tables stay those of the coefficients c, and c = c(x) is evaluated inside."""
        whitening = self.fit_whitening
        if not self.coefficients.is_linear:
            return self._whitened_nonlinear()
        base, A, Q = self.free_tables()
        base_w, A_w = whitening.whiten(base), whitening.whiten(A)
        Q_w = None if Q is None else whitening.whiten(Q.reshape(Q.shape[0], -1)).reshape(Q.shape)
        base_j, A_j = jnp.asarray(base_w), jnp.asarray(A_w)
        Q_j = None if Q_w is None else jnp.asarray(Q_w)
        whiten = Whitening(jnp.asarray(whitening.lower)).whiten

        def chi2_whitened(x, data_w):
            residual = data_w - base_j - A_j @ x
            if Q_j is not None:
                residual = residual - jnp.einsum("nfg,f,g->n", Q_j, x, x)
            return residual @ residual

        return whiten, chi2_whitened

    def _whitened_nonlinear(self):
        whitening, cmap = self.fit_whitening, self.coefficients
        sm_w, L_w = jnp.asarray(whitening.whiten(self.sm)), jnp.asarray(whitening.whiten(self.linear))
        Q = self.quadratic
        Q_w = None if Q is None else jnp.asarray(whitening.whiten(Q.reshape(Q.shape[0], -1)).reshape(Q.shape))
        whiten = Whitening(jnp.asarray(whitening.lower)).whiten

        def chi2_whitened(x, data_w):
            c = cmap.full(x)
            residual = data_w - sm_w - L_w @ c
            if Q_w is not None:
                residual = residual - jnp.einsum("nij,i,j->n", Q_w, c, c)
            return residual @ residual

        return whiten, chi2_whitened

    def objective(self):
        """``f(x, data) -> chi2`` for free coefficients x (F,) and data (n,): a pure, jit/vmap-able function."""
        whiten, chi2_whitened = self.whitened()
        return lambda x, data: chi2_whitened(x, whiten(data))

    def linearised(self, at: Optional[np.ndarray] = None) -> tuple[np.ndarray, np.ndarray]:
        """Linear model in the free coefficients: (A (n, F), base (n,)) with t = base + A x (no quadratic).

        With non-linear (UV) constraints it is the tangent at ``at`` (F,) (default: the centre of the bounds):
        A = L dc/dx, base = sm + L c(at) - A at."""
        cmap = self.coefficients
        if cmap.is_linear:
            return self.linear @ cmap.matrix, self.sm + self.linear @ cmap.offset
        at = 0.5 * (cmap.lower + cmap.upper) if at is None else np.asarray(at, dtype=float)
        A = self.linear @ cmap.jacobian(at)
        return A, self.sm + self.linear @ np.asarray(cmap.full(at)) - A @ at


def build_problem(tables: list[DatasetTables], coefficients: CoefficientMap, use_quadratic: bool,
                  use_theory_covmat: bool, use_t0: bool) -> BinnedProblem:
    """Concatenate datasets; covariances from ``mlhep.stats.covariance`` (SMEFiT conventions: replicas are
    sampled with the experimental covariance, the chi2 uses the t0 one when ``use_t0``; the theory
    covariance, block diagonal per dataset, is added to both)."""
    blocks = [t.uncertainties for t in tables]
    if use_t0:
        _check_t0_rescaling(tables)
    experimental = covariance(blocks)
    fit = covariance(blocks, t0=[t.best_sm for t in tables]) if use_t0 else experimental
    if use_theory_covmat:
        theory_cov = _block_diagonal([t.theory_cov for t in tables])
        experimental, fit = experimental + theory_cov, fit + theory_cov
    check_positive_definite(experimental, tables, "experimental")
    if use_t0:
        check_positive_definite(fit, tables, "t0")
    linear, quadratic = correction_tables(tables, coefficients.names, use_quadratic)
    return BinnedProblem(
        datasets=tuple(t.name for t in tables),
        sizes=np.array([t.best_sm.size for t in tables]),
        orders=tuple(t.order for t in tables),
        central=np.concatenate([b.central for b in blocks]),
        sm=np.concatenate([t.best_sm for t in tables]),
        linear=linear, quadratic=quadratic,
        fit_covariance=fit, sample_covariance=experimental, coefficients=coefficients)


def _check_t0_rescaling(tables: list[DatasetTables]) -> None:
    """t0 rescales MULT systematics by best_sm / data_central: a zero central value would make them infinite."""
    for table in tables:
        u = table.uncertainties
        mult = np.array([t == "MULT" for t in u.treatment], dtype=bool)
        zero = (u.central == 0) & np.any(u.sys[:, mult] != 0, axis=1) if mult.any() else np.zeros(0, bool)
        if np.any(zero):
            raise DataError(f"commondata/{table.name}.yaml: data_central is 0 at point(s) "
                            f"{np.flatnonzero(zero).tolist()} which carry MULT systematics; the t0 covariance "
                            "rescales them by best_sm / data_central (set use_t0: false or make them ADD)")


def check_positive_definite(matrix: np.ndarray, tables: list[DatasetTables], kind: str) -> None:
    """Refuse a covariance that has no Cholesky factor, naming the datasets (and points) responsible."""
    if _has_cholesky(matrix):
        return
    culprits, start = [], 0
    for table in tables:
        n = table.best_sm.size
        block = matrix[start:start + n, start:start + n]
        zero = np.flatnonzero(np.diag(block) <= 0)
        if zero.size:
            culprits.append(f"{table.name} (zero total uncertainty at point(s) {zero.tolist()})")
        elif not _has_cholesky(block):
            culprits.append(f"{table.name} (its covariance block is singular)")
        start += n
    which = "; ".join(culprits) or (f"the correlations between {', '.join(t.name for t in tables)} "
                                    "(every dataset's own block is fine)")
    raise DataError(f"the {kind} covariance is singular (not positive definite): {which}. Every point needs a "
                    "non-zero statistical or uncorrelated error in commondata/<dataset>.yaml, or a theory "
                    "covariance")


def _has_cholesky(matrix: np.ndarray) -> bool:
    try:
        np.linalg.cholesky(matrix)
        return True
    except np.linalg.LinAlgError:
        return False


def _block_diagonal(matrices: list[np.ndarray]) -> np.ndarray:
    n = sum(m.shape[0] for m in matrices)
    out, start = np.zeros((n, n)), 0
    for m in matrices:
        out[start:start + m.shape[0], start:start + m.shape[0]] = m
        start += m.shape[0]
    return out
