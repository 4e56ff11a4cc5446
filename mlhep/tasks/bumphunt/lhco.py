"""Readers of the public LHC Olympics 2020 R&D files (Kasieczka et al., arXiv:2101.08320; Zenodo record
4536377), with h5py only (no pandas, no PyTables).

Both are pandas DataFrames written by ``to_hdf`` (read with ``mlhep.tasks.jets.reference.open_pandas_frame``,
which decodes pandas' pickled column names with an unpickler that refuses every global):

- the constituent table ``events_anomalydetection*.h5``: one row per event, integer column names 0 .. 3P, the
  first 3P = 2100 columns (pT, eta, phi) of up to P = 700 hadrons (zero-padded; pT in GeV), the last the truth
  label (1 signal, 0 background) -> ``read_constituents``;
- the high-level features table ``events_anomalydetection*.features.h5`` (and the extra-QCD one): columns
  pxj1, pyj1, pzj1, mj1, tau1j1, tau2j1, tau3j1, pxj2, ..., tau3j2 (GeV) and label -> ``read_features``, turned
  into ``Events`` as the CATHODE preparation does (m_jj from the two jets, jets ordered by mass).

``key`` is the pandas key; by default the file's only top-level group (as ``pandas.read_hdf`` does).
"""
from __future__ import annotations

import os
import re
import warnings

import h5py
import numpy as np

from mlhep.errors import DataError
from mlhep.tasks.bumphunt.events import Events, events_from_jets
from mlhep.tasks.jets.reference import open_pandas_frame

JET_COLUMNS = ("px", "py", "pz", "m", "tau1", "tau2", "tau3")
FEATURE_COLUMNS = tuple(f"{c}j{j}" for j in (1, 2) for c in JET_COLUMNS) + ("label",)


def _open(path):
    try:
        return h5py.File(path, "r")
    except OSError as err:
        raise DataError(f"{path}: cannot open as HDF5 ({err})") from None


def _frame_key(f: h5py.File, key: str | None, path) -> str:
    if key is not None:
        if key not in f or not isinstance(f[key], h5py.Group):
            raise DataError(f"{path}: no group /{key} (groups: {', '.join(f) or 'none'})")
        return key
    groups = [k for k in f if isinstance(f[k], h5py.Group)]
    if len(groups) != 1:
        raise DataError(f"{path}: {len(groups)} top-level groups ({', '.join(groups) or 'none'}): give the pandas "
                        "key of the LHCO frame")
    return groups[0]


def file_layout(path: str | os.PathLike, key: str | None = None) -> str:
    """'features' or 'constituents' for an LHCO R&D frame; a :class:`DataError` naming the file otherwise."""
    with _open(path) as f:
        columns, _, _ = open_pandas_frame(f, _frame_key(f, key, path), path)
    return _layout(columns, path)


def _layout(columns, path) -> str:
    if all(c in columns for c in FEATURE_COLUMNS[:-1]):
        return "features"
    names = list(columns)
    if names and all(re.fullmatch(r"\d+", n) for n in names):
        indices = sorted(int(n) for n in names)
        if indices == list(range(len(indices))) and len(indices) % 3 == 1:
            return "constituents"
        raise DataError(f"{path}: integer columns 0..{indices[-1]} are not the LHCO constituent layout (3P "
                        "columns pT, eta, phi of P particles, then the label: 3P + 1 columns 0..3P)")
    missing = [c for c in FEATURE_COLUMNS[:-1] if c not in columns]
    raise DataError(f"{path}: neither the LHCO features layout (columns missing: {', '.join(missing[:5])}"
                    f"{' ...' if len(missing) > 5 else ''}) nor the constituent layout (integer columns 0..3P)")


def _rows(n_rows: int, start, stop) -> tuple[int, int]:
    a, b, _ = slice(start, stop).indices(n_rows)
    return a, max(a, b)


