"""Minibatch training on the engine's ``MinibatchTrainable`` contract: a two-class toy of 10^5 points.

The sample is two 2-D Gaussians of known means and covariances (50 000 points each), held once in ``shared()``.
Their log-likelihood ratio ``log p1(x) / p0(x)`` is a quadratic form in x, so logistic regression on the
quadratic features (1, x1, x2, x1^2, x1 x2, x2^2) can represent the Bayes-optimal classifier exactly, and the
learned logit can be compared with the analytic ratio. Each replica keeps a random validation split of fixed
size and weights its training points by a bootstrap (multiplicities: the sample is never copied).

What is checked, each against a truth with a stated tolerance: batched == one by one (1e-12 in float64, 1e-6
in float32), independence of the replica slicing, reshuffling per replica and per epoch (the engine follows
exactly the orders ``batches.epoch_rows`` draws from the replica's training key), one step per epoch equal to
hand-written full-batch Adam when the minibatch holds every point, closure on the analytic ratio, the
validation loss as a reduction over all validation points, and ``validate_every`` with patience in epochs.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from mlhep.engine import EngineConfig, batches, train
from mlhep.engine.batches import Layout
from mlhep.engine.config import OptimizerConfig, ScheduleConfig, StoppingConfig
from mlhep.engine.program import replica_keys, split_keys, training_key

N_PER_CLASS = 50_000
N_VALID = 20_000           # validation points per replica (a fixed count: the same layout in every block)
N_TRAIN = 2 * N_PER_CLASS - N_VALID    # bootstrap draws per replica, among the other points
MEANS = np.array([[0.0, 0.0], [1.0, 0.5]])
COVARIANCES = np.array([[[1.0, 0.0], [0.0, 1.0]], [[1.5, 0.3], [0.3, 0.8]]])
SEED = 7


def log_gaussian(x: np.ndarray, mean: np.ndarray, cov: np.ndarray) -> np.ndarray:
    """log N(x; mean, cov) of points x (n, 2)."""
    d = x - mean
    chi2 = np.einsum("ni,ij,nj->n", d, np.linalg.inv(cov), d)
    return -0.5 * chi2 - 0.5 * np.log(np.linalg.det(2 * np.pi * cov))


def analytic_log_ratio(x: np.ndarray) -> np.ndarray:
    """log p1(x) / p0(x) (n,): the Bayes-optimal logit for equal class priors."""
    return log_gaussian(x, MEANS[1], COVARIANCES[1]) - log_gaussian(x, MEANS[0], COVARIANCES[0])


@pytest.fixture(scope="module")
def sample() -> dict[str, np.ndarray]:
    """Points x (N, 2), labels (N,) and standardised quadratic features (N, 6), in float64."""
    rng = np.random.default_rng(20260101)
    x = np.concatenate([rng.multivariate_normal(m, c, N_PER_CLASS) for m, c in zip(MEANS, COVARIANCES)])
    a, b = x[:, 0], x[:, 1]
    quadratic = np.stack([a, b, a * a, a * b, b * b], axis=1)
    # Standardised columns keep Adam's steps commensurate; the logit is still any quadratic form in x.
    quadratic = (quadratic - quadratic.mean(axis=0)) / quadratic.std(axis=0)
    features = np.concatenate([np.ones((len(x), 1)), quadratic], axis=1)
    return {"x": x, "label": np.repeat([0.0, 1.0], N_PER_CLASS), "features": features}


@dataclass(frozen=True, eq=False)   # hashed by identity: the engine caches its compiled program per trainable
class GaussianPair:
    """Logistic regression of the label on the features, one replica per bootstrap of the shared sample.

    The dtype of ``features`` (float32 or float64) is that of the parameters, weights and losses."""

    features: jax.Array     # (N, F)
    label: jax.Array        # (N,) 0 or 1

    def shared(self) -> dict[str, jax.Array]:
        return {"features": self.features, "label": self.label}

    def init(self, key, shared):
        return {"w": 0.1 * jax.random.normal(key, self.features.shape[1:], self.features.dtype)}

    def replica_data(self, key, shared):
        """Validation weights (N,) 1 on N_VALID random points; training weights (N,) = how often a draw with
        replacement of all the other points picks each of them."""
        n, dtype = self.label.shape[0], self.features.dtype
        split_key, draw_key = jax.random.split(key)
        order = jax.random.permutation(split_key, n)
        rest = order[N_VALID:]
        drawn = rest[jax.random.randint(draw_key, rest.shape, 0, rest.size)]
        return {"train": jnp.zeros(n, dtype).at[drawn].add(1.0),
                "valid": jnp.zeros(n, dtype).at[order[:N_VALID]].set(1.0)}

    def weights(self, data):
        return data["train"], data["valid"]

    def example_losses(self, params, shared, data, rows, info):
        return cross_entropy(params, shared["features"][rows], shared["label"][rows])


def cross_entropy(params, features, label):
    """Binary cross-entropy (n,) of the logit ``features @ w``: log(1 + e^z) - y z."""
    z = features @ params["w"]
    return jax.nn.softplus(z) - label * z


def exact_cross_entropy(logit: np.ndarray, label: np.ndarray) -> np.ndarray:
    """The same loss (n,) of a given logit, in numpy float64."""
    return np.logaddexp(0.0, logit) - label * logit


def toy(sample, dtype) -> GaussianPair:
    features = jnp.asarray(sample["features"], dtype)
    assert features.dtype == dtype, "float64 needs jax_enable_x64 (tests/conftest.py sets it)"
    return GaussianPair(features, jnp.asarray(sample["label"], dtype))


@pytest.fixture(scope="module")
def toy64(sample):
    return toy(sample, jnp.float64)


@pytest.fixture(scope="module")
def toy32(sample):
    return toy(sample, jnp.float32)


def engine(**kw) -> EngineConfig:
    base = dict(epochs=4, chunk=2, minibatch_size=1000, optimizer=OptimizerConfig(name="adam", learning_rate=0.02),
                stopping=StoppingConfig(patience=100))
    return EngineConfig(**(base | kw))


# -- what the engine is given, replica by replica (the derivation the engine's program makes) ----------------------
def replica_start(trainable, replica: int, seed: int = SEED):
    """(initial parameters, replica data, training key) of replica ``replica``, derived as the engine does."""
    return _start(trainable, replica_keys(seed, np.array([replica]))[0])


@partial(jax.jit, static_argnums=0)
def _start(trainable, key):
    init_keys, data_keys = split_keys(key[None])
    shared = trainable.shared()
    return trainable.init(init_keys[0], shared), trainable.replica_data(data_keys[0], shared), training_key(key)


@jax.jit
def shuffle_key(train_key: jax.Array, epoch: int) -> jax.Array:
    """The key of a replica's minibatch order at ``epoch``: its training key folded with the epoch, split into
    (shuffle, dropout) as in ``program.Program._minibatch_epoch``."""
    return jax.random.split(jax.random.fold_in(train_key, epoch))[0]


epoch_rows = jax.jit(batches.epoch_rows, static_argnums=2)


def own_layout(data, trainable, size: int) -> Layout:
    train_w, valid_w = trainable.weights(data)
    return Layout.for_counts(int(jnp.sum(train_w > 0)), int(jnp.sum(valid_w > 0)), size)


def weighted_loss(trainable, params, weight) -> float:
    """sum_i w_i loss_i / sum_i w_i over the whole sample (float64 numpy, by hand)."""
    losses = np.asarray(cross_entropy(params, trainable.features, trainable.label), dtype=float)
    weight = np.asarray(weight, dtype=float)
    return float(np.sum(weight * losses) / np.sum(weight))


def take(params, k: int):
    return jax.tree_util.tree_map(lambda leaf: jnp.asarray(leaf[k]), params)


@pytest.fixture(scope="module")
def reference(toy64):
    """Replicas 0..5 trained together in float64: the run the slicing and ordering tests compare with."""
    return train(toy64, np.arange(6), SEED, engine())


def assert_same_replicas(result, reference, rows, rtol):
    """``result`` reproduces ``reference``'s replicas ``rows``: same best epoch, parameters and losses to rtol."""
    np.testing.assert_array_equal(result.replica_ids, reference.replica_ids[rows])
    np.testing.assert_array_equal(result.best_epoch, reference.best_epoch[rows])
    np.testing.assert_allclose(result.params["w"], reference.params["w"][rows], rtol=rtol, atol=rtol)
    np.testing.assert_allclose(result.best_valid, reference.best_valid[rows], rtol=rtol)
    np.testing.assert_allclose(result.history_train, reference.history_train[rows], rtol=rtol)
    np.testing.assert_allclose(result.history_valid, reference.history_valid[rows], rtol=rtol)


