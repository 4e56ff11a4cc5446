"""Trials as replica rows of one engine program.

A batch of trials is split into groups of one *shape*: trials whose runcards agree once the values the engine
keeps per replica are taken out. Those values are

- the optimizer's learning rate and weight decay (``engine...optimizer.learning_rate/weight_decay``, of every
  stage): optax ``inject_hyperparams`` keeps them in the state, set per row by ``train(hyperparameters=...)``;
- the trainable's ``replica_hyperparameters`` (runcard keys it reads from ``replica_data``'s inputs, e.g.
  pdf-fit's ``positivity.multiplier``), set per row by ``train(inputs={"hyper": ...})``.

Everything else (widths, activations, epochs, patience, ...) changes the program: each group compiles once.
Rows are ordered (trial, fold, replica): trial t, fold f, replica p is row ``(t * F + f) * P + p`` and trains
replica id p, so every trial and fold is compared on the same pseudo-data and initialisations.
"""
from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from mlhep.engine.config import EngineConfig
from mlhep.engine.step import injected_defaults
from mlhep.errors import TrainingFailed
from mlhep.task import RunContext, TrainResult

PLACEHOLDER_RATE = 1.0     # a group's learning rate: every row gets its own


@dataclass
class Trial:
    """An asked trial: optuna's handle, the searched values, and its loaded runcard."""

    handle: Any
    values: dict[str, Any]
    runcard: Any

    @property
    def number(self) -> int:
        return self.handle.number


@dataclass
class Rows:
    """How a group's trials map onto replica rows: (trials T, folds F, replicas P)."""

    trials: int
    folds: int
    replicas: int

    @property
    def count(self) -> int:
        return self.trials * self.folds * self.replicas

    def replica_ids(self) -> np.ndarray:
        return np.tile(np.arange(self.replicas), self.trials * self.folds)

    def per_row(self, per_trial: np.ndarray) -> np.ndarray:
        """(T, ...) -> (R, ...): each trial's value on each of its rows."""
        return np.repeat(np.asarray(per_trial), self.folds * self.replicas, axis=0)

    def per_fold_row(self, per_fold: np.ndarray) -> np.ndarray:
        """(F, ...) -> (R, ...): each fold's value on each of its rows."""
        return np.tile(np.repeat(np.asarray(per_fold), self.replicas, axis=0), (self.trials,) + (1,) *
                       (np.ndim(per_fold) - 1))

    def shaped(self, per_row: np.ndarray) -> np.ndarray:
        """(R, ...) -> (T, F, P, ...)."""
        per_row = np.asarray(per_row)
        return per_row.reshape((self.trials, self.folds, self.replicas) + per_row.shape[1:])


@dataclass
class GroupResult:
    """What one group's training gave, per row (R = trials x folds x replicas)."""

    rows: Rows
    results: dict[str, TrainResult]          # per stage ("" for a single stage)
    trainable: Any = None                    # the last stage's trainable
    outputs: dict[str, np.ndarray] = field(default_factory=dict)   # the task's per-replica outputs, if evaluated
    seconds: float = 0.0

    @property
    def last(self) -> TrainResult:
        return list(self.results.values())[-1]


# ---- shapes ----------------------------------------------------------------------------------------------------

def _normalised_optimizer(cfg: EngineConfig) -> EngineConfig:
    opt = cfg.optimizer
    decays = opt.weight_decay > 0 or opt.name == "adamw"    # adamw always has the decay in its state
    opt = dataclasses.replace(opt, learning_rate=PLACEHOLDER_RATE, weight_decay=1.0 if decays else 0.0)
    return dataclasses.replace(cfg, optimizer=opt)


def normalised_engine(engine: EngineConfig) -> EngineConfig:
    """The engine settings with the values kept per row replaced by placeholders (a zero weight decay stays zero,
    except for adamw: without decay no transformation is added, so it is another program)."""
    stages = {name: _normalised_optimizer(cfg) for name, cfg in engine.stages.items()}
    return dataclasses.replace(_normalised_optimizer(engine), stages=stages)


def replace_key(config: Any, key: str, value: Any) -> Any:
    """A copy of the config dataclass with the dotted ``key`` replaced."""
    head, _, rest = key.partition(".")
    if isinstance(config, dict):
        return {**config, head: replace_key(config[head], rest, value) if rest else value}
    return dataclasses.replace(config, **{head: replace_key(getattr(config, head), rest, value) if rest else value})


def get_key(config: Any, key: str) -> Any:
    for part in key.split("."):
        config = config[part] if isinstance(config, dict) else getattr(config, part)
    return config


def group_settings(trial: Trial, row_keys: tuple[str, ...], base_config: Any) -> tuple[EngineConfig, Any]:
    """(engine, task config) of the program a trial trains in: its own with per-row values as placeholders."""
    config = trial.runcard.config
    for key in row_keys:
        config = replace_key(config, key, get_key(base_config, key))
    return normalised_engine(trial.runcard.engine), config