def read_features(path: str | os.PathLike, key: str | None = None, start: int | None = None,
                  stop: int | None = None) -> Events:
    """Rows [start, stop) of a high-level-features file as ``Events`` (TeV). A file without the label column
    (the black boxes) gets label -1 (unknown)."""
    with _open(path) as f:
        columns, n_rows, block = open_pandas_frame(f, _frame_key(f, key, path), path)
        if _layout(columns, path) != "features":
            raise DataError(f"{path}: this is the LHCO constituent table, not the features table (read_constituents)")
        a, b = _rows(n_rows, start, stop)
        blocks = {field: block(field, a, b) for field in {columns[c][0] for c in FEATURE_COLUMNS if c in columns}}

        def column(name):
            field, pos = columns[name]
            return blocks[field][:, pos].astype(np.float64)
        jet = {c: np.stack([column(f"{c}j1"), column(f"{c}j2")], axis=1) for c in JET_COLUMNS}
        label = column("label") if "label" in columns else np.full(b - a, -1.0)
    if "label" in columns and np.any((label != 0) & (label != 1)):
        raise DataError(f"{path}: the label column has values other than 0 and 1")
    energy = np.sqrt(jet["px"] ** 2 + jet["py"] ** 2 + jet["pz"] ** 2 + jet["m"] ** 2)
    p4 = np.stack([energy, jet["px"], jet["py"], jet["pz"]], axis=-1)
    return events_from_jets(p4, jet["tau1"], jet["tau2"], label.astype(np.int8))


def read_constituents(path: str | os.PathLike, key: str | None = None, start: int | None = None,
                      stop: int | None = None, step: int = 20_000) -> tuple[np.ndarray, np.ndarray]:
    """Rows [start, stop) of a constituent table: (particles (n, P, 3) float32 (pT [GeV], eta, phi), zero-padded;
    label (n,) int8). Reads ``step`` rows at a time (the full R&D file is 1.1M x 2101 float64: 18 GB)."""
    with _open(path) as f:
        columns, n_rows, block = open_pandas_frame(f, _frame_key(f, key, path), path)
        if _layout(columns, path) != "constituents":
            raise DataError(f"{path}: this is the LHCO features table, not the constituent table (read_features)")
        n_cols = len(columns)
        p = (n_cols - 1) // 3
        a0, b0 = _rows(n_rows, start, stop)
        particles = np.zeros((b0 - a0, p, 3), dtype=np.float32)
        label = np.zeros(b0 - a0, dtype=np.int8)
        where = [columns[str(i)] for i in range(n_cols)]
        fields = sorted({w[0] for w in where})
        for a in range(a0, b0, step):
            b = min(a + step, b0)
            blocks = {field: block(field, a, b) for field in fields}
            if len(fields) == 1 and [w[1] for w in where] == list(range(n_cols)):
                values = blocks[fields[0]]                   # the usual case: one block, in column order
            else:
                values = np.stack([blocks[field][:, pos] for field, pos in where], axis=1)
            particles[a - a0:b - a0] = values[:, :3 * p].reshape(b - a, p, 3)
            lab = values[:, 3 * p]
            if np.any((lab != 0) & (lab != 1)):
                raise DataError(f"{path}: the label column {3 * p} has values other than 0 and 1")
            label[a - a0:b - a0] = lab
    return particles, label


def load_events(path: str | os.PathLike, key: str | None = None, start: int | None = None,
                stop: int | None = None) -> Events:
    """``Events`` from any of the three layouts: a file of ``scripts/generate_lhco.py`` (format "mlhep-dijets"),
    the LHCO features table, or the LHCO constituent table (clustered here into anti-kT R = 1.0 jets with FastJet
    and N-subjettiness, ``generate.events_from_particles``; events without two jets are dropped)."""
    from mlhep.tasks.bumphunt import generate

    if generate.is_generated(path):
        return generate.read_generated(path, start, stop)
    if file_layout(path, key) == "features":
        return read_features(path, key, start, stop)
    particles, label = read_constituents(path, key, start, stop)
    events, kept = generate.events_from_particles(particles, label)
    if len(kept) < len(label):
        warnings.warn(f"{path}: {len(label) - len(kept)} of {len(label)} events without two jets dropped",
                      stacklevel=2)
    return events
