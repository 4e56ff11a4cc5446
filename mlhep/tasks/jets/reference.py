"""Reader of the top-tagging reference sample's own files (train.h5, val.h5, test.h5), with h5py only.

The public files (Kasieczka, Plehn, Thompson, Russell, "Top Quark Tagging Reference Dataset", Zenodo record
2603256; SciPost Phys. 7 (2019) 014) are pandas DataFrames written with ``to_hdf(path, key='table',
format='table')``: PyTables' table format. Their columns are E_0, PX_0, PY_0, PZ_0, ..., E_199, ..., PZ_199,
truthE, truthPX, truthPY, truthPZ, ttv, is_signal_new. On disk (what pandas 0.15-2.x writes):

    /table               group; attrs non_index_axes, values_cols, ... (Python pickles, protocol 0)
    /table/table         compound dataset (N,): fields index (int64), values_block_0 (float, (k0,)),
                         values_block_1 (int64, (k1,)), ...; one block per dtype
                         attrs values_block_<i>_kind = pickled list of that block's column names

pandas' ``format='fixed'`` (``/table/axis0`` names, ``/table/block<i>_items`` and ``/table/block<i>_values``
(N, k_i)) is read as well. Column names are decoded from the pickles with an unpickler that refuses every
global, so a crafted file cannot execute code; neither pandas nor PyTables is needed.
"""
from __future__ import annotations

import io
import os
import pickle
import re

import h5py
import numpy as np

from mlhep.errors import DataError
from mlhep.tasks.jets.h5io import JetSample

_COMPONENTS = ("E", "PX", "PY", "PZ")
_TRUTH = ("truthE", "truthPX", "truthPY", "truthPZ")
LABEL_COLUMN = "is_signal_new"


class _NamesOnly(pickle.Unpickler):
    """Unpickles plain lists/tuples/strings/numbers; any global (class, function) is refused."""

    def find_class(self, module, name):
        raise pickle.UnpicklingError(f"refusing global {module}.{name}")


def _unpickle_names(raw, path, what: str) -> list[str]:
    data = raw.tobytes() if isinstance(raw, np.ndarray) else bytes(raw)
    try:
        names = _NamesOnly(io.BytesIO(data), encoding="latin1").load()
    except Exception as err:       # noqa: BLE001 - any failure means an attribute we cannot read
        raise DataError(f"{path}: cannot decode the column names in {what} ({err})") from None
    names = [n.decode() if isinstance(n, bytes) else n for n in names]
    if not all(isinstance(n, (str, int)) and not isinstance(n, bool) for n in names):
        raise DataError(f"{path}: {what} is not a list of column names")
    return [str(n) for n in names]           # integer names (a frame without column labels) as "0", "1", ...


def _table_columns(table: h5py.Dataset, path) -> dict[str, tuple[str, int]]:
    """{column name: (compound field, position in it)} of a PyTables table written by pandas."""
    columns = {}
    for field in table.dtype.names:
        if not field.startswith("values_block_"):
            continue
        kind = table.attrs.get(f"{field}_kind")
        if kind is None:
            raise DataError(f"{path}: /table/table field {field} has no {field}_kind attribute (column names)")
        for i, name in enumerate(_unpickle_names(kind, path, f"/table/table attribute {field}_kind")):
            columns[name] = (field, i)
    return columns


def _fixed_columns(group: h5py.Group, path) -> dict[str, tuple[str, int]]:
    """{column name: (block values dataset, position)} of a pandas 'fixed' frame."""
    columns = {}
    for key in group:
        m = re.fullmatch(r"block(\d+)_items", key)
        if m:
            for i, name in enumerate(group[key][()]):
                columns[name.decode() if isinstance(name, bytes) else str(name)] = (f"block{m.group(1)}_values", i)
    return columns


