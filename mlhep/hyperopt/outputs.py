"""What a search writes: the trials table (HDF5) and the best trial's runcard (YAML, ready to run).

The table is read back from the study's storage, so every worker writes all trials of the study so far (not only
its own); it is rewritten after each batch, atomically (temporary file in the same folder, then rename, as
``mlhep.io.results``), so a killed worker leaves a complete table of what was finished. Layout::

    /            attrs: format = mlhep-hyperopt, format_version, task, study, storage (no password), reward,
                        direction, statistic, folds (JSON), space (JSON), runcard_text, runcard_path,
                        best_trial, best_reward, created, provenance (JSON)
    /trials/number, state, reward, seconds (its share of its group's wall time), group_seconds, group_size,
            worker, started              (T,)
    /trials/values/<key>                 (T,) float for numeric keys; JSON text for categorical ones
    /trials/fold_losses                  (T, F) reward of each held-out fold (k-fold; NaN otherwise)
    /trials/replica_losses               (T, F, P) per replica: penalised held-out loss (k-fold) or best
                                         validation loss
    /trials/positive                     (T, F, P) the kept PDF is positive (k-fold)
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from mlhep.hyperopt import space as space_mod
from mlhep.hyperopt import study as study_mod
from mlhep.hyperopt_config import HyperoptConfig
from mlhep.io.output import refuse_non_regular

FORMAT, FORMAT_VERSION = "mlhep-hyperopt", 1
STATES = ("COMPLETE", "PRUNED", "FAIL")


def finished_trials(study) -> list:
    """The study's finished trials that count (not lost or surplus), by number."""
    return sorted((t for t in study.get_trials(deepcopy=False)
                   if t.state.name in STATES and study_mod.counted(t)), key=lambda t: t.number)


def table(study, hcfg: HyperoptConfig) -> dict[str, np.ndarray]:
    """The trials table (column name -> array with one row per finished trial)."""
    trials = finished_trials(study)
    n, folds, per = len(trials), hcfg.folds, hcfg.replicas_per_trial

    def attr(name, shape, fill=np.nan):
        out = np.full((n,) + shape, fill, dtype=float)
        for i, t in enumerate(trials):
            if name in t.user_attrs:
                value = np.asarray(t.user_attrs[name], dtype=float)
                if value.shape == shape:
                    out[i] = value
        return out
    cols = {"number": np.array([t.number for t in trials], dtype=np.int64),
            "state": np.array([t.state.name for t in trials], dtype=str),
            "reward": np.array([t.value if t.value is not None else np.nan for t in trials], dtype=float),
            "seconds": attr("seconds", ()), "group_seconds": attr("group_seconds", ()),
            "group_size": attr("group_size", ()),
            "worker": np.array([str(t.user_attrs.get(study_mod.WORKER, "")) for t in trials], dtype=str),
            "started": np.array([t.datetime_start.isoformat(timespec="seconds") if t.datetime_start else ""
                                 for t in trials], dtype=str),
            "fold_losses": attr("fold_losses", (folds,)), "replica_losses": attr("replica_losses", (folds, per)),
            "positive": attr("positive", (folds, per))}
    for key, dim in hcfg.space.items():
        values = [space_mod.values_of(t.params, hcfg).get(key) for t in trials]
        if dim.choices is None:
            cols[f"values/{key}"] = np.array([np.nan if v is None else float(v) for v in values], dtype=float)
        else:
            cols[f"values/{key}"] = np.array([json.dumps(v) for v in values], dtype=str)
    return cols


def best(cols: dict[str, np.ndarray], direction: str) -> int | None:
    """Row of the best complete trial (None if none completed)."""
    ok = (cols["state"] == "COMPLETE") & np.isfinite(cols["reward"])
    if not ok.any():
        return None
    rewards = np.where(ok, cols["reward"], np.inf if direction == "minimize" else -np.inf)
    return int(np.argmin(rewards) if direction == "minimize" else np.argmax(rewards))


def write_table(path: Path, cols: dict[str, np.ndarray], attrs: dict[str, Any]) -> Path:
    """Write the table atomically (temporary file in the same folder, then rename)."""
    import h5py
    path = Path(path)
    refuse_non_regular(path, "output")
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        with h5py.File(tmp, "w") as f:
            f.attrs.update({"format": FORMAT, "format_version": FORMAT_VERSION})
            f.attrs.update({k: v if isinstance(v, (str, int, float)) else json.dumps(v) for k, v in attrs.items()})
            group = f.create_group("trials")
            for name, value in cols.items():
                array = np.asarray(value)
                group.create_dataset(name, data=array.astype(h5py.string_dtype()) if array.dtype.kind == "U" else
                                     array)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def best_runcard_path(out: Path) -> Path:
    return Path(out).with_name(Path(out).stem + "-best.yaml")


def write_best_runcard(path: Path, runcard, values: dict[str, Any], header: str) -> Path:
    """The runcard with the best trial's values, without its ``hyperopt:`` section: ``mlhep fit`` runs it."""
    text = space_mod.runcard_text(runcard.text, values, drop_hyperopt=True, header=header)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        tmp.write_text(text)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def read(path: Path) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """(columns, attributes) of a trials file; ResultsError if it is not one."""
    import h5py
    from mlhep.errors import ResultsError
    path = Path(path)
    refuse_non_regular(path, "hyperopt file", missing="no such hyperopt file")
    try:
        with h5py.File(path, "r") as f:
            if f.attrs.get("format") != FORMAT or "trials" not in f:
                raise ResultsError(f"{path}: not an mlhep hyperopt file (no root attribute format={FORMAT!r})")
            cols = {}
            f["trials"].visititems(lambda name, obj: cols.__setitem__(name, _value(obj)) if hasattr(obj, "dtype")
                                   else None)
            return cols, {k: (v.decode() if isinstance(v, bytes) else v) for k, v in f.attrs.items()}
    except OSError as exc:
        raise ResultsError(f"{path}: unreadable HDF5 file ({exc})") from None


def _value(dataset) -> np.ndarray:
    import h5py
    if h5py.check_string_dtype(dataset.dtype):
        return dataset.asstr()[()].astype(str)
    return dataset[()]


def is_hyperopt_file(path: Path) -> bool:
    """Is ``path`` a trials file (for ``mlhep report``)?"""
    import h5py
    if not Path(path).is_file():        # a FIFO or device would block h5py; the report's own reader says why
        return False
    try:
        with h5py.File(path, "r") as f:
            return f.attrs.get("format") == FORMAT
    except (OSError, ValueError):
        return False
