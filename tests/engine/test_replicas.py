"""The batched engine: batch == sequential, replica independence, reproducibility, stopping, resume."""
from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mlhep.engine import EngineConfig, train
from mlhep.engine.checkpoint import Checkpoint
from mlhep.engine.config import OptimizerConfig, StoppingConfig
from mlhep.engine.replicas import replica_keys


class Quadratic:
    """Each replica fits a, b of y = a x + b to its own noisy copy of y = 2x + 1 by least squares.

    The minimum is known in closed form for every replica, so the engine's answer can be checked exactly.
    """

    x = jnp.linspace(-1.0, 1.0, 16)

    def init(self, key, shared):
        return {"a": jax.random.normal(key), "b": jnp.asarray(0.0)}

    def replica_data(self, key, shared):
        return 2.0 * self.x + 1.0 + 0.1 * jax.random.normal(key, self.x.shape)

    def train_loss(self, params, shared, y, epoch):
        return jnp.mean((params["a"] * self.x + params["b"] - y) ** 2)

    def validation(self, params, shared, y):
        return self.train_loss(params, shared, y, 0), True

    def exact(self, y):
        return np.polyfit(np.asarray(self.x), np.asarray(y), 1)


def engine(**kw):
    base = dict(epochs=600, chunk=100, optimizer=OptimizerConfig(name="adam", learning_rate=0.05),
                stopping=StoppingConfig(patience=100))
    return EngineConfig(**(base | kw))


def test_replicas_reach_their_own_least_squares_minimum():
    model, ids = Quadratic(), np.arange(6)
    result = train(model, ids, seed=3, cfg=engine(epochs=3000))
    for k, key in enumerate(replica_keys(3, ids)):
        y = model.replica_data(jax.random.split(key)[1], ())
        slope, intercept = model.exact(y)
        assert result.params["a"][k] == pytest.approx(slope, abs=1e-4)
        assert result.params["b"][k] == pytest.approx(intercept, abs=1e-4)


@pytest.mark.parametrize("other", [dict(batch=False), dict(block_size=2)])
def test_batched_equals_sequential_and_blocks(other):
    model, ids = Quadratic(), np.arange(5)
    batched = train(model, ids, seed=1, cfg=engine())
    sequential = train(model, ids, seed=1, cfg=engine(**other))
    np.testing.assert_array_equal(sequential.replica_ids, ids)
    np.testing.assert_array_equal(batched.best_epoch, sequential.best_epoch)
    np.testing.assert_allclose(batched.best_valid, sequential.best_valid, rtol=1e-12)
    np.testing.assert_allclose(batched.params["a"], sequential.params["a"], rtol=1e-12)
    np.testing.assert_allclose(batched.history_valid, sequential.history_valid, rtol=1e-12)


def test_same_seed_is_bit_identical_and_slices_are_independent():
    model = Quadratic()
    full = train(model, np.arange(6), seed=9, cfg=engine())
    again = train(model, np.arange(6), seed=9, cfg=engine())
    np.testing.assert_array_equal(full.params["a"], again.params["a"])
    np.testing.assert_array_equal(full.best_valid, again.best_valid)
    block = train(model, np.arange(2, 5), seed=9, cfg=engine())
    np.testing.assert_array_equal(block.replica_ids, [2, 3, 4])
    np.testing.assert_array_equal(block.best_epoch, full.best_epoch[2:5])
    np.testing.assert_allclose(block.params["a"], full.params["a"][2:5], rtol=1e-12)
    other_seed = train(model, np.arange(6), seed=10, cfg=engine())
    assert not np.allclose(other_seed.params["a"], full.params["a"])


class Overfitting:
    """Validation loss falls until epoch ~T then rises: w moves at unit speed from 0; valid = (w - T)^2.

    With plain SGD on train_loss = -w, the parameters validated at epoch n (after n updates) are w = n * lr
    exactly, so the best epoch is known.
    The replica id (via its key) shifts T, so each replica must stop at its own epoch.
    """

    def init(self, key, shared):
        return jnp.asarray(0.0)

    def replica_data(self, key, shared):
        return 50.0 + jnp.floor(20 * jax.random.uniform(key))      # target T in [50, 70)

    def train_loss(self, w, shared, target, epoch):
        return -w

    def validation(self, w, shared, target):
        return (w - target) ** 2, True


