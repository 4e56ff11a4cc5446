"""The jet files the generator writes: layout, an atomic chunked writer, a reader, and the merge of part files.

Layout (N jets, C = 200 constituents; every dataset chunked along N, gzip level 1 with shuffle, resizable):

    /constituents     (N, C, 4) float32   (E, px, py, pz) in GeV, pT-descending, zero-padded
    /label            (N,)      int8      1 top, 0 QCD
    /jet_p4           (N, 4)    float32   the jet's (E, px, py, pz): FastJet E-scheme sum of ALL its constituents
    /top_p4           (N, 4)    float32   the truth top's (E, px, py, pz) (last Pythia copy); zeros for QCD
    /n_constituents   (N,)      int32     constituents of the jet before truncation to C
    /chunk            (N,)      int32     index of the chunk (within its process) that made the jet
    /chunks           (K,)      compound  one row per chunk: process (S8), index, n_jets, n_events (int64),
                                          seconds (float64, CPU time), pythia_seed (int64)
    attrs: format = "mlhep-jets", format_version = 1, constituent_components = "E,px,py,pz",
           n_constituents = C, generation = JSON of every setting (sample definition, detector parameters or
           "none", seed, chunk size, versions), task_index, task_count (SLURM array split; 0, 1 otherwise).

Jets are stored in the canonical chunk order (chunk 0 of every process, then chunk 1, ...), whatever the order in
which the workers finished, so a file depends only on its settings; a merge of the parts of an array job is
identical to the single-job file.

A file is written to ``<path>.partial`` and renamed onto ``<path>`` only when complete (after an fsync): a
killed job never leaves a truncated file under the final name.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from mlhep.errors import DataError

FORMAT = "mlhep-jets"
FORMAT_VERSION = 1
JET_DATASETS = {            # name: (per-jet shape after N given C, dtype)
    "constituents": (lambda c: (c, 4), np.float32),
    "label": (lambda c: (), np.int8),
    "jet_p4": (lambda c: (4,), np.float32),
    "top_p4": (lambda c: (4,), np.float32),
    "n_constituents": (lambda c: (), np.int32),
    "chunk": (lambda c: (), np.int32),
}
CHUNK_DTYPE = np.dtype([("process", "S8"), ("index", np.int64), ("n_jets", np.int64), ("n_events", np.int64),
                        ("seconds", np.float64), ("pythia_seed", np.int64)])


class ChunkedFileWriter:
    """Append rows to a new HDF5 file atomically: ``with ChunkedFileWriter(path, attrs, datasets) as w:
    w.append(arrays)``. ``datasets`` {name: (per-row shape, dtype)}: each is created empty, chunked along the
    rows (gzip 1 + shuffle) and resizable; ``/chunks`` (``CHUNK_DTYPE``) gets one row per appended ``stats``.

    On a clean exit the file is complete and renamed onto ``path``; on an exception the partial file is removed
    and ``path`` is left as it was. Shared by every generator that writes chunked samples (jets, dijets)."""

    def __init__(self, path: str | os.PathLike, attrs: dict, datasets: dict, rows_per_chunk: int = 512):
        self.path = Path(path)
        self.partial = self.path.with_name(self.path.name + ".partial")
        self.attrs, self.datasets, self.rows = attrs, datasets, rows_per_chunk
        self.file: h5py.File | None = None

    def __enter__(self):
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.file = h5py.File(self.partial, "w")
        f = self.file
        f.attrs.update(self.attrs)
        for name, (tail, dtype) in self.datasets.items():
            f.create_dataset(name, shape=(0, *tail), maxshape=(None, *tail), dtype=dtype,
                             chunks=(self.rows, *tail), compression="gzip", compression_opts=1, shuffle=True)
        f.create_dataset("chunks", shape=(0,), maxshape=(None,), dtype=CHUNK_DTYPE, chunks=(64,))
        return self

    def append(self, rows: dict) -> None:
        """Append one chunk's arrays (every key of ``datasets``; optional ``stats`` dict: a row of /chunks with
        the fields of ``CHUNK_DTYPE``)."""
        n = len(rows[next(iter(self.datasets))])
        for name in self.datasets if n else ():
            ds = self.file[name]
            ds.resize(ds.shape[0] + n, axis=0)
            ds[-n:] = rows[name]
        if "stats" in rows:
            s = rows["stats"]
            row = np.array([tuple(s[k].encode() if k == "process" else s[k] for k in CHUNK_DTYPE.names)],
                           dtype=CHUNK_DTYPE)
            self.append_chunk_rows(row)

    def append_chunk_rows(self, rows: np.ndarray) -> None:
        ds = self.file["chunks"]
        ds.resize(ds.shape[0] + rows.size, axis=0)
        ds[ds.shape[0] - rows.size:] = rows

    def __exit__(self, exc_type, exc, tb) -> None:
        self.file.close()
        if exc_type is not None:
            self.partial.unlink(missing_ok=True)
            return
        with open(self.partial, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(self.partial, self.path)


class JetFileWriter(ChunkedFileWriter):
    """Append jets to a new file atomically: ``with JetFileWriter(path, generation) as w: w.append(chunk)``
    (the layout of this module's docstring; atomic as :class:`ChunkedFileWriter`)."""

    def __init__(self, path: str | os.PathLike, generation: dict, n_constituents: int = 200, task_index: int = 0,
                 task_count: int = 1, rows_per_chunk: int = 512):
        self.generation, self.c = generation, n_constituents
        self.task_index, self.task_count = task_index, task_count
        attrs = {"format": FORMAT, "format_version": FORMAT_VERSION, "constituent_components": "E,px,py,pz",
                 "n_constituents": n_constituents, "generation": json.dumps(generation, sort_keys=True),
                 "task_index": task_index, "task_count": task_count}
        datasets = {name: (shape(n_constituents), dtype) for name, (shape, dtype) in JET_DATASETS.items()}
        super().__init__(path, attrs, datasets, rows_per_chunk)


@dataclass(frozen=True)
class JetSample:
    """Jets in memory, from either file layout: ``constituents`` (N, C, 4) float32 (E, px, py, pz),
    ``label`` (N,) int8, ``top_p4`` (N, 4) float32, ``jet_p4`` (N, 4) float32, ``n_constituents`` (N,) int32."""

    constituents: np.ndarray
    label: np.ndarray
    top_p4: np.ndarray
    jet_p4: np.ndarray
    n_constituents: np.ndarray

    def __len__(self) -> int:
        return self.label.shape[0]


def _check_mlhep_file(f: h5py.File, path) -> None:
    if f.attrs.get("format") != FORMAT:
        raise DataError(f"{path}: not an mlhep jet file (attribute format = {f.attrs.get('format')!r})")
    if int(f.attrs.get("format_version", -1)) != FORMAT_VERSION:
        raise DataError(f"{path}: jet file format_version {f.attrs.get('format_version')} (this mlhep reads "
                        f"{FORMAT_VERSION})")
    missing = [name for name in JET_DATASETS if name not in f]
    if missing:
        raise DataError(f"{path}: jet file lacks dataset(s) {', '.join(missing)}")


def read_jets(path: str | os.PathLike, start: int | None = None, stop: int | None = None) -> JetSample:
    """Rows [start, stop) of an mlhep jet file."""
    try:
        f = h5py.File(path, "r")
    except OSError as err:
        raise DataError(f"{path}: cannot open as HDF5 ({err})") from None
    with f:
        _check_mlhep_file(f, path)
        sl = slice(start, stop)
        return JetSample(constituents=f["constituents"][sl], label=f["label"][sl], top_p4=f["top_p4"][sl],
                         jet_p4=f["jet_p4"][sl], n_constituents=f["n_constituents"][sl])


def generation_settings(path: str | os.PathLike) -> dict:
    """The ``generation`` attribute (JSON) of an mlhep jet file."""
    with h5py.File(path, "r") as f:
        _check_mlhep_file(f, path)
        return json.loads(f.attrs["generation"])


def merge_chunked_parts(parts: list, check, open_writer, same_attrs: tuple[str, ...] = ("generation",),
                        step: int = 4096) -> int:
    """Concatenate the part files of one array job (any order given) into the writer's file; returns the rows.

    ``check(file, path)`` refuses foreign files (a :class:`DataError`); parts must carry ``task_index``,
    ``task_count`` and equal ``same_attrs``; ``open_writer(attrs of the first part)`` gives the
    :class:`ChunkedFileWriter` of ``output``, whose datasets are copied ``step`` rows at a time, then /chunks.
    Refuses parts of different settings and a missing or repeated task index."""
    if not parts:
        raise DataError("merge: no part files given")
    infos = []
    for path in parts:
        try:
            with h5py.File(path, "r") as f:
                check(f, path)
                infos.append((int(f.attrs["task_index"]), int(f.attrs["task_count"]),
                              [f.attrs[a] for a in same_attrs], dict(f.attrs), path))
        except OSError as err:
            raise DataError(f"{path}: cannot open as HDF5 ({err})") from None
    infos.sort(key=lambda x: x[0])
    counts = {i[1] for i in infos}
    if len(counts) != 1:
        raise DataError(f"merge: parts of different task counts {sorted(counts)}")
    (count,) = counts
    for other in infos[1:]:
        if any(np.any(a != b) for a, b in zip(other[2], infos[0][2])):
            raise DataError(f"merge: {other[4]} was generated with other settings than {infos[0][4]}")
    indices = [i[0] for i in infos]
    if indices != list(range(count)):
        missing = sorted(set(range(count)) - set(indices))
        repeated = sorted({i for i in indices if indices.count(i) > 1})
        raise DataError(f"merge: expected task indices 0..{count - 1} once each; missing {missing}, repeated "
                        f"{repeated}")
    total = 0
    with open_writer(infos[0][3]) as writer:
        for *_, path in infos:
            with h5py.File(path, "r") as f:
                n = f[next(iter(writer.datasets))].shape[0]
                for a in range(0, n, step):
                    writer.append({name: f[name][a:a + step] for name in writer.datasets})
                writer.append_chunk_rows(f["chunks"][:])
                total += n
    return total


def merge_parts(parts: list[str | os.PathLike], output: str | os.PathLike) -> int:
    """Concatenate the part files of one array job (any order given) into ``output``; returns the jet count.

    Refuses parts of different settings, a missing or repeated task index, and foreign files."""
    def open_writer(attrs):
        return JetFileWriter(output, json.loads(attrs["generation"]), n_constituents=int(attrs["n_constituents"]))
    return merge_chunked_parts(parts, _check_mlhep_file, open_writer, ("generation", "n_constituents"))
