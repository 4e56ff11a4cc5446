"""One fit from a runcard to a results file: the library function behind ``mlhep fit``."""
from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Sequence

import numpy as np

from mlhep.engine import sharding
from mlhep.engine.checkpoint import flatten
from mlhep.engine.stages import Stages
from mlhep.errors import RunCardError, UsageError
from mlhep.io import provenance, results
from mlhep.io.output import OutputLock, check_output, remove_stale_temporaries
from mlhep.registry import broken_tasks, load_tasks
from mlhep.runcard import RunCard, load_runcard, to_plain
from mlhep.runtime import use_task
from mlhep.task import Outputs, RunContext, TrainResult


REPLICAS_SYNTAX = "START:STOP with STOP > START (e.g. 0:100), a single id (e.g. 7), or a comma list (e.g. 0,3,5)"


def replica_spec_ids(spec: str) -> Sequence[int]:
    """The replica ids a ``--replicas`` value names (ascending; a lazy range), checked for syntax only."""
    if any(len(number) > 12 for number in re.findall(r"\d+", spec)):
        shown = spec if len(spec) <= 40 else spec[:40] + "..."
        raise UsageError(f"--replicas {shown}: replica ids that large are not valid ({REPLICAS_SYNTAX})")
    if re.fullmatch(r"\d+:\d+", spec):
        start, stop = map(int, spec.split(":"))
        if stop <= start:
            raise UsageError(f"--replicas {spec}: empty range (valid: {REPLICAS_SYNTAX})")
        return range(start, stop)
    if re.fullmatch(r"\d+(,\d+)*", spec):
        return sorted({int(s) for s in spec.split(",")})
    raise UsageError(f"--replicas {spec!r}: not a replica selection (valid: {REPLICAS_SYNTAX})")


def parse_replicas(spec: str | None, n_replicas: int, runcard: RunCard | None = None) -> np.ndarray:
    """Replica ids from ``--replicas`` (see ``replica_spec_ids``), all below the runcard's ``replicas``;
    default 0..n-1. With ``runcard``, an id out of range is reported at its ``replicas:`` line."""
    if spec is None:
        return np.arange(n_replicas)
    ids = replica_spec_ids(spec)
    if ids[-1] >= n_replicas:
        why = (f"--replicas {spec} asks for replica id {ids[-1]}, but the runcard has replicas: {n_replicas} "
               f"(valid ids 0..{n_replicas - 1}; raise replicas to fit more)")
        raise runcard.fail("replicas", why) if runcard is not None else UsageError(why)
    return np.asarray(ids)


def load(path: Path) -> tuple[RunCard, object]:
    """Parse and validate a runcard; returns it with its task."""
    tasks = load_tasks()
    try:
        runcard = load_runcard(path, tasks)
    except RunCardError as err:
        broken = broken_tasks()
        name = _task_name_of(path) if broken else ""
        if name in broken:
            raise RunCardError(f"task '{name}' is installed but cannot be imported: {broken[name]}",
                               file=str(path), key="task") from None
        raise err
    return runcard, tasks[runcard.task]


def _task_name_of(path: Path) -> str:
    """The ``task:`` name in a runcard that failed to load (it may be unreadable, binary, huge, not UTF-8)."""
    from mlhep.runcard import MAX_RUNCARD_BYTES
    try:
        with Path(path).open("rb") as file:
            text = file.read(MAX_RUNCARD_BYTES).decode("utf-8", errors="replace")
    except OSError:
        return ""
    match = re.search(r"^task:\s*([\w-]+)", text, re.M)
    return match.group(1) if match else ""


def default_output(runcard: RunCard, ids: np.ndarray, sliced: bool) -> Path:
    if runcard.output:
        return Path(runcard.output)
    suffix = f"_r{ids[0]}-{ids[-1]}" if sliced else ""
    return Path(f"{runcard.path.stem}{suffix}.h5")


