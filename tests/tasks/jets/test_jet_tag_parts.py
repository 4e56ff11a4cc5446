"""The pieces of jet-tag below the command: the split, the inputs, a replica's bootstrap weights, the losses with
mass decorrelation (against their definitions), and the generated-sample cache (without Pythia)."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jet_fixtures import random_jets
from mlhep.task import StepInfo
from mlhep.tasks.jets.dataset import Jets, split
from mlhep.tasks.jets.inputs import input_shapes, model_inputs
from mlhep.tasks.jets.models import build
from mlhep.tasks.jets.models.adversary import MassAdversary, distance_correlation_sq
from mlhep.tasks.jets.particles import constituent_features
from mlhep.tasks.jets.training import TaggerTrainable, dcorr_penalty


def test_the_split_is_stratified_disjoint_complete_and_fixed_by_its_seed():
    label = np.repeat([0, 1, 0], [70, 50, 30])     # 100 QCD, 50 top
    parts = split(label, 0.2, 0.3, seed=4)
    every = np.concatenate([parts.train, parts.valid, parts.test])
    np.testing.assert_array_equal(np.sort(every), np.arange(150))
    assert [int(np.sum(label[p] == 1)) for p in (parts.train, parts.valid, parts.test)] == [25, 10, 15]
    assert parts.n_train_qcd == 50 and np.all(label[parts.train[:50]] == 0) and np.all(label[parts.train[50:]] == 1)
    again, other = split(label, 0.2, 0.3, seed=4), split(label, 0.2, 0.3, seed=5)
    np.testing.assert_array_equal(again.test, parts.test)
    assert not np.array_equal(other.test, parts.test)
    split(np.repeat([0, 1], [20, 3]), 0.2, 0.3, seed=0)          # one top jet in each part
    with pytest.raises(ValueError, match="2 top jets are too few"):
        split(np.repeat([0, 1], [20, 2]), 0.2, 0.3, seed=0)      # round(0.2 x 2) = 0 validation jets


def test_inputs_are_relative_to_the_whole_jet_then_cut_to_the_hardest():
    """Particles keep the features computed with all constituents (axis, pT and E of the jet), for the first n;
    a file with fewer slots than n is zero-padded and masked; shapes are those ``input_shapes`` promises."""
    jets = random_jets(np.random.default_rng(0), n_jets=6, n_max=30).astype(np.float32)
    full, mask = constituent_features(jets)
    out = model_inputs(jets, ("particles", "points", "p4", "mask", "features", "image"), n_keep=10, pixels=8)
    np.testing.assert_array_equal(out["particles"], full[:, :10])
    np.testing.assert_array_equal(out["points"], full[:, :10, :2])
    np.testing.assert_array_equal(out["p4"], jets[:, :10]), np.testing.assert_array_equal(out["mask"], mask[:, :10])
    for name, (shape, dtype) in input_shapes(out, 10, 8).items():
        assert out[name].shape == (6, *shape) and out[name].dtype == dtype, name
    wide = model_inputs(jets, ("p4", "mask"), n_keep=40)
    assert wide["p4"].shape == (6, 40, 4) and not wide["mask"][:, 30:].any() and not wide["p4"][:, 30:].any()
    assert set(model_inputs(jets, ("mask",), n_keep=5)) == {"mask"}


def _trainable(bootstrap=False, method="none", strength=0.0, n_qcd=(12, 4), n_top=(8, 6)):
    """A dense tagger on random 'features' of (train QCD, train top, validation QCD, validation top) jets."""
    rng = np.random.default_rng(1)
    n = sum(n_qcd) + sum(n_top)
    label = np.concatenate([np.zeros(n_qcd[0]), np.ones(n_top[0]), np.zeros(n_qcd[1]), np.ones(n_top[1])])
    jets = Jets({"features": rng.normal(size=(n, 8)).astype(np.float32)}, label.astype(np.float32),
                rng.uniform(20, 250, n).astype(np.float32))
    adversary, edges = None, None
    if method == "adversary":
        adversary, edges = MassAdversary(4, (8,)), np.array([0.0, 80, 120, 180, 300])
    return TaggerTrainable(build("dense", hidden=(8,), input_norm=False), jets, n_qcd[0] + n_top[0], n_qcd[0],
                           bootstrap, method, strength, adversary, edges)


def test_bootstrap_weights_resample_each_class_and_leave_validation_alone():
    t = _trainable(bootstrap=True)
    shared = t.shared()
    data = [jax.jit(t.replica_data)(jax.random.PRNGKey(k), shared) for k in range(3)]
    for d in data:
        train, valid = map(np.asarray, t.weights(d))
        assert train[:12].sum() == 12 and train[12:20].sum() == 8 and not train[20:].any()
        assert np.all(train == np.round(train)) and train.max() > 1      # counts; some jet drawn twice
        np.testing.assert_array_equal(valid, np.r_[np.zeros(20), np.ones(10)])
    assert not np.array_equal(data[0]["train"], data[1]["train"])
    plain = _trainable().replica_data(jax.random.PRNGKey(0), shared)
    np.testing.assert_array_equal(plain["train"], np.r_[np.ones(20), np.zeros(10)])


def _losses(t, key=0, training=True, rows=None, data=None):
    shared = t.shared()
    params, state = jax.jit(lambda k: (t.init(k, shared), t.init_state(k, shared)))(jax.random.PRNGKey(key))
    data = data or jax.jit(t.replica_data)(jax.random.PRNGKey(9), shared)
    rows = jnp.arange(20) if rows is None else rows
    info = StepInfo(jnp.array(0), jax.random.PRNGKey(2), state, training)
    return params, shared, data, rows, info


def test_the_dcorr_term_makes_the_weighted_mean_bce_plus_lambda_dcorr2_of_the_qcd_jets():
    """With bootstrap weights w: sum w l / sum w = <BCE>_w + lambda dCorr^2(score, mass; w on the QCD jets)."""
    t = _trainable(bootstrap=True, method="dcorr", strength=3.0)
    params, shared, data, rows, info = _losses(t)

    @jax.jit
    def both(params):
        losses, _ = t.example_losses(params, shared, data, rows, info)
        logits, _ = t.net.apply(params["tagger"], info.model_state, {"features": shared["features"][rows]},
                                info.key, True)
        w, label = data["train"][rows], shared["label"][rows]
        bce = optax.sigmoid_binary_cross_entropy(logits, label)
        dcorr = distance_correlation_sq(jax.nn.sigmoid(logits), shared["mass"][rows], w * (1 - label))
        return jnp.sum(w * losses) / jnp.sum(w), jnp.sum(w * bce) / jnp.sum(w) + 3.0 * dcorr, dcorr
    got, expected, dcorr = both(params)
    assert float(got) == pytest.approx(float(expected), rel=1e-6) and float(dcorr) > 0.01


def test_the_dcorr_penalty_of_a_batch_without_qcd_jets_is_zero_with_a_finite_gradient():
    score, mass = jnp.linspace(0.1, 0.9, 5), jnp.linspace(50.0, 200.0, 5)
    assert float(dcorr_penalty(score, mass, jnp.zeros(5))) == 0.0
    grad = jax.jit(jax.grad(lambda s: dcorr_penalty(s, mass, jnp.zeros(5))))(score)
    assert np.all(np.isfinite(grad)) and not np.any(grad)


def test_the_adversary_learns_the_mass_while_the_tagger_gets_the_reversed_gradient():
    """Training losses BCE + qcd CE_r through a reversal of strength lambda: the adversary's gradient is that of
    mean(qcd CE_r), the tagger's that of mean(BCE) - lambda mean(qcd CE_r) (Louppe et al.'s L_f - lambda L_r);
    validation measures that value itself."""
    lam = 0.7
    t = _trainable(method="adversary", strength=lam)
    params, shared, data, rows, info = _losses(t)

    def parts(p):
        logits, _ = t.net.apply(p["tagger"], info.model_state, {"features": shared["features"][rows]}, info.key, True)
        label = shared["label"][rows]
        ce = optax.softmax_cross_entropy_with_integer_labels(
            t.adversary.apply(p["adversary"], logits), shared["mass_bin"][rows])
        return jnp.mean(optax.sigmoid_binary_cross_entropy(logits, label)), jnp.mean((1 - label) * ce)

    def total(p):
        return jnp.mean(t.example_losses(p, shared, data, rows, info)[0])
    grad, g_f, g_r = jax.jit(lambda p: (jax.grad(total)(p), jax.grad(lambda q: parts(q)[0])(p),
                                        jax.grad(lambda q: parts(q)[1])(p)))(params)
    flat = jax.tree_util.tree_leaves
    for got, f, r in zip(flat(grad["tagger"]), flat(g_f["tagger"]), flat(g_r["tagger"])):
        np.testing.assert_allclose(got, f - lam * r, rtol=1e-4, atol=1e-7)
    for got, r in zip(flat(grad["adversary"]), flat(g_r["adversary"])):
        np.testing.assert_allclose(got, r, rtol=1e-4, atol=1e-7)
    f, r = jax.jit(parts)(params)
    valid = jax.jit(lambda p: jnp.mean(t.example_losses(p, shared, data, rows, info._replace(training=False))[0]))(
        params)
    # evaluation mode differs from training only in batch norm and dropout, which this dense net has not
    assert float(valid) == pytest.approx(float(f - lam * r), rel=1e-5)


def test_a_generated_sample_is_made_once_atomically_and_keyed_by_its_settings(tmp_path, monkeypatch):
    """Pythia is replaced by a stand-in writer: the first call generates, the second reuses the file, other
    settings get another file, and a generation that fails leaves nothing under the final name."""
    from mlhep.tasks.jets import cache, production

    monkeypatch.setenv("MLHEP_CACHE", str(tmp_path))
    calls = []

    def fake_produce(plan, output, workers=1, progress=True):
        calls.append((plan.seed, workers))
        if plan.seed == 13:
            raise RuntimeError("generator crashed")
        output.write_bytes(b"jets")
        return {"top": {"jets_per_cpu_second": 1.0}, "qcd": {"jets_per_cpu_second": 1.0}}

    monkeypatch.setattr(production, "produce", fake_produce)
    plan = cache.plan_for(10, 1, True, 400.0)
    first = cache.ensure_sample(plan, workers=0, log=lambda m: None)
    assert first.parent == tmp_path / "jets" and first.read_bytes() == b"jets"
    assert cache.ensure_sample(plan, log=lambda m: None) == first and len(calls) == 1
    assert calls[0][1] == min(cache.usable_cores(), 2)    # workers 0: one per core, at most one per chunk (2 here)
    assert cache.cached_path(cache.plan_for(10, 1, False, 400.0)) != first
    assert cache.cached_path(cache.plan_for(10, 2, True, 400.0)) != first
    with pytest.raises(RuntimeError, match="crashed"):
        cache.ensure_sample(cache.plan_for(10, 13, True, 400.0), log=lambda m: None)
    assert sorted(p.name for p in (tmp_path / "jets").iterdir()) == [first.name]
