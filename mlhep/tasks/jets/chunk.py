"""One chunk of the sample: a fixed number of selected jets of one process, from its own seeded Pythia.

A chunk is the unit of work, of parallelism and of reproducibility: its Pythia seed and its detector random
stream are derived from (sample seed, process, chunk index) alone, so a chunk's jets do not depend on the number
of worker processes, on SLURM array splitting or on which chunks ran before it.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from mlhep.tasks.jets import detector as det
from mlhep.tasks.jets.clustering import leading_jets
from mlhep.tasks.jets.kinematics import pseudorapidity, pt
from mlhep.tasks.jets.pythia_events import final_state, make_pythia, next_batch
from mlhep.tasks.jets.sample import PROCESS_CODES, SampleDefinition
from mlhep.tasks.jets.truth import hadronic_tops, match_tops


@dataclass(frozen=True)
class ChunkSpec:
    """What a worker needs to make one chunk (picklable)."""

    process: str
    index: int                      # chunk index within its process
    n_jets: int
    seed: int                       # the sample's seed
    sample: SampleDefinition
    detector: det.DetectorParams | None    # None: no detector (particle level)
    batch_events: int = 200         # events per nextBatch call (part of the reproducibility contract)
    max_events_per_jet: int = 2000  # give up if the selection accepts less than 1 in this many events

    def seeds(self) -> tuple[int, np.random.SeedSequence]:
        """(Pythia seed in [1, 9e8], SeedSequence of the detector) derived from (seed, process, index)."""
        return chunk_seeds(self.seed, PROCESS_CODES[self.process], self.index)


def chunk_seeds(seed: int, process_code: int, index: int) -> tuple[int, np.random.SeedSequence]:
    """(Pythia seed in [1, 9e8], SeedSequence of the detector) of chunk ``index`` of a process, from the sample's
    ``seed`` alone: independent of workers, array splitting and the order in which chunks run."""
    base = np.random.SeedSequence(seed, spawn_key=(process_code, index))
    pythia_seed = int(base.generate_state(1, dtype=np.uint64)[0] % 900_000_000) + 1
    return pythia_seed, np.random.SeedSequence(seed, spawn_key=(process_code, index, 1))


def select_jets(jets, tops, process: str, sample: SampleDefinition):
    """Mask of the jets in the window (pT, |eta|), and for tops fully contained; and their top four-momenta."""
    jet_pt, jet_eta = pt(jets.p4), pseudorapidity(jets.p4)
    keep = (jet_pt >= sample.jet_pt_min) & (jet_pt <= sample.jet_pt_max) & (np.abs(jet_eta) < sample.jet_abs_eta_max)
    top_p4 = np.zeros_like(jets.p4)
    if process == "top":
        contained, top_p4 = match_tops(jets.event, jets.p4, tops, sample.top_match_r)
        keep &= contained
    return keep, top_p4


def generate_chunk(spec: ChunkSpec) -> dict:
    """Generate the chunk ``spec``: a dict of arrays (file layout of ``mlhep.tasks.jets.h5io``) and statistics
    ``n_events`` (events generated) and ``seconds`` (CPU time of this process)."""
    start = time.process_time()
    pythia_seed, detector_seed = spec.seeds()
    pythia = make_pythia(spec.process, spec.sample, pythia_seed)
    rng = np.random.default_rng(detector_seed)
    parts: list[dict] = []
    n_selected = n_events = 0
    while n_selected < spec.n_jets:
        if n_events > spec.max_events_per_jet * max(n_selected, 1) and n_events > 50 * spec.batch_events:
            raise RuntimeError(f"{spec.process} chunk {spec.index}: {n_selected} jets selected in {n_events} events;"
                               " the selection and the Pythia phase space (pthat_min/max) do not fit together")
        batch = next_batch(pythia, spec.batch_events)
        n_events += batch.n_events
        particles = final_state(pythia, batch)
        if spec.detector is not None:
            particles = det.simulate(particles, rng, spec.detector)
        jets = leading_jets(particles.p4, particles.event, batch.n_events, spec.sample.jet_r, spec.sample.jet_pt_min,
                            spec.sample.n_constituents, spec.sample.leading_only)
        tops = hadronic_tops(batch) if spec.process == "top" else None
        keep, top_p4 = select_jets(jets, tops, spec.process, spec.sample)
        parts.append({"constituents": jets.constituents[keep], "jet_p4": jets.p4[keep], "top_p4": top_p4[keep],
                      "multiplicity": jets.multiplicity[keep]})
        n_selected += int(keep.sum())
    n = spec.n_jets
    out = {key: np.concatenate([p[key] for p in parts])[:n] for key in parts[0]}
    return {
        "constituents": out["constituents"].astype(np.float32),
        "label": np.full(n, PROCESS_CODES[spec.process], dtype=np.int8),
        "jet_p4": out["jet_p4"].astype(np.float32),
        "top_p4": out["top_p4"].astype(np.float32),
        "n_constituents": out["multiplicity"].astype(np.int32),
        "chunk": np.full(n, spec.index, dtype=np.int32),
        "stats": {"process": spec.process, "index": spec.index, "n_jets": n, "n_events": n_events,
                  "seconds": time.process_time() - start, "pythia_seed": pythia_seed},
    }
