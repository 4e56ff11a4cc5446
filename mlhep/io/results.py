"""The results file of a fit (HDF5), written atomically, read back, and merged across replica blocks.

Layout::

    /                 attrs: format, format_version, task, created
    /config           attrs: runcard_text, runcard_sha256, runcard_path, resolved (JSON of the typed config)
    /provenance       attrs: JSON strings (versions, device, command, seed, timings, blocks)
    /replicas/...     arrays with a leading replica axis: replica_id, the task's per-replica outputs,
                      train/{best_epoch, best_valid, stopped, history_train, history_valid}, params/<key path>,
                      model_state/<key path> (e.g. batch-norm statistics, kept with the best parameters)
    /summary/...      the task's whole-run outputs

The file is written under a temporary name in the same folder and renamed when complete, so a crash or
Ctrl-C never leaves a half-written results file; :mod:`mlhep.io.output` checks and locks the output of a run.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from mlhep.errors import ResultsError
from mlhep.io.output import OutputLock, check_output, refuse_non_regular

FORMAT, FORMAT_VERSION = "mlhep-results", 1
TRAINING_GROUPS = ("train", "params", "model_state")   # /replicas/<group>/... written from the engine's result
_PREFIXES = tuple(group + "/" for group in TRAINING_GROUPS)


def _store(group: h5py.Group, name: str, value: Any) -> None:
    array = np.asarray(value)
    if array.dtype.kind == "U":
        array = array.astype(h5py.string_dtype())
    elif array.dtype.kind == "O":
        raise ResultsError(f"output {name!r} is not a numeric or string array")
    group.create_dataset(name, data=array)


def _read(group: h5py.Group) -> dict[str, np.ndarray]:
    found = {}

    def visit(name, obj):
        if isinstance(obj, h5py.Dataset):
            value = obj[()]
            if obj.dtype.kind == "O" or h5py.check_string_dtype(obj.dtype):
                value = obj.asstr()[()]
                value = value.astype(str) if isinstance(value, np.ndarray) else str(value)   # not object arrays
            found[name] = value
    group.visititems(visit)
    return found


@dataclass
class Results:
    """A results file read into memory."""

    path: Path
    task: str
    runcard_text: str
    runcard_sha256: str
    runcard_path: str
    resolved: dict
    provenance: dict
    replicas: dict[str, np.ndarray] = field(default_factory=dict)
    summary: dict[str, Any] = field(default_factory=dict)
    train: dict[str, np.ndarray] = field(default_factory=dict)
    params: dict[str, np.ndarray] = field(default_factory=dict)
    model_state: dict[str, np.ndarray] = field(default_factory=dict)
    _config: Any = None

    @property
    def stages(self) -> list[str]:
        """Names of the trained stages: [""] for a single-stage fit, [] if nothing was trained."""
        return sorted({k.rpartition("/")[0] for k in self.train})

    def stage_train(self, stage: str) -> dict[str, np.ndarray]:
        """The training record (best_epoch, history_valid, ...) of one stage."""
        group = f"{stage}/" if stage else ""
        return {k[len(group):]: v for k, v in self.train.items() if k.startswith(group) and "/" not in k[len(group):]}

    def stage_params(self, stage: str) -> dict[str, np.ndarray]:
        """The flattened best parameters of one stage (key paths as in ``params/``)."""
        if stage:
            return {k[len(stage) + 1:]: v for k, v in self.params.items() if k.startswith(stage + "/")}
        named = tuple(f"{s}/" for s in self.stages if s)
        return {k: v for k, v in self.params.items() if not named or not k.startswith(named)}

    @property
    def n_replicas(self) -> int:
        return len(self.replicas.get("replica_id", []))

    @property
    def config(self) -> Any:
        """The task's typed Config, re-parsed from the stored runcard text."""
        if self._config is None:
            from mlhep.registry import load_tasks
            from mlhep.runcard import load_runcard_text
            self._config = load_runcard_text(self.runcard_text, self.runcard_path, load_tasks()).config
        return self._config

    @classmethod
    def read(cls, path: str | Path) -> "Results":
        path = Path(path)
        refuse_non_regular(path, "results file", missing="no such results file")
        if path.stat().st_size == 0:
            raise ResultsError(f"{path}: empty file (0 bytes), not a results file")
        try:
            with h5py.File(path, "r") as f:
                if f.attrs.get("format") != FORMAT:
                    raise ResultsError(f"{path}: not an mlhep results file (an HDF5 file without the root "
                                       f"attribute format={FORMAT!r}; made by another program?)")
                return cls._from_file(path, f)
        except OSError as exc:
            raise ResultsError(f"{path}: unreadable HDF5 file ({exc})") from None

    @classmethod
    def _from_file(cls, path: Path, f: h5py.File) -> "Results":
        """Read our layout, naming the first missing or malformed piece (a damaged or hand-edited file)."""
        groups = [f"/{g}" for g in ("config", "provenance", "replicas", "summary")
                  if not isinstance(f.get(g), h5py.Group)]
        if groups:
            raise ResultsError(f"{path}: incomplete mlhep results file (no group {', '.join(groups)})")
        attrs = [f"/config attribute {a!r}" for a in ("runcard_text", "runcard_sha256", "runcard_path", "resolved")
                 if a not in f["config"].attrs] + (["root attribute 'task'"] if "task" not in f.attrs else [])
        if attrs:
            raise ResultsError(f"{path}: incomplete mlhep results file (no {', no '.join(attrs)})")
        cfg = f["config"].attrs
        replicas = _read(f["replicas"])
        res = cls(path=path, task=str(f.attrs["task"]), runcard_text=str(cfg["runcard_text"]),
                  runcard_sha256=str(cfg["runcard_sha256"]), runcard_path=str(cfg["runcard_path"]),
                  resolved=_json(path, "/config attribute 'resolved'", cfg["resolved"]),
                  provenance={k: _json(path, f"/provenance attribute {k!r}", v)
                              for k, v in f["provenance"].attrs.items()},
                  replicas={k: v for k, v in replicas.items() if not k.startswith(_PREFIXES)},
                  **{group: {k[len(group) + 1:]: v for k, v in replicas.items() if k.startswith(group + "/")}
                     for group in TRAINING_GROUPS},
                  summary=_read(f["summary"]))
        _check_replica_axis(res, replicas)
        return res


