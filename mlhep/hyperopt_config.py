"""The ``hyperopt:`` section of a runcard: an optuna search over runcard keys (run by ``mlhep.hyperopt``)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, Optional

from mlhep.config import InvalidOptions, option
from mlhep.engine.config import MAX_REPLICAS


@dataclass
class Dimension:
    """One searched key: a numeric range (``low``/``high``, optionally ``log``/``integer``) or ``choices``."""

    low: Optional[float] = option(None, "lower end of a numeric range")
    high: Optional[float] = option(None, "upper end of a numeric range")
    log: bool = option(False, "sample the range uniformly in log")
    integer: bool = option(False, "integer values")
    choices: Optional[list[Any]] = option(None, "a list of values to choose from (instead of a range)")


@dataclass
class HyperoptConfig:
    """Trials of the same shape train together as one program (learning rates per trial in one batch)."""

    trials: int = option(20, "number of trials (in total, across all workers of a shared study)", ge=1,
                         le=1_000_000)
    batch: int = option(8, "trials asked from optuna at once and trained as one program when shapes agree",
                        ge=1, le=MAX_REPLICAS)
    replicas_per_trial: int = option(1, "replicas per trial; the trial's loss is their mean best validation",
                                     ge=1, le=MAX_REPLICAS)
    sampler: Literal["tpe", "random"] = option("tpe", "optuna sampler")
    study: str = option("mlhep", "study name (workers sharing storage and name join one search)")
    storage: Optional[str] = option(None, "optuna storage: sqlite:///file.db, or journal:FILE for a "
                                          "shared-filesystem journal (none: in memory)")
    space: dict[str, Dimension] = option({}, "searched runcard keys, e.g. engine.optimizer.learning_rate")

    def __post_init__(self):
        if self.batch * self.replicas_per_trial > MAX_REPLICAS:    # they train as one program
            raise InvalidOptions(f"batch x replicas_per_trial = {self.batch * self.replicas_per_trial} replicas would "
                             f"train at once (at most {MAX_REPLICAS}): lower batch or replicas_per_trial")
