"""Generation of the dijet sample (Pythia 8 + mlhep's detector + FastJet), its files, and reading them back.

Reuses the jet-tag machinery (``mlhep/tasks/jets/``): Pythia batches (``pythia_events``), the detector model,
anti-kT clustering (``clustering.leading_jets`` with the two leading jets), N-subjettiness on exclusive-kT axes,
per-(seed, process, chunk) seeding (``chunk.chunk_seeds``), worker pools and SLURM array slices
(``production.run_chunks``, ``task_chunks``) and the atomic chunked HDF5 writer and merge (``h5io``).

File layout (N events; every dataset chunked along N, gzip 1 + shuffle), format "mlhep-dijets" version 1:

    /jet_p4          (N, 2, 4) float64  (E, px, py, pz) [GeV] of the two leading anti-kT jets, pT-descending
    /tau             (N, 2, 3) float32  N-subjettiness tau1, tau2, tau3 of each (beta = 1, R0 = the jet radius)
    /n_constituents  (N, 2)    int32    constituents of each jet
    /label           (N,)      int8     1 W' signal, 0 QCD
    /pthat           (N,)      float32  pT of the hard 2 -> 2 process [GeV] (0 for the W': a 2 -> 1 process)
    /weight          (N,)      float32  Pythia's event weight (1 unless the pT-hat bias is on)
    /chunk           (N,)      int32    chunk index (within its process)
    /chunks          (K,)      compound one row per chunk: process, index, n_jets (= events kept), n_events
                                        (generated), seconds (CPU), pythia_seed
    attrs: format, format_version, generation (JSON of every setting), task_index, task_count.

Events are stored in the canonical chunk order (chunk 0 of each process, then chunk 1, ...), whatever order the
workers finish in, so a file depends only on its settings and a merge of array parts equals the single job.
"""
from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from importlib import metadata

import h5py
import numpy as np

from mlhep.errors import DataError
from mlhep.tasks.bumphunt.events import Events, events_from_jets
from mlhep.tasks.bumphunt.pythia_dijets import PROCESS_CODES, PROCESSES, DijetSample, pythia_settings
from mlhep.tasks.jets import detector as det
from mlhep.tasks.jets.chunk import chunk_seeds
from mlhep.tasks.jets.clustering import leading_jets
from mlhep.tasks.jets.h5io import ChunkedFileWriter, merge_chunked_parts
from mlhep.tasks.jets.kinematics import from_pt_eta_phi_m, pseudorapidity, pt
from mlhep.tasks.jets.nsubjettiness import nsubjettiness
from mlhep.tasks.jets.production import run_chunks, task_chunks

FORMAT = "mlhep-dijets"
FORMAT_VERSION = 1
DATASETS = {"jet_p4": ((2, 4), np.float64), "tau": ((2, 3), np.float32), "n_constituents": ((2,), np.int32),
            "label": ((), np.int8), "pthat": ((), np.float32), "weight": ((), np.float32),
            "chunk": ((), np.int32)}


def dijets(p4: np.ndarray, event: np.ndarray, n_events: int, sample: DijetSample,
           leading_pt_min: float | None = None) -> dict:
    """The two leading anti-kT jets of the events of a batch that pass the selection (leading jet pT >
    ``leading_pt_min`` (default ``sample.leading_pt_min``) and |eta| < ``sample.leading_abs_eta_max``, a second
    jet above ``sample.jet_pt_min``): {"event" (k,) index in the batch, "jet_p4" (k, 2, 4), "tau" (k, 2, 3),
    "n_constituents" (k, 2)}. ``p4`` (n, 4) (E, px, py, pz) [GeV] flat particles ordered by ``event``."""
    cut = sample.leading_pt_min if leading_pt_min is None else leading_pt_min
    jets = leading_jets(p4, event, n_events, sample.jet_r, sample.jet_pt_min, sample.n_constituents,
                        leading_only=True, n_leading=2)            # event, then pT-descending
    counts = np.bincount(jets.event, minlength=n_events)
    start = np.concatenate([[0], np.cumsum(counts)[:-1]])
    lead = np.minimum(start, max(len(jets.event) - 1, 0))
    passes = (counts == 2)
    if len(jets.event):
        passes &= (pt(jets.p4[lead]) > cut) & (np.abs(pseudorapidity(jets.p4[lead])) < sample.leading_abs_eta_max)
    kept = np.flatnonzero(passes)
    rows = start[kept][:, None] + np.arange(2)
    tau = nsubjettiness(jets.constituents[rows.ravel()], (1, 2, 3), r0=sample.jet_r).reshape(-1, 2, 3)
    return {"event": kept, "jet_p4": jets.p4[rows].reshape(-1, 2, 4), "tau": tau,
            "n_constituents": jets.multiplicity[rows].reshape(-1, 2)}


