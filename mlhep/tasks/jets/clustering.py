"""Jet clustering with FastJet's array interface (C++ loop over events), and padded constituent arrays.

``fastjet.ClusterSequence`` on a jagged Awkward Array clusters every event (or every jet's constituents, for
N-subjettiness) in one call; here flat numpy arrays with an event index go in and flat numpy arrays come out.
"""
from __future__ import annotations

import contextlib
import os
import sys
from dataclasses import dataclass

import numpy as np

from mlhep.tasks.jets.kinematics import pt

_banner_shown = False


@contextlib.contextmanager
def _quiet_first_use():
    """FastJet prints its banner to the C-level stdout on its first clustering; send that one to /dev/null."""
    global _banner_shown
    if _banner_shown:
        yield
        return
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 1)
            try:
                yield
            finally:
                os.dup2(saved, 1)
    finally:
        os.close(saved)
        _banner_shown = True


def jagged(p4: np.ndarray, counts: np.ndarray):
    """Awkward Array [group][particle]{px, py, pz, E} from flat (n, 4) (E, px, py, pz) and group sizes."""
    import awkward as ak

    flat = ak.zip({"px": p4[:, 1], "py": p4[:, 2], "pz": p4[:, 3], "E": p4[:, 0]}, with_name="Momentum4D")
    return ak.unflatten(flat, np.asarray(counts, dtype=np.int64))


def cluster_sequence(p4: np.ndarray, counts: np.ndarray, algorithm: str, radius: float):
    """A multi-event ``fastjet.ClusterSequence`` of the groups of ``p4`` given by ``counts``."""
    import fastjet

    algo = {"antikt": fastjet.antikt_algorithm, "kt": fastjet.kt_algorithm,
            "cambridge": fastjet.cambridge_algorithm}[algorithm]
    with _quiet_first_use():
        return fastjet.ClusterSequence(jagged(p4, counts), fastjet.JetDefinition(algo, radius))


@dataclass(frozen=True)
class Jets:
    """Jets of a batch: ``event`` (k,) int64, ``p4`` (k, 4) float64 (E, px, py, pz; E-scheme sum of all
    constituents), ``constituents`` (k, n_max, 4) float64 (the n_max hardest in pT, descending, zero-padded),
    ``multiplicity`` (k,) int64 (all constituents, before truncation)."""

    event: np.ndarray
    p4: np.ndarray
    constituents: np.ndarray
    multiplicity: np.ndarray


def pad_constituents(p4: np.ndarray, group: np.ndarray, n_groups: int, n_max: int) -> np.ndarray:
    """(n_groups, n_max, 4) array of the ``n_max`` highest-pT vectors of each group, pT-descending, zero-padded.

    ``p4`` (n, 4) flat vectors and ``group`` (n,) their group index in [0, n_groups)."""
    out = np.zeros((n_groups, n_max, 4), dtype=p4.dtype)
    if group.size == 0:
        return out
    order = np.lexsort((-pt(p4), group))
    group_sorted = group[order]
    starts = np.searchsorted(group_sorted, np.arange(n_groups))
    rank = np.arange(group_sorted.size) - starts[group_sorted]
    keep = rank < n_max
    out[group_sorted[keep], rank[keep]] = p4[order[keep]]
    return out


def leading_jets(p4: np.ndarray, event: np.ndarray, n_events: int, radius: float, pt_min: float, n_max: int,
                 leading_only: bool = True, n_leading: int = 1) -> Jets:
    """Anti-kT jets of radius ``radius`` with pT >= ``pt_min`` of each event; with ``leading_only`` only the
    ``n_leading`` hardest jets of each event (1: the hardest; those passing ``pt_min``), ordered by event and
    then pT-descending.

    ``p4`` (n, 4) flat particles ordered by ``event`` (n,) in [0, n_events)."""
    import awkward as ak

    counts = np.bincount(event, minlength=n_events)
    if np.any(np.diff(event) < 0):
        raise ValueError("particles must be ordered by event")
    cs = cluster_sequence(p4, counts, "antikt", radius)
    jets = cs.inclusive_jets(min_pt=pt_min)
    n_jets = np.asarray(ak.num(jets), dtype=np.int64)
    jet_p4 = np.stack([np.asarray(ak.flatten(jets[c]), dtype=np.float64) for c in ("E", "px", "py", "pz")],
                      axis=-1).reshape(-1, 4)
    jet_event = np.repeat(np.arange(n_events), n_jets)
    index = cs.constituent_index(min_pt=pt_min)            # [event][jet][constituent], local to the event
    per_jet = ak.flatten(index, axis=1)
    n_const = np.asarray(ak.num(per_jet), dtype=np.int64)
    local = np.asarray(ak.flatten(per_jet), dtype=np.int64)

    selected = np.ones(jet_event.size, dtype=bool)
    if leading_only and jet_event.size:
        order = np.lexsort((-pt(jet_p4), jet_event))
        sorted_event = jet_event[order]
        rank = np.arange(order.size) - np.searchsorted(sorted_event, sorted_event)     # 0 = hardest of its event
        selected[:] = False
        selected[order[rank < n_leading]] = True
    keep = np.flatnonzero(selected)
    if leading_only and n_leading > 1:       # event, then pT-descending (inclusive_jets' order is not by pT)
        keep = keep[np.lexsort((-pt(jet_p4[keep]), jet_event[keep]))]
    new_index = np.full(jet_event.size, -1, dtype=np.int64)
    new_index[keep] = np.arange(keep.size)
    owner = np.repeat(np.arange(jet_event.size), n_const)      # jet of each flat constituent entry
    mine = selected[owner]
    particle_offsets = np.concatenate([[0], np.cumsum(counts)])
    rows = particle_offsets[jet_event[owner[mine]]] + local[mine]
    constituents = pad_constituents(p4[rows], new_index[owner[mine]], keep.size, n_max)
    return Jets(event=jet_event[keep], p4=jet_p4[keep], constituents=constituents, multiplicity=n_const[keep])
