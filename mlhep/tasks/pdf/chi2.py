"""chi2 of a replica on its training and validation points, projected onto the PDF grid values.

Predictions are linear in the PDF grid values: T = F q with F the (n, k) FK matrix (flattened (7, nx) and
restricted to non-zero columns) and q = x f(x_k, Q0). Hence for any set of points S with covariance C_SS

    chi2_S(q) = (F_S q - y_S)^T (C_SS)^-1 (F_S q - y_S) = v^T H_S v,   v = (q, -1),
    H_S = U_S^T (C_SS)^-1 U_S,  U = [F | y]  ((k+1) x (k+1), one per replica and split),

so each training epoch costs O(k^2) per replica instead of O(n^2) (n ~ 2000 DIS points, k ~ 350). Every
replica has its own random training/validation split (NNPDF: per dataset, fraction ``frac``); H_train uses the
block (Schur-complement) inverse of the shared precision matrix P = C^-1,

    (C_tt)^-1 = P_tt - P_tv (P_vv)^-1 P_vt,

so per replica only (n_v, n_v) factorisations are needed (n_v = validation points). P and the per-replica
whitening come from :mod:`mlhep.stats.chi2`, the Cholesky whitening every chi2 of mlhep uses. All float64.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp

from mlhep.stats.chi2 import whiten


def validation_indices(train: jax.Array, n_valid: int) -> jax.Array:
    """(n_valid,) indices of the validation points (train False); ``train_mask`` fixes their number."""
    return jnp.nonzero(~train, size=n_valid, fill_value=0)[0]


def replica_grams(fk: jax.Array, fk_precision: jax.Array, fk_gram: jax.Array, precision_matrix: jax.Array,
                  cov: jax.Array, data: jax.Array, valid: jax.Array) -> tuple[jax.Array, jax.Array | None]:
    """(H_train, H_valid), each ((k+1), (k+1)), for U = [F | y] on the training points and on ``valid``.

    ``fk`` F (n, k), ``fk_precision`` P F (n, k), ``fk_gram`` F^T P F (k, k), ``precision_matrix`` P (n, n) and
    ``cov`` C (n, n) are shared by all replicas; ``data`` y (n,) is the replica's pseudo-data and ``valid``
    (n_v,) its validation indices. H_valid is None without validation points.

    The two (n_v, n_v) factorisations run as ONE batched Cholesky and ONE batched triangular solve: jaxlib
    0.10's CPU LAPACK kernels split batches over the intra-op thread pool and deadlock when two of them run
    concurrently on a 2-core machine.
    """
    u, pu, gram = _augmented(fk, fk_precision, fk_gram, precision_matrix, data)
    if valid.shape[0] == 0:
        return gram, None
    u_v, pu_v = u[valid], pu[valid]
    p_vv = precision_matrix[valid][:, valid]
    p_vv_u_v = p_vv @ u_v
    masked = gram - pu_v.T @ u_v - u_v.T @ pu_v + u_v.T @ p_vv_u_v     # (m U)^T P (m U), m = training mask
    lower = jnp.linalg.cholesky(jnp.stack([p_vv, cov[valid][:, valid]]))
    z, w = whiten(lower, jnp.stack([pu_v - p_vv_u_v, u_v]))
    h_train = masked - z.T @ z                                           # z = (P_vv)^-1/2 P_vt U_t
    return 0.5 * (h_train + h_train.T), w.T @ w                          # w = (C_vv)^-1/2 U_v


def _augmented(fk, fk_precision, fk_gram, precision_matrix, data) -> tuple[jax.Array, jax.Array, jax.Array]:
    """U = [F | y] (n, k+1), P U (n, k+1) and the Gram form U^T P U (k+1, k+1) of all points."""
    u = jnp.concatenate([fk, data[:, None]], axis=1)
    p_y = precision_matrix @ data
    pu = jnp.concatenate([fk_precision, p_y[:, None]], axis=1)
    f_p_y = fk.T @ p_y
    gram = jnp.block([[fk_gram, f_p_y[:, None]], [f_p_y[None, :], (data @ p_y)[None, None]]])
    return u, pu, gram


# ---- per-replica index sets of varying size (hyperopt k-fold: a replica holds out the datasets of one fold) ----
# A vmapped program needs static shapes: a set S of m <= size points is taken as ``size`` indices whose last
# size - m entries are padding (weight 0). The padded block of a matrix is M_SS on the real entries and the
# identity on the padding, decoupled from them: its inverse and Cholesky factor are those of M_SS padded with
# the identity, and rows of U zeroed on the padding contribute nothing, so every formula above stays exact.

def padded_subset(mask: jax.Array, size: int) -> tuple[jax.Array, jax.Array]:
    """(indices (size,), real (size,) bool) of the points where ``mask`` (n,) is True, padded to ``size``."""
    index = jnp.nonzero(mask, size=size, fill_value=0)[0]
    return index, jnp.arange(size) < jnp.sum(mask)


def _padded_block(matrix: jax.Array, index: jax.Array, real: jax.Array) -> jax.Array:
    both = real[:, None] & real[None, :]
    return jnp.where(both, matrix[index][:, index], jnp.eye(index.shape[0], dtype=matrix.dtype))


def replica_grams_masked(fk: jax.Array, fk_precision: jax.Array, fk_gram: jax.Array, precision_matrix: jax.Array,
                         cov: jax.Array, data: jax.Array, excluded: jax.Array, valid: jax.Array,
                         size: int) -> tuple[jax.Array, jax.Array]:
    """(H_train, H_valid) as ``replica_grams``, for sets given by masks (n,) of any size: training = the points not
    ``excluded``, validation = ``valid`` (a subset of ``excluded``; points excluded but not valid, e.g. held out,
    enter neither). ``size`` (static) bounds the number of excluded points. With ``valid == excluded`` and no
    padding this is ``replica_grams`` (the test checks it)."""
    u, pu, gram = _augmented(fk, fk_precision, fk_gram, precision_matrix, data)
    c, real_c = padded_subset(excluded, size)
    v, real_v = padded_subset(valid, size)
    u_c, pu_c = u[c] * real_c[:, None], pu[c] * real_c[:, None]
    u_v = u[v] * real_v[:, None]
    p_cc = _padded_block(precision_matrix, c, real_c)
    p_cc_u_c = p_cc @ u_c
    masked = gram - pu_c.T @ u_c - u_c.T @ pu_c + u_c.T @ p_cc_u_c    # (m U)^T P (m U), m = training mask
    lower = jnp.linalg.cholesky(jnp.stack([p_cc, _padded_block(cov, v, real_v)]))   # one batched LAPACK call
    z, w = whiten(lower, jnp.stack([pu_c - p_cc_u_c, u_v]))
    h_train = masked - z.T @ z
    return 0.5 * (h_train + h_train.T), w.T @ w


def subset_chi2(cov: jax.Array, residual: jax.Array, mask: jax.Array, size: int) -> tuple[jax.Array, jax.Array]:
    """(r_S^T (C_SS)^-1 r_S, number of points) of the points S where ``mask`` (n,) is True, at most ``size``
    (static), with their own covariance block C_SS (correlations with the other points dropped)."""
    index, real = padded_subset(mask, size)
    lower = jnp.linalg.cholesky(_padded_block(cov, index, real))
    z = whiten(lower, residual[index] * real)
    return z @ z, jnp.sum(mask)


def quadratic_chi2(gram: jax.Array, grid_values: jax.Array) -> jax.Array:
    """chi2 = v^T H v with v = (q, -1): ``gram`` (k+1, k+1), ``grid_values`` q (k,). Scalar."""
    v = jnp.concatenate([grid_values, -jnp.ones((1,), grid_values.dtype)])
    return _symmetric_form(gram, v)


@jax.custom_vjp
def _symmetric_form(gram: jax.Array, v: jax.Array) -> jax.Array:
    return v @ (gram @ v)


# The gradient of v^T H v for a symmetric H is 2 H v, already computed in the forward pass: reading H once per
# epoch instead of twice matters, because with many replicas their Gram matrices do not fit in the CPU caches.
def _symmetric_form_fwd(gram, v):
    h_v = gram @ v
    return v @ h_v, (h_v, v)


def _symmetric_form_bwd(residuals, cotangent):
    h_v, v = residuals
    return cotangent * jnp.outer(v, v), 2.0 * cotangent * h_v


_symmetric_form.defvjp(_symmetric_form_fwd, _symmetric_form_bwd)