def events_from_particles(pt_eta_phi: np.ndarray, label: np.ndarray, sample: DijetSample = DijetSample(),
                          leading_pt_min: float = 0.0) -> tuple[Events, np.ndarray]:
    """Cluster zero-padded massless particles (n, P, 3) (pT [GeV], eta, phi) (e.g. the LHCO constituent table)
    into ``Events``; returns (events, index of each kept event in the input). No cut on the leading jet by
    default (the R&D events passed it already); events without two jets are dropped."""
    present = pt_eta_phi[..., 0] > 0
    event = np.repeat(np.arange(len(pt_eta_phi)), present.sum(axis=1))
    flat = pt_eta_phi[present].astype(np.float64)
    p4 = from_pt_eta_phi_m(flat[:, 0], flat[:, 1], flat[:, 2], 0.0)
    out = dijets(p4, event, len(pt_eta_phi), sample, leading_pt_min)
    kept = out["event"]
    return events_from_jets(out["jet_p4"], out["tau"][..., 0], out["tau"][..., 1], label[kept]), kept


@dataclass(frozen=True)
class DijetChunk:
    """One unit of work (picklable): ``n_events`` selected events of ``process`` from its own seeded Pythia."""

    process: str
    index: int
    n_events: int
    seed: int
    sample: DijetSample
    detector: det.DetectorParams | None
    batch_events: int = 200
    max_events_per_kept: int = 2000         # give up if the selection keeps less than 1 in this many

    def seeds(self):
        return chunk_seeds(self.seed, PROCESS_CODES[self.process], self.index)


def generate_chunk(spec: DijetChunk) -> dict:
    """Generate the chunk ``spec``: the arrays of ``DATASETS`` and ``stats``."""
    from mlhep.tasks.jets.pythia_events import final_state, make_pythia, next_batch

    start = time.process_time()
    pythia_seed, detector_seed = spec.seeds()
    pythia = make_pythia(spec.process, spec.sample, pythia_seed, settings=pythia_settings)
    rng = np.random.default_rng(detector_seed)
    parts, n_kept, n_generated = [], 0, 0
    while n_kept < spec.n_events:
        if n_generated > spec.max_events_per_kept * max(n_kept, 1) and n_generated > 50 * spec.batch_events:
            raise RuntimeError(f"{spec.process} chunk {spec.index}: {n_kept} events kept of {n_generated}; the "
                               "selection and the Pythia phase space do not fit together")
        batch = next_batch(pythia, spec.batch_events)
        n_generated += batch.n_events
        particles = final_state(pythia, batch)
        if spec.detector is not None:
            particles = det.simulate(particles, rng, spec.detector)
        out = dijets(particles.p4, particles.event, batch.n_events, spec.sample)
        kept = out.pop("event")
        out["pthat"], out["weight"] = batch.pthat[kept], batch.weight[kept]
        parts.append(out)
        n_kept += len(out["pthat"])
    n = spec.n_events
    arrays = {key: np.concatenate([p[key] for p in parts])[:n] for key in parts[0]}
    result = {name: np.asarray(arrays[name], dtype=dtype) for name, (_, dtype) in DATASETS.items()
              if name in arrays}
    result["label"] = np.full(n, PROCESS_CODES[spec.process], dtype=np.int8)
    result["chunk"] = np.full(n, spec.index, dtype=np.int32)
    result["stats"] = {"process": spec.process, "index": spec.index, "n_jets": n, "n_events": n_generated,
                       "seconds": time.process_time() - start, "pythia_seed": pythia_seed}
    return result