TRAIN_KEYS = ("best_epoch", "best_valid", "stopped", "history_train", "history_valid")


def _json(path: Path, where: str, text: Any) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ResultsError(f"{path}: {where} is not valid JSON ({exc.msg} at character {exc.pos})") from None
    except TypeError:
        raise ResultsError(f"{path}: {where} should be a JSON string (got {type(text).__name__})") from None


def _check_replica_axis(res: Results, replicas: dict[str, np.ndarray]) -> None:
    """Every /replicas array must have one row per replica id, and training outputs come complete."""
    ids = res.replicas.get("replica_id")
    if ids is None or np.ndim(ids) != 1 or np.asarray(ids).dtype.kind not in "iu":
        raise ResultsError(f"{res.path}: /replicas/replica_id is missing or not a 1-D integer array")
    wrong = [k for k, v in replicas.items() if np.ndim(v) == 0 or np.shape(v)[0] != len(ids)]
    if wrong:
        raise ResultsError(f"{res.path}: /replicas/{wrong[0]} does not have one row per replica "
                           f"({len(ids)} replica ids)")
    for stage in res.stages:   # train/ of a single-stage fit, train/<stage>/ of each stage of a multi-stage one
        group = f"{stage}/" if stage else ""
        missing = [k for k in TRAIN_KEYS if group + k not in res.train]
        if missing:
            raise ResultsError(f"{res.path}: /replicas/train{'/' + stage if stage else ''} is incomplete (no "
                               f"{', '.join(missing)})")
        flat = [k for k in TRAIN_KEYS[3:] if np.ndim(res.train[group + k]) != 2]
        if flat:
            raise ResultsError(f"{res.path}: /replicas/train/{group}{flat[0]} should be 2-D (replicas, chunks)")