# -- 1. batched == one by one ---------------------------------------------------------------------------------------
def test_batched_equals_one_by_one_in_float64(toy64, reference):
    one_by_one = train(toy64, np.arange(3), SEED, engine(batch=False))
    assert one_by_one.params["w"].dtype == np.float64
    assert_same_replicas(one_by_one, reference, slice(0, 3), rtol=1e-12)
    assert len(set(np.round(reference.best_valid, 8))) == 6     # six different replicas, not one six times


def test_batched_equals_one_by_one_in_float32(toy32):
    batched = train(toy32, np.arange(3), SEED, engine())
    one_by_one = train(toy32, np.arange(3), SEED, engine(batch=False))
    assert batched.params["w"].dtype == one_by_one.params["w"].dtype == np.float32   # no silent upcast
    assert_same_replicas(one_by_one, batched, slice(0, 3), rtol=1e-6)


# -- 2. results do not depend on which replicas train together ------------------------------------------------------
def test_results_do_not_depend_on_the_replica_slicing(toy64, reference):
    assert_same_replicas(train(toy64, np.array([0, 1, 2]), SEED, engine()), reference, slice(0, 3), rtol=1e-12)
    assert_same_replicas(train(toy64, np.array([3, 4, 5]), SEED, engine()), reference, slice(3, 6), rtol=1e-12)


