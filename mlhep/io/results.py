"""The results file of a fit (HDF5), written atomically, read back, and merged across replica blocks.

Layout::

    /                 attrs: format, format_version, task, created
    /config           attrs: runcard_text, runcard_sha256, runcard_path, resolved (JSON of the typed config)
    /provenance       attrs: JSON strings (versions, device, command, seed, timings, blocks)
    /replicas/...     arrays with a leading replica axis: replica_id, the task's per-replica outputs,
                      train/{best_epoch, best_valid, stopped, history_train, history_valid}, params/<key path>
    /summary/...      the task's whole-run outputs

The file is written under a temporary name in the same folder and renamed when complete, so a crash or
Ctrl-C never leaves a half-written results file.
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

FORMAT, FORMAT_VERSION = "mlhep-results", 1


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
                value = np.asarray(value) if isinstance(value, np.ndarray) else str(value)
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
    _config: Any = None

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
        if not path.exists():
            raise ResultsError(f"{path}: no such results file")
        try:
            with h5py.File(path, "r") as f:
                if f.attrs.get("format") != FORMAT:
                    raise ResultsError(f"{path}: not an mlhep results file")
                cfg = f["config"].attrs
                replicas = _read(f["replicas"])
                return cls(
                    path=path, task=str(f.attrs["task"]), runcard_text=str(cfg["runcard_text"]),
                    runcard_sha256=str(cfg["runcard_sha256"]), runcard_path=str(cfg["runcard_path"]),
                    resolved=json.loads(cfg["resolved"]),
                    provenance={k: json.loads(v) for k, v in f["provenance"].attrs.items()},
                    replicas={k: v for k, v in replicas.items() if not k.startswith(("train/", "params/"))},
                    train={k[6:]: v for k, v in replicas.items() if k.startswith("train/")},
                    params={k[7:]: v for k, v in replicas.items() if k.startswith("params/")},
                    summary=_read(f["summary"]))
        except OSError as exc:
            raise ResultsError(f"{path}: unreadable HDF5 file ({exc})") from None


def write(path: Path, *, task: str, runcard_text: str, runcard_sha256: str, runcard_path: str,
          resolved: dict, provenance: dict, replicas: dict[str, np.ndarray], summary: dict[str, Any]) -> Path:
    """Write a complete results file atomically (temp file in the same folder, then rename)."""
    path = Path(path)
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


def merge(paths: list[Path], out: Path) -> Path:
    """Join replica blocks of one runcard (e.g. SLURM array jobs) into one file, ordered by replica id.

    Refuses files from different runcards (SHA-256 of the text) and overlapping replica ids.
    """
    if len(paths) < 2:
        raise ResultsError("merge needs at least two results files")
    parts = [Results.read(p) for p in paths]
    first = parts[0]
    for part in parts[1:]:
        if part.runcard_sha256 != first.runcard_sha256:
            raise ResultsError(f"{part.path} was made from another runcard than {first.path} "
                               f"(SHA-256 {part.runcard_sha256[:12]} vs {first.runcard_sha256[:12]}): "
                               "refusing to merge")
    ids = np.concatenate([p.replicas["replica_id"] for p in parts])
    unique, counts = np.unique(ids, return_counts=True)
    if (counts > 1).any():
        raise ResultsError(f"the files share replica ids ({', '.join(map(str, unique[counts > 1][:5]))}): "
                           "each replica must come from one block only")
    order = np.argsort(ids, kind="stable")
    replicas = {}
    for prefix, attr in (("", "replicas"), ("train/", "train"), ("params/", "params")):
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
    return write(out, task=first.task, runcard_text=first.runcard_text, runcard_sha256=first.runcard_sha256,
                 runcard_path=first.runcard_path, resolved=first.resolved, provenance=provenance,
                 replicas=replicas, summary=first.summary)
