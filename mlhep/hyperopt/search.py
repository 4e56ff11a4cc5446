"""The search loop of one worker: ask a batch of trials, train each shape group as one program, grade, tell.

A driver beside ``mlhep.fit``: the engine knows nothing of trials, the task nothing of hyperopt (except the
optional k-fold and replica-hyperparameter hooks of its trainable, see ``batching`` and ``kfold``).

Rewards (lower is better unless ``direction: maximize``):
- ``validation``: mean over the trial's replicas of the best validation loss (of the last stage);
- ``kfold``: NNPDF4.0's held-out chi2 over folds of datasets (``kfold``);
- ``output``: mean over the trial's replicas of a per-replica output of the task's ``evaluate`` (or ``run``).
"""
from __future__ import annotations

import dataclasses
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from mlhep.errors import RunCardError
from mlhep.hyperopt import batching, kfold, outputs, space, study as study_mod
from mlhep.hyperopt.batching import Rows, Trial
from mlhep.hyperopt_config import HyperoptConfig
from mlhep.task import RunContext, Task, training_forbidden


def trains_by_gradient(task: Task) -> bool:
    return type(task).trainable is not Task.trainable


def able(task: Task) -> bool:
    """One-stage tasks with a trainable, and tasks that train in stages through ``ctx.train``."""
    return trains_by_gradient(task) or bool(getattr(task, "stages", ()))


def check_runcard(runcard, task: Task) -> None:
    """A runcard for hyperopt needs a ``hyperopt:`` section and a task whose replicas the engine trains. A task
    with variants (eft-fit's ``mode:``) answers for the variant the runcard chooses, and the error names that key."""
    key, chosen = task.variant(runcard.config) if hasattr(task, "variant") else ("task", task)
    if not able(chosen):
        from mlhep.registry import load_tasks
        can = sorted(name for name, t in load_tasks().items() if able(t))
        what = f"task '{runcard.task}'" + ("" if key == "task" else f" with {key}: {getattr(runcard.config, key)}")
        raise runcard.fail(key, f"{what} cannot do hyperopt: it has no replica that the engine trains by gradient "
                                f"descent (tasks that can: {', '.join(can)})")
    if runcard.hyperopt is None:
        raise runcard.fail("hyperopt", "no 'hyperopt:' section: add one with the searched keys under 'space:' "
                                       "(see `mlhep tasks -v` for its keys)")


@dataclass
class Settings:
    """Where and as whom a worker searches."""

    storage: str                 # normalised storage spec (study.storage_spec)
    study: str
    output: Path                 # trials table (.h5); the best runcard goes beside it
    worker: int = 0              # sampler seed offset (SLURM_ARRAY_TASK_ID)
    quiet: bool = False
    fail_running: bool = False   # close every running trial as lost first (no other worker runs)


@dataclass
class Outcome:
    """What this worker did: its trials' records, and the files written."""

    records: list[dict]
    table: Path | None = None
    best_runcard: Path | None = None
    lost: list[int] = dataclasses.field(default_factory=list)