def test_a_learning_rate_schedule_does_not_depend_on_the_slicing(toy64):
    """A cosine schedule is evaluated per epoch: with minibatches of 25278, some replicas need 2 steps per
    epoch and others 3 (their bootstrap keeps ~50 500 distinct points), and a schedule counted in optimizer
    steps of the batch would give a replica another learning rate alone than beside the others."""
    cfg = engine(minibatch_size=25278, epochs=3, chunk=3,
                 optimizer=OptimizerConfig(name="adam", learning_rate=0.05,
                                           schedule=ScheduleConfig(kind="cosine", end_fraction=0.1)))
    together = train(toy64, np.arange(6), SEED, cfg)
    for replica in (2, 4):
        alone = train(toy64, np.array([replica]), SEED, cfg)
        assert_same_replicas(alone, together, slice(replica, replica + 1), rtol=1e-12)


# -- 3. reshuffling per replica and per epoch -----------------------------------------------------------------------
def test_an_epoch_is_one_weighted_pass_in_an_order_of_its_own(toy64):
    size = 1000
    starts = [replica_start(toy64, r) for r in (0, 1)]
    orders = {}
    for r, (_, data, key) in enumerate(starts):
        train_w = np.asarray(toy64.weights(data)[0])
        layout = own_layout(data, toy64, size)
        for epoch in (0, 1):
            rows, w = (np.asarray(a) for a in epoch_rows(shuffle_key(key, epoch), jnp.asarray(train_w), layout))
            assert rows.shape == w.shape == (layout.steps, size)
            rows, w = rows.ravel(), w.ravel()
            kept = w > 0
            # every training point exactly once, carrying its bootstrap multiplicity; padding weighs nothing
            np.testing.assert_array_equal(np.sort(rows[kept]), np.flatnonzero(train_w))
            np.testing.assert_array_equal(w[kept], train_w[rows[kept]])
            assert kept.sum() == np.count_nonzero(train_w) and not kept[kept.sum():].any()
            assert w.sum() == train_w.sum() == N_TRAIN
            orders[r, epoch] = rows[kept]
    # another replica at the same epoch, the same replica at another epoch: other orders (a random pair of
    # orders of 5e4 points agrees at a fraction ~1/5e4 of positions)
    for a, b in [((0, 0), (1, 0)), ((0, 0), (0, 1)), ((1, 0), (1, 1))]:
        same_length = min(len(orders[a]), len(orders[b]))
        assert np.mean(orders[a][:same_length] == orders[b][:same_length]) < 1e-3


