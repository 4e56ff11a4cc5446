"""The engine's helpers around training: batched prediction in chunks, the stage bookkeeping of ``ctx.train``,
and a model state (e.g. batch-norm statistics) carried by the engine and kept with the best parameters."""
from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import jax.numpy as jnp
import numpy as np
import pytest

from mlhep.engine import EngineConfig, train
from mlhep.engine.config import OptimizerConfig, StoppingConfig
from mlhep.engine.predict import predict
from mlhep.engine.stages import Stages


def test_predict_in_chunks_equals_one_big_evaluation():
    """Every replica on every input, in chunks that do not divide the sample: the same numbers as one pass."""
    params = {"w": np.array([1.0, 2.0, -0.5]), "b": np.array([0.0, 1.0, 3.0])}
    x = np.linspace(-1.0, 1.0, 1001)
    out = predict(lambda p, xs: p["w"] * jnp.sin(xs) + p["b"], params, x, chunk=64)
    expected = params["w"][:, None] * np.sin(x)[None, :] + params["b"][:, None]
    assert out.shape == (3, 1001)
    np.testing.assert_allclose(out, expected, rtol=1e-15, atol=1e-15)


class Line:
    """Full-batch least squares of y = a: minimum at the replica's target."""

    def init(self, key, shared):
        return jnp.zeros(())

    def replica_data(self, key, shared):
        return jnp.asarray(2.0)

    def train_loss(self, a, shared, y, epoch):
        return (a - y) ** 2

    def validation(self, a, shared, y):
        return (a - y) ** 2, True


def _stages(tmp_path: Path) -> Stages:
    engine = EngineConfig(epochs=200, chunk=50, optimizer=OptimizerConfig(name="sgd", learning_rate=0.1))
    runcard = SimpleNamespace(sha256="abc", engine=engine, seed=0)
    return Stages(runcard, np.arange(2), tmp_path / "fit.h5", quiet=True)


def test_each_stage_trains_once_with_a_checkpoint_of_its_own(tmp_path):
    """A second ctx.train of the same stage used to reuse the first one's checkpoint and could return stage-1
    parameters; now every stage has its own file and fingerprint, and a repeated stage is refused."""
    stages = _stages(tmp_path)
    assert stages.checkpoint("density").path.name == "fit.h5.density.ckpt.npz"
    assert stages.checkpoint("").path.name == "fit.h5.ckpt.npz"
    assert stages.checkpoint("density").fingerprint != stages.checkpoint("classifier").fingerprint
    first = stages.train(Line(), stage="density")
    np.testing.assert_allclose(first.params, 2.0, rtol=1e-6)
    with pytest.raises(RuntimeError, match="twice"):
        stages.train(Line(), stage="density")
    with pytest.raises(RuntimeError, match="twice"):
        stages.train(Line())          # an unnamed stage beside named ones would share nothing, but is a bug too
    assert stages.results["density"].stage == "density"


class RunningMean:
    """Minibatch trainable with a model state: the running mean of the examples seen in training, as a
    batch-norm layer keeps. Its loss does not depend on it, so the parameters are plain least squares."""

    minibatch_size = 10

    def shared(self):
        return {"x": jnp.arange(40.0)}

    def init(self, key, shared):
        return jnp.zeros(())

    def init_state(self, key, shared):
        return {"mean": jnp.zeros(()), "count": jnp.zeros((), dtype=int)}

    def replica_data(self, key, shared):
        return {"train": jnp.ones(40), "valid": jnp.ones(40)}

    def weights(self, data):
        return data["train"], data["valid"]

    def example_losses(self, a, shared, data, rows, info):
        x = shared["x"][rows]
        losses = (a - x) ** 2
        if not info.training:
            return losses, info.model_state
        state = info.model_state
        count = state["count"] + 1
        return losses, {"mean": state["mean"] + (jnp.mean(x) - state["mean"]) / count, "count": count}


def test_the_model_state_is_updated_every_step_and_kept_with_the_best_parameters():
    cfg = EngineConfig(epochs=3, chunk=3, optimizer=OptimizerConfig(name="sgd", learning_rate=0.01),
                       stopping=StoppingConfig(patience=100))
    result = train(RunningMean(), np.arange(2), 0, cfg)
    # 4 minibatches of 10 per epoch; the state kept is the one of the best (last validated) parameters:
    # validated after the last epoch, after 3 epochs = 12 steps over 3 full passes of x = 0..39 (mean 19.5)
    np.testing.assert_array_equal(result.model_state["count"], [12, 12])
    np.testing.assert_allclose(result.model_state["mean"], 19.5, rtol=1e-12)
    assert (result.best_epoch == 3).all()
