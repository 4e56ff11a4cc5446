"""``mlhep hyperopt``: hyperparameter search with optuna where a batch of trials trains as one vmapped program.

A driver beside ``mlhep.fit``: it builds each trial's runcard values, the task's ``setup`` and ``trainable``, and
hands them to the engine (``mlhep.engine.train``); the engine knows nothing of trials.

Trials are asked from optuna ``batch`` at a time. Trials whose searched values differ only in the learning
rate share one program: the engine gives each replica its own rate. Other searched keys (widths,
penalties, patience, ...) change the program, so trials are grouped by them and each group trains as one
program. A trial's loss is the mean best validation loss of its replicas; all trials use the same replica
seeds, so they are compared on the same pseudo-data.
"""
from __future__ import annotations

import copy
import dataclasses
from collections import defaultdict
from typing import Any

import numpy as np

from mlhep.engine import train
from mlhep.errors import TrainingFailed
from mlhep.hyperopt_config import Dimension, HyperoptConfig
from mlhep.task import RunContext, Task

BATCHED_KEY = "engine.optimizer.learning_rate"


def check_runcard(runcard, task: Task) -> None:
    """A runcard for hyperopt needs a ``hyperopt:`` section and a task whose replicas the engine trains from its
    ``setup`` and ``trainable``. A task with variants (eft-fit's ``mode:``) answers for the variant the runcard
    chooses, and the error names that key."""
    key, chosen = task.variant(runcard.config) if hasattr(task, "variant") else ("task", task)
    if not _trains_by_gradient(chosen):
        from mlhep.registry import load_tasks
        able = sorted(name for name, t in load_tasks().items() if _trains_by_gradient(t))
        what = f"task '{runcard.task}'" + ("" if key == "task" else f" with {key}: {getattr(runcard.config, key)}")
        raise runcard.fail(key, f"{what} cannot do hyperopt: it has no replica that the engine trains by gradient "
                                f"descent (tasks that can: {', '.join(able)})")
    if runcard.hyperopt is None:
        raise runcard.fail("hyperopt", "no 'hyperopt:' section: add one with the searched keys under 'space:' "
                                       "(see `mlhep tasks -v` for its keys)")


def _trains_by_gradient(task: Task) -> bool:
    return type(task).trainable is not Task.trainable


def check_space(hcfg: HyperoptConfig, runcard) -> None:
    """Every searched key must name an existing runcard setting, with a range or choices."""
    for key, dim in hcfg.space.items():
        where = f'hyperopt.space["{key}"]'
        try:
            _get(_roots(runcard), key)
        except (AttributeError, KeyError):
            raise runcard.fail(where, f"'{key}' is not a setting of this runcard (use a key path such as "
                                      f"{BATCHED_KEY} or model.<key>)") from None
        numeric = dim.low is not None and dim.high is not None
        if numeric == (dim.choices is not None):
            raise runcard.fail(where, "give either low and high, or choices")
        if numeric and not dim.low < dim.high:
            raise runcard.fail(where, f"low ({dim.low}) must be below high ({dim.high})")
        if numeric and dim.log and dim.low <= 0:
            raise runcard.fail(where, "a log range needs low > 0")


def _roots(runcard) -> dict:
    return {"engine": runcard.engine, "config": runcard.config}


def _get(roots: dict, key: str) -> Any:
    head, *rest = key.split(".")
    obj = roots["engine"] if head == "engine" else getattr(roots["config"], head)
    for part in rest:
        obj = obj[part] if isinstance(obj, dict) else getattr(obj, part)
    return obj


def _set(obj: Any, parts: list[str], value: Any) -> Any:
    """A copy of the dataclass ``obj`` with the nested field ``parts`` replaced."""
    if not parts:
        return value
    head, rest = parts[0], parts[1:]
    if isinstance(obj, dict):
        return {**obj, head: _set(obj[head], rest, value)}
    return dataclasses.replace(obj, **{head: _set(getattr(obj, head), rest, value)})


def suggest(trial, key: str, dim: Dimension) -> Any:
    if dim.choices is not None:
        index = trial.suggest_categorical(key + "#", list(range(len(dim.choices))))
        return copy.deepcopy(dim.choices[index])
    if dim.integer:
        return trial.suggest_int(key, int(dim.low), int(dim.high), log=dim.log)
    return trial.suggest_float(key, dim.low, dim.high, log=dim.log)


def _study(hcfg: HyperoptConfig, seed: int):
    import optuna
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = hcfg.storage
    if storage and storage.startswith("journal:"):
        from optuna.storages import JournalStorage
        from optuna.storages.journal import JournalFileBackend
        storage = JournalStorage(JournalFileBackend(storage[len("journal:"):]))
    sampler = (optuna.samplers.TPESampler(seed=seed) if hcfg.sampler == "tpe"
               else optuna.samplers.RandomSampler(seed=seed))
    return optuna.create_study(study_name=hcfg.study, storage=storage, sampler=sampler, direction="minimize",
                               load_if_exists=True)


def search(runcard, task, ctx: RunContext, hcfg: HyperoptConfig, log=print) -> list[dict]:
    """Run the search; returns one row per trial of this worker: values, loss, trial number."""
    import optuna
    check_space(hcfg, runcard)
    study = _study(hcfg, runcard.seed)
    rows = []
    while True:
        finished = sum(t.state.is_finished() for t in study.get_trials(deepcopy=False))
        wanted = min(hcfg.batch, hcfg.trials - finished)
        if wanted <= 0:
            break
        trials = [study.ask() for _ in range(wanted)]
        values = [{key: suggest(t, key, dim) for key, dim in hcfg.space.items()} for t in trials]
        groups = defaultdict(list)
        for trial, vals in zip(trials, values):
            shape = tuple((k, repr(v)) for k, v in sorted(vals.items()) if k != BATCHED_KEY)
            groups[shape].append((trial, vals))
        for members in groups.values():
            losses = _train_group(runcard, task, ctx, hcfg, [vals for _, vals in members])
            for (trial, vals), loss in zip(members, losses):
                if np.isfinite(loss):
                    study.tell(trial, float(loss))
                else:
                    study.tell(trial, state=optuna.trial.TrialState.FAIL)
                rows.append({"trial": trial.number, "loss": float(loss), **vals})
                log(f"trial {trial.number:4d}  loss {loss:10.4g}  " +
                    "  ".join(f"{k}={v}" for k, v in vals.items()))
    return rows


def _train_group(runcard, task, ctx: RunContext, hcfg: HyperoptConfig, values: list[dict]) -> np.ndarray:
    """Train the trials of one group (same shape) as one program; their mean best validation losses."""
    roots = _roots(runcard)
    for key, value in values[0].items():
        if key != BATCHED_KEY:
            head, *rest = key.split(".")
            name = "engine" if head == "engine" else "config"
            parts = rest if head == "engine" else [head, *rest]
            roots[name] = _set(roots[name], parts, value)
    engine, config = roots["engine"], roots["config"]
    problem = task.setup(config, ctx)
    trainable = task.trainable(problem, config)
    per = hcfg.replicas_per_trial
    ids = np.tile(np.arange(per), len(values))
    rates = np.repeat([v.get(BATCHED_KEY, engine.optimizer.learning_rate) for v in values], per)
    try:
        result = train(trainable, ids, runcard.seed, engine, progress=not ctx.quiet, learning_rates=rates)
    except TrainingFailed as err:      # every trial of the group diverged: each scores inf, the search goes on
        result = err.result
    return result.best_valid.reshape(len(values), per).mean(axis=1)