def hand_minibatch_adam(trainable, params, data, keys_of_epochs, lr: float, size: int):
    """Minibatch Adam written out: per epoch, the minibatches ``epoch_rows`` draws from each key, every step on
    the weighted mean loss of its minibatch, all-padding steps skipped."""
    train_w = trainable.weights(data)[0]
    layout = own_layout(data, trainable, size)
    optimizer = optax.adam(lr)
    state = optimizer.init(params)

    @jax.jit
    def step(params, state, rows, w):
        def loss(p):
            losses = cross_entropy(p, trainable.features[rows], trainable.label[rows])
            return jnp.sum(jnp.where(w > 0, w * losses, 0.0)) / jnp.sum(w)
        updates, state = optimizer.update(jax.grad(loss)(params), state, params)
        return optax.apply_updates(params, updates), state

    for key in keys_of_epochs:
        rows, w = epoch_rows(key, train_w, layout)
        for i in range(layout.steps):
            if float(jnp.sum(w[i])) > 0:
                params, state = step(params, state, rows[i], w[i])
    return params


def test_the_engine_follows_each_replicas_own_orders(toy64, reference):
    """Replica 1's three epochs by hand, with the orders of its own training key at epochs 0, 1 and 2, give the
    engine's parameters to 1e-12; with only the order changed (the same start and bootstrap, but the epochs'
    orders permuted, or replica 0's orders) the parameters differ by far more."""
    lr, size, replica = 0.02, 1000, 1
    assert reference.best_epoch[replica] == 3            # the kept parameters are those after three epochs
    engine_w = reference.params["w"][replica]
    params, data, key = replica_start(toy64, replica)
    other_key = replica_start(toy64, 0)[2]

    def by_hand(key, epochs):
        keys = [shuffle_key(key, epoch) for epoch in epochs]
        return np.asarray(hand_minibatch_adam(toy64, params, data, keys, lr, size)["w"])

    np.testing.assert_allclose(by_hand(key, [0, 1, 2]), engine_w, rtol=1e-12, atol=1e-14)
    for shuffled in (by_hand(key, [2, 0, 1]), by_hand(other_key, [0, 1, 2])):
        assert np.max(np.abs(shuffled - engine_w)) > 1e-5


