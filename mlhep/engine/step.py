"""Update rules: how one step turns a replica's parameters and loss into new parameters.

A step is an (``init``, ``update``) pair over a replica's ``StepState`` (optax's shape, one level up):

    state = step.init(params)
    state, loss, aux = step.update(state, objective)    # objective(params) -> (loss, aux)

The engine vmaps both over the replica axis and freezes replicas that have stopped. Gradient descent with an
optax optimizer (``GradientStep``) is the default; a task may bring its own (``NewtonStep`` for a smooth chi2 in
a few parameters). Hyperparameters that trials vary (learning rate, weight decay) are arrays inside the state,
optax ``inject_hyperparams`` style, so trials that differ in them share one compiled program.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Callable, NamedTuple, Protocol

import jax
import jax.numpy as jnp
import optax

from mlhep.engine.config import OptimizerConfig, ScheduleConfig
from mlhep.engine.optim import build_optimizer, schedule

Objective = Callable[[Any], tuple[jax.Array, Any]]


class StepState(NamedTuple):
    """What a step carries from one update to the next, per replica."""

    params: Any
    opt_state: Any          # the update rule's own state (moments, damping, injected hyperparameters)


class Step(Protocol):
    def init(self, params: Any) -> StepState: ...

    def update(self, state: StepState, objective: Objective) -> tuple[StepState, jax.Array, Any]:
        """One update from ``state``: (new state, loss at ``state.params``, aux of the objective there)."""

    def hyperparameters(self, state: StepState) -> dict[str, jax.Array]:
        """The injected hyperparameters in ``state`` (name -> array; may be empty)."""

    def set_hyperparameters(self, state: StepState, values: dict[str, jax.Array]) -> StepState:
        """``state`` with some injected hyperparameters replaced (e.g. one learning rate per replica)."""


class GradientStep:
    """Gradient descent with the runcard's optax optimizer (``engine.optimizer``); one update per step."""

    def __init__(self, cfg: OptimizerConfig, epochs: int, dtype: Any = None, per_epoch: bool = False):
        """``epochs`` sets the length of the schedule; ``dtype`` is that of the parameters, so that float32
        parameters stay float32 under an injected float64 learning rate. With ``per_epoch`` (minibatch
        training) the schedule is evaluated once per epoch (``at_epoch``), not per step: a replica's learning
        rate then never depends on how many minibatches it or the replicas beside it have per epoch."""
        self.factor = schedule(1.0, cfg.schedule, epochs) if per_epoch else None
        if per_epoch:
            cfg = dataclasses.replace(cfg, schedule=ScheduleConfig())

        def build(learning_rate, weight_decay=None):   # inject_hyperparams reads the names of the arguments
            return build_optimizer(cfg, epochs, learning_rate=learning_rate, weight_decay=weight_decay)
        self.optimizer = optax.inject_hyperparams(build, hyperparam_dtype=dtype)(**injected_defaults(cfg))

    def init(self, params: Any) -> StepState:
        return StepState(params, self.optimizer.init(params))

    def update(self, state: StepState, objective: Objective) -> tuple[StepState, jax.Array, Any]:
        (loss, aux), grads = jax.value_and_grad(objective, has_aux=True)(state.params)
        updates, opt_state = self.optimizer.update(grads, state.opt_state, state.params)
        return StepState(optax.apply_updates(state.params, updates), opt_state), loss, aux

    def at_epoch(self, state: StepState, base: dict[str, jax.Array], epoch: jax.Array) -> StepState:
        """The learning rate of ``epoch``: the replica's own (``base``) times the schedule's factor."""
        if self.factor is None or not callable(self.factor):
            return state
        rate = base["learning_rate"] * self.factor(epoch)
        return self.set_hyperparameters(state, {"learning_rate": rate})

    @staticmethod
    def hyperparameters(state: StepState) -> dict[str, jax.Array]:
        return state.opt_state.hyperparams

    @staticmethod
    def set_hyperparameters(state: StepState, values: dict[str, jax.Array]) -> StepState:
        current = state.opt_state.hyperparams
        unknown = set(values) - set(current)
        if unknown:   # a caller's mistake, not the user's: the runcard layer checks searched keys
            raise KeyError(f"hyperparameters {sorted(unknown)} are not injected (the step has {sorted(current)})")
        new = {name: jnp.asarray(values.get(name, value), dtype=value.dtype).reshape(value.shape)
               for name, value in current.items()}
        return state._replace(opt_state=state.opt_state._replace(hyperparams=new))


def injected_defaults(cfg: OptimizerConfig) -> dict[str, float]:
    """The optimizer's continuous hyperparameters that live in its state: the learning rate always, the weight
    decay when the optimizer has one (a zero decay adds no transformation, so there is nothing to vary)."""
    values = {"learning_rate": cfg.learning_rate}
    if cfg.weight_decay or cfg.name == "adamw":
        values["weight_decay"] = cfg.weight_decay
    return values
