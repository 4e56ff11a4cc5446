"""The jet-tag networks: symmetries (permutations, padding), infrared and collinear safety of the EFN, LoLa's
invariants against a hand computation, the distance correlation against exact results, and that every network
learns a separable toy. Tiny networks and a few jets, so each test takes seconds."""
from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from mlhep.tasks.jets.models import MODELS, build, options
from mlhep.tasks.jets.models.adversary import (MassAdversary, adversary_losses, distance_correlation_sq,
                                               distance_covariance_sq, gradient_reversal, mass_bins)
from mlhep.tasks.jets.models.cnn import ShiftConv
from mlhep.tasks.jets.models.lola import CoLa, LoLa
from mlhep.tasks.jets.models.synthetic import labelled_toy, random_jets

TINY = {
    "dense": dict(hidden=(16, 8)),
    "cnn": dict(conv_blocks=((4,), (4,)), kernel=3, dense=(16,)),
    "efn": dict(phi_sizes=(16, 16), f_sizes=(16,)),
    "pfn": dict(phi_sizes=(16, 16), f_sizes=(16,)),
    "particlenet": dict(conv_params=((4, (8, 8)), (4, (16, 16))), fc_params=((16, 0.1),)),
    "part": dict(embed_dims=(16,), pair_embed_dims=(8,), heads=2, particle_blocks=1, class_blocks=1),
    "lola": dict(constituents=12, combinations=4, hidden=(16,)),
    "rnn": dict(hidden=8, constituents=12, dense=(8,)),
}
NO_DROPOUT = {"particlenet": dict(fc_params=((16, 0.0),)), "part": dict(dropout=0.0)}
SET_MODELS = ["efn", "pfn", "particlenet", "part"]          # permutation invariant by construction
SORTING_MODELS = ["lola", "rnn"]                            # invariant because they sort by pT first
PER_PARTICLE = ("particles", "p4", "mask", "points")


@functools.cache
def jets(key=0, n_jets=4, n_particles=16, extra=4, prongs=3):
    """Synthetic jets with ``extra`` more padded slots at the end, so that every jet has padding."""
    batch = random_jets(jax.random.PRNGKey(key), n_jets, n_particles, prongs=prongs)
    return {name: jnp.pad(a, [(0, 0), (0, extra)] + [(0, 0)] * (a.ndim - 2)) if name in PER_PARTICLE else a
            for name, a in batch.items()}


def permuted(batch, key):
    """Each jet's slots (real and padded alike) in a random order of its own."""
    n, p = batch["mask"].shape
    order = jax.vmap(lambda k: jax.random.permutation(k, p))(jax.random.split(jax.random.PRNGKey(key), n))
    take = jax.vmap(lambda a, i: a[i])
    return {name: take(a, order) if name in PER_PARTICLE else a for name, a in batch.items()}


def with_garbage_padding(batch, key):
    """The padded slots filled with large random values (the mask unchanged)."""
    out = dict(batch)
    for i, name in enumerate(("particles", "p4", "points")):
        noise = 50 * jax.random.normal(jax.random.PRNGKey(100 * key + i), batch[name].shape, batch[name].dtype)
        out[name] = jnp.where(batch["mask"][..., None], batch[name], noise)
    return out


def prepared(name: str, dropout: bool = True):
    """(network, params, model_state, jitted apply) of a tiny ``name``, initialised on ``jets()``."""
    return _prepared(name, dropout and name in NO_DROPOUT)


@functools.cache
def _prepared(name: str, dropout: bool):
    net = build(name, **(TINY[name] | ({} if dropout else NO_DROPOUT.get(name, {}))))
    params, state = jax.jit(net.init)(jax.random.PRNGKey(0), jets())
    return net, params, state, jax.jit(net.apply, static_argnames="training")


