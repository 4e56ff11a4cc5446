"""The ``hyperopt:`` section of a runcard: an optuna search over runcard keys (run by ``mlhep.hyperopt``).

```yaml
hyperopt:
  trials: 64                # in total, over every worker that joins the study
  batch: 16                 # trials asked at once; those of one shape train as ONE program
  sampler: tpe              # tpe, random, cmaes
  reward: kfold             # validation, kfold (pdf-fit), output (a per-replica output of the task)
  kfold: {statistic: mean, folds: [[DATASET, ...], [...]]}
  storage: study.db         # SQLite file, journal:FILE (shared filesystems), or an RDB URL
  space:
    engine.optimizer.learning_rate: {low: 1.0e-4, high: 1.0e-2, log: true}     # log-float
    positivity.multiplier: {low: 100.0, high: 3000.0}                          # float
    engine.stopping.patience: {low: 200, high: 2000, integer: true}            # int
    model.architecture: {choices: [[25, 20], [35, 25], [15, 10]]}              # categorical
```
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, Optional

from mlhep.config import InvalidOptions, option
from mlhep.engine.config import MAX_REPLICAS


@dataclass
class Dimension:
    """One searched key: a numeric range (``low``/``high``: float; ``log``: log-float; ``integer``: int) or
    ``choices`` (categorical: any runcard values, e.g. lists of layer widths or activation names)."""

    low: Optional[float] = option(None, "lower end of a numeric range")
    high: Optional[float] = option(None, "upper end of a numeric range")
    log: bool = option(False, "sample the range uniformly in log")
    integer: bool = option(False, "integer values")
    choices: Optional[list[Any]] = option(None, "a list of values to choose from (instead of a range)")


@dataclass
class KFoldConfig:
    """NNPDF4.0's k-fold cross-validation (arXiv:2109.02653 sec. 3.3): each trial trains once per fold with that
    fold's datasets held out (training and validation on the others); the reward is the statistic over folds of
    the held-out chi2 per point."""

    folds: list[list[str]] = option([], "the datasets of each fold (names as in data.datasets)")
    statistic: Literal["mean", "max"] = option("mean", "reward = mean or max over the folds of their held-out chi2 "
                                                       "per point (each the mean over the trial's replicas)")
    positivity_penalty: float = option(
        1000.0, "added to the held-out chi2 per point of a replica whose kept PDF is not positive; a replica that "
                "failed (no finite parameters) counts as this penalty alone", ge=0)


@dataclass
class HyperoptConfig:
    """Trials of the same shape train together as one program (learning rates, weight decays and the task's
    replica hyperparameters per row)."""

    trials: int = option(20, "number of trials (in total, across all workers of a shared study)", ge=1,
                         le=1_000_000)
    batch: int = option(8, "trials asked from optuna at once and trained as one program when shapes agree",
                        ge=1, le=MAX_REPLICAS)
    replicas_per_trial: int = option(1, "replicas per trial (per fold with k-fold), the same replica ids for "
                                        "every trial", ge=1, le=MAX_REPLICAS)
    sampler: Literal["tpe", "random", "cmaes"] = option("tpe", "optuna sampler (cmaes: numeric keys only; "
                                                               "categorical keys are then sampled at random)")
    pruner: Literal["none", "median"] = option(
        "none", "median: a trial whose validation curve (mean over its replicas, per chunk) is worse than the "
                "median of earlier trials at the same epoch is recorded as pruned (after training: the engine has "
                "no per-chunk hook to stop its rows early)")
    seed: Optional[int] = option(None, "sampler seed (none: the runcard's seed); worker w uses seed + w",
                                 ge=0, le=2**31 - 1)
    reward: Literal["validation", "kfold", "output"] = option(
        "validation", "what a trial is graded by: the mean best validation loss of its replicas (of the last "
                      "stage), the k-fold held-out chi2 (kfold:, pdf-fit), or a per-replica output of the task "
                      "named by output: (mean over the trial's replicas)")
    output: Optional[str] = option(None, "reward: output: the name of a per-replica output, e.g. chi2")
    direction: Literal["minimize", "maximize"] = option("minimize", "reward: output: lower or higher is better "
                                                                    "(validation and kfold: minimize)")
    kfold: KFoldConfig = option(KFoldConfig(), "k-fold settings (reward: kfold)")
    study: str = option("mlhep", "study name (workers sharing storage and name join one search)")
    storage: Optional[str] = option(None, "optuna storage, relative to the runcard: FILE.db (SQLite), "
                                          "journal:FILE (a journal file, for shared filesystems), or an RDB URL "
                                          "such as postgresql://host/db (none: OUTPUT.journal beside the output)")
    space: dict[str, Dimension] = option({}, "searched runcard keys, e.g. engine.optimizer.learning_rate")

    def __post_init__(self):
        folds = max(len(self.kfold.folds), 1) if self.reward == "kfold" else 1
        rows = self.batch * self.replicas_per_trial * folds
        if rows > MAX_REPLICAS:    # they train as one program
            what = "batch x replicas_per_trial" + (" x folds" if folds > 1 else "")
            raise InvalidOptions(f"{what} = {rows} replicas would train at once (at most {MAX_REPLICAS}): lower "
                                 "batch or replicas_per_trial")
        if self.reward == "kfold" and not self.kfold.folds:
            raise InvalidOptions("reward: kfold needs kfold.folds: a list of folds, each a list of dataset names")
        if self.reward == "output" and not self.output:
            raise InvalidOptions("reward: output needs output: the name of a per-replica output of the task")
        if self.reward != "output" and self.direction != "minimize":
            raise InvalidOptions(f"reward: {self.reward} is minimised: direction: maximize is for reward: output")

    @property
    def folds(self) -> int:
        """Training runs per trial: one per fold with k-fold, else one."""
        return len(self.kfold.folds) if self.reward == "kfold" else 1
