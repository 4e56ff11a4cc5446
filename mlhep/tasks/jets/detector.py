"""A parametrised detector response in place of Delphes (not installable here): tracks, calorimeter towers and
a particle-flow-like merge, vectorised over a batch of events and deterministic for a given numpy Generator.

What it does, in this order (defaults in ``DetectorParams``, loosely those of Delphes' ATLAS card, the
detector of the top-tagging reference sample):

1. Input: the visible final-state particles (neutrinos removed before).
2. Tracks: a charged particle with |eta| < 2.5 and pT > 0.5 GeV is tracked with probability 0.95 (independent
   of pT and eta). Its transverse momentum is smeared by a log-normal factor of mean 1 and relative width
   sigma(pT)/pT = sqrt(0.01^2 + (5e-4 GeV^-1 * pT)^2) (ATLAS inner detector: 1% (+) 0.05% pT); its direction is
   exact and its mass kept, so E = sqrt(p^2 + m^2). Each track becomes a particle-flow candidate.
3. Calorimeter towers: a uniform grid in pseudorapidity and azimuth, Delta eta x Delta phi = 0.1 x 2 pi/64
   (0.0982) for |eta| < 4.9 (ATLAS-like hadronic granularity; the electromagnetic and hadronic sections share the
   grid). Photons and electrons deposit their whole energy in the electromagnetic section (ECAL), every hadron in
   the hadronic section (HCAL), muons nothing; particles outside |eta| < 4.9 are lost.
4. Energy resolution: each section of each tower is smeared by a log-normal factor of mean 1 (positive energies,
   exact mean and width) with sigma(E)/E = sqrt(a^2 / E + b^2): ECAL a = 0.10 GeV^1/2, b = 0.007;
   HCAL a = 0.50 GeV^1/2, b = 0.03 (stochastic and constant terms; no noise term).
5. Particle-flow merge (as Delphes' EFlow): in each tower section the summed energy of the tracks that point to
   it (their smeared energies: electrons for the ECAL, charged hadrons for the HCAL) is subtracted from the
   measured energy. A positive excess E_n is kept as a neutral candidate if E_n > E_min (ECAL 0.5 GeV, HCAL 1.0
   GeV) and E_n > S_min * sigma(E_measured) with S_min = 1: a massless "photon" (ECAL) or "neutral hadron"
   (HCAL) at the tower centre. A charged particle that was not tracked is thus seen only in the calorimeter.
6. Output: tracks plus neutral candidates, ordered by event; these are the jet constituents.

``detector = none`` skips all of this: the constituents are then the visible final-state particles themselves.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from mlhep.tasks.jets.kinematics import from_pt_eta_phi_m, mass, phi, pseudorapidity, pt
from mlhep.tasks.jets.pythia_events import Particles

ECAL_IDS = (11, 22)          # electrons and photons shower in the ECAL
NO_CALO_IDS = (13,)          # muons pass through


@dataclass(frozen=True)
class DetectorParams:
    """Parameters of the detector response (energies in GeV); written to the output file's attributes."""

    track_abs_eta_max: float = 2.5
    track_pt_min: float = 0.5
    track_efficiency: float = 0.95
    track_res_const: float = 0.01         # sigma(pT)/pT = sqrt(const^2 + (slope * pT)^2)
    track_res_slope: float = 5e-4         # GeV^-1
    calo_abs_eta_max: float = 4.9
    tower_deta: float = 0.1
    tower_nphi: int = 64                  # Delta phi = 2 pi / tower_nphi
    ecal_stochastic: float = 0.10         # GeV^1/2: sigma(E)/E = sqrt(stochastic^2 / E + constant^2)
    ecal_constant: float = 0.007
    hcal_stochastic: float = 0.50
    hcal_constant: float = 0.03
    ecal_e_min: float = 0.5
    hcal_e_min: float = 1.0
    significance_min: float = 1.0

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def lognormal_factor(rng: np.random.Generator, rel_sigma: np.ndarray) -> np.ndarray:
    """Positive random factors with mean 1 and standard deviation ``rel_sigma`` (log-normal)."""
    s2 = np.log1p(np.square(rel_sigma))
    return np.exp(rng.standard_normal(np.shape(rel_sigma)) * np.sqrt(s2) - 0.5 * s2)


def track_resolution(params: DetectorParams, pt_: np.ndarray) -> np.ndarray:
    """Relative pT resolution sigma(pT)/pT of a track."""
    return np.hypot(params.track_res_const, params.track_res_slope * pt_)


def calo_resolution(stochastic: float, constant: float, energy: np.ndarray) -> np.ndarray:
    """Absolute energy resolution sigma(E) = E sqrt(stochastic^2 / E + constant^2) = sqrt(s^2 E + c^2 E^2)."""
    energy = np.maximum(energy, 0.0)
    return np.sqrt(stochastic ** 2 * energy + (constant * energy) ** 2)