def assert_same_outputs(name, first, second, tol=2e-5):
    """The outputs of ``name`` (without dropout) on two batches agree in evaluation and in training (logits and
    the updated batch statistics)."""
    _, params, state, apply = prepared(name, dropout=False)
    key = jax.random.PRNGKey(7)
    for training in (False, True):
        out1, state1 = apply(params, state, first, key, training=training)
        out2, state2 = apply(params, state, second, key, training=training)
        np.testing.assert_allclose(out1, out2, rtol=tol, atol=tol, err_msg=f"{name}, training={training}")
        for a, b in zip(jax.tree.leaves(state1), jax.tree.leaves(state2)):
            np.testing.assert_allclose(a, b, rtol=tol, atol=tol, err_msg=f"{name} batch stats")


@pytest.mark.parametrize("name", list(MODELS))
def test_output_shape_finite_float32(name):
    net, params, state, apply = prepared(name, dropout=False)   # dropout: test_replica_ensemble_equals_one_by_one
    batch = jets()
    for training in (False, True):
        logits, new_state = apply(params, state, batch, jax.random.PRNGKey(1), training=training)
        assert logits.shape == (4,) and logits.dtype == jnp.float32
        assert np.all(np.isfinite(logits))
    assert all(leaf.dtype == jnp.float32 for leaf in jax.tree.leaves(params))
    if "batch_stats" in state:   # training updates the running averages; evaluation leaves them alone
        assert any(not np.allclose(a, b) for a, b in zip(jax.tree.leaves(state), jax.tree.leaves(new_state)))
        _, same = apply(params, state, batch, jax.random.PRNGKey(1), training=False)
        assert all(np.array_equal(a, b) for a, b in zip(jax.tree.leaves(state), jax.tree.leaves(same)))
    assert set(net.module.inputs) <= set(batch)


@pytest.mark.parametrize("name", SET_MODELS + SORTING_MODELS)
def test_permutation_invariance(name):
    batch = jets()
    for key in (1, 2):
        assert_same_outputs(name, batch, permuted(batch, key))


@pytest.mark.parametrize("name", SET_MODELS + SORTING_MODELS)
def test_padded_values_are_ignored(name):
    batch = jets()
    assert_same_outputs(name, batch, permuted(with_garbage_padding(batch, 1), 3))


def test_set_models_see_the_real_particles():
    """The invariance tests are not vacuous: moving one real particle changes every set model's output."""
    batch = jets()
    moved = dict(batch, points=batch["points"].at[:, 0].add(0.3), particles=batch["particles"].at[:, 0, :2].add(0.3),
                 p4=batch["p4"].at[:, 0].multiply(0.5))
    for name in SET_MODELS:
        _, params, state, apply = prepared(name, dropout=False)
        key = jax.random.PRNGKey(0)
        before, _ = apply(params, state, batch, key, training=False)
        after, _ = apply(params, state, moved, key, training=False)
        assert np.max(np.abs(before - after)) > 1e-5, name


