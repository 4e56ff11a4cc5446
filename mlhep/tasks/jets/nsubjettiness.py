"""N-subjettiness tau_N (Thaler, Van Tilburg, JHEP 03 (2011) 015, arXiv:1011.2268), vectorised over jets.

    tau_N = sum_i pT_i min_k Delta R_{i,k}^beta / (sum_i pT_i R0^beta)

with Delta R in rapidity and azimuth, beta = 1 and R0 = 0.8 (the jet radius) by default, and as the N axes the
exclusive-kT subjets of the jet's constituents: kT clustering (E scheme) of the constituents until N objects
remain, with R = 1000 so that no beam distance intervenes (fjcontrib's ``KT_Axes``).

How: FastJet's array interface clusters every jet's constituents (one "event" per jet) in a single C++ call,
and ``exclusive_jets_up_to(N)`` reads the N axes of every jet off that one clustering for N = 1, 2, 3; the
measure is then numpy over (constituents, axes). fjcontrib's ``Nsubjettiness`` (``KT_Axes``,
``NormalizedMeasure``), which the fastjet 3.5.2.0 wheel also exposes as ``ClusterSequence.njettiness``, gives
the same numbers (tests/tasks/jets, to 1e-8) but reclusters for every N: about twice as slow here.
A jet with at most N constituents has tau_N = 0 (each axis sits on a constituent).
"""
from __future__ import annotations

import warnings

import numpy as np

from mlhep.tasks.jets.clustering import cluster_sequence
from mlhep.tasks.jets.kinematics import delta_phi, phi, pt, rapidity

KT_AXES_R = 1000.0      # fastjet's JetDefinition::max_allowable_R, as fjcontrib's KT_Axes


def nsubjettiness(constituents: np.ndarray, n_values=(1, 2, 3), beta: float = 1.0, r0: float = 0.8,
                  batch: int = 20_000) -> np.ndarray:
    """tau_N for N in ``n_values``: (n_jets, len(n_values)) float64.

    ``constituents`` (n_jets, C, 4) (E, px, py, pz) in GeV, zero-padded (entries with E <= 0 are ignored)."""
    n_values = [int(n) for n in n_values]
    if any(n < 1 for n in n_values):
        raise ValueError(f"N-subjettiness needs N >= 1, got {n_values}")
    out = np.zeros((constituents.shape[0], len(n_values)))
    for a in range(0, constituents.shape[0], batch):
        part = np.asarray(constituents[a:a + batch], dtype=np.float64)
        valid = part[..., 0] > 0
        counts = valid.sum(axis=1)
        filled = np.flatnonzero(counts > 0)
        if filled.size == 0:
            continue
        part, valid = part[filled], valid[filled]
        flat = part[valid]                                   # (n_valid, 4), jets in order
        cs = cluster_sequence(flat, counts[filled], "kt", KT_AXES_R)
        jet = np.repeat(np.arange(filled.size), counts[filled])
        y, phi_, weight = rapidity(flat), phi(flat), pt(flat)
        norm = np.bincount(jet, weights=weight, minlength=filled.size) * r0 ** beta
        for k, n in enumerate(n_values):
            axes = _axes(cs, n, filled.size)
            out[a + filled, k] = np.bincount(jet, weights=weight * _distance(y, phi_, jet, axes) ** beta,
                                             minlength=filled.size) / norm
    return out


def _axes(cs, n: int, n_jets: int) -> np.ndarray:
    """(n_jets, n, 4) exclusive-kT axes (E, px, py, pz); rows beyond a jet's constituent count are zero."""
    import awkward as ak

    with warnings.catch_warnings():           # fastjet warns for kT too: its algorithm check is loose
        warnings.filterwarnings("ignore", message="dcut and exclusive jets")
        jets = cs.exclusive_jets_up_to(n)
    counts = np.asarray(ak.num(jets), dtype=np.int64)
    flat = np.stack([np.asarray(ak.flatten(jets[c]), dtype=np.float64) for c in ("E", "px", "py", "pz")], axis=-1)
    axes = np.zeros((n_jets, n, 4))
    rank = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
    axes[np.repeat(np.arange(n_jets), counts), rank] = flat
    return axes


def _distance(y: np.ndarray, phi_: np.ndarray, jet: np.ndarray, axes: np.ndarray) -> np.ndarray:
    """min_k Delta R(constituent, axis k) in (y, phi) for flat constituents of jets ``jet``; axes (J, N, 4)."""
    axis_y, axis_phi, has_axis = rapidity(axes)[jet], phi(axes)[jet], (axes[..., 0] > 0)[jet]
    dy = y[:, None] - axis_y
    dphi = delta_phi(phi_[:, None], axis_phi)
    return np.sqrt(np.where(has_axis, dy * dy + dphi * dphi, np.inf).min(axis=1))


def ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """numerator / denominator, 0 where the denominator is 0 (e.g. tau21 of a one-constituent jet)."""
    safe = np.where(denominator > 0, denominator, 1.0)
    return np.where(denominator > 0, numerator / safe, 0.0)