class Search:
    """One worker's search over one runcard."""

    def __init__(self, runcard, task: Task, hcfg: HyperoptConfig, settings: Settings, log: Callable = print):
        from mlhep.engine import sharding
        from mlhep.registry import load_tasks
        self.runcard, self.hcfg, self.settings, self.log = runcard, hcfg, settings, log
        self.tasks = load_tasks()
        self.task = task.variant(runcard.config)[1] if hasattr(task, "variant") else task
        self.block = sharding.cpu_block_size(self.task.replicas_per_cpu_device)
        self.by_run = not trains_by_gradient(self.task)    # tasks with stages: through their own run
        self._problems: dict[str, Any] = {}
        self._trainables: dict[str, Any] = {}     # one per shape: the engine reuses its compiled program
        self.row_keys: tuple[str, ...] = ()
        self.masks: np.ndarray | None = None

    # -- checks and set-up -----------------------------------------------------------------------------------
    def prepare(self) -> None:
        """Check the space and the reward against this task (k-fold folds against its datasets)."""
        hcfg, card = self.hcfg, self.runcard
        space.check_space(hcfg, card, self.tasks)
        if self.by_run:
            if hcfg.reward == "kfold":
                raise card.fail("hyperopt.reward", f"task '{card.task}' trains in stages: k-fold is for tasks "
                                                   "whose trainable holds out datasets (pdf-fit); use validation "
                                                   "or output")
            return
        trainable = self.task.trainable(self.problem(card.config), card.config)
        self.row_keys = tuple(k for k in hcfg.space if k in getattr(trainable, "replica_hyperparameters", ()))
        if hcfg.reward == "kfold":
            if not kfold.supports_kfold(trainable):
                raise card.fail("hyperopt.reward", f"task '{card.task}' cannot hold out datasets (k-fold is for "
                                                   "pdf-fit): use reward: validation or output")
            self.masks = kfold.fold_masks(trainable, hcfg.kfold, card.fail)

    def context(self, **extra) -> dict:
        card = self.runcard
        return dict(runcard_path=Path(card.path), fail=card.fail, quiet=self.settings.quiet, **extra)

    def problem(self, config: Any) -> Any:
        """The task's setup of ``config``, computed once per distinct config (trials that change only the
        model or the engine share it)."""
        from mlhep.runcard import to_plain
        key = repr(to_plain(config))
        if key not in self._problems:
            ctx = RunContext(seed=self.runcard.seed, replica_ids=None, train=training_forbidden("setup"),
                             **self.context(workdir=Path(".")))
            self._problems[key] = self.task.setup(config, ctx)
        return self._problems[key]

    # -- the loop --------------------------------------------------------------------------------------------
    def run(self) -> Outcome:
        self.prepare()
        s, hcfg = self.settings, self.hcfg
        self.study = study_mod.open_study(self.runcard, hcfg, s.storage, s.study, s.worker)
        outcome = Outcome([], lost=study_mod.release_lost(self.study, everyone=s.fail_running))
        if outcome.lost:
            self.log(f"closed trials {', '.join(map(str, outcome.lost))} left running by workers that are gone")
        batch = 0
        while True:
            wanted = min(hcfg.batch, study_mod.remaining(self.study, hcfg.trials))
            if wanted <= 0:
                break
            handles = self._ask(wanted)
            if not handles:
                break            # other workers run the rest of the budget
            try:
                outcome.records += self._train_batch(handles, f"{study_mod.this_worker()}/{batch}")
            except BaseException:
                for h in handles:     # interrupted or broken: this batch is lost, the study continues
                    if self._running(h.number):
                        study_mod.close(self.study, h.number, study_mod.LOST)
                raise
            batch += 1
            outcome.table, outcome.best_runcard = self.write_outputs()
        if outcome.table is None:
            outcome.table, outcome.best_runcard = self.write_outputs()
        return outcome

    def _ask(self, wanted: int) -> list:
        handles = [self.study.ask() for _ in range(wanted)]
        for h in handles:
            h.set_user_attr(study_mod.WORKER, study_mod.this_worker())
        keep = study_mod.in_budget(self.study, [h.number for h in handles], self.hcfg.trials)
        for h, ok in zip(handles, keep):
            if not ok:
                study_mod.close(self.study, h.number, study_mod.SURPLUS)
        return [h for h, ok in zip(handles, keep) if ok]

    def _running(self, number: int) -> bool:
        return any(t.number == number and t.state.name == "RUNNING" for t in self.study.get_trials(deepcopy=False))

    def _train_batch(self, handles: list, batch: str) -> list[dict]:
        import optuna
        trials = []
        for h in handles:
            values = {key: space.suggest(h, key, dim) for key, dim in self.hcfg.space.items()}
            try:
                trials.append(Trial(h, values, space.trial_runcard(self.runcard, values, self.tasks)))
            except RunCardError as err:     # values valid one by one but not together
                study_mod.trial_attr(h, "error", err.reason)
                self.study.tell(h, state=optuna.trial.TrialState.FAIL)
                self.log(f"trial {h.number:4d}  invalid combination: {err.reason}")
        records = []
        for members in batching.groups(trials, self.row_keys, self.runcard.config):
            for part in self._parts(members):
                records += self._finish(part, self._train_group(part), batch)
        return records

    def _parts(self, members: list[Trial]) -> list[list[Trial]]:
        """A group as trained: whole when all its rows train at once (padded in ``_train_group``); in parts of
        power-of-two sizes (13 = 8 + 4 + 1) when the engine trains a block of rows at a time (pdf-fit on a CPU).
        The engine initialises all rows of a call in one compiled program, so every new row count costs a
        compilation: the search then meets at most log2(batch) + 1 counts per shape, and nothing is padded."""
        engine, _ = batching.group_settings(members[0], self.row_keys, self.runcard.config)
        if engine.with_default_block_size(self.block).block_size is None and engine.batch:
            return [members]
        edges = np.cumsum([0] + batching.power_of_two_parts(len(members)))
        return [members[a:b] for a, b in zip(edges[:-1], edges[1:])]

    def _train_group(self, members: list[Trial]) -> batching.GroupResult:
        """Train one shape group as one program. When all rows train at once (no engine block size), the group
        is padded to a power of two of trials (copies of its last trial, then dropped), so that groups of
        different sizes share a few compiled programs instead of one each."""
        hcfg = self.hcfg
        engine, config = batching.group_settings(members[0], self.row_keys, self.runcard.config)
        engine = engine.with_default_block_size(self.block)
        if engine.block_size is None and engine.batch:
            members = members + members[-1:] * (batching.padded_trials(len(members)) - len(members))
        rows = Rows(len(members), hcfg.folds, hcfg.replicas_per_trial)
        progress = not self.settings.quiet
        if self.by_run:
            with tempfile.TemporaryDirectory(prefix="mlhep-hyperopt-") as scratch:
                return batching.run_rows(self.task, config, members, rows, engine, self.runcard.seed,
                                         self.context(workdir=Path(scratch)), progress)
        problem = self.problem(config)
        shape = batching.shape_of(members[0], self.row_keys, self.runcard.config)
        if shape not in self._trainables:
            trainable = self.task.trainable(problem, config)
            if self.masks is not None:
                trainable = trainable.holding_out(int(self.masks.sum(axis=1).max()))
            self._trainables[shape] = trainable
        group = batching.train_rows(self._trainables[shape], members, rows, engine, self.runcard.seed,
                                    self.row_keys, self.masks, progress)
        if hcfg.reward == "output":
            group.outputs = self.task.evaluate(problem, config, group.last).replicas
        return group

    # -- grading ---------------------------------------------------------------------------------------------
    def _grades(self, group: batching.GroupResult) -> dict[str, np.ndarray]:
        """Per trial: reward (T,), fold losses (T, F), replica losses (T, F, P), positive (T, F, P)."""
        hcfg, rows, last = self.hcfg, group.rows, group.last
        best_valid = rows.shaped(last.best_valid)
        positive = np.full(best_valid.shape, np.nan)
        if hcfg.reward == "kfold":
            loss, accepted = kfold.held_out_losses(group.trainable, last.params, rows.per_fold_row(self.masks))
            per_replica = rows.shaped(kfold.penalised(loss, accepted, hcfg.kfold.positivity_penalty))
            positive = rows.shaped(accepted).astype(float)
            graded = [kfold.reward(per_replica[t], hcfg.kfold.statistic) for t in range(rows.trials)]
            rewards, folds = np.array([g[0] for g in graded]), np.array([g[1] for g in graded])
        elif hcfg.reward == "output":
            per_replica = self._output(group)
            folds = per_replica.mean(axis=2)
            rewards = folds.mean(axis=1)
        else:
            per_replica = best_valid
            folds = np.full((rows.trials, rows.folds), np.nan)
            rewards = best_valid.mean(axis=(1, 2))
        return {"reward": rewards, "folds": folds, "replicas": per_replica, "positive": positive}

    def _output(self, group: batching.GroupResult) -> np.ndarray:
        name = self.hcfg.output
        if name not in group.outputs:
            known = ", ".join(k for k, v in group.outputs.items() if np.ndim(v) == 1) or "none"
            raise self.runcard.fail("hyperopt.output", f"'{name}' is not a per-replica output of task "
                                                       f"'{self.runcard.task}' (scalar outputs per replica: {known})")
        values = np.asarray(group.outputs[name], dtype=float)
        if values.ndim != 1:
            raise self.runcard.fail("hyperopt.output", f"'{name}' has shape {values.shape[1:]} per replica: the "
                                                       "reward needs one number per replica")
        return group.rows.shaped(values)

    def _finish(self, members: list[Trial], group: batching.GroupResult, batch: str) -> list[dict]:
        """Tell optuna each trial's reward (or that it failed or was pruned); store its details on it."""
        import optuna
        grades, rows = self._grades(group), group.rows
        curves = self._curves(group)
        records, size = [], len(members)      # rows.trials may count padding copies
        for t, trial in enumerate(members):
            h, reward = trial.handle, float(grades["reward"][t])
            for key, value in (("values", {k: v for k, v in trial.values.items()}),
                               ("seconds", group.seconds / size), ("group_seconds", group.seconds),
                               ("group_size", size), ("padded_size", rows.trials), ("batch", batch),
                               ("fold_losses", grades["folds"][t]), ("replica_losses", grades["replicas"][t]),
                               ("positive", grades["positive"][t]),
                               ("best_epoch", rows.shaped(group.last.best_epoch)[t])):
                study_mod.trial_attr(h, key, value)
            chunk = self.runcard.engine.for_stage(list(group.results)[-1]).chunk
            state = self._prune(h, curves[t], chunk) if curves is not None else None
            if state is not None:
                self.study.tell(h, state=state)
            elif np.isfinite(reward):
                self.study.tell(h, reward)
                state = optuna.trial.TrialState.COMPLETE
            else:
                self.study.tell(h, state=optuna.trial.TrialState.FAIL)
                state = optuna.trial.TrialState.FAIL
            record = {"trial": h.number, "state": state.name, "reward": reward, **trial.values}
            records.append(record)
            self.log(f"trial {h.number:4d}  {state.name.lower():8s} reward {reward:10.4g}  " +
                     "  ".join(f"{k}={space.show(v)}" for k, v in trial.values.items()) +
                     f"  ({size} trial{'s' if size > 1 else ''} in {group.seconds:.1f} s)")
        return records

    def _curves(self, group: batching.GroupResult) -> np.ndarray | None:
        """(T, chunks) mean validation loss of each trial's rows at the end of each chunk (median pruner)."""
        if self.hcfg.pruner == "none":
            return None
        history = group.rows.shaped(group.last.history_valid)
        return np.nanmean(np.where(np.isfinite(history), history, np.nan), axis=(1, 2))

    def _prune(self, handle, curve: np.ndarray, chunk: int):
        """Report the curve (epoch = end of each chunk); PRUNED at the first step the pruner says so."""
        import optuna
        for c, value in enumerate(curve):
            if np.isfinite(value):
                handle.report(float(value), step=(c + 1) * chunk)
                if handle.should_prune():
                    return optuna.trial.TrialState.PRUNED
        return None

    # -- outputs ---------------------------------------------------------------------------------------------
    def write_outputs(self) -> tuple[Path, Path | None]:
        from mlhep.io import provenance
        hcfg, card = self.hcfg, self.runcard
        cols = outputs.table(self.study, hcfg)
        row = outputs.best(cols, hcfg.direction)
        attrs = {"task": card.task, "study": self.settings.study, "storage": study_mod.redacted(self.settings.storage),
                 "reward": hcfg.reward, "direction": hcfg.direction, "output": hcfg.output or "",
                 "statistic": hcfg.kfold.statistic if hcfg.reward == "kfold" else "",
                 "folds": hcfg.kfold.folds if hcfg.reward == "kfold" else [],
                 "space": {k: dataclasses.asdict(d) for k, d in hcfg.space.items()},
                 "runcard_text": card.text, "runcard_path": str(card.path), "runcard_sha256": card.sha256,
                 "trials_wanted": hcfg.trials, "created": provenance.now(),
                 "provenance": {"versions": provenance.versions(), "command": provenance.collect()["command"]},
                 "best_trial": -1 if row is None else int(cols["number"][row]),
                 "best_reward": float("nan") if row is None else float(cols["reward"][row])}
        table = outputs.write_table(self.settings.output, cols, attrs)
        if row is None:
            return table, None
        number = int(cols["number"][row])
        trial = next(t for t in self.study.get_trials(deepcopy=False) if t.number == number)
        header = (f"best trial {number} of hyperopt study '{self.settings.study}' ({len(cols['number'])} trials; "
                  f"reward {hcfg.reward} = {cols['reward'][row]:.6g}), written by mlhep hyperopt from {card.path}")
        best = outputs.write_best_runcard(outputs.best_runcard_path(self.settings.output), card,
                                          space.values_of(trial.params, hcfg), header)
        return table, best


def search(runcard, task: Task, hcfg: HyperoptConfig, settings: Settings, log: Callable = print) -> Outcome:
    """Run one worker's search (``mlhep hyperopt``); returns its records and the files it wrote."""
    return Search(runcard, task, hcfg, settings, log).run()
