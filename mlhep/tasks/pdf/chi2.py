"""chi2 of a replica on its training and validation points, with one shared covariance for all replicas.

Each replica has its own random training/validation split (NNPDF: per dataset, fraction ``frac``), so each
needs chi2 = r_t^T (C_tt)^-1 r_t with the inverse of its own sub-matrix. Storing an (n_t, n_t) inverse per
replica costs R n^2 memory; instead the precision matrix P = C^-1 (n, n) is shared and the Schur complement
(block inverse) gives

    (C_tt)^-1 = P_tt - P_tv (P_vv)^-1 P_vt
    chi2_t   = (m r)^T P (m r) - z_v^T (P_vv)^-1 z_v,   z = P (m r),  m = training mask,

so a replica stores only the (n_v, n_v) inverse Cholesky factor of P_vv (n_v = validation points, ~25%) and the
O(n^2) product P (m r) is one matrix-matrix product over the whole replica batch. Validation uses the
inverse Cholesky factor of C_vv. All inputs float64; shapes per replica.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import scipy.linalg


def precision(cov: np.ndarray) -> np.ndarray:
    """C^-1 (n, n) of a symmetric positive-definite covariance, via its Cholesky factor (float64)."""
    factor = scipy.linalg.cho_factor(np.asarray(cov, dtype=np.float64), lower=True)
    inverse = scipy.linalg.cho_solve(factor, np.eye(len(cov)))
    return 0.5 * (inverse + inverse.T)


def inverse_cholesky(matrix: jax.Array) -> jax.Array:
    """L^-1 with L L^T = matrix, so that x^T matrix^-1 x = |L^-1 x|^2; (k, k) -> (k, k)."""
    lower = jnp.linalg.cholesky(matrix)
    return jax.scipy.linalg.solve_triangular(lower, jnp.eye(matrix.shape[0], dtype=matrix.dtype), lower=True)


def validation_indices(train: jax.Array, n_valid: int) -> jax.Array:
    """(n_valid,) indices of the validation points (train False); the count is fixed by ``train_mask``."""
    return jnp.nonzero(~train, size=n_valid, fill_value=0)[0]


def split_factors(precision_matrix: jax.Array, cov: jax.Array, valid: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Per replica: (inverse Cholesky of P_vv, inverse Cholesky of C_vv), each (n_v, n_v)."""
    p_vv = precision_matrix[valid][:, valid]
    c_vv = cov[valid][:, valid]
    return inverse_cholesky(p_vv), inverse_cholesky(c_vv)


def training_chi2(residual: jax.Array, train: jax.Array, precision_matrix: jax.Array, valid: jax.Array,
                  schur_factor: jax.Array) -> jax.Array:
    """r_t^T (C_tt)^-1 r_t for residual (n,), training mask (n,) bool, P (n, n), validation indices (n_v,),
    ``schur_factor`` = inverse Cholesky of P_vv (n_v, n_v). Scalar."""
    masked = jnp.where(train, residual, 0.0)
    z = precision_matrix @ masked
    full = masked @ z
    if valid.shape[0] == 0:
        return full
    return full - jnp.sum((schur_factor @ z[valid]) ** 2)


def validation_chi2(residual: jax.Array, valid: jax.Array, valid_factor: jax.Array) -> jax.Array:
    """r_v^T (C_vv)^-1 r_v with ``valid_factor`` the inverse Cholesky of C_vv. Scalar."""
    return jnp.sum((valid_factor @ residual[valid]) ** 2)
