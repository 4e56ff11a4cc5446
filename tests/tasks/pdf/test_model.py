"""The NN parametrisation, the flavour rotation and the split chi2 algebra."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import mlhep  # noqa: F401
from mlhep.stats import chi2 as stats_chi2
from mlhep.stats.pseudodata import train_mask
from mlhep.tasks.pdf import chi2, constraints
from mlhep.tasks.pdf.config import ModelConfig
from mlhep.tasks.pdf.model import FIT_BASIS, PdfModel


def test_architecture_2_25_20_7_and_exponent_ranges():
    model = PdfModel.from_config(ModelConfig())
    params = jax.vmap(model.init)(jax.random.split(jax.random.PRNGKey(0), 5))
    shapes = {k: v["kernel"].shape for k, v in params["nn"]["params"].items()}
    assert sorted(shapes.values()) == [(5, 2, 25), (5, 20, 7), (5, 25, 20)]
    alpha, beta = jax.vmap(model.exponents)(params)
    assert np.all((alpha >= model.alpha_range[:, 0]) & (alpha <= model.alpha_range[:, 1]))
    assert np.all((beta >= model.beta_range[:, 0]) & (beta <= model.beta_range[:, 1]))
    assert len(np.unique(np.asarray(alpha[:, 0]))) == 5          # sampled per replica
    xf = jax.vmap(model.xf, in_axes=(0, None))(params, jnp.array([1e-4, 0.1, 0.5, 1.0]))
    assert xf.shape == (5, len(FIT_BASIS), 4)
    np.testing.assert_allclose(xf[..., -1], 0.0, atol=1e-300)   # (1-x)^beta: x f(1) = 0


def test_exponents_are_constants_unless_fitted():
    model = PdfModel.from_config(ModelConfig())
    params = model.init(jax.random.PRNGKey(1))
    grads = jax.grad(lambda p: jnp.sum(model.xf(p, jnp.array([0.01, 0.3]))))(params)
    assert np.all(grads["alpha"] == 0) and np.all(grads["beta"] == 0)
    fitted = PdfModel.from_config(ModelConfig(fit_exponents=True))
    grads = jax.grad(lambda p: jnp.sum(fitted.xf(p, jnp.array([0.01, 0.3]))))(params)
    assert np.all(np.isfinite(grads["beta"])) and np.any(grads["beta"] != 0)


def test_flavour_rotation_inverts_evolution_basis():
    """(u, ubar, d, dbar, s, sbar, g) -> evolution basis -> back, with s != sbar."""
    u, ub, d, db, s, sb, g = 0.7, 0.1, 0.4, 0.15, 0.05, 0.03, 0.9
    up, dp, sp, um, dm, sm = u + ub, d + db, s + sb, u - ub, d - db, s - sb
    basis = np.array([up + dp + sp, g, um + dm + sm, um - dm, um + dm - 2 * sm, up - dp, up + dp - 2 * sp])
    np.testing.assert_allclose(constraints.evolution_to_flavour() @ basis, [u, ub, d, db, s, sb, g], atol=1e-14)


def test_positivity_penalty_is_elu_of_minus_xf():
    xf = jnp.array([[0.5, -0.2], [1e-3, -1e-4]])
    expected = 0.2 + 1e-4 + 1e-7 * (np.expm1(-0.5) + np.expm1(-1e-3))
    assert float(constraints.positivity_penalty(xf)) == pytest.approx(expected, rel=1e-12)


def test_split_chi2_grams_equal_direct_submatrix_inverses():
    """chi2 on training (Schur complement) and validation points equals r^T (C_SS)^-1 r with explicit inverses."""
    rng = np.random.default_rng(0)
    n, k = 60, 12
    a = rng.normal(size=(n, n))
    cov = a @ a.T + n * np.eye(n)
    precision = stats_chi2.precision(cov)
    fk, y, q = rng.normal(size=(n, k)), rng.normal(size=n), rng.normal(size=k)
    train = train_mask(jax.random.PRNGKey(1), jnp.repeat(jnp.arange(2), 30), jnp.array([0.75, 0.5]))
    valid = chi2.validation_indices(train, int(n - train.sum()))
    h_train, h_valid = chi2.replica_grams(fk, precision @ fk, fk.T @ precision @ fk, precision, cov, y, valid)
    t = np.asarray(train)
    r = fk @ q - y
    assert float(chi2.quadratic_chi2(h_train, q)) == pytest.approx(r[t] @ np.linalg.solve(cov[np.ix_(t, t)], r[t]),
                                                                   rel=1e-10)
    assert float(chi2.quadratic_chi2(h_valid, q)) == pytest.approx(
        r[~t] @ np.linalg.solve(cov[np.ix_(~t, ~t)], r[~t]), rel=1e-10)