def test_lookback_stopping_keeps_the_best_epoch_per_replica():
    cfg = EngineConfig(epochs=400, chunk=10, optimizer=OptimizerConfig(name="sgd", learning_rate=1.0),
                       stopping=StoppingConfig(patience=25))
    model, ids = Overfitting(), np.arange(8)
    result = train(model, ids, seed=0, cfg=cfg)
    targets = np.array([model.replica_data(jax.random.split(k)[1], ()) for k in replica_keys(0, ids)])
    # w validated at epoch n is n, so the best epoch is T and the kept parameter is exactly T.
    np.testing.assert_array_equal(result.best_epoch, targets)
    np.testing.assert_array_equal(result.params, targets)
    assert result.stopped.all()
    assert result.epochs_run < cfg.epochs          # the batch ends once every replica has stopped


def test_the_parameters_after_the_last_epoch_are_validated_and_kept():
    """Epochs run out before the validation minimum (T >= 50): the best point is the final one, after all
    ``epochs`` updates, not the one the last epoch started from."""
    cfg = EngineConfig(epochs=30, chunk=7, optimizer=OptimizerConfig(name="sgd", learning_rate=1.0),
                       stopping=StoppingConfig(patience=25))
    result = train(Overfitting(), np.arange(3), seed=0, cfg=cfg)
    np.testing.assert_array_equal(result.best_epoch, [30, 30, 30])
    np.testing.assert_array_equal(result.params, [30.0, 30.0, 30.0])
    assert not result.stopped.any()


def _counting_sizes(chunk_for, sizes: list):
    """A spy on ``Program.chunk``: the jitted chunks it returns append their batch size to ``sizes``."""
    def counting(layout):
        chunk = chunk_for(layout)
        return lambda state, *rest: sizes.append(len(state.train_loss)) or chunk(state, *rest)
    return counting


def test_stopped_replicas_leave_the_batch_and_resume_is_bit_identical(tmp_path):
    from mlhep.engine.replicas import _program

    cfg = EngineConfig(epochs=400, chunk=10, optimizer=OptimizerConfig(name="sgd", learning_rate=1.0),
                       stopping=StoppingConfig(patience=25), checkpoint_seconds=0.0)
    model, ids = Overfitting(), np.arange(40)
    program, sizes = _program(model, cfg), []
    chunk_for = program.chunk
    program.chunk = _counting_sizes(chunk_for, sizes)
    try:
        reference = train(model, ids, seed=0, cfg=cfg)
        assert sizes[0] == 40 and sizes[-1] <= 20     # repacked as replicas stopped (not below 8 rows)
        assert sorted(sizes, reverse=True) == sizes
        # a kill after the batch has shrunk
        resumed = crashed_then_resumed(model, ids, 0, cfg, tmp_path / "fit.ckpt.npz",
                                       lambda arrays, meta: len(arrays.get("running/members", ids)) < len(ids))
    finally:
        program.chunk = chunk_for
    np.testing.assert_array_equal(resumed.params, reference.params)
    np.testing.assert_array_equal(resumed.best_epoch, reference.best_epoch)
    np.testing.assert_array_equal(resumed.history_valid, reference.history_valid)


class PositiveOnly(Overfitting):
    """Same as Overfitting, but parameters beyond T - 5 are not acceptable (like failed positivity)."""

    def validation(self, w, shared, target):
        return (w - target) ** 2, w <= target - 5


def test_unacceptable_parameters_are_never_kept():
    cfg = EngineConfig(epochs=300, chunk=10, optimizer=OptimizerConfig(name="sgd", learning_rate=1.0),
                       stopping=StoppingConfig(patience=25))
    model, ids = PositiveOnly(), np.arange(4)
    result = train(model, ids, seed=0, cfg=cfg)
    targets = np.array([model.replica_data(jax.random.split(k)[1], ()) for k in replica_keys(0, ids)])
    np.testing.assert_array_equal(result.params, targets - 5)


