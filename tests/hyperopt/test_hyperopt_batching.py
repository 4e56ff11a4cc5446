"""Trials batched as replica rows of one program give the numbers of separate fits: per-row learning rate and
weight decay (optimizer state) and per-row penalty weights (replica data)."""
from __future__ import annotations

import dataclasses
from types import SimpleNamespace

import jax
import jax.numpy as jnp
import numpy as np

from mlhep.engine import EngineConfig, train
from mlhep.engine.config import OptimizerConfig, StoppingConfig
from mlhep.hyperopt import batching
from mlhep.hyperopt.batching import Rows, Trial


class Penalised:
    """Each replica fits y = a x + b to its own noisy copy of y = 2x + 1, plus penalty * (a - 1)^2: the penalty
    pulls the slope towards 1, by an amount that depends on it (a replica hyperparameter)."""

    replica_hyperparameters = ("penalty",)
    x = jnp.linspace(-1.0, 1.0, 16)

    def __init__(self, penalty: float = 0.3):
        self.penalty = penalty

    def init(self, key, shared):
        return {"a": jax.random.normal(key), "b": jnp.asarray(0.0)}

    def replica_data(self, key, shared, inputs=None):
        hyper = (inputs or {}).get("hyper", {})
        return {"y": 2.0 * self.x + 1.0 + 0.1 * jax.random.normal(key, self.x.shape),
                "penalty": jnp.asarray(hyper.get("penalty", self.penalty))}

    def train_loss(self, params, shared, data, epoch):
        fit = jnp.mean((params["a"] * self.x + params["b"] - data["y"]) ** 2)
        return fit + data["penalty"] * (params["a"] - 1) ** 2

    def validation(self, params, shared, data):
        return self.train_loss(params, shared, data, 0), True


def engine(lr: float, wd: float) -> EngineConfig:
    return EngineConfig(epochs=300, chunk=100, stopping=StoppingConfig(patience=50),
                        optimizer=OptimizerConfig(name="adamw", learning_rate=lr, weight_decay=wd))


def test_trials_batched_in_one_program_equal_separate_fits():
    settings = [(0.02, 0.0, 0.1), (0.2, 0.1, 3.0)]      # learning rate, weight decay, penalty
    trials = [Trial(i, {}, SimpleNamespace(engine=engine(lr, wd), config=SimpleNamespace(penalty=pen)))
              for i, (lr, wd, pen) in enumerate(settings)]
    rows = Rows(trials=2, folds=1, replicas=2)
    group_engine = batching.normalised_engine(trials[0].runcard.engine)
    assert all(batching.normalised_engine(t.runcard.engine) == group_engine for t in trials[1:])   # one shape
    batched = batching.train_rows(Penalised(), trials, rows, group_engine, 4, ("penalty",), None, False).last
    for t, (lr, wd, pen) in enumerate(settings):
        alone = train(Penalised(pen), np.arange(2), 4, engine(lr, wd))
        mine = slice(2 * t, 2 * t + 2)
        np.testing.assert_array_equal(batched.best_epoch[mine], alone.best_epoch)
        np.testing.assert_allclose(batched.params["a"][mine], alone.params["a"], rtol=1e-10)
        np.testing.assert_allclose(batched.best_valid[mine], alone.best_valid, rtol=1e-10)
    slopes = batched.params["a"].reshape(2, 2).mean(axis=1)
    assert slopes[0] > slopes[1] > 1.0        # the heavier the penalty, the nearer the slope to 1


def test_a_zero_weight_decay_is_another_shape():
    """Other optimizers than adamw add no decay transformation at zero decay: another program."""
    plain = OptimizerConfig(name="adam", learning_rate=0.01)
    decayed = dataclasses.replace(plain, weight_decay=0.1)
    shapes = {repr(batching.normalised_engine(EngineConfig(optimizer=o))) for o in (plain, decayed)}
    assert len(shapes) == 2
    assert (batching.normalised_engine(EngineConfig(optimizer=decayed)) ==
            batching.normalised_engine(EngineConfig(optimizer=dataclasses.replace(decayed, weight_decay=3.0))))
    adamw = dataclasses.replace(plain, name="adamw")
    assert (batching.normalised_engine(EngineConfig(optimizer=adamw)) ==
            batching.normalised_engine(EngineConfig(optimizer=dataclasses.replace(adamw, weight_decay=0.2))))
