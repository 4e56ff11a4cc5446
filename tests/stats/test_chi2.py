"""The one chi2 of mlhep, r^T C^-1 r by Cholesky whitening, against explicit inverses (to 1e-12 relative on
well-conditioned matrices) and hand-computed values; numpy and jax agree to rounding."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mlhep.stats.chi2 import Whitening, chi2, chi2_per_block, precision, whiten


def covariance(n, seed=0):
    """A random SPD covariance like experimental ones: diagonal errors plus a few correlated sources."""
    rng = np.random.default_rng(seed)
    shifts = rng.standard_normal((n, 3))
    return np.diag(rng.uniform(0.5, 2.0, n) ** 2) + shifts @ shifts.T


def test_chi2_of_a_diagonal_covariance_is_the_sum_of_squared_pulls():
    sigma, r = np.array([1.0, 2.0, 0.5]), np.array([1.0, -4.0, 1.0])
    assert chi2(r, np.diag(sigma ** 2)) == pytest.approx(1.0 + 4.0 + 4.0, rel=1e-15)


def test_chi2_equals_the_explicit_inverse_for_one_residual_and_a_batch():
    cov = covariance(40)
    residuals = np.random.default_rng(1).standard_normal((2, 3, 40))
    explicit = np.einsum("abn,nm,abm->ab", residuals, np.linalg.inv(cov), residuals)
    np.testing.assert_allclose(Whitening.of(cov).chi2(residuals), explicit, rtol=1e-12)
    assert chi2(residuals[0, 0], cov) == pytest.approx(explicit[0, 0], rel=1e-12)


def test_whitened_residuals_have_unit_covariance():
    cov = covariance(30)
    inverse_factor = whiten(Whitening.of(cov).lower, np.eye(30))          # L^-1
    np.testing.assert_allclose(inverse_factor @ cov @ inverse_factor.T, np.eye(30), atol=1e-12)


def test_numpy_and_jax_whitening_agree_to_rounding_and_jax_is_differentiable():
    cov = covariance(25)
    r = np.random.default_rng(2).standard_normal(25)
    numpy_side = Whitening.of(cov)
    jax_side = Whitening(jnp.asarray(numpy_side.lower))
    assert isinstance(numpy_side.whiten(r), np.ndarray)
    np.testing.assert_allclose(np.asarray(jax.jit(jax_side.whiten)(jnp.asarray(r))), numpy_side.whiten(r),
                               rtol=1e-13, atol=1e-15)
    gradient = jax.grad(jax_side.chi2)(jnp.asarray(r))
    np.testing.assert_allclose(gradient, 2 * np.linalg.solve(cov, r), rtol=1e-10)


def test_precision_is_the_symmetric_inverse():
    cov = covariance(20)
    p = precision(cov)
    np.testing.assert_array_equal(p, p.T)
    np.testing.assert_allclose(p @ cov, np.eye(20), atol=1e-12)


def test_chi2_per_block_uses_each_diagonal_block():
    cov = np.array([[2.0, 0.5, 0.3], [0.5, 1.0, 0.2], [0.3, 0.2, 4.0]])
    r = np.array([1.0, -1.0, 2.0])
    blocks = chi2_per_block(r, cov, [2, 1])
    np.testing.assert_allclose(blocks, [r[:2] @ np.linalg.inv(cov[:2, :2]) @ r[:2], 4.0 / 4.0])
    assert chi2(r, cov) == pytest.approx(r @ np.linalg.inv(cov) @ r)