# -- 4. a minibatch holding every point: full-batch gradient descent ------------------------------------------------
def test_one_minibatch_of_everything_is_full_batch_adam(toy64):
    epochs, lr, size = 5, 0.02, 10**6
    result = train(toy64, np.array([0, 2]), SEED, engine(epochs=epochs, chunk=epochs, minibatch_size=size))
    for k, replica in enumerate((0, 2)):
        params, data, _ = replica_start(toy64, replica)
        assert own_layout(data, toy64, size).steps == 1
        train_w, valid_w = toy64.weights(data)
        optimizer = optax.adam(lr)
        state = optimizer.init(params)
        loss = jax.jit(lambda p: jnp.sum(train_w * cross_entropy(p, toy64.features, toy64.label)) / jnp.sum(train_w))
        for _ in range(epochs - 1):
            updates, state = optimizer.update(jax.grad(loss)(params), state, params)
            params = optax.apply_updates(params, updates)
        last_train_loss = float(loss(params))    # the last epoch's loss is taken before its update
        updates, state = optimizer.update(jax.grad(loss)(params), state, params)
        params = optax.apply_updates(params, updates)
        # a closing validation sees the parameters after all ``epochs`` updates; they are the best here
        assert result.best_epoch[k] == epochs
        np.testing.assert_allclose(result.params["w"][k], params["w"], rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(result.best_valid[k], weighted_loss(toy64, params, valid_w), rtol=1e-12)
        np.testing.assert_allclose(result.history_train[k, -1], last_train_loss, rtol=1e-12)


def test_one_epoch_keeps_its_training(toy64):
    """``epochs: 1`` trains: the parameters after the one epoch are validated and kept, not the initial ones."""
    result = train(toy64, np.array([0]), SEED, engine(epochs=1, chunk=1, minibatch_size=64))
    initial, data, _ = replica_start(toy64, 0)
    _, valid_w = toy64.weights(data)
    assert result.best_epoch[0] == 1
    assert result.best_valid[0] < weighted_loss(toy64, initial, valid_w)
    assert np.max(np.abs(result.params["w"][0] - initial["w"])) > 1e-3


# -- 5. closure on the analytic likelihood ratio --------------------------------------------------------------------
def test_learned_log_ratio_closes_on_the_analytic_one(toy64, sample):
    """After 8 epochs of 768-point minibatches (cosine-decayed Adam), replica k's logit minus its prior log-odds
    log(W1/W0) (bootstrap weights make the classes slightly unequal) is the analytic log p1/p0:

    - its coefficients w_k differ from the exact ones by a chi2 = dw^T (2C)^-1 dw below 22.46, the 99.9%
      quantile for 6 degrees of freedom (C: inverse Fisher information of N_TRAIN points at the truth; 2C: the
      sample's own fluctuation plus the bootstrap's). Measured 4.5 and 7.9 for replicas 0 and 1 (mean 6 is
      the statistical limit);
    - on the sample (where the ratio spans -2..4.6 between its 1% and 99% quantiles) the error is below 0.05 at
      the median and below 0.25 on 98% of the points (measured 0.012-0.015 and 0.09-0.13).

    The engine's best validation loss is the weighted mean over all N_VALID validation points (the last of its
    27 validation minibatches is part padding) to 1e-10, and within 1e-3 of the loss of the exact ratio on the
    same points (measured 3e-5, 2e-4)."""
    ids, size = np.arange(2), 768
    optimizer = OptimizerConfig(name="adam", learning_rate=0.02, schedule=ScheduleConfig(kind="cosine"))
    result = train(toy64, ids, SEED, engine(epochs=8, chunk=4, minibatch_size=size, optimizer=optimizer))
    assert -(-N_VALID // size) * size > N_VALID
    features, label = sample["features"], sample["label"]
    truth = analytic_log_ratio(sample["x"])
    exact_w = np.linalg.lstsq(features, truth, rcond=None)[0]     # the ratio is a quadratic form: exact
    np.testing.assert_allclose(features @ exact_w, truth, atol=1e-10)
    p = 1.0 / (1.0 + np.exp(-truth))
    fisher = (features * (p * (1 - p))[:, None]).T @ features * (N_TRAIN / len(truth))
    for k in ids:
        _, data, _ = replica_start(toy64, k)
        train_w, valid_w = (np.asarray(w) for w in toy64.weights(data))
        params = take(result.params, k)
        np.testing.assert_allclose(result.best_valid[k], weighted_loss(toy64, params, valid_w), rtol=1e-10)

        prior = np.log(np.sum(train_w * label) / np.sum(train_w * (1 - label)))
        deviation = np.asarray(params["w"]) - exact_w - prior * np.eye(len(exact_w))[0]
        assert deviation @ fisher @ deviation / 2 < 22.46
        error = np.abs(features @ np.asarray(params["w"]) - prior - truth)
        assert np.median(error) < 0.05
        assert np.percentile(error, 98) < 0.25

        bayes = float(np.sum(valid_w * exact_cross_entropy(truth, label)) / np.sum(valid_w))
        assert abs(result.best_valid[k] - bayes) < 1e-3


# -- 6. validate_every ----------------------------------------------------------------------------------------------
def test_validate_every_and_patience_in_epochs(toy64):
    """Validation every 3 epochs with a patience of 4 epochs: the best epoch is a multiple of 3, the validation
    history moves only there, and a replica stops at the first validation at least 4 epochs after its best, i.e.
    6 epochs later (12 if patience counted validations, 4 if it ignored when validations happen). The min_delta
    makes the loss stop improving after a few epochs."""
    every, patience = 3, 4
    cfg = engine(epochs=60, chunk=1, validate_every=every,
                 stopping=StoppingConfig(patience=patience, min_delta=2e-3))
    result = train(toy64, np.arange(3), SEED, cfg)
    assert result.stopped.all() and result.epochs_run < cfg.epochs
    assert np.all(result.best_epoch % every == 0) and np.all(result.best_epoch > 0)
    for k in range(3):
        moved = np.flatnonzero(np.diff(result.history_train[k])) + 1      # epochs whose update was applied
        stop = moved[-1]
        assert stop == result.best_epoch[k] + every * -(-patience // every)
        validated = np.flatnonzero(np.diff(result.history_valid[k])) + 1
        assert len(validated) > 1 and np.all(validated % every == 0)
