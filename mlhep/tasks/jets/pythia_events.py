"""Pythia 8 events as flat numpy arrays (no Python loop over particles).

``Pythia.nextBatch(n)`` of the pythia8mc bindings (PYTHIA 8.315+) fills an Awkward Array of ``n`` whole event
records in C++; the fields needed here are taken out of it as flat numpy arrays with per-event offsets, so that
the truth search, the detector model and the clustering all work on whole batches at once.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mlhep.tasks.jets.sample import SampleDefinition, pythia_settings

NEUTRINOS = (12, 14, 16)


@dataclass(frozen=True)
class EventBatch:
    """The full event records of a batch of events, flattened: entry j of event i is row ``offsets[i] + j``.

    ``p4`` (n, 4) float64 (E, px, py, pz) in GeV; ``pid``, ``status``, ``daughter1``, ``daughter2``
    (n,) int32 (the record's own indices, local to the event); ``event`` (n,) int64; ``offsets`` (n_events + 1,);
    ``pthat`` (n_events,) float64: the pT of each event's hard 2 -> 2 process, GeV; ``weight`` (n_events,)
    float64: Pythia's nominal event weight (1 unless a phase-space bias is on).
    """

    p4: np.ndarray
    pid: np.ndarray
    status: np.ndarray
    daughter1: np.ndarray
    daughter2: np.ndarray
    event: np.ndarray
    offsets: np.ndarray
    pthat: np.ndarray
    weight: np.ndarray | None = None

    @property
    def n_events(self) -> int:
        return self.offsets.size - 1


@dataclass(frozen=True)
class Particles:
    """Final-state particles of a batch, flat and ordered by event: ``p4`` (n, 4) float64 (E, px, py, pz) in
    GeV, ``pid`` (n,) int32, ``charge3`` (n,) int32 (three times the charge), ``event`` (n,) int64."""

    p4: np.ndarray
    pid: np.ndarray
    charge3: np.ndarray
    event: np.ndarray
    n_events: int


def make_pythia(process: str, sample: SampleDefinition, seed: int, settings=pythia_settings):
    """An initialised, silent ``pythia8mc.Pythia`` for ``process`` with Pythia seed ``seed``; ``settings(process,
    sample, seed)`` gives its ``readString`` lines (default: the jet-tag sample's; other samples pass theirs)."""
    import pythia8mc

    pythia = pythia8mc.Pythia("", False)          # no banner
    for line in settings(process, sample, seed):
        if not pythia.readString(line):
            raise RuntimeError(f"Pythia refused the setting {line!r}")
    if not pythia.init():
        raise RuntimeError(f"Pythia failed to initialise for process {process!r}")
    return pythia


def next_batch(pythia, n_events: int) -> EventBatch:
    """Generate ``n_events`` events (failed ones are skipped by Pythia) as an ``EventBatch``."""
    import awkward as ak

    events = pythia.nextBatch(n_events, "skip")
    prt = events["prt"]
    counts = np.asarray(ak.num(prt), dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(counts)])

    def flat(array, dtype):
        return np.asarray(ak.flatten(array), dtype=dtype)

    p = prt["p"]
    p4 = np.stack([flat(p["e"], np.float64), flat(p["px"], np.float64), flat(p["py"], np.float64),
                   flat(p["pz"], np.float64)], axis=-1)
    return EventBatch(p4=p4, pid=flat(prt["id"], np.int32), status=flat(prt["status"], np.int32),
                      daughter1=flat(prt["daughter1"], np.int32), daughter2=flat(prt["daughter2"], np.int32),
                      event=np.repeat(np.arange(counts.size, dtype=np.int64), counts), offsets=offsets,
                      pthat=np.sqrt(np.asarray(events["info"]["pT2Hat"], dtype=np.float64)),
                      weight=np.asarray(ak.firsts(events["info"]["weights"]), dtype=np.float64))


def charge3_table(pythia, pids: np.ndarray) -> np.ndarray:
    """Three times the electric charge of each particle id in ``pids`` (looked up once per distinct id)."""
    unique, inverse = np.unique(pids, return_inverse=True)
    charges = np.array([pythia.particleData.chargeType(int(pid)) for pid in unique], dtype=np.int32)
    return charges[inverse].reshape(pids.shape)


def final_state(pythia, batch: EventBatch) -> Particles:
    """The visible final-state particles (status > 0, neutrinos removed) of ``batch``."""
    keep = (batch.status > 0) & ~np.isin(np.abs(batch.pid), NEUTRINOS)
    pid = batch.pid[keep]
    return Particles(p4=batch.p4[keep], pid=pid, charge3=charge3_table(pythia, pid), event=batch.event[keep],
                     n_events=batch.n_events)
