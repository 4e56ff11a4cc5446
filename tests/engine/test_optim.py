"""Optimizers and schedules built from the runcard section."""
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from mlhep.engine.config import OptimizerConfig, ScheduleConfig
from mlhep.engine.optim import build_optimizer, schedule


@pytest.mark.parametrize("name", ["adam", "nadam", "adamw", "sgd", "rmsprop", "adagrad", "amsgrad", "lion"])
def test_every_optimizer_minimises_a_quadratic(name):
    lr = 0.5 if name == "adagrad" else 0.05      # adagrad's step shrinks as 1/sqrt(sum g^2)
    opt = build_optimizer(OptimizerConfig(name=name, learning_rate=lr, clipnorm=10.0), 500)
    x = jnp.array([3.0, -2.0])
    state = opt.init(x)
    for _ in range(500):
        grad = 2 * x
        updates, state = opt.update(grad, state, x)
        x = optax.apply_updates(x, updates)
    assert float(jnp.max(jnp.abs(x))) < 0.2


def test_schedules():
    assert schedule(0.1, ScheduleConfig(), 100) == 0.1
    exp = schedule(0.1, ScheduleConfig(kind="exponential", decay_rate=0.5, decay_epochs=10), 100)
    np.testing.assert_allclose(exp(20), 0.025)
    cos = schedule(0.1, ScheduleConfig(kind="cosine", end_fraction=0.1), 100)
    np.testing.assert_allclose([cos(0), cos(100)], [0.1, 0.01])


def test_clipping_bounds_the_update():
    opt = build_optimizer(OptimizerConfig(name="sgd", learning_rate=1.0, clipnorm=1.0), 10)
    updates, _ = opt.update(jnp.array([30.0, 40.0]), opt.init(jnp.zeros(2)))
    np.testing.assert_allclose(jnp.linalg.norm(updates), 1.0, rtol=1e-6)