def _towers(params: DetectorParams, eta: np.ndarray, phi_: np.ndarray, event: np.ndarray):
    """Tower key of each particle: unique per (event, eta cell, phi cell)."""
    n_eta = int(round(2 * params.calo_abs_eta_max / params.tower_deta))
    i_eta = np.clip(np.floor((eta + params.calo_abs_eta_max) / params.tower_deta).astype(np.int64), 0, n_eta - 1)
    dphi = 2 * np.pi / params.tower_nphi
    i_phi = np.floor((phi_ + np.pi) / dphi).astype(np.int64) % params.tower_nphi
    return (event * n_eta + i_eta) * params.tower_nphi + i_phi


def _tower_centre(params: DetectorParams, key: np.ndarray):
    """(event, eta, phi) of the centre of the towers ``key``."""
    n_eta = int(round(2 * params.calo_abs_eta_max / params.tower_deta))
    i_phi = key % params.tower_nphi
    i_eta = (key // params.tower_nphi) % n_eta
    event = key // (params.tower_nphi * n_eta)
    eta_c = -params.calo_abs_eta_max + (i_eta + 0.5) * params.tower_deta
    phi_c = -np.pi + (i_phi + 0.5) * 2 * np.pi / params.tower_nphi
    return event, eta_c, phi_c


def simulate(particles: Particles, rng: np.random.Generator, params: DetectorParams = DetectorParams()
             ) -> Particles:
    """Particle-flow candidates of ``particles`` (module docstring). The returned ``pid`` is 211 * sign for
    tracks (charge kept in ``charge3``), 22 for ECAL neutrals and 130 for HCAL neutrals."""
    p4, pid, charge3, event = particles.p4, particles.pid, particles.charge3, particles.event
    pt_, eta, phi_ = pt(p4), pseudorapidity(p4), phi(p4)
    abs_pid = np.abs(pid)

    # 2. tracks
    trackable = (charge3 != 0) & (np.abs(eta) < params.track_abs_eta_max) & (pt_ > params.track_pt_min)
    tracked = trackable & (rng.random(p4.shape[0]) < params.track_efficiency)
    t = np.flatnonzero(tracked)
    scale = lognormal_factor(rng, track_resolution(params, pt_[t]))
    track_p4 = p4[t].copy()
    track_p4[:, 1:] *= scale[:, None]
    track_p4[:, 0] = np.sqrt(np.sum(track_p4[:, 1:] ** 2, axis=1) + mass(p4[t]) ** 2)

    # 3. deposits: everything visible but muons, within the calorimeter
    in_calo = (np.abs(eta) < params.calo_abs_eta_max) & ~np.isin(abs_pid, NO_CALO_IDS)
    is_ecal = np.isin(abs_pid, ECAL_IDS)
    key = _towers(params, eta, phi_, event)
    d = np.flatnonzero(in_calo)
    cells, inverse = np.unique(key[d], return_inverse=True)
    n_cells = cells.size
    ecal_true = np.bincount(inverse, weights=p4[d, 0] * is_ecal[d], minlength=n_cells)
    hcal_true = np.bincount(inverse, weights=p4[d, 0] * ~is_ecal[d], minlength=n_cells)
    # expected deposits of the tracked particles, from their measured energies
    position = np.full(p4.shape[0], -1, dtype=np.int64)
    position[d] = inverse
    t_cell = position[t]
    t_in = t_cell >= 0
    t_ecal = is_ecal[t]
    ecal_tracks = np.bincount(t_cell[t_in], weights=track_p4[t_in, 0] * t_ecal[t_in], minlength=n_cells)
    hcal_tracks = np.bincount(t_cell[t_in], weights=track_p4[t_in, 0] * ~t_ecal[t_in], minlength=n_cells)

    # 4. resolution, 5. merge
    neutrals = []
    for true, tracks, a, b, e_min, code in (
            (ecal_true, ecal_tracks, params.ecal_stochastic, params.ecal_constant, params.ecal_e_min, 22),
            (hcal_true, hcal_tracks, params.hcal_stochastic, params.hcal_constant, params.hcal_e_min, 130)):
        hit = true > 0
        measured = np.zeros(n_cells)
        measured[hit] = true[hit] * lognormal_factor(rng, calo_resolution(a, b, true[hit]) / true[hit])
        excess = measured - tracks
        keep = (excess > e_min) & (excess > params.significance_min * calo_resolution(a, b, measured))
        ev, eta_c, phi_c = _tower_centre(params, cells[keep])
        e = excess[keep]
        neutrals.append((from_pt_eta_phi_m(e / np.cosh(eta_c), eta_c, phi_c), ev, np.full(e.size, code)))

    out_p4 = np.concatenate([track_p4, neutrals[0][0], neutrals[1][0]])
    out_event = np.concatenate([event[t], neutrals[0][1], neutrals[1][1]])
    out_pid = np.concatenate([211 * np.sign(charge3[t]), neutrals[0][2], neutrals[1][2]]).astype(np.int32)
    out_charge = np.concatenate([charge3[t], np.zeros(out_event.size - t.size, dtype=np.int32)]).astype(np.int32)
    order = np.argsort(out_event, kind="stable")
    return Particles(p4=out_p4[order], pid=out_pid[order], charge3=out_charge[order], event=out_event[order],
                     n_events=particles.n_events)

