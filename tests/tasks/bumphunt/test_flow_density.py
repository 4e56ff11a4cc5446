"""The conditional flow p(x | m) of bump-hunt (mlhep.tasks.bumphunt.flows): a normalised density in the physical
x (preprocessing Jacobian included), exactly invertible, batched over replicas without changing a number, and
fitted through the engine it recovers a known conditional Gaussian."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mlhep.runtime import use_precision
from mlhep.tasks.bumphunt.flows import ConditionalFlow, Preprocessing


@pytest.fixture(autouse=True)
def _float32():
    use_precision("float32")   # the task's precision (the suite's conftest puts float64 back afterwards)


def _flow(dim: int, seed: int = 0, scale: float = 0.3, **kw):
    """A flow on a toy box with its parameters kicked away from the (near-identity) initialisation, so that
    the density is far from the base Gaussian: (flow, params)."""
    rng = np.random.default_rng(seed)
    x, m = rng.normal(size=(500, dim)), rng.uniform(3.0, 4.0, 500)
    flow = ConditionalFlow(dim, Preprocessing.fit(x, m), layers=2, width=8, **kw)
    params = flow.init(jax.random.PRNGKey(seed))
    leaves, tree = jax.tree_util.tree_flatten(params)
    keys = jax.random.split(jax.random.PRNGKey(seed + 1), len(leaves))
    kicked = [a + scale * jax.random.normal(k, a.shape, a.dtype) for k, a in zip(keys, leaves)]
    return flow, jax.tree_util.tree_unflatten(tree, kicked)


def _integral(flow, params, n: int, m: float) -> float:
    """Trapezoidal integral of p(x | m) over the preprocessing box (outside it the density is 0: the logit
    maps the box onto the whole real line), n points per axis."""
    lo, hi = flow.preprocessing.lo, flow.preprocessing.hi
    grids = [np.linspace(lo[j], hi[j], n) for j in range(flow.dim)]
    points = np.stack(np.meshgrid(*grids, indexing="ij"), -1).reshape(-1, flow.dim)
    log_p = jax.jit(flow.log_prob)(params, jnp.asarray(points, jnp.float32), jnp.full(len(points), m, jnp.float32))
    density = np.exp(np.asarray(log_p, np.float64)).reshape([n] * flow.dim)
    for axis in reversed(range(flow.dim)):
        density = np.trapezoid(density, grids[axis], axis=axis)
    return float(density)


@pytest.mark.parametrize("dim, n", [(1, 2001), (2, 201)])
def test_the_density_integrates_to_one(dim, n):
    """Trapezoidal quadrature over the box, at two masses: |integral - 1| < 5e-3 (measured at most 1.5e-3 with
    201^2 points, 1.5e-4 with 401^2: the rule's own error)."""
    flow, params = _flow(dim)
    for m in (3.2, 3.8):
        assert abs(_integral(flow, params, n, m) - 1.0) < 5e-3


def test_sampling_inverts_log_prob(dim=4):
    """The density along the sampling pass (noise -> x) equals log_prob's (x -> noise) at the same points: the
    two directions are inverses (measured |difference| <= 2e-5 for log p of order 1-10, float32)."""
    flow, params = _flow(dim)
    m = jnp.linspace(3.0, 4.0, 2000, dtype=jnp.float32)
    x, log_p_sampled = jax.jit(flow.sample_and_log_prob)(params, jax.random.PRNGKey(3), m)
    assert x.shape == (2000, dim) and np.all(np.isfinite(x))
    assert np.all((x >= flow.preprocessing.lo) & (x <= flow.preprocessing.hi))
    np.testing.assert_allclose(jax.jit(flow.log_prob)(params, x, m), log_p_sampled, atol=2e-4, rtol=2e-5)
    # ``sample`` is the same draw without the density
    np.testing.assert_array_equal(jax.jit(flow.sample)(params, jax.random.PRNGKey(3), m), x)


def test_a_new_flow_is_the_preprocessing_alone():
    """init(key): the output layers are zero, so every block is the identity and log p(x | m) is the standard
    normal density of the preprocessed z times the preprocessing's Jacobian; hidden layers differ by key and lie
    within U(-1/sqrt(fan in), 1/sqrt(fan in))."""
    flow, _ = _flow(4)
    first, second = flow.init(jax.random.PRNGKey(1)), flow.init(jax.random.PRNGKey(2))
    x = jnp.asarray(np.random.default_rng(0).normal(size=(50, 4)), jnp.float32)
    z, log_det = flow.preprocessing.forward(x)
    expected = -0.5 * np.sum(np.asarray(z) ** 2, axis=1) - 2 * np.log(2 * np.pi) + np.asarray(log_det)
    np.testing.assert_allclose(jax.jit(flow.log_prob)(first, x, jnp.full(50, 3.5)), expected, rtol=1e-5, atol=1e-5)
    for name, fan_in in (("w0", 5), ("b0", 5), ("w1", 8), ("b1", 8)):
        assert np.max(np.abs(first[name])) <= 1 / np.sqrt(fan_in) and not np.allclose(first[name], second[name])


def test_replicas_vmapped_equal_one_by_one():
    """log_prob and sample vmapped over a replica axis of parameters (as the engine runs them) equal a loop over
    the replicas (float32: to 1e-5 relative)."""
    flow, _ = _flow(2)
    params = jax.vmap(flow.init)(jax.random.split(jax.random.PRNGKey(0), 3))
    params = jax.tree_util.tree_map(lambda a: a + 0.3 * jnp.sin(jnp.arange(a.size).reshape(a.shape)), params)
    keys = jax.random.split(jax.random.PRNGKey(1), 3)
    rng = np.random.default_rng(2)
    x = jnp.asarray(rng.normal(size=(300, 2)), jnp.float32)
    m = jnp.asarray(rng.uniform(3, 4, 300), jnp.float32)
    batched = jax.jit(jax.vmap(flow.log_prob, in_axes=(0, None, None)))(params, x, m)
    drawn = jax.jit(jax.vmap(flow.sample, in_axes=(0, 0, None)))(params, keys, m)
    log_prob, sample = jax.jit(flow.log_prob), jax.jit(flow.sample)
    for r in range(3):
        one = jax.tree_util.tree_map(lambda a: a[r], params)
        np.testing.assert_allclose(batched[r], log_prob(one, x, m), rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(drawn[r], sample(one, keys[r], m), rtol=1e-5, atol=1e-5)


def test_preprocessing_and_flow_refuse_bad_shapes():
    with pytest.raises(ValueError, match="needs x"):
        Preprocessing.fit(np.zeros(10), np.zeros(10))
    with pytest.raises(ValueError, match=">= 1"):
        ConditionalFlow(1, Preprocessing.fit(np.arange(5.0)[:, None], np.arange(5.0)), layers=0)