def open_pandas_frame(f: h5py.File, key: str, path):
    """The DataFrame that pandas ``to_hdf`` wrote under ``/key`` of the open file ``f``, in either format:
    (columns {name: (block, position)}, number of rows, ``block(name, a, b)`` -> rows [a, b) of that block as an
    (b - a, k) array). Integer column names come back as strings ("0", "1", ...)."""
    group = f[key]
    if "table" in group and isinstance(group["table"], h5py.Dataset) and group["table"].dtype.names:
        table = group["table"]

        def block(field, a, b):
            return np.asarray(table.fields(field)[a:b]).reshape(b - a, -1)
        return _table_columns(table, path), table.shape[0], block
    if "axis0" in group and "axis1" in group:
        def block(field, a, b):
            return np.asarray(group[field][a:b]).reshape(b - a, -1)
        return _fixed_columns(group, path), group["axis1"].shape[0], block
    raise DataError(f"{path}: /{key} is neither a pandas 'table' (/{key}/table) nor a 'fixed' frame "
                    f"(/{key}/axis0)")


def _n_constituents(columns, path) -> int:
    indices = [int(m.group(1)) for name in columns if (m := re.fullmatch(r"E_(\d+)", name))]
    if not indices:
        raise DataError(f"{path}: no constituent columns E_0, PX_0, ... (is this the top-tagging reference "
                        "sample's layout?)")
    n = max(indices) + 1
    missing = [f"{c}_{i}" for i in range(n) for c in _COMPONENTS if f"{c}_{i}" not in columns]
    if missing:
        raise DataError(f"{path}: constituent columns missing: {', '.join(missing[:5])}"
                        f"{' ...' if len(missing) > 5 else ''}")
    if LABEL_COLUMN not in columns:
        raise DataError(f"{path}: no label column {LABEL_COLUMN}")
    return n


def read_reference(path: str | os.PathLike, key: str = "table", start: int | None = None,
                   stop: int | None = None, step: int = 50_000) -> JetSample:
    """Rows [start, stop) of a reference-sample file as a ``JetSample``: constituents (N, C, 4) float32 in
    (E, px, py, pz) order (C = 200 in the public files), label from ``is_signal_new``, top_p4 from truthE..PZ
    (zeros when absent), jet_p4 the sum of the stored constituents, n_constituents the non-empty ones.
    Reads ``step`` rows at a time, so memory stays near the size of the result."""
    try:
        f = h5py.File(path, "r")
    except OSError as err:
        raise DataError(f"{path}: cannot open as HDF5 ({err})") from None
    with f:
        if key not in f or not isinstance(f[key], h5py.Group):
            raise DataError(f"{path}: no group /{key} (the reference files keep their DataFrame under 'table')")
        columns, n_rows, block = open_pandas_frame(f, key, path)
        c = _n_constituents(columns, path)
        a0, b0, _ = slice(start, stop).indices(n_rows)
        n = max(b0 - a0, 0)
        constituents = np.zeros((n, c, 4), dtype=np.float32)
        label = np.zeros(n, dtype=np.int8)
        top = np.zeros((n, 4), dtype=np.float32)
        by_field: dict[str, list[tuple[int, int, int]]] = {}     # field: [(constituent, component, position)]
        for i in range(c):
            for j, comp in enumerate(_COMPONENTS):
                field, pos = columns[f"{comp}_{i}"]
                by_field.setdefault(field, []).append((i, j, pos))
        truth = [columns[t] for t in _TRUTH] if all(t in columns for t in _TRUTH) else None
        for a in range(a0, b0, step):
            b = min(a + step, b0)
            rows = slice(a - a0, b - a0)
            blocks = {field: block(field, a, b) for field in {*by_field, columns[LABEL_COLUMN][0],
                                                               *(t[0] for t in truth or ())}}
            for field, entries in by_field.items():
                i, j, pos = (np.array(x) for x in zip(*entries))
                constituents[rows, i, j] = blocks[field][:, pos]
            field, pos = columns[LABEL_COLUMN]
            label[rows] = blocks[field][:, pos]
            for j, (field, pos) in enumerate(truth or ()):
                top[rows, j] = blocks[field][:, pos]
    if np.any((label != 0) & (label != 1)):
        raise DataError(f"{path}: {LABEL_COLUMN} has values other than 0 and 1")
    present = constituents[..., 0] > 0
    return JetSample(constituents=constituents, label=label, top_p4=top,
                     jet_p4=constituents.sum(axis=1, dtype=np.float64).astype(np.float32),
                     n_constituents=present.sum(axis=1).astype(np.int32))