def write(path: Path, *, task: str, runcard_text: str, runcard_sha256: str, runcard_path: str,
          resolved: dict, provenance: dict, replicas: dict[str, np.ndarray], summary: dict[str, Any]) -> Path:
    """Write a complete results file atomically (temp file in the same folder, then rename)."""
    path = Path(path)
    refuse_non_regular(path, "output")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        with h5py.File(tmp, "w") as f:
            f.attrs.update({"format": FORMAT, "format_version": FORMAT_VERSION, "task": task,
                            "created": provenance.get("finished", "")})
            cfg = f.create_group("config")
            cfg.attrs.update({"runcard_text": runcard_text, "runcard_sha256": runcard_sha256,
                              "runcard_path": runcard_path, "resolved": json.dumps(resolved)})
            prov = f.create_group("provenance")
            for key, value in provenance.items():
                prov.attrs[key] = json.dumps(value, default=str)
            rep, summ = f.create_group("replicas"), f.create_group("summary")
            for name, value in replicas.items():
                _store(rep, name, value)
            for name, value in summary.items():
                _store(summ, name, value)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def _check_same_layout(first: Results, part: Results) -> None:
    """Blocks of one runcard made by different code versions may hold other arrays: refuse, naming one."""
    for attr in ("replicas", *TRAINING_GROUPS):
        mine, theirs = getattr(first, attr), getattr(part, attr)
        for name in sorted(set(mine) | set(theirs)):
            if name not in mine or name not in theirs:
                lacking = first.path if name not in mine else part.path
                raise ResultsError(f"{lacking} has no {attr} array {name!r} that the other blocks have "
                                   "(made by another mlhep version?): refusing to merge")
            if not name.startswith("history") and np.shape(mine[name])[1:] != np.shape(theirs[name])[1:]:
                raise ResultsError(f"{part.path}: {attr} array {name!r} has shape {np.shape(theirs[name])[1:]} per "
                                   f"replica, {first.path} {np.shape(mine[name])[1:]}: refusing to merge")


def merge(paths: list[Path], out: Path) -> Path:
    """Join replica blocks of one runcard (e.g. SLURM array jobs) into one file, ordered by replica id.

    Refuses files from different runcards (SHA-256 of the text) and overlapping replica ids.
    """
    if len(paths) < 2:
        raise ResultsError("merge needs at least two results files")
    check_output(out)
    parts = [Results.read(p) for p in paths]
    first = parts[0]
    for part in parts[1:]:
        if part.runcard_sha256 != first.runcard_sha256:
            raise ResultsError(f"{part.path} was made from another runcard than {first.path} "
                               f"(SHA-256 {part.runcard_sha256[:12]} vs {first.runcard_sha256[:12]}): "
                               "refusing to merge")
        _check_same_layout(first, part)
    ids = np.concatenate([p.replicas["replica_id"] for p in parts])
    unique, counts = np.unique(ids, return_counts=True)
    if (counts > 1).any():
        raise ResultsError(f"the files share replica ids ({', '.join(map(str, unique[counts > 1][:5]))}): "
                           "each replica must come from one block only")
    order = np.argsort(ids, kind="stable")
    replicas = {}
    for prefix, attr in (("", "replicas"), *((group + "/", group) for group in TRAINING_GROUPS)):
        for name in getattr(first, attr):
            blocks = [getattr(p, attr)[name] for p in parts]
            if name.startswith("history"):  # blocks may have run different numbers of chunks
                width = max(b.shape[1] for b in blocks)
                blocks = [np.pad(b, [(0, 0), (0, width - b.shape[1])], mode="edge") if b.shape[1] else
                          np.full((b.shape[0], width), np.nan) for b in blocks]
            replicas[prefix + name] = np.concatenate(blocks)[order]
    provenance = dict(first.provenance)
    provenance["merged_from"] = [{"file": str(p.path), "replicas": [int(p.replicas["replica_id"].min()),
                                                                    int(p.replicas["replica_id"].max())],
                                  "provenance": p.provenance} for p in parts]
    with OutputLock(out):
        return write(out, task=first.task, runcard_text=first.runcard_text, runcard_sha256=first.runcard_sha256,
                     runcard_path=first.runcard_path, resolved=first.resolved, provenance=provenance,
                     replicas=replicas, summary=first.summary)