def shape_of(trial: Trial, row_keys: tuple[str, ...], base_config: Any) -> str:
    from mlhep.runcard import to_plain
    engine, config = group_settings(trial, row_keys, base_config)
    return repr((to_plain(engine), to_plain(config)))


def groups(trials: list[Trial], row_keys: tuple[str, ...], base_config: Any) -> list[list[Trial]]:
    """The trials split by shape, in the order of their first trial."""
    found: dict[str, list[Trial]] = {}
    for trial in trials:
        found.setdefault(shape_of(trial, row_keys, base_config), []).append(trial)
    return list(found.values())


def padded_trials(count: int) -> int:
    """The next power of two >= count: the group sizes that get a compiled program of their own."""
    return 1 << max(count - 1, 0).bit_length()


def power_of_two_parts(count: int) -> list[int]:
    """``count`` as a sum of decreasing powers of two (its binary digits): 13 -> [8, 4, 1]."""
    return [1 << bit for bit in reversed(range(count.bit_length())) if count >> bit & 1]


# ---- per-row values ------------------------------------------------------------------------------------------

def engine_hyperparameters(trials: list[Trial], rows: Rows, engine: EngineConfig, stage: str) -> dict:
    """{learning_rate: (R,), weight_decay: (R,)} of one stage: each trial's values, on its rows."""
    injected = injected_defaults(engine.for_stage(stage).optimizer)
    values = {name: np.array([getattr(t.runcard.engine.for_stage(stage).optimizer, name) for t in trials])
              for name in injected}
    return {name: rows.per_row(v).astype(float) for name, v in values.items()}


def row_inputs(trials: list[Trial], rows: Rows, row_keys: tuple[str, ...], held_out: np.ndarray | None):
    """``replica_data``'s inputs of every row: {"hyper": {key: (R,)}, "held_out": (R, n)}; None if empty."""
    inputs = {}
    if row_keys:
        inputs["hyper"] = {key: rows.per_row([float(get_key(t.runcard.config, key)) for t in trials])
                           for key in row_keys}
    if held_out is not None:
        inputs["held_out"] = rows.per_fold_row(held_out)
    return inputs or None


# ---- training ------------------------------------------------------------------------------------------------

def train_rows(trainable: Any, trials: list[Trial], rows: Rows, engine: EngineConfig, seed: int,
               row_keys: tuple[str, ...], held_out: np.ndarray | None, progress: bool) -> GroupResult:
    """Train a group of a one-stage task as one program (``engine.train``)."""
    from mlhep.engine import train
    start = time.perf_counter()
    try:
        result = train(trainable, rows.replica_ids(), seed, engine, progress=progress,
                       hyperparameters=engine_hyperparameters(trials, rows, engine, ""),
                       inputs=row_inputs(trials, rows, row_keys, held_out))
    except TrainingFailed as err:        # every row diverged: each trial scores as failed, the search goes on
        result = err.result
    return GroupResult(rows, {"": result}, trainable, seconds=time.perf_counter() - start)


def run_rows(task: Any, config: Any, trials: list[Trial], rows: Rows, engine: EngineConfig, seed: int,
             ctx_fields: dict, progress: bool) -> GroupResult:
    """Train a group of a task with its own ``run`` (stages): ``task.run`` with a ``ctx.train`` that trains
    every row of the group and gives each its trial's learning rate and weight decay, per stage."""
    from mlhep.engine import train
    results: dict[str, TrainResult] = {}
    last: list[Any] = [None]

    def train_stage(trainable, stage: str | None = None, engine_override=None, inputs=None) -> TrainResult:
        name = stage or ""
        cfg = engine_override or engine.for_stage(name)
        try:
            result = train(trainable, rows.replica_ids(), seed, cfg, progress=progress, stage=stage, inputs=inputs,
                           hyperparameters=engine_hyperparameters(trials, rows, engine, name))
        except TrainingFailed as err:
            result = err.result
            results[name] = result
            raise
        results[name], last[0] = result, trainable
        return result

    ctx = RunContext(seed=seed, replica_ids=rows.replica_ids(), train=_keywords(train_stage), engine=engine,
                     **ctx_fields)
    start = time.perf_counter()
    try:
        outputs = task.run(config, ctx).replicas
    except TrainingFailed:
        outputs = {}
    return GroupResult(rows, results, last[0], outputs, time.perf_counter() - start)


def _keywords(train_stage: Callable) -> Callable:
    """``ctx.train``'s signature: (trainable, stage=None, engine=None, inputs=None)."""
    def ctx_train(trainable, stage=None, engine=None, inputs=None):
        return train_stage(trainable, stage, engine, inputs)
    return ctx_train
