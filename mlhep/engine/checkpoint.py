"""Resumable training checkpoints: named arrays in one .npz, written atomically (temp file + rename).

Pytrees are stored leaf by leaf under their key paths; on resume the engine rebuilds the same structures from
the same runcard and fills them from the file, after checking the fingerprint (runcard hash, replica ids).
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import jax
import numpy as np

from mlhep.errors import ResultsError


def flatten(tree: Any, prefix: str) -> dict[str, np.ndarray]:
    """``{prefix + key path: leaf}`` for every leaf of ``tree``."""
    leaves = jax.tree_util.tree_flatten_with_path(tree)[0]
    return {prefix + jax.tree_util.keystr(path): np.asarray(leaf) for path, leaf in leaves}


def unflatten(like: Any, arrays: dict[str, np.ndarray], prefix: str, check_shapes: bool = True) -> Any:
    """The structure of ``like`` with its leaves read from ``arrays`` (as written by ``flatten``)."""
    paths, treedef = jax.tree_util.tree_flatten_with_path(like)
    leaves = []
    for path, leaf in paths:
        name = prefix + jax.tree_util.keystr(path)
        if name not in arrays or (check_shapes and arrays[name].shape != np.shape(leaf)):
            raise ResultsError(f"checkpoint entry {name!r} is missing or has another shape "
                               "(did the code or the data change since it was written?)")
        leaves.append(arrays[name])
    return jax.tree_util.tree_unflatten(treedef, leaves)


class Checkpoint:
    def __init__(self, path: Path, fingerprint: str):
        self.path, self.fingerprint = Path(path), fingerprint

    def save(self, arrays: dict[str, np.ndarray], meta: dict) -> None:
        tmp = self.path.with_name(self.path.name + f".tmp{os.getpid()}")
        with open(tmp, "wb") as f:
            np.savez(f, __meta__=np.array(json.dumps({**meta, "fingerprint": self.fingerprint})), **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)

    def load(self) -> tuple[dict[str, np.ndarray], dict] | None:
        """All arrays and the metadata; None if there is no checkpoint."""
        if not self.path.exists():
            return None
        try:
            with np.load(self.path) as data:
                arrays = {name: data[name] for name in data.files}
        except Exception as exc:  # truncated or foreign file: say so instead of a numpy traceback
            raise ResultsError(f"{self.path}: unreadable checkpoint ({exc}); delete it to start afresh") from None
        meta = json.loads(str(arrays.pop("__meta__")))
        if meta.get("fingerprint") != self.fingerprint:
            raise ResultsError(f"{self.path}: checkpoint belongs to another runcard, replica range or engine "
                               "mode; delete it or run without --resume")
        return arrays, meta

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)
