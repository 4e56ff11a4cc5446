"""The ``engine:`` section of a runcard: how the replica ensemble trains."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Literal, Optional

from mlhep.config import option

# Upper bounds that catch typos (an extra few zeros) before they try to allocate terabytes or run for years.
MAX_REPLICAS = 100_000     # replicas trained by one command; NNPDF fits use 100-1000
MAX_EPOCHS = 10_000_000    # NNPDF4.0 trains at most 17000 epochs
MAX_CHUNK = 100_000        # epochs per jitted call (the scan's epoch counter is an array of this length)


@dataclass
class ScheduleConfig:
    """Learning-rate schedule (optax): constant, exponential decay, cosine decay, or warmup + cosine."""

    kind: Literal["constant", "exponential", "cosine", "warmup_cosine"] = option("constant", "schedule shape")
    decay_rate: float = option(0.5, "exponential: factor per decay_epochs", gt=0, le=1)
    decay_epochs: int = option(1000, "exponential: epochs per decay_rate factor", ge=1)
    warmup_epochs: int = option(0, "warmup_cosine: linear warm-up length", ge=0)
    end_fraction: float = option(0.0, "cosine: final learning rate as a fraction of the initial one", ge=0, le=1)


@dataclass
class OptimizerConfig:
    """An optax optimizer built by composing transformations (clipping, weight decay, the update rule)."""

    name: Literal["adam", "nadam", "adamw", "sgd", "rmsprop", "adagrad", "adadelta", "amsgrad", "lion"] = option(
        "adam", "update rule")
    learning_rate: float = option(1e-3, "initial learning rate", gt=0)
    schedule: ScheduleConfig = option(ScheduleConfig(), "learning-rate schedule")
    clipnorm: Optional[float] = option(None, "clip the gradient to this global norm (none: no clipping)", gt=0)
    weight_decay: float = option(0.0, "decoupled weight decay (adamw; added as a transformation otherwise)", ge=0)
    momentum: float = option(0.0, "sgd/rmsprop momentum", ge=0, lt=1)


@dataclass
class StoppingConfig:
    """Per-replica early stopping on the validation loss (look-back: keep the best parameters seen)."""

    patience: int = option(1000, "epochs without improvement of the best validation loss before a replica stops",
                           ge=1)
    min_delta: float = option(0.0, "an improvement must lower the best validation loss by more than this", ge=0)
    min_epochs: int = option(0, "no replica stops before this epoch", ge=0)


@dataclass
class EngineConfig:
    """How replicas train: batched (one vmapped program) or one by one, for how long, with what optimizer."""

    epochs: int = option(1000, "maximum number of epochs (an epoch is one pass over a replica's training set)",
                         ge=1, le=MAX_EPOCHS)
    minibatch_size: Optional[int] = option(
        None, "examples per optimizer step, for tasks that train on examples (events, jets, spectra): each epoch "
              "is a pass over a replica's training examples in minibatches, reshuffled every epoch (none: the "
              "task's default; tasks with a correlated chi2, such as pdf-fit, always train full batch)",
        ge=1, le=10**8)
    validate_every: int = option(1, "epochs between validations (stopping and patience count epochs)", ge=1,
                                 le=MAX_EPOCHS)
    chunk: int = option(100, "epochs per jitted call; progress, stopping checks and checkpoints between chunks",
                        ge=1, le=MAX_CHUNK)
    batch: bool = option(True, "train all replicas as one vmapped program (false: one by one, same results)")
    block_size: Optional[int] = option(
        None, "with batch: at most this many replicas train at once; when one stops, the next replica takes its "
              "row, so the batch stays full (none: all replicas at once; on a CPU, tasks whose replica keeps a core "
              "busy, such as pdf-fit, train one replica per core, see benchmarks/pdf.md)", ge=1, le=MAX_REPLICAS)
    optimizer: OptimizerConfig = option(OptimizerConfig(), "optimizer")
    stopping: StoppingConfig = option(StoppingConfig(), "early stopping")
    shard: bool = option(True, "shard the replica axis over all local devices when there are several")
    checkpoint_seconds: float = option(60.0, "write a resumable checkpoint at most this often", ge=0)
    stages: dict[str, Any] = option(
        {}, "settings of one stage of a task that trains in stages (e.g. bump-hunt: flow, then classifier), over "
            "the defaults above: stages: {flow: {epochs: 200, minibatch_size: 256}}")

    def for_stage(self, name: str) -> "EngineConfig":
        """The settings of stage ``name`` ("" or a stage without its own entry: these)."""
        return self.stages.get(name, self) if name else self

    def with_default_block_size(self, width: int | None) -> "EngineConfig":
        """These settings (and every stage's) with ``block_size = width`` where the runcard left it unset."""
        if width is None:
            return self
        stages = {name: cfg.with_default_block_size(width) for name, cfg in self.stages.items()}
        return dataclasses.replace(self, block_size=self.block_size or width, stages=stages)

    def with_batch(self, batch: bool) -> "EngineConfig":
        """These settings (and every stage's) with ``batch`` replaced (``mlhep fit --sequential``)."""
        stages = {name: dataclasses.replace(cfg, batch=batch) for name, cfg in self.stages.items()}
        return dataclasses.replace(self, batch=batch, stages=stages)