def fit(runcard_path: Path, output: Path | None = None, replicas: str | None = None, resume: bool = False,
        quiet: bool = False, batch: bool | None = None) -> Path:
    """Run the fit described by a runcard and write its results file; returns the file's path.

    Everything that can be checked is checked before any data is loaded or trained: the ``--replicas`` value,
    the runcard, that the output and its checkpoint can be written, that no other run writes this output
    (``<output>.lock``), and the checkpoint (with ``resume``)."""
    started, t0 = provenance.now(), time.perf_counter()
    if replicas is not None:
        replica_spec_ids(replicas)
    runcard, task = load(runcard_path)
    variant = task.variant(runcard.config)[1]
    use_task(variant)
    runcard.engine = runcard.engine.with_default_block_size(sharding.cpu_block_size(variant.replicas_per_cpu_device))
    if batch is not None:
        runcard.engine = runcard.engine.with_batch(batch)
    ids = parse_replicas(replicas, runcard.replicas, runcard)
    out = Path(output) if output else default_output(runcard, ids, replicas is not None)
    stages = Stages(runcard, ids, out, quiet)
    check_output(out, stages.checkpoint("").path)   # a bad output path must not cost a whole fit
    with OutputLock(out):
        for stale in remove_stale_temporaries(out):
            _say(quiet, f"removed {stale}, left behind by a run that was killed")
        stages.check_checkpoints(resume)
        return _fit_and_write(runcard, task, ids, out, stages, quiet, started, t0)


def _fit_and_write(runcard: RunCard, task, ids: np.ndarray, out: Path, stages: Stages, quiet: bool,
                   started: str, t0: float) -> Path:
    ctx = RunContext(runcard_path=Path(runcard.path), seed=runcard.seed, replica_ids=ids, fail=runcard.fail,
                     train=stages.train, quiet=quiet, workdir=out.parent if str(out.parent) else Path("."),
                     engine=runcard.engine)
    _say(quiet, f"mlhep fit: task {runcard.task}, replicas {_ids_text(ids)}, seed {runcard.seed}, "
                f"{'batched' if runcard.engine.batch else 'one by one'}")
    outputs: Outputs = task.run(runcard.config, ctx)
    last = next(reversed(stages.results.values()), outputs.train)
    prov = provenance.collect() | {
        "seed": runcard.seed, "replica_ids": _ids_text(ids), "started": started, "finished": provenance.now(),
        "wall_seconds": time.perf_counter() - t0, "description": runcard.description,
        "training_seconds": sum(r.wall_seconds for r in stages.results.values()) if stages.results else None,
        "epochs_run": last.epochs_run if last else None,
        "extra_files": {k: str(v) for k, v in outputs.files.items()}}
    resolved = {"task": runcard.task, "seed": runcard.seed, "replicas": runcard.replicas,
                "engine": to_plain(runcard.engine), "config": to_plain(runcard.config)}
    path = results.write(out, task=runcard.task, runcard_text=runcard.text, runcard_sha256=runcard.sha256,
                         runcard_path=str(runcard.path), resolved=resolved, provenance=prov,
                         replicas=_replica_arrays(outputs, stages.results, ids), summary=outputs.summary)
    stages.remove_checkpoints()
    _say(quiet, f"wrote {path} ({prov['wall_seconds']:.1f} s)")
    return path


def _replica_arrays(outputs: Outputs, trained: dict[str, TrainResult], ids: np.ndarray) -> dict:
    """The task's per-replica arrays with every stage's training record: ``train/`` and ``params/`` for a
    single-stage fit, ``train/<stage>/`` and ``params/<stage>/`` for each stage of a multi-stage one."""
    arrays = dict(outputs.replicas)
    if outputs.train is not None and not trained:   # a task that trained without ctx.train (tests, hyperopt)
        trained = {"": outputs.train}
    for stage, tr in trained.items():
        group = f"{stage}/" if stage else ""
        arrays["replica_id"] = tr.replica_ids
        arrays |= {f"train/{group}{k}": getattr(tr, k) for k in
                   ("best_epoch", "best_valid", "stopped", "history_train", "history_valid", "failed", "failed_epoch",
                    "failure")}
        # model_state (e.g. batch-norm statistics) is needed with the parameters to apply the model;
        # a bare array has an empty key path: stored as params/value
        for name, tree in (("params", tr.params), ("model_state", tr.model_state)):
            if tree is not None:
                arrays |= {f"{name}/{group}{k.lstrip('/') or 'value'}": v for k, v in flatten(tree, "").items()}
    if trained:
        return arrays
    if arrays:
        arrays["replica_id"] = ids[:len(next(iter(arrays.values())))]
    else:
        arrays["replica_id"] = np.zeros(0, dtype=int)
    return arrays


def _ids_text(ids: np.ndarray) -> str:
    contiguous = len(ids) and np.all(np.diff(ids) == 1)
    return f"{ids[0]}..{ids[-1]} ({len(ids)})" if contiguous else ",".join(map(str, ids))


def _say(quiet: bool, message: str) -> None:
    if not quiet:
        print(message, flush=True)