def test_efn_infrared_and_collinear_safe():
    """Splitting a particle into two collinear halves (same angles, half the four-momentum each) or adding a
    zero-pT particle leaves the EFN's output unchanged (KMT 2019); the PFN, which sees the multiplicity, changes."""
    batch = jets()
    real = batch["mask"].sum(axis=1)
    first_free = np.asarray(real)                          # each jet's first padded slot
    rows = np.arange(4)
    split = dict(batch)
    split["p4"] = batch["p4"].at[:, 0].multiply(0.5).at[rows, first_free].set(0.5 * batch["p4"][:, 0])
    split["points"] = batch["points"].at[rows, first_free].set(batch["points"][:, 0])
    split["particles"] = batch["particles"].at[rows, first_free].set(batch["particles"][:, 0])
    split["mask"] = batch["mask"].at[rows, first_free].set(True)
    soft = dict(batch, mask=batch["mask"].at[rows, first_free].set(True),   # p4 there stays 0: zero pT
                points=batch["points"].at[rows, first_free].set(jnp.array([0.3, -0.2], jnp.float32)))
    _, params, state, apply = prepared("efn")
    key = jax.random.PRNGKey(0)
    out = apply(params, state, batch, key, training=False)[0]
    np.testing.assert_allclose(apply(params, state, split, key, training=False)[0], out, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(apply(params, state, soft, key, training=False)[0], out, rtol=1e-5, atol=1e-6)
    # the same split with the second half moved away in angle is a different jet
    moved = dict(split, points=split["points"].at[rows, first_free, 0].add(0.3))
    assert np.max(np.abs(apply(params, state, moved, key, training=False)[0] - out)) > 1e-5
    _, params, state, apply = prepared("pfn")
    pfn = apply(params, state, batch, key, training=False)[0]
    assert np.max(np.abs(apply(params, state, split, key, training=False)[0] - pfn)) > 1e-5


def test_lola_invariants_by_hand():
    """CoLa's combinations and LoLa's m^2, pT, weighted energies and Minkowski distances against a direct
    computation with g = diag(1, -1, -1, -1); vectors that do not exist give 0 and enter no sum."""
    rng = np.random.default_rng(3)
    p = rng.normal(size=(2, 5, 3))
    k = np.concatenate([np.linalg.norm(p, axis=-1, keepdims=True) + rng.uniform(0, 1, (2, 5, 1)), p], axis=-1)
    k = k.astype(np.float32)
    cola = CoLa(combinations=2)
    cola_params = cola.init(jax.random.PRNGKey(0), k)
    combined = np.asarray(cola.apply(cola_params, k))
    c = np.asarray(cola_params["params"]["weights"])
    np.testing.assert_allclose(combined[:, :5], k)
    np.testing.assert_allclose(combined[:, 5:], np.einsum("bnf,nm->bmf", k, c), rtol=1e-6)

    valid = np.ones((2, 7), bool)
    valid[1, 3] = False
    lola = LoLa(energies=1, distance_sums=2, distance_mins=1)
    variables = lola.init(jax.random.PRNGKey(1), combined, valid)
    out = np.asarray(lola.apply(variables, combined, valid), np.float64)
    w = {name: np.asarray(v, np.float64) for name, v in variables["params"].items()}
    kk = combined.astype(np.float64)
    for b in range(2):
        for j in range(7):
            if not valid[b, j]:
                assert np.all(out[b, j] == 0)
                continue
            e, px, py, pz = kk[b, j]
            d2 = np.array([(kk[b, j, 0] - kk[b, m, 0]) ** 2 - np.sum((kk[b, j, 1:] - kk[b, m, 1:]) ** 2)
                           for m in range(7)])
            others = [m for m in range(7) if valid[b, m] and m != j]
            expected = [e ** 2 - px ** 2 - py ** 2 - pz ** 2, np.hypot(px, py),
                        sum(w["w_energy"][0, j, m] * kk[b, m, 0] for m in range(7) if valid[b, m]),
                        *(sum(w["w_distance"][s, j, m] * d2[m] for m in range(7) if valid[b, m]) for s in range(2)),
                        min(w["w_distance_min"][0, j, m] * d2[m] for m in others)]
            np.testing.assert_allclose(out[b, j], expected, rtol=2e-5, atol=1e-4)


def test_distance_correlation_exact_cases():
    rng = np.random.default_rng(5)
    x = rng.normal(size=64)
    assert float(distance_correlation_sq(x, -3 * x + 2)) == pytest.approx(1.0, abs=1e-12)
    # integer weights are repeated examples
    y = x ** 2 + 0.3 * rng.normal(size=64)
    w = rng.integers(0, 4, size=64)
    repeated = distance_correlation_sq(np.repeat(x, w), np.repeat(y, w))
    assert float(distance_correlation_sq(x, y, w)) == pytest.approx(float(repeated), rel=1e-10)
    # a dependence without linear correlation: Pearson ~ 0, distance correlation clearly not
    x = rng.uniform(-1, 1, 1000)
    assert abs(np.corrcoef(x, x ** 2)[0, 1]) < 0.1
    assert distance_correlation_sq(x, x ** 2) > 0.15   # about 0.24 for large samples
    # differentiable, as a training penalty
    assert np.all(np.isfinite(jax.grad(distance_correlation_sq)(x[:64], x[:64] ** 2)))


def test_distance_correlation_independent_samples():
    """For independent x and y the V-statistic's expectation is E[dCov^2_N] = (N - 1) / N^2 E|x - x'| E|y - y'|
    exactly (it vanishes as 1 / N): x ~ U(0, 1) (E|x - x'| = 1/3), y ~ Exp(1) (E|y - y'| = 1). Checked on 4000
    independent batches within 4 standard errors; dCorr^2 itself falls like 1 / N."""
    rng = np.random.default_rng(11)
    n, m = 32, 4000
    x, y = rng.uniform(size=(m, n)), rng.exponential(size=(m, n))
    dcov = np.asarray(jax.vmap(distance_covariance_sq)(x, y))
    expected = (n - 1) / n ** 2 / 3
    assert abs(dcov.mean() - expected) < 4 * dcov.std() / np.sqrt(m)
    corr = {size: np.mean(jax.vmap(distance_correlation_sq)(rng.uniform(size=(400, size)),
                                                            rng.exponential(size=(400, size))))
            for size in (32, 128)}
    assert 3.0 < corr[32] / corr[128] < 5.0
    assert corr[128] < 0.03


def test_gradient_reversal_and_adversary():
    g = jax.grad(lambda v: jnp.sum(gradient_reversal(v, 0.5) * jnp.array([1.0, 2.0])))(jnp.zeros(2))
    np.testing.assert_allclose(g, [-0.5, -1.0])
    assert float(gradient_reversal(jnp.array(3.0), 0.5)) == 3.0
    edges = jnp.array([0.0, 50.0, 100.0, 200.0])
    np.testing.assert_array_equal(mass_bins(jnp.array([-1.0, 10.0, 50.0, 150.0, 500.0]), edges), [0, 0, 1, 2, 2])
    adversary = MassAdversary(bins=3, hidden=(8,))
    adv_params = adversary.init(jax.random.PRNGKey(0), jnp.zeros(4))
    logits, bins = jnp.array([-1.0, 0.0, 1.0, 2.0]), jnp.array([0, 1, 2, 1])
    losses = adversary_losses(adversary, adv_params, logits, bins, 0.5)
    assert losses.shape == (4,) and np.all(losses > 0)

    def total(f, a, strength):
        return jnp.sum(adversary_losses(adversary, a, f, bins, strength))
    # the classifier's gradient is the adversary's, reversed and scaled; the adversary's own is untouched
    grads = jax.jit(jax.grad(total, (0, 1)))
    (for_classifier, for_adversary), (plain, same) = (grads(logits, adv_params, jnp.asarray(s)) for s in (0.5, -1.0))
    np.testing.assert_allclose(for_classifier, -0.5 * plain, rtol=1e-6)
    for a, b in zip(jax.tree.leaves(for_adversary), jax.tree.leaves(same)):
        np.testing.assert_allclose(a, b, rtol=1e-6)


@pytest.mark.parametrize("name", ["particlenet", pytest.param("part", marks=pytest.mark.slow)])
def test_replica_ensemble_equals_one_by_one(name):
    """vmap over replicas (init keys, dropout keys) gives each replica what it gets alone (a training-mode pass:
    batch statistics and dropout). ParticleNet: kNN (top_k, gathers) under vmap; ParT (slow: its compile): the
    attention and pair embedding."""
    net = build(name, **TINY[name])
    batch = jets()
    keys = jax.random.split(jax.random.PRNGKey(4), 3)
    params, state = jax.jit(jax.vmap(net.init, in_axes=(0, None)))(keys, batch)
    apply = functools.partial(net.apply, training=True)
    together, new_states = jax.jit(jax.vmap(apply, in_axes=(0, 0, None, 0)))(params, state, batch, keys)
    alone_apply = jax.jit(apply)
    for r in range(3):
        one = jax.tree.map(lambda a: a[r], (params, state))
        alone, alone_state = alone_apply(*one, batch, keys[r])
        np.testing.assert_allclose(together[r], alone, rtol=1e-5, atol=1e-5)
        for a, b in zip(jax.tree.leaves(new_states), jax.tree.leaves(alone_state)):
            np.testing.assert_allclose(a[r], b, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("kernel", [3, 4])
def test_shift_conv_is_flax_conv(kernel):
    """The CNN's convolution (shifted slices @ kernel) against flax's ``lax.conv``-based ``nn.Conv`` with the same
    parameters: output, both gradients, and under vmap over replicas' kernels (odd and even kernel: 'SAME'
    padding)."""
    import flax.linen as nn

    x = jax.random.normal(jax.random.PRNGKey(0), (3, 9, 10, 2))
    ours, ref = ShiftConv(5, kernel), nn.Conv(5, (kernel, kernel), padding="SAME")
    params = jax.vmap(ours.init, in_axes=(0, None))(jax.random.split(jax.random.PRNGKey(1), 2), x)
    params = jax.tree.map(lambda a: a + 0.1, params)     # a non-zero bias
    assert jax.tree.map(jnp.shape, ref.init(jax.random.PRNGKey(1), x)) == jax.tree.map(lambda a: a.shape[1:], params)

    def loss(module, p, x):
        return jnp.sum(jnp.tanh(module.apply(p, x)) ** 2)
    for r in range(2):
        one = jax.tree.map(lambda a: a[r], params)
        np.testing.assert_allclose(ours.apply(one, x), ref.apply(one, x), rtol=1e-5, atol=1e-5)
        for a, b in zip(jax.tree.leaves(jax.grad(loss, (1, 2))(ours, one, x)),
                        jax.tree.leaves(jax.grad(loss, (1, 2))(ref, one, x))):
            np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)
        together = jax.vmap(ours.apply, in_axes=(0, None))(params, x)
        np.testing.assert_allclose(together[r], ref.apply(one, x), rtol=1e-5, atol=1e-5)


def train_toy(name: str, steps: int) -> tuple[list[float], float]:
    """Full-batch Adam on 256 toy jets (one prong vs three); (losses, accuracy on 256 fresh jets)."""
    batch, labels = labelled_toy(jax.random.PRNGKey(1), 256)
    test_batch, test_labels = labelled_toy(jax.random.PRNGKey(2), 256)
    net = build(name, **TINY[name])
    params, state = jax.jit(net.init)(jax.random.PRNGKey(3), batch)
    optimizer = optax.adam(3e-3)

    @jax.jit
    def step(params, state, opt_state, key):
        def loss(p):
            logits, new_state = net.apply(p, state, batch, key, training=True)
            return jnp.mean(optax.sigmoid_binary_cross_entropy(logits, labels)), new_state
        (value, new_state), grads = jax.value_and_grad(loss, has_aux=True)(params)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), new_state, opt_state, value

    opt_state, losses = optimizer.init(params), []
    for i in range(steps):
        params, state, opt_state, value = step(params, state, opt_state, jax.random.PRNGKey(100 + i))
        losses.append(float(value))
    logits, _ = net.apply(params, state, test_batch, jax.random.PRNGKey(0), training=False)
    return losses, float(np.mean((np.asarray(logits) > 0) == (np.asarray(test_labels) > 0.5)))


def test_pfn_learns_separable_toy():
    losses, accuracy = train_toy("pfn", 40)
    assert losses[-1] < 0.7 * losses[0]
    assert accuracy > 0.85


@pytest.mark.slow
@pytest.mark.parametrize("name", [name for name in MODELS if name != "pfn"])
def test_every_model_learns_separable_toy(name):
    losses, accuracy = train_toy(name, 60)
    assert losses[-1] < 0.7 * losses[0]
    assert accuracy > 0.85


def test_build_rejects_unknown_names():
    with pytest.raises(ValueError, match="valid: dense, cnn"):
        build("transformer")
    with pytest.raises(ValueError, match="phi_sizes"):
        build("pfn", phi_size=(3,))
    assert options("part")["heads"] == 4
