"""Parton-level truth of hadronic top decays in Pythia event records, vectorised over a batch.

In a Pythia 8 record a top is copied many times by the shower (recoils); its last copy (status -62) decays into a
W and a down-type quark (t -> W b, rarely W s or W d). The W is copied in turn; its last copy decays into a
quark pair. The four-momenta taken here are those of the last top copy (just before its decay) and of the three
decay quarks as produced in the decays (before they shower): the "top and its decay partons" of the reference
sample's matching requirement.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mlhep.tasks.jets.kinematics import delta_r_eta_phi
from mlhep.tasks.jets.pythia_events import EventBatch

TOP, W = 6, 24
_MAX_COPIES = 1000      # a safety net: chains of W copies are a handful long


@dataclass(frozen=True)
class HadronicTops:
    """The hadronically decaying tops of a batch: ``event`` (k,) int64, ``top`` (k, 4) and ``quarks`` (k, 3, 4)
    float64 four-momenta (E, px, py, pz) in GeV (order: b, then the W's two quarks)."""

    event: np.ndarray
    top: np.ndarray
    quarks: np.ndarray


def _global(batch: EventBatch, rows: np.ndarray, local: np.ndarray) -> np.ndarray:
    """Flat row of the record entry ``local`` of the event of flat row ``rows``."""
    return batch.offsets[batch.event[rows]] + local


def hadronic_tops(batch: EventBatch) -> HadronicTops:
    """Every top (or anti-top) of ``batch`` whose W decays to quarks, with its decay quarks."""
    tops = np.flatnonzero(np.abs(batch.pid) == TOP)
    first_daughter = _global(batch, tops, batch.daughter1[tops])
    decayed = (batch.daughter1[tops] > 0) & (np.abs(batch.pid[first_daughter]) != TOP)
    tops = tops[decayed]
    d1 = _global(batch, tops, batch.daughter1[tops])
    d2 = _global(batch, tops, batch.daughter2[tops])
    d1_is_w = np.abs(batch.pid[d1]) == W
    w = np.where(d1_is_w, d1, d2)
    b = np.where(d1_is_w, d2, d1)
    ok = (np.abs(batch.pid[w]) == W) & (np.abs(batch.pid[b]) <= 5)
    tops, w, b = tops[ok], w[ok], b[ok]
    for _ in range(_MAX_COPIES):                        # follow the W to its last copy
        nxt = _global(batch, w, batch.daughter1[w])
        is_copy = (batch.daughter1[w] > 0) & (batch.pid[nxt] == batch.pid[w])
        if not is_copy.any():
            break
        w = np.where(is_copy, nxt, w)
    q1 = _global(batch, w, batch.daughter1[w])
    q2 = _global(batch, w, batch.daughter2[w])
    hadronic = ((batch.daughter1[w] > 0) & (np.abs(batch.pid[q1]) <= 5) & (np.abs(batch.pid[q2]) <= 5)
                & (q1 != q2))
    tops, b, q1, q2 = tops[hadronic], b[hadronic], q1[hadronic], q2[hadronic]
    return HadronicTops(event=batch.event[tops], top=batch.p4[tops],
                        quarks=np.stack([batch.p4[b], batch.p4[q1], batch.p4[q2]], axis=1))


def match_tops(jet_event: np.ndarray, jet_p4: np.ndarray, tops: HadronicTops, radius: float
               ) -> tuple[np.ndarray, np.ndarray]:
    """For each jet, the closest top of its event that lies, with all three decay quarks, within ``radius``
    (Delta R in eta, phi) of the jet axis.

    Returns ``contained`` (n_jets,) bool and ``top_p4`` (n_jets, 4) (zeros where not contained)."""
    n = jet_event.size
    top_p4 = np.zeros((n, 4))
    contained = np.zeros(n, dtype=bool)
    if n == 0 or tops.event.size == 0:
        return contained, top_p4
    # all (jet, top) pairs of the same event: a handful per event
    order = np.argsort(tops.event, kind="stable")
    first = np.searchsorted(tops.event[order], jet_event, side="left")
    last = np.searchsorted(tops.event[order], jet_event, side="right")
    counts = last - first
    jet_idx = np.repeat(np.arange(n), counts)
    top_idx = order[np.repeat(first, counts) + (np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts,
                                                                                     counts))]
    axis = jet_p4[jet_idx]
    d_top = delta_r_eta_phi(tops.top[top_idx], axis)
    d_quarks = delta_r_eta_phi(tops.quarks[top_idx], axis[:, None, :])
    good = (d_top < radius) & np.all(d_quarks < radius, axis=1)
    jet_idx, top_idx, d_top = jet_idx[good], top_idx[good], d_top[good]
    best = np.lexsort((d_top, jet_idx))                  # closest top first within each jet
    jet_idx, top_idx = jet_idx[best], top_idx[best]
    first_of_jet = np.concatenate([[True], jet_idx[1:] != jet_idx[:-1]]) if jet_idx.size else jet_idx.astype(bool)
    contained[jet_idx[first_of_jet]] = True
    top_p4[jet_idx[first_of_jet]] = tops.top[top_idx[first_of_jet]]
    return contained, top_p4
