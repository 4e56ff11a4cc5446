"""Tiny files in the layouts pandas ``to_hdf`` writes, written with h5py (no pandas needed)."""
from __future__ import annotations

import pickle

import h5py
import numpy as np


def _pickled(obj):
    return np.bytes_(pickle.dumps(obj, protocol=0))


def write_frame(path, values: np.ndarray, names: list, fmt: str, key: str = "df") -> None:
    """A float64 frame ``values`` (n, k) with column ``names`` (str or int) as pandas writes it: ``fmt`` 'table'
    (compound /key/table with one values_block_0 and its pickled names) or 'fixed' (axis0, axis1, block0_*)."""
    n, k = values.shape
    with h5py.File(path, "w") as f:
        g = f.create_group(key)
        if fmt == "table":
            g.attrs.update({"pandas_type": np.bytes_(b"frame_table"), "table_type": np.bytes_(b"appendable_frame"),
                            "non_index_axes": _pickled([(1, list(names))]),
                            "values_cols": _pickled(["values_block_0"])})
            dtype = np.dtype([("index", np.int64), ("values_block_0", np.float64, (k,))])
            rows = np.zeros(n, dtype=dtype)
            rows["index"], rows["values_block_0"] = np.arange(n), values
            t = g.create_dataset("table", data=rows)
            t.attrs.update({"CLASS": np.bytes_(b"TABLE"), "values_block_0_kind": _pickled(list(names)),
                            "values_block_0_dtype": np.bytes_(b"float64")})
        else:
            g.attrs.update({"pandas_type": np.bytes_(b"frame"), "nblocks": np.int64(1)})
            items = (np.array(names, dtype=np.int64) if all(isinstance(x, int) for x in names)
                     else np.array([str(x).encode() for x in names]))
            g["axis0"], g["block0_items"] = items, items
            g["axis1"] = np.arange(n, dtype=np.int64)
            g["block0_values"] = values
