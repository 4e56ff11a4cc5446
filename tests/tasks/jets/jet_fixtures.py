"""Synthetic jets and reference-layout files for the jet tests (no generator needed)."""
from __future__ import annotations

import pickle

import h5py
import numpy as np

from mlhep.tasks.jets.kinematics import from_pt_eta_phi_m


def random_jets(rng: np.random.Generator, n_jets: int = 50, n_max: int = 60, massive: bool = True,
                spread: float = 0.3) -> np.ndarray:
    """(n_jets, n_max, 4) (E, px, py, pz) jets: 3 prongs of random constituents around a random axis with
    |eta| < 2, pT-descending, zero-padded (each jet has a random number of constituents >= 3)."""
    out = np.zeros((n_jets, n_max, 4))
    for j in range(n_jets):
        n = int(rng.integers(3, n_max + 1))
        eta0, phi0 = rng.uniform(-2, 2), rng.uniform(-np.pi, np.pi)
        prong = rng.integers(0, 3, size=n)
        centres = rng.normal(scale=spread, size=(3, 2))
        eta = eta0 + centres[prong, 0] + rng.normal(scale=0.05, size=n)
        phi = phi0 + centres[prong, 1] + rng.normal(scale=0.05, size=n)
        pt_ = rng.exponential(20.0, size=n) + 0.5
        m = np.where(rng.random(n) < 0.6, 0.13957, 0.0) if massive else 0.0
        p4 = from_pt_eta_phi_m(pt_, eta, phi, m)
        out[j, :n] = p4[np.argsort(-pt_)]
    return out


def reference_columns(n_constituents: int) -> tuple[list[str], list[str]]:
    """(float columns, int columns) of the reference sample, in its order."""
    floats = [f"{c}_{i}" for i in range(n_constituents) for c in ("E", "PX", "PY", "PZ")]
    floats += ["truthE", "truthPX", "truthPY", "truthPZ"]
    return floats, ["ttv", "is_signal_new"]


def reference_values(rng: np.random.Generator, n_rows: int, n_constituents: int):
    """Random (float block (n_rows, 4C + 4) float32, int block (n_rows, 2) int64) in the reference layout."""
    jets = random_jets(rng, n_rows, n_constituents)
    floats = np.concatenate([jets.reshape(n_rows, -1), rng.normal(size=(n_rows, 4)) * 100], axis=1)
    ints = np.stack([rng.integers(0, 3, n_rows), rng.integers(0, 2, n_rows)], axis=1).astype(np.int64)
    return floats.astype(np.float32), ints


def _set_attrs(node, values: dict) -> None:
    """Attributes as PyTables writes them: Python strings as fixed-length UTF-8 HDF5 strings (PyTables reads those
    back as str, which pandas needs for e.g. ``encoding``), everything else as given."""
    for name, value in values.items():
        if isinstance(value, str):
            data = value.encode()
            node.attrs.create(name, np.array(data, dtype=h5py.string_dtype("utf-8", max(len(data), 1))))
        else:
            node.attrs[name] = value


def write_pytables_table(path, floats: np.ndarray, ints: np.ndarray, n_constituents: int, key: str = "table",
                         kind_pickle: bytes | None = None) -> None:
    """The file pandas' ``to_hdf(path, key=key, format='table')`` writes for such a frame, written with h5py:
    the compound dataset /key/table (index, values_block_0, values_block_1) and the pickled column names."""
    float_names, int_names = reference_columns(n_constituents)
    n = floats.shape[0]
    dtype = np.dtype([("index", np.int64), ("values_block_0", floats.dtype, (floats.shape[1],)),
                      ("values_block_1", np.int64, (ints.shape[1],))])
    rows = np.zeros(n, dtype=dtype)
    rows["index"], rows["values_block_0"], rows["values_block_1"] = np.arange(n), floats, ints

    def pickled(obj):
        return np.bytes_(pickle.dumps(obj, protocol=0))

    with h5py.File(path, "w") as f:
        g = f.create_group(key)
        _set_attrs(g, {   # PyTables' group attributes and pandas' (pickles, protocol 0, as PyTables stores them)
            "CLASS": "GROUP", "VERSION": "1.0", "pandas_type": "frame_table",
            "pandas_version": "0.15.2", "table_type": "appendable_frame",
            "encoding": "UTF-8", "errors": "strict", "levels": np.int64(1),
            "nan_rep": "nan", "data_columns": pickled([]), "index_cols": pickled([(0, "index")]),
            "values_cols": pickled(["values_block_0", "values_block_1"]),
            "non_index_axes": pickled([(1, float_names + int_names)]),
            "info": pickled({1: {"names": [None], "type": "Index"}, "index": {}, "values_block_0": {},
                             "values_block_1": {}})})
        t = g.create_dataset("table", data=rows)
        _set_attrs(t, {
            "CLASS": "TABLE", "VERSION": "2.7", "NROWS": np.int64(n),
            "FIELD_0_NAME": "index", "FIELD_0_FILL": np.int64(0),
            "FIELD_1_NAME": "values_block_0", "FIELD_1_FILL": floats.dtype.type(0),
            "FIELD_2_NAME": "values_block_1", "FIELD_2_FILL": np.int64(0),
            "index_kind": "integer",
            "values_block_0_dtype": floats.dtype.name, "values_block_0_meta": pickled(None),
            "values_block_0_kind": np.bytes_(kind_pickle) if kind_pickle else pickled(float_names),
            "values_block_1_dtype": "int64", "values_block_1_meta": pickled(None),
            "values_block_1_kind": pickled(int_names)})


def write_pandas_fixed(path, floats: np.ndarray, ints: np.ndarray, n_constituents: int, key: str = "table") -> None:
    """The file pandas' ``to_hdf(path, key=key, format='fixed')`` writes, with h5py: axis0 (names), axis1 (index),
    block0_items/values (floats), block1_items/values (ints)."""
    float_names, int_names = reference_columns(n_constituents)
    with h5py.File(path, "w") as f:
        g = f.create_group(key)
        _set_attrs(g, {"CLASS": "GROUP", "VERSION": "1.0", "pandas_type": "frame",
                        "pandas_version": "0.15.2", "encoding": "UTF-8",
                        "errors": "strict", "ndim": np.int64(2), "nblocks": np.int64(2),
                        **{f"{name}_variety": "regular"
                           for name in ("axis0", "axis1", "block0_items", "block1_items")}})
        arrays = {"axis0": (np.array([s.encode() for s in float_names + int_names]), "string"),
                  "axis1": (np.arange(floats.shape[0], dtype=np.int64), "integer"),
                  "block0_items": (np.array([s.encode() for s in float_names]), "string"),
                  "block0_values": (floats, None),
                  "block1_items": (np.array([s.encode() for s in int_names]), "string"),
                  "block1_values": (ints, None)}
        for name, (data, kind) in arrays.items():
            ds = g.create_dataset(name, data=data)
            _set_attrs(ds, {"CLASS": "ARRAY", "FLAVOR": "numpy", "VERSION": "2.4",
                             "transposed": np.uint8(1)})
            if kind:
                _set_attrs(ds, {"kind": kind, "name": np.bytes_(pickle.dumps(None, protocol=0))})
