"""The ZLP network (EELSfitter's 2-10-15-5-1) and its one-replica loss on cases with a known value: a
constant network (chi2 by hand, no penalty) and a linear function of E (the monotonicity penalty is the rise
over region II of each cluster); replicas batch like a loop."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mlhep.tasks.eels.spectra import log_zlp_intensity
from mlhep.tasks.eels.zlp_model import (ZERO_SIGMA, ZLPNet, build_regions, minmax_scaling, predict_log_zlp, zlp_loss,
                                        zlp_loss_terms)

ENERGY = np.linspace(-1.0, 5.0, 13)             # 0.5 eV channels
DE1, DE2 = np.array([1.0, 0.5]), np.array([3.0, 4.0])
SIGMA = np.array([np.full(13, 0.2), np.full(13, 0.5)])


def _regions():
    return build_regions(ENERGY, DE1, DE2, SIGMA)


def test_regions_layout():
    r = _regions()
    # cluster 0: E < 1 (4 channels) and E > 3 (4); cluster 1: E < 0.5 (3) and E > 4 (2)
    np.testing.assert_array_equal(r.fit_cluster, [0] * 8 + [1] * 5)
    np.testing.assert_array_equal(ENERGY[r.fit_channel], [-1, -0.5, 0, 0.5, 3.5, 4, 4.5, 5, -1, -0.5, 0, 4.5, 5])
    np.testing.assert_array_equal(r.fit_zero, [0, 0, 0, 0, 1, 1, 1, 1, 0, 0, 0, 1, 1])
    np.testing.assert_allclose(r.fit_sigma, [0.2] * 4 + [ZERO_SIGMA] * 4 + [0.5] * 3 + [ZERO_SIGMA] * 2)
    np.testing.assert_array_equal(ENERGY[r.mono_channel], [1, 1.5, 2, 2.5, 3, 0.5, 1, 1.5, 2, 2.5, 3, 3.5, 4])
    np.testing.assert_array_equal(r.mono_pair, [1, 1, 1, 1, 0, 1, 1, 1, 1, 1, 1, 1])
    assert r.energy_scaled.min() == pytest.approx(0.1) and r.energy_scaled.max() == pytest.approx(0.9)
    with pytest.raises(ValueError, match="sigma_log must be > 0"):
        build_regions(ENERGY, DE1, DE2, np.zeros((2, 13)))


def test_architecture_and_pytorch_like_initialisation():
    net = ZLPNet()
    params = jax.jit(net.init)(jax.random.PRNGKey(0), jnp.zeros((1, 2)))["params"]
    shapes = [params[f"Dense_{i}"]["kernel"].shape for i in range(4)]
    assert shapes == [(2, 10), (10, 15), (15, 5), (5, 1)]
    for i, fan_in in enumerate([2, 10, 15, 5]):
        for leaf in (params[f"Dense_{i}"]["kernel"], params[f"Dense_{i}"]["bias"]):
            assert float(jnp.max(jnp.abs(leaf))) <= 1 / np.sqrt(fan_in)
    assert jax.eval_shape(net.apply, {"params": params}, jnp.zeros((7, 3, 2))).shape == (7, 3)


def test_constant_network_loss_by_hand():
    """All weights 0 and output bias c: xi = c everywhere, so the penalty is 0 and chi2 is the weighted mean
    of ((c - y)/sigma)^2 with y = ln counts in region I and 0 in region III."""
    net = ZLPNet()
    params = jax.eval_shape(net.init, jax.random.PRNGKey(1), jnp.zeros((1, 2)))
    params = jax.tree_util.tree_map(lambda leaf: jnp.zeros(leaf.shape, leaf.dtype), params)
    c = 2.5
    params["params"]["Dense_3"]["bias"] = jnp.array([c])
    rng = np.random.default_rng(0)
    log_counts = rng.uniform(0, 10, (2, 13))
    weights = (rng.uniform(size=13) < 0.75).astype(float)
    r = _regions()
    terms = jax.jit(lambda p, lc, n, w: zlp_loss_terms(p, net.apply, r.arrays(), lc, n, w))
    chi2, penalty = terms(params, jnp.asarray(log_counts), jnp.array([0.3, 0.7]), jnp.asarray(weights))
    y = np.where(r.fit_zero, 0.0, log_counts[r.fit_cluster, r.fit_channel])
    expected = np.sum(weights * ((c - y) / r.fit_sigma) ** 2) / weights.sum()
    assert float(chi2) == pytest.approx(expected, rel=1e-12)
    assert float(penalty) == 0.0


@pytest.mark.parametrize("slope", [2.0, -2.0])
def test_penalty_is_the_rise_over_region_two(slope):
    """For xi = slope * E_scaled + N_scaled the penalty is slope times the scaled width of region II of each
    cluster when slope > 0 (rising everywhere), and 0 when it falls."""
    def apply(p, x):
        return p["slope"] * x[..., 0] + x[..., 1]
    r = _regions()
    a, _ = minmax_scaling(ENERGY)
    _, penalty = zlp_loss_terms({"slope": slope}, apply, r.arrays(), jnp.zeros((2, 13)), jnp.array([0.2, 0.8]),
                                jnp.ones(13))
    width = (3.0 - 1.0) + (4.0 - 0.5)                               # eV of region II, clusters 0 and 1
    assert float(penalty) == pytest.approx(max(slope, 0.0) * a * width, rel=1e-12)
    total = zlp_loss({"slope": slope}, apply, r.arrays(), jnp.zeros((2, 13)), jnp.array([0.2, 0.8]), jnp.ones(13),
                     penalty_weight=10.0)
    chi2, _ = zlp_loss_terms({"slope": slope}, apply, r.arrays(), jnp.zeros((2, 13)), jnp.array([0.2, 0.8]),
                             jnp.ones(13))
    assert float(total) == pytest.approx(float(chi2) + 10.0 * float(penalty), rel=1e-12)


def test_replicas_vmap_like_a_loop_and_gradients_exist():
    net = ZLPNet()
    keys = jax.random.split(jax.random.PRNGKey(2), 4)
    params = jax.jit(jax.vmap(lambda k: net.init(k, jnp.zeros((1, 2)))))(keys)
    rng = np.random.default_rng(1)
    log_counts = jnp.asarray(rng.uniform(0, 8, (4, 2, 13)))
    intensity = jnp.asarray(rng.uniform(0.1, 0.9, (4, 2)))
    weights = jnp.asarray((rng.uniform(size=(4, 13)) < 0.75).astype(float))
    regions = _regions().arrays()

    @jax.jit
    def one(p, lc, n, w):
        return zlp_loss(p, net.apply, regions, lc, n, w)
    batched = jax.jit(jax.vmap(one))(params, log_counts, intensity, weights)
    for i in range(4):
        p_i = jax.tree_util.tree_map(lambda leaf: leaf[i], params)
        assert float(batched[i]) == pytest.approx(float(one(p_i, log_counts[i], intensity[i], weights[i])),
                                                  rel=1e-12)
    grads = jax.jit(jax.grad(one))(jax.tree_util.tree_map(lambda leaf: leaf[0], params), log_counts[0],
                                   intensity[0], weights[0])
    assert all(bool(jnp.all(jnp.isfinite(g))) for g in jax.tree_util.tree_leaves(grads))
    xi = jax.eval_shape(lambda p: predict_log_zlp(p, net.apply, regions["energy_scaled"], intensity[0]),
                        jax.tree_util.tree_map(lambda leaf: leaf[0], params))
    assert xi.shape == (2, 13)


def test_log_zlp_intensity_numpy_and_jax():
    counts = np.array([[1.0, 2.0, 10.0, 3.0, 1.0], [9.0, 1.0, 1.0, 1.0, 1.0]])
    np.testing.assert_allclose(log_zlp_intensity(counts), np.log([15.0, 11.0]))
    np.testing.assert_allclose(np.asarray(log_zlp_intensity(jnp.asarray(counts), xp=jnp)), np.log([15.0, 11.0]))
