"""What a task provides, and what it is given.

A task is one module (or folder) that exposes a ``Task`` instance and registers it in the entry-point
group ``mlhep.tasks`` (see pyproject.toml). The engine never imports a task; a task never loops over
replicas. The flow of ``mlhep fit`` (``Task.run``'s default):

    config = <task.Config dataclass built from the runcard>
    problem = task.setup(config, ctx)               # data + theory as arrays
    trainable = task.trainable(problem, config)     # ONE replica: init, pseudo-data, losses
    result = ctx.train(trainable)                   # the engine: all replicas as one jitted program
    outputs = task.evaluate(problem, config, result)  # per-replica arrays, leading axis = replica

A task that trains in several stages (a flow, then classifiers on its samples) overrides ``run`` and calls
``ctx.train(trainable, stage="flow")`` once per stage: each stage has its own engine settings
(``engine.stages.<name>`` in the runcard), checkpoint and results group. Tasks whose fit is not gradient
training (a closed-form fit, a posterior sampler) override ``run`` and return ``Outputs`` with only ``summary``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, ClassVar, NamedTuple, Protocol

import jax
import numpy as np


class Trainable(Protocol):
    """One replica's training problem; the engine vmaps it over the replica axis.

    Data come in two kinds: ``shared()`` is what every replica reads (events, FK tables, spectra): one copy on
    the device, passed to every method, never vmapped. ``replica_data`` is a replica's own: pseudo-data,
    training/validation masks or bootstrap weights, sampled hyperparameters. All methods must be pure and
    jit-able. ``key`` is the replica's own PRNG key: replica i's result depends only on the runcard seed and
    i, never on how many replicas run beside it.

    A full-batch trainable (a chi2 over correlated data) gives ``train_loss`` and ``validation``; the engine
    takes one step per epoch. A minibatch trainable gives ``weights`` and ``example_losses`` instead (see
    ``MinibatchTrainable``). Optional methods: ``shared()`` (default: no shared data), ``step(cfg)`` (an update
    rule of its own, ``mlhep.engine.step``; default: gradient descent with ``engine.optimizer``),
    ``training_points(data)`` (the engine refuses replicas with none).
    """

    def init(self, key: jax.Array, shared: Any) -> Any:
        """Initial parameters (a pytree) of one replica."""

    def replica_data(self, key: jax.Array, shared: Any) -> Any:
        """Pseudo-data, training/validation masks, sampled hyperparameters (a pytree) of one replica."""

    def train_loss(self, params: Any, shared: Any, data: Any, epoch: jax.Array) -> jax.Array:
        """Scalar loss to minimise (may depend on the epoch, e.g. growing Lagrange multipliers)."""

    def validation(self, params: Any, shared: Any, data: Any) -> tuple[jax.Array, jax.Array]:
        """(validation loss used for early stopping, bool: may these parameters be kept as the best?)."""


class StepInfo(NamedTuple):
    """What a minibatch loss gets besides the parameters and data."""

    epoch: jax.Array         # () int: the epoch (pass) this step belongs to
    key: jax.Array           # this step's own PRNG key (dropout)
    model_state: Any         # e.g. batch-norm statistics (``init_state``); () if the model has none
    training: bool           # static: True in a training step, False in validation


class MinibatchTrainable(Protocol):
    """A replica that trains on examples of the shared sample, in minibatches the engine draws.

    The loss is a weighted mean of per-example losses: the engine reduces them over each minibatch (training)
    and over all validation minibatches (validation), so minibatch and full batch differ only in the steps.
    Optional: ``init_state(key, shared)`` for a model state (then ``example_losses`` returns (losses, new
    state)), ``accept(params, shared, data)`` (may these parameters be kept as the best), ``minibatch_size``
    (the task's default when the runcard sets no ``engine.minibatch_size``).
    """

    def init(self, key: jax.Array, shared: Any) -> Any: ...

    def replica_data(self, key: jax.Array, shared: Any) -> Any: ...

    def weights(self, data: Any) -> tuple[jax.Array, jax.Array]:
        """(training, validation) weights (N,) of the N shared examples: 0 leaves an example out, k counts it
        k times (a bootstrap by weights: the sample is never copied)."""

    def example_losses(self, params: Any, shared: Any, data: Any, rows: jax.Array, info: StepInfo) -> Any:
        """Losses (B,) of the examples ``rows`` (B,) of the shared sample."""


@dataclass
class TrainResult:
    """What the engine returns: arrays with a leading replica axis."""

    replica_ids: np.ndarray          # (R,) int
    params: Any                      # pytree of (R, ...) best parameters (NaN: failed without any)
    best_epoch: np.ndarray           # (R,) epoch of the kept parameters
    best_valid: np.ndarray           # (R,) validation loss of the kept parameters
    stopped: np.ndarray              # (R,) bool: stopped early (else ran to the epoch limit)
    history_train: np.ndarray        # (R, chunks) training loss at the end of each chunk
    history_valid: np.ndarray        # (R, chunks) validation loss at the end of each chunk
    epochs_run: int                  # epochs executed by the batch
    wall_seconds: float
    failed: np.ndarray | None = None        # (R,) bool: a loss became non-finite, or it never improved
    failed_epoch: np.ndarray | None = None  # (R,) int: epoch of the failure, -1 if none
    failure: np.ndarray | None = None       # (R,) str: why it failed, "" if it did not
    data_keys: Any = None                   # (R, 2) the keys ``replica_data`` got: tasks recreate a replica's data
    model_state: Any = None                 # pytree of (R, ...) model state kept with the best parameters
    step_state: Any = None                  # the update rule's final state (R, ...) (e.g. Newton's iterations)
    stage: str = ""                         # the stage's name ("" for a single-stage fit)

    def __post_init__(self):
        n = len(self.replica_ids)
        self.failed = np.zeros(n, dtype=bool) if self.failed is None else self.failed
        self.failed_epoch = np.full(n, -1) if self.failed_epoch is None else self.failed_epoch
        self.failure = np.full(n, "") if self.failure is None else self.failure


@dataclass
class Outputs:
    """A task's results: ``replicas`` arrays have a leading replica axis (merged by concatenation across
    replica blocks); ``summary`` arrays describe the whole run (not mergeable)."""

    replicas: dict[str, np.ndarray] = field(default_factory=dict)
    summary: dict[str, np.ndarray] = field(default_factory=dict)
    train: TrainResult | None = None
    files: dict[str, Path] = field(default_factory=dict)   # extra files written beside the results


class Task:
    """Base class of every task. Subclasses set ``name``, ``description`` and ``Config``."""

    name: ClassVar[str]
    description: ClassVar[str]
    Config: ClassVar[type]           # dataclass: the task's own runcard sections (all but the common keys)
    stages: ClassVar[tuple[str, ...]] = ()   # names of the training stages, in order (none: one stage)
    precision: ClassVar[str] = "float64"     # "float32" for network classifiers without a correlated chi2
    # Set when one replica's epoch already keeps a CPU core busy, so that vmapping replicas on a core gains nothing
    # (pdf-fit: benchmarks/pdf.md): on a CPU the fit then splits the host into one device per core and, unless the
    # runcard sets engine.block_size, trains this many replicas per device. None: all replicas in one batch on one
    # device, which suits small programs whose time is per-operation overhead (benchmarks/engine.md).
    replicas_per_cpu_device: ClassVar[int | None] = None

    def setup(self, config: Any, ctx: "RunContext") -> Any:
        """Load data and theory into arrays; raise ``ctx.fail(key, why)`` on bad input."""
        raise NotImplementedError

    def validate(self, config: Any, ctx: "RunContext") -> None:
        """What ``mlhep check`` runs: every check ``fit`` makes before training. By default the whole setup (data
        and theory are read); a task whose setup is expensive overrides it with the same checks, cheaply."""
        self.setup(config, ctx)

    def variant(self, config: Any) -> tuple[str, "Task"]:
        """The task object that fits ``config`` and the runcard key that chose it: ("task", self), unless the
        task dispatches to others (eft-fit on ``mode``)."""
        return "task", self

    def trainable(self, problem: Any, config: Any) -> Trainable:
        raise NotImplementedError

    def evaluate(self, problem: Any, config: Any, result: TrainResult) -> Outputs:
        """Per-replica outputs computed from the best parameters."""
        raise NotImplementedError

    def run(self, config: Any, ctx: "RunContext") -> Outputs:
        problem = self.setup(config, ctx)
        result = ctx.train(self.trainable(problem, config))
        outputs = self.evaluate(problem, config, result)
        outputs.train = result
        return outputs

    def report(self, results: "Any") -> str:
        """A plain-text summary of a results file (``mlhep.io.results.Results``); "" if none."""
        return ""

    def plot(self, results: "Any", outdir: Path) -> list[Path]:
        """Write PNG plots of a results file into ``outdir``; return their paths."""
        return []


def training_forbidden(where: str) -> Callable[..., TrainResult]:
    """A ``ctx.train`` for where a task must not train (``validate`` for ``mlhep check``, ``setup`` under
    hyperopt, which trains the trainables itself): a task that calls it has a bug, so it keeps its traceback."""
    def train(trainable, *args, **kwargs):
        raise RuntimeError(f"this task called ctx.train in {where}: a bug in the task")
    return train


@dataclass
class RunContext:
    """What a task gets from the run besides its config: where the runcard is, how to report a bad key,
    and the engine bound to this run's seed, replicas, checkpoint and progress display."""

    runcard_path: Path
    seed: int
    replica_ids: np.ndarray
    fail: Callable[[str, str], Exception]      # fail("data.datasets[2]", "unknown dataset (valid: ...)")
    train: Callable[..., TrainResult]          # train(trainable, stage=None, inputs=None): see Task's docstring
    quiet: bool = False
    workdir: Path = Path(".")                  # where extra files (e.g. LHAPDF grids) go
    engine: Any = None                         # the runcard's engine settings (mlhep.engine.config.EngineConfig)

    def resolve(self, path: str | Path) -> Path:
        """A path from the runcard (``~`` and ``$VARS`` expanded), relative to the runcard's folder."""
        from mlhep.paths import expand
        p = Path(expand(str(path)))
        return p if p.is_absolute() else (self.runcard_path.parent / p)

    def log(self, message: str) -> None:
        if not self.quiet:
            print(message, flush=True)
