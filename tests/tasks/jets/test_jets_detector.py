"""The detector model reproduces its stated parameters statistically (closure on single particles)."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from mlhep.tasks.jets.detector import DetectorParams, calo_resolution, simulate, track_resolution
from mlhep.tasks.jets.kinematics import from_pt_eta_phi_m, phi, pseudorapidity, pt
from mlhep.tasks.jets.pythia_events import Particles

N = 20_000          # events of one particle each: relative statistical precision of a width ~ 1/sqrt(2N) = 0.5%
PARAMS = DetectorParams()


def single_particles(rng, pid: int, charge3: int, energy: float | None = None, pt_: float | None = None,
                     eta_max: float = 2.0, mass: float = 0.0) -> Particles:
    eta = rng.uniform(-eta_max, eta_max, N)
    phi_ = rng.uniform(-np.pi, np.pi, N)
    transverse = pt_ if pt_ is not None else np.sqrt(energy ** 2 - mass ** 2) / np.cosh(eta)
    return Particles(p4=from_pt_eta_phi_m(transverse * np.ones(N), eta, phi_, mass), pid=np.full(N, pid, np.int32),
                     charge3=np.full(N, charge3, np.int32), event=np.arange(N, dtype=np.int64), n_events=N)


def check_mean_and_width(values, mean, sigma):
    """Sample mean and standard deviation within 4 standard errors of the stated ones."""
    n = values.size
    assert abs(values.mean() - mean) < 4 * sigma / np.sqrt(n)
    assert abs(values.std(ddof=1) - sigma) < 4 * sigma / np.sqrt(2 * (n - 1))


@pytest.mark.parametrize("pid, energy, section", [(22, 50.0, "ecal"), (22, 5.0, "ecal"), (130, 100.0, "hcal"),
                                                  (2112, 20.0, "hcal")])
def test_calorimeter_resolution(pid, energy, section):
    """Neutral particles alone in their towers: the measured energy has mean E and width
    sqrt(a^2 E + b^2 E^2) with the section's stated a, b (thresholds are far below these energies)."""
    out = simulate(single_particles(np.random.default_rng(1), pid, 0, energy=energy), np.random.default_rng(2))
    assert out.event.size == N and np.all(out.charge3 == 0)     # one neutral candidate per event
    a, b = ((PARAMS.ecal_stochastic, PARAMS.ecal_constant) if section == "ecal"
            else (PARAMS.hcal_stochastic, PARAMS.hcal_constant))
    assert np.all(out.pid == (22 if section == "ecal" else 130))
    check_mean_and_width(out.p4[:, 0], energy, calo_resolution(a, b, energy))


def test_tracks_resolution_and_efficiency():
    """Charged pions of pT = 100 GeV: tracked with the stated efficiency, pT/pT_true of mean 1 and width
    sqrt(c^2 + (s pT)^2), direction unchanged, mass kept."""
    particles = single_particles(np.random.default_rng(3), 211, 3, pt_=100.0, eta_max=2.4, mass=0.13957)
    out = simulate(particles, np.random.default_rng(4))
    track = out.charge3 != 0
    n_tracks = track.sum()
    eff = PARAMS.track_efficiency
    assert abs(n_tracks / N - eff) < 4 * np.sqrt(eff * (1 - eff) / N)
    ratio = pt(out.p4[track]) / 100.0
    check_mean_and_width(ratio, 1.0, track_resolution(PARAMS, 100.0))
    ev = out.event[track]
    np.testing.assert_allclose(pseudorapidity(out.p4[track]), pseudorapidity(particles.p4[ev]), atol=1e-9)
    np.testing.assert_allclose(phi(out.p4[track]), phi(particles.p4[ev]), atol=1e-9)
    m2 = out.p4[track, 0] ** 2 - (out.p4[track, 1:] ** 2).sum(axis=1)
    np.testing.assert_allclose(np.sqrt(m2), 0.13957, rtol=1e-3)
    # an untracked pion is seen by the HCAL alone: E = 100 cosh(eta) GeV measured with the HCAL resolution
    untracked = np.setdiff1d(np.arange(N), ev)
    neutral = out.pid == 130
    assert set(out.event[neutral]) >= set(untracked)


def test_untracked_charged_hadrons_go_to_the_hcal():
    """With the tracker off, charged pions of E = 50 GeV are neutral HCAL candidates with the HCAL resolution."""
    params = dataclasses.replace(PARAMS, track_efficiency=0.0)
    out = simulate(single_particles(np.random.default_rng(5), -211, -3, energy=50.0), np.random.default_rng(6),
                   params)
    assert out.event.size == N and np.all(out.pid == 130)
    check_mean_and_width(out.p4[:, 0], 50.0, calo_resolution(params.hcal_stochastic, params.hcal_constant, 50.0))


def test_particle_flow_subtraction():
    """A tracked electron's track energy is subtracted from its ECAL tower. With exact tracks the excess is the
    calorimeter's fluctuation alone, kept only above max(E_min, 1 sigma): one-sided, 1 - Phi(1) = 15.9% of the
    tracked electrons leave a neutral candidate (here sigma = 0.69 GeV > E_min = 0.5 GeV)."""
    params = dataclasses.replace(PARAMS, track_res_const=0.0, track_res_slope=0.0)
    out = simulate(single_particles(np.random.default_rng(7), 11, -3, energy=40.0), np.random.default_rng(8), params)
    n_tracks = (out.charge3 != 0).sum()
    spurious = (out.pid == 22).sum() - (N - n_tracks)          # neutrals beyond those of untracked electrons
    p = 0.1587
    assert abs(spurious / n_tracks - p) < 4 * np.sqrt(p * (1 - p) / n_tracks)


def test_granularity_acceptance_and_muons():
    """Neutral candidates sit at tower centres; particles beyond |eta| = 4.9 are lost; muons leave a track and no
    calorimeter deposit; the same generator seed gives the same output."""
    rng = np.random.default_rng(9)
    photons = single_particles(rng, 22, 0, energy=30.0)
    out = simulate(photons, np.random.default_rng(10))
    k_eta = (pseudorapidity(out.p4) + PARAMS.calo_abs_eta_max) / PARAMS.tower_deta - 0.5
    k_phi = (phi(out.p4) + np.pi) / (2 * np.pi / PARAMS.tower_nphi) - 0.5
    np.testing.assert_allclose(k_eta, np.round(k_eta), atol=1e-6)
    np.testing.assert_allclose(k_phi, np.round(k_phi), atol=1e-6)
    far = Particles(p4=from_pt_eta_phi_m(np.full(3, 10.0), np.array([5.0, -5.2, 6.0]), np.zeros(3)),
                    pid=np.full(3, 22, np.int32), charge3=np.zeros(3, np.int32), event=np.arange(3), n_events=3)
    assert simulate(far, np.random.default_rng(0)).event.size == 0
    muons = simulate(single_particles(rng, 13, -3, pt_=50.0, mass=0.1057), np.random.default_rng(11))
    assert np.all(muons.charge3 != 0)          # tracks only
    again = simulate(photons, np.random.default_rng(10))
    np.testing.assert_array_equal(again.p4, out.p4)
    other = simulate(photons, np.random.default_rng(12))
    assert not np.array_equal(other.p4, out.p4)
