"""Resumable training checkpoints: named arrays in one .npz, written atomically (temp file + rename).

Pytrees are stored leaf by leaf under their key paths; on resume the engine rebuilds the same structures from
the same runcard and fills them from the file, after checking the fingerprint (runcard hash, replica ids).
A checkpoint that cannot be used (damaged, truncated, foreign, of another runcard) is a ``CheckpointError`` that
names the file and says what to do.
"""
from __future__ import annotations

import json
import os
import zipfile
import zlib
from pathlib import Path
from typing import Any

import jax
import numpy as np

from mlhep.errors import CheckpointError

# What numpy raises on a file that is not a (complete) .npz archive.
_UNREADABLE = (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error)
_META_KEYS = {"fingerprint": str, "epoch": int, "finished_epochs": list}


def flatten(tree: Any, prefix: str) -> dict[str, np.ndarray]:
    """``{prefix + key path: leaf}`` for every leaf of ``tree``."""
    leaves = jax.tree_util.tree_flatten_with_path(tree)[0]
    return {prefix + jax.tree_util.keystr(path): np.asarray(leaf) for path, leaf in leaves}


def unflatten(like: Any, arrays: dict[str, np.ndarray], prefix: str, check_shapes: bool = True) -> Any:
    """The structure of ``like`` with its leaves read from ``arrays`` (as written by ``flatten``).

    Raises ``KeyError(name)`` for an entry that is missing or has another shape than in ``like``."""
    paths, treedef = jax.tree_util.tree_flatten_with_path(like)
    leaves = []
    for path, leaf in paths:
        name = prefix + jax.tree_util.keystr(path)
        if name not in arrays or (check_shapes and arrays[name].shape != np.shape(leaf)):
            raise KeyError(f"{name} (or it has another shape: did the code or the data change since it was "
                           "written?)")
        leaves.append(arrays[name])
    return jax.tree_util.tree_unflatten(treedef, leaves)


class Checkpoint:
    def __init__(self, path: Path, fingerprint: str):
        self.path, self.fingerprint = Path(path), fingerprint

    def save(self, arrays: dict[str, np.ndarray], meta: dict) -> None:
        """Write under a temporary name, then rename: an interruption at any moment (even a second Ctrl-C
        while writing) leaves the previous checkpoint whole, and no temporary file."""
        tmp = self.path.with_name(self.path.name + f".tmp{os.getpid()}")
        try:
            with open(tmp, "wb") as f:
                np.savez(f, __meta__=np.array(json.dumps({**meta, "fingerprint": self.fingerprint})), **arrays)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise

    def load(self) -> tuple[dict[str, np.ndarray], dict] | None:
        """All arrays and the metadata; None if there is no checkpoint."""
        if not self.path.exists():
            return None
        arrays = self._read_arrays()
        if "__meta__" not in arrays:
            raise self.damaged("it has no metadata (__meta__ entry): not written by mlhep, or damaged")
        meta = self._parse_meta(arrays.pop("__meta__"))
        if meta["fingerprint"] != self.fingerprint:
            raise CheckpointError(f"{self.path}: checkpoint belongs to another runcard, replica range or engine "
                               "mode; delete it to start afresh, or write this fit to another output (-o)")
        return arrays, meta

    def damaged(self, why: str) -> CheckpointError:
        """The error for a checkpoint that cannot be resumed from."""
        return CheckpointError(f"{self.path}: unusable checkpoint: {why}; delete it to start the fit afresh")

    def _read_arrays(self) -> dict[str, np.ndarray]:
        try:
            loaded = np.load(self.path, allow_pickle=False)
        except _UNREADABLE as exc:
            raise self.damaged(f"not a readable .npz archive ({_short(exc)})") from None
        if not isinstance(loaded, np.lib.npyio.NpzFile):
            raise self.damaged("a single .npy array, not an .npz archive of named arrays")
        with loaded:
            try:
                return {name: loaded[name] for name in loaded.files}
            except _UNREADABLE as exc:   # a truncated archive fails only when its entries are read
                raise self.damaged(f"truncated or corrupt ({_short(exc)})") from None

    def _parse_meta(self, entry: np.ndarray) -> dict:
        try:
            meta = json.loads(str(entry))
        except json.JSONDecodeError as exc:
            raise self.damaged(f"its metadata is not JSON ({exc.msg})") from None
        wrong = [key for key, kind in _META_KEYS.items()
                 if not isinstance(meta, dict) or not isinstance(meta.get(key), kind)]
        if wrong:
            raise self.damaged(f"its metadata lacks {', '.join(wrong)}")
        return meta

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)


def _short(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text[:120]
