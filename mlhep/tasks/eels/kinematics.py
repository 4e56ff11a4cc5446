"""Relativistic kinematics of the incident electron, shared by the thickness and Kramers-Kronig formulas.

Egerton, "Electron Energy-Loss Spectroscopy in the Electron Microscope", 3rd ed. (Springer 2011), Appendix E and
Sections 3.2.1 and 4.2. Beam energies E0 in keV, energy losses in eV, angles in mrad, lengths in nm.
"""
from __future__ import annotations

import numpy as np
from scipy import constants

ELECTRON_REST_ENERGY_KEV = constants.physical_constants["electron mass energy equivalent in MeV"][0] * 1e3
BOHR_RADIUS_NM = constants.physical_constants["Bohr radius"][0] * 1e9


def gamma(beam_energy_kev: float) -> float:
    """Lorentz factor 1 + E0 / (m0 c^2)."""
    return 1.0 + beam_energy_kev / ELECTRON_REST_ENERGY_KEV


def effective_energy_ev(beam_energy_kev: float) -> float:
    """T = m0 v^2 / 2 = E0 (1 + E0/2m0c^2) / (1 + E0/m0c^2)^2 in eV (Egerton eq. E.3/4.27): the 'kinetic energy'
    that enters the non-relativistic-looking formulas with the relativistic velocity v."""
    e0 = beam_energy_kev
    return 1e3 * e0 * (1 + e0 / (2 * ELECTRON_REST_ENERGY_KEV)) / (1 + e0 / ELECTRON_REST_ENERGY_KEV) ** 2


def characteristic_angle_mrad(energy_loss_ev: np.ndarray, beam_energy_kev: float) -> np.ndarray:
    """theta_E = E / (gamma m0 v^2) = E / (2 gamma T) in mrad (Egerton eq. 3.28)."""
    return 1e3 * np.asarray(energy_loss_ev) / (2 * gamma(beam_energy_kev) * effective_energy_ev(beam_energy_kev))


def aperture_factor(energy_loss_ev: np.ndarray, beam_energy_kev: float, collection_mrad: float) -> np.ndarray:
    """ln[1 + (beta / theta_E)^2]: the angular integral of the Lorentzian (Bethe) cross-section up to the
    collection semi-angle beta (Egerton eq. 4.26). Shape of ``energy_loss_ev``; energies must be > 0."""
    theta = characteristic_angle_mrad(energy_loss_ev, beam_energy_kev)
    return np.log1p((collection_mrad / theta) ** 2)


def single_scattering_from_elf(energy_loss_ev: np.ndarray, elf: np.ndarray, thickness_nm: float,
                               beam_energy_kev: float, collection_mrad: float,
                               zlp_counts: float = 1.0) -> np.ndarray:
    """The single-scattering distribution S(E) in counts per eV from the energy-loss function Im[-1/eps(E)]:

        S(E) = I0 t / (pi a0 m0 v^2) Im[-1/eps(E)] ln[1 + (beta/theta_E)^2]        (Egerton eq. 4.26)

    with m0 v^2 = 2T. ``energy_loss_ev`` (n,) > 0, ``elf`` (..., n); returns (..., n). ``zlp_counts`` is I0.
    """
    t_eff = effective_energy_ev(beam_energy_kev)
    factor = zlp_counts * thickness_nm / (2 * np.pi * BOHR_RADIUS_NM * t_eff)
    return factor * np.asarray(elf) * aperture_factor(energy_loss_ev, beam_energy_kev, collection_mrad)