def test_a_stopped_replica_gives_its_row_to_the_next_one():
    """engine.block_size = 2 of 8 replicas: each stopped replica's row is refilled with the next replica, so the
    batch stays 2 wide until the last replicas run, and every replica (counting its own epochs) ends exactly
    where it does when all 8 train at once: stopping epoch, kept parameters and history."""
    from mlhep.engine.replicas import _program

    cfg = EngineConfig(epochs=400, chunk=10, optimizer=OptimizerConfig(name="sgd", learning_rate=1.0),
                       stopping=StoppingConfig(patience=25))
    model, ids = Overfitting(), np.arange(8)
    together = train(model, ids, seed=0, cfg=cfg)
    narrow = dataclasses.replace(cfg, block_size=2)
    program, sizes = _program(model, narrow), []
    chunk_for = program.chunk
    program.chunk = _counting_sizes(chunk_for, sizes)
    try:
        refilled = train(model, ids, seed=0, cfg=narrow)
    finally:
        program.chunk = chunk_for
    assert set(sizes) == {2} or set(sizes) == {1, 2}     # never wider than 2 (1 only for the last replica)
    assert sum(sizes) * cfg.chunk < 8 * cfg.epochs       # stopped replicas left the batch
    np.testing.assert_array_equal(refilled.params, together.params)
    np.testing.assert_array_equal(refilled.best_epoch, together.best_epoch)
    np.testing.assert_array_equal(refilled.history_valid, together.history_valid)


def test_min_epochs_and_epoch_limit():
    cfg = EngineConfig(epochs=120, chunk=50, optimizer=OptimizerConfig(name="sgd", learning_rate=1.0),
                       stopping=StoppingConfig(patience=5, min_epochs=200))
    result = train(Overfitting(), np.arange(3), seed=0, cfg=cfg)
    assert not result.stopped.any()                 # min_epochs beyond the limit: nobody stops early
    assert result.epochs_run == 120                 # each replica counts its own epochs: none past the limit
    assert result.history_train.shape == (3, 3)


def crashed_then_resumed(model, ids, seed, cfg, path, crash_when):
    """Train with checkpoints, simulate a kill right after the first checkpoint for which
    ``crash_when(arrays, meta)`` holds, then resume from it; returns the resumed result."""
    ckpt, original = Checkpoint(path, "fingerprint"), Checkpoint.save

    def save_then_crash(self, arrays, meta):
        original(self, arrays, meta)
        if crash_when(arrays, meta):
            raise KeyboardInterrupt

    Checkpoint.save = save_then_crash
    try:
        with pytest.raises(KeyboardInterrupt):
            train(model, ids, seed=seed, cfg=cfg, checkpoint=ckpt)
    finally:
        Checkpoint.save = original
    assert ckpt.path.exists()
    return train(model, ids, seed=seed, cfg=cfg, checkpoint=ckpt)


def test_checkpoint_resume_gives_the_uninterrupted_result(tmp_path):
    model, ids, cfg = Quadratic(), np.arange(4), engine(checkpoint_seconds=0.0)
    reference = train(model, ids, seed=5, cfg=cfg)
    resumed = crashed_then_resumed(model, ids, 5, cfg, tmp_path / "fit.ckpt.npz",
                                   lambda arrays, meta: meta["epoch"] == 2)   # chunks run
    np.testing.assert_array_equal(resumed.params["a"], reference.params["a"])
    np.testing.assert_array_equal(resumed.best_epoch, reference.best_epoch)
    np.testing.assert_array_equal(resumed.history_valid, reference.history_valid)


def test_sequential_mode_resumes_after_the_first_replica(tmp_path):
    """One by one, killed once replica 0 has finished and replica 1 has taken its row: the resumed run keeps
    replica 0's result and continues replica 1 where it was."""
    model, ids, cfg = Quadratic(), np.arange(3), engine(checkpoint_seconds=0.0, batch=False)
    reference = train(model, ids, seed=2, cfg=cfg)
    resumed = crashed_then_resumed(model, ids, 2, cfg, tmp_path / "seq.ckpt.npz",
                                   lambda arrays, meta: "state.epoch" in arrays and arrays["state.epoch"][1] > 0)
    np.testing.assert_array_equal(resumed.params["b"], reference.params["b"])
    np.testing.assert_array_equal(resumed.best_epoch, reference.best_epoch)


def test_checkpoint_from_another_run_is_refused(tmp_path):
    from mlhep.errors import ResultsError
    ckpt = Checkpoint(tmp_path / "c.npz", "run-A")
    ckpt.save({"x": np.zeros(2)}, {"epoch": 1, "finished_epochs": []})
    with pytest.raises(ResultsError, match="another runcard"):
        Checkpoint(tmp_path / "c.npz", "run-B").load()
