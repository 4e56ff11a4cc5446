"""One fit from a runcard to a results file: the library function behind ``mlhep fit``."""
from __future__ import annotations

import hashlib
import re
import time
from pathlib import Path

import numpy as np

from mlhep.engine.checkpoint import Checkpoint, flatten
from mlhep.engine.replicas import train
from mlhep.errors import MlhepError, ResultsError, RunCardError
from mlhep.io import provenance, results
from mlhep.registry import broken_tasks, load_tasks
from mlhep.runcard import RunCard, load_runcard, to_plain
from mlhep.task import Outputs, RunContext


def parse_replicas(spec: str | None, n_replicas: int) -> np.ndarray:
    """Replica ids from ``--replicas``: ``A:B`` (ids A..B-1), ``A`` (one), ``A,B,C``; default 0..n-1."""
    if spec is None:
        return np.arange(n_replicas)
    if re.fullmatch(r"\d+:\d+", spec):
        start, stop = map(int, spec.split(":"))
        if stop <= start:
            raise MlhepError(f"--replicas {spec}: empty range (use START:STOP with STOP > START)")
        return np.arange(start, stop)
    if re.fullmatch(r"\d+(,\d+)*", spec):
        ids = np.array(sorted({int(s) for s in spec.split(",")}))
        return ids
    raise MlhepError(f"--replicas {spec!r}: expected START:STOP (e.g. 0:100), a single id, or a comma list")


def load(path: Path) -> tuple[RunCard, object]:
    """Parse and validate a runcard; returns it with its task."""
    tasks = load_tasks()
    try:
        runcard = load_runcard(path, tasks)
    except RunCardError as err:
        broken = broken_tasks()
        name = _task_name_of(path)
        if name in broken:
            raise RunCardError(f"task '{name}' is installed but cannot be imported: {broken[name]}",
                               file=str(path), key="task") from None
        raise err
    return runcard, tasks[runcard.task]


def _task_name_of(path: Path) -> str:
    try:
        match = re.search(r"^task:\s*([\w-]+)", Path(path).read_text(), re.M)
    except OSError:
        return ""
    return match.group(1) if match else ""


def default_output(runcard: RunCard, ids: np.ndarray, sliced: bool) -> Path:
    if runcard.output:
        return Path(runcard.output)
    suffix = f"_r{ids[0]}-{ids[-1]}" if sliced else ""
    return Path(f"{runcard.path.stem}{suffix}.h5")


def fit(runcard_path: Path, output: Path | None = None, replicas: str | None = None, resume: bool = False,
        quiet: bool = False, batch: bool | None = None) -> Path:
    """Run the fit described by a runcard and write its results file; returns the file's path."""
    started, t0 = provenance.now(), time.perf_counter()
    runcard, task = load(runcard_path)
    if batch is not None:
        runcard.engine.batch = batch
    ids = parse_replicas(replicas, runcard.replicas)
    out = Path(output) if output else default_output(runcard, ids, replicas is not None)
    try:    # before training: checkpoints and exports go there too, and a bad folder should not cost a fit
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ResultsError(f"cannot create the output folder {out.parent}: {err.strerror}") from None
    fingerprint = hashlib.sha256(f"{runcard.sha256}|{ids.tolist()}|{runcard.engine.batch}".encode()).hexdigest()
    checkpoint = Checkpoint(out.with_name(out.name + ".ckpt.npz"), fingerprint)
    if checkpoint.path.exists() and not resume:
        raise MlhepError(f"{checkpoint.path} holds an interrupted run of this output: continue it with --resume, "
                         "or delete it to start afresh")
    if resume and not checkpoint.path.exists():
        _say(quiet, f"no checkpoint at {checkpoint.path}: starting from the beginning")

    def run_engine(trainable):
        return train(trainable, ids, runcard.seed, runcard.engine, progress=not quiet, checkpoint=checkpoint)

    ctx = RunContext(runcard_path=Path(runcard_path), seed=runcard.seed, replica_ids=ids, fail=runcard.fail,
                     train=run_engine, quiet=quiet, workdir=out.parent if str(out.parent) else Path("."))
    _say(quiet, f"mlhep fit: task {runcard.task}, replicas {_ids_text(ids)}, seed {runcard.seed}, "
                f"{'batched' if runcard.engine.batch else 'one by one'}")
    outputs: Outputs = task.run(runcard.config, ctx)
    prov = provenance.collect() | {
        "seed": runcard.seed, "replica_ids": _ids_text(ids), "started": started, "finished": provenance.now(),
        "wall_seconds": time.perf_counter() - t0, "description": runcard.description,
        "training_seconds": outputs.train.wall_seconds if outputs.train else None,
        "epochs_run": outputs.train.epochs_run if outputs.train else None,
        "extra_files": {k: str(v) for k, v in outputs.files.items()}}
    resolved = {"task": runcard.task, "seed": runcard.seed, "replicas": runcard.replicas,
                "engine": to_plain(runcard.engine), "config": to_plain(runcard.config)}
    path = results.write(out, task=runcard.task, runcard_text=runcard.text, runcard_sha256=runcard.sha256,
                         runcard_path=str(runcard.path), resolved=resolved, provenance=prov,
                         replicas=_replica_arrays(outputs, ids), summary=outputs.summary)
    checkpoint.remove()
    _say(quiet, f"wrote {path} ({prov['wall_seconds']:.1f} s)")
    return path


def _replica_arrays(outputs: Outputs, ids: np.ndarray) -> dict:
    arrays = dict(outputs.replicas)
    tr = outputs.train
    if tr is not None:
        arrays["replica_id"] = tr.replica_ids
        arrays |= {f"train/{k}": getattr(tr, k) for k in
                   ("best_epoch", "best_valid", "stopped", "history_train", "history_valid")}
        arrays |= {f"params/{k.lstrip('/')}": v for k, v in flatten(tr.params, "").items()}
    elif arrays:
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
