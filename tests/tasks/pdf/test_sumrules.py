"""Sum rules: quadrature against analytic Beta functions, and normalisation of a random network."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.special import beta as beta_function

import mlhep  # noqa: F401
from mlhep.tasks.pdf import sumrules
from mlhep.tasks.pdf.config import ModelConfig
from mlhep.tasks.pdf.model import BASIS_INDEX, PdfModel


@pytest.mark.parametrize("alpha, beta", [(0.5, 3.0), (0.12, 1.75), (0.73, 1.56), (-0.44, 3.3), (0.9, 2.2)])
def test_number_and_momentum_integrals_match_beta_functions(alpha, beta):
    """x f = x^(1-alpha) (1-x)^beta: int f = B(1-alpha, beta+1), int x f = B(2-alpha, beta+1); to 1e-4 (relative)."""
    x, w = sumrules.integration_grid()
    xf = jnp.asarray(x ** (1 - alpha) * (1 - x) ** beta)[None]
    number, momentum = sumrules.integrals(xf, x, w, jnp.array([alpha]))
    assert float(number[0]) == pytest.approx(beta_function(1 - alpha, beta + 1), rel=1e-4)
    assert float(momentum[0]) == pytest.approx(beta_function(2 - alpha, beta + 1), rel=1e-4)


def test_momentum_of_singular_small_x_shape():
    """Sigma-like alpha > 1: the number integral diverges, the momentum one is B(2-alpha, beta+1)."""
    x, w = sumrules.integration_grid()
    alpha, beta = 1.1, 2.5
    number, momentum = sumrules.integrals(jnp.asarray(x ** (1 - alpha) * (1 - x) ** beta)[None], x, w,
                                          jnp.array([alpha]))
    assert np.isinf(number[0])
    assert float(momentum[0]) == pytest.approx(beta_function(2 - alpha, beta + 1), rel=1e-4)


def test_normalised_preprocessing_shapes_obey_sum_rules():
    """NN = const: after normalisation, u_v = 2, d_v = 1, s_v = 0, momentum = 1 (exact to 1e-4 by the Beta test)."""
    x, w = sumrules.integration_grid()
    alpha = jnp.array([1.1, 0.9, 0.6, 0.3, 0.65, 0.5, 0.7])
    beta = jnp.array([2.5, 4.0, 3.0, 3.5, 3.2, 3.0, 3.1])
    xf = x ** (1 - alpha[:, None]) * (1 - x) ** beta[:, None]
    norm = sumrules.normalisation(xf, x, w, alpha)
    rules = sumrules.sum_rules(norm[:, None] * xf, x, w, alpha)
    i = BASIS_INDEX
    expected_a_v = 3 / beta_function(1 - alpha[i["V"]], beta[i["V"]] + 1)
    assert float(norm[i["V"]]) == pytest.approx(float(expected_a_v), rel=1e-4)
    for key, value in {"momentum": 1.0, "uv": 2.0, "dv": 1.0, "V": 3.0, "V3": 1.0, "V8": 3.0}.items():
        assert float(rules[key]) == pytest.approx(value, abs=1e-4), key
    assert abs(float(rules["sv"])) < 1e-4


def test_random_network_replicas_obey_sum_rules_after_normalisation():
    """The full model (random NN, sampled exponents) for 3 replicas, vmapped: sum rules hold to 1e-4, checked
    with a 4x finer quadrature than the normalisation uses."""
    model = PdfModel.from_config(ModelConfig())
    params = jax.vmap(model.init)(jax.random.split(jax.random.PRNGKey(4), 3))
    x, w = sumrules.integration_grid(128, 64)
    xf = jax.vmap(model.xf, in_axes=(0, None))(params, jnp.asarray(x))
    alpha = jax.vmap(lambda p: model.exponents(p)[0])(params)
    rules = sumrules.sum_rules(xf, x, w, alpha)
    np.testing.assert_allclose(rules["momentum"], 1.0, atol=1e-4)
    np.testing.assert_allclose(rules["uv"], 2.0, atol=1e-4)
    np.testing.assert_allclose(rules["dv"], 1.0, atol=1e-4)
    np.testing.assert_allclose(rules["sv"], 0.0, atol=1e-4)