@dataclass(frozen=True)
class DijetPlan:
    """Settings of a whole sample (all of them go into the files' ``generation`` attribute)."""

    n_background: int
    n_signal: int = 0
    seed: int = 1
    chunk_size: int = 1000                  # events per chunk
    sample: DijetSample = DijetSample()
    detector: det.DetectorParams | None = det.DetectorParams()
    batch_events: int = 200

    def chunks(self) -> list[DijetChunk]:
        """Canonical order: chunk 0 of each process, chunk 1 of each (while it has one), ..."""
        sizes = {"qcd": self.n_background, "wprime": self.n_signal}
        n_chunks = {p: -(-n // self.chunk_size) for p, n in sizes.items()}
        return [DijetChunk(process=p, index=i, n_events=min(self.chunk_size, sizes[p] - i * self.chunk_size),
                           seed=self.seed, sample=self.sample, detector=self.detector,
                           batch_events=self.batch_events)
                for i in range(max(n_chunks.values(), default=0)) for p in PROCESSES if i < n_chunks[p]]

    def record(self) -> dict:
        versions = {}
        for package in ("pythia8mc", "fastjet", "numpy", "mlhep"):
            try:
                versions[package] = metadata.version(package)
            except metadata.PackageNotFoundError:
                versions[package] = "unknown"
        return {"n_background": self.n_background, "n_signal": self.n_signal, "seed": self.seed,
                "chunk_size": self.chunk_size, "batch_events": self.batch_events, "sample": self.sample.to_dict(),
                "detector": "none" if self.detector is None else {"model": "mlhep-simple",
                                                                  **self.detector.to_dict()},
                "versions": versions}


class DijetFileWriter(ChunkedFileWriter):
    """The atomic chunked writer of the layout above."""

    def __init__(self, path, generation: dict, task_index: int = 0, task_count: int = 1, rows_per_chunk: int = 4096):
        attrs = {"format": FORMAT, "format_version": FORMAT_VERSION,
                 "generation": json.dumps(generation, sort_keys=True), "task_index": task_index,
                 "task_count": task_count}
        super().__init__(path, attrs, DATASETS, rows_per_chunk)


def produce(plan: DijetPlan, output, workers: int = 1, task_index: int = 0, task_count: int = 1,
            progress: bool = True) -> dict:
    """Generate this array task's chunks of ``plan`` into ``output`` (atomically). Returns per-process
    statistics {process: {"events" (kept), "generated", "cpu_seconds", "events_per_cpu_second"}}."""
    from tqdm import tqdm

    specs = task_chunks(plan.chunks(), task_index, task_count)
    stats = {p: {"events": 0, "generated": 0, "cpu_seconds": 0.0} for p in PROCESSES}
    done: dict[int, dict] = {}
    next_to_write = 0
    with DijetFileWriter(output, plan.record(), task_index, task_count) as writer, \
            tqdm(total=sum(s.n_events for s in specs), unit="event", disable=not progress,
                 desc=f"dijets -> {output}") as bar:
        for position, result in run_chunks(specs, workers, generate_chunk):
            done[position] = result
            s = result["stats"]
            stats[s["process"]]["events"] += s["n_jets"]
            stats[s["process"]]["generated"] += s["n_events"]
            stats[s["process"]]["cpu_seconds"] += s["seconds"]
            bar.update(s["n_jets"])
            while next_to_write in done:            # keep the canonical order
                writer.append(done.pop(next_to_write))
                next_to_write += 1
    for s in stats.values():
        s["events_per_cpu_second"] = s["events"] / s["cpu_seconds"] if s["cpu_seconds"] > 0 else float("nan")
    return stats


def _check(f: h5py.File, path) -> None:
    if f.attrs.get("format") != FORMAT:
        raise DataError(f"{path}: not an mlhep dijet file (attribute format = {f.attrs.get('format')!r})")
    if int(f.attrs.get("format_version", -1)) != FORMAT_VERSION:
        raise DataError(f"{path}: dijet file format_version {f.attrs.get('format_version')} (this mlhep reads "
                        f"{FORMAT_VERSION})")
    missing = [name for name in DATASETS if name not in f]
    if missing:
        raise DataError(f"{path}: dijet file lacks dataset(s) {', '.join(missing)}")


def is_generated(path: str | os.PathLike) -> bool:
    """Whether ``path`` is an HDF5 file of this layout (its ``format`` attribute)."""
    try:
        with h5py.File(path, "r") as f:
            return f.attrs.get("format") == FORMAT
    except OSError as err:
        raise DataError(f"{path}: cannot open as HDF5 ({err})") from None


def read_generated(path: str | os.PathLike, start: int | None = None, stop: int | None = None) -> Events:
    """Rows [start, stop) of a generated dijet file as ``Events`` (weights only if some differ from 1)."""
    try:
        f = h5py.File(path, "r")
    except OSError as err:
        raise DataError(f"{path}: cannot open as HDF5 ({err})") from None
    with f:
        _check(f, path)
        rows = slice(start, stop)
        tau, weight = f["tau"][rows].astype(np.float64), f["weight"][rows].astype(np.float64)
        return events_from_jets(f["jet_p4"][rows], tau[..., 0], tau[..., 1], f["label"][rows],
                                weight if np.any(weight != 1) else None)


def generation_settings(path: str | os.PathLike) -> dict:
    with h5py.File(path, "r") as f:
        _check(f, path)
        return json.loads(f.attrs["generation"])


def merge(parts: list, output) -> int:
    """Join the part files of one array job (any order) into ``output``; returns the number of events."""
    def open_writer(attrs):
        return DijetFileWriter(output, json.loads(attrs["generation"]))
    return merge_chunked_parts(parts, _check, open_writer)
