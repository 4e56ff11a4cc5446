"""Kramers-Kronig analysis of a single-scattering distribution: the energy-loss function, the complex
dielectric function and the absolute thickness.

Egerton, "Electron Energy-Loss Spectroscopy in the Electron Microscope", 3rd ed. (2011), Section 4.2 (and his
Matlab code KRAKRO, which exSpy and EELSfitter follow). The single scattering S(E), counts per eV, is

    S(E) = I0 t / (pi a0 m0 v^2) Im[-1/eps(E)] ln[1 + (beta/theta_E)^2]              (eq. 4.26)

so dividing by the aperture factor gives K Im[-1/eps] with K = I0 t / (2 pi a0 T). The Kramers-Kronig sum rule

    integral_0^inf Im[-1/eps(E)] dE / E = (pi/2) (1 - Re[1/eps(0)]) = (pi/2) (1 - 1/n^2)      (eq. 4.29)

(n the refractive index: eps(0) = n^2 for an insulator, n -> infinity for a metal) fixes K, hence the
thickness t = 2 pi a0 T K / I0 (eq. 4.30); conversely a known t fixes K. Then

    Re[1/eps(E)] = 1 - (2/pi) P integral_0^inf Im[-1/eps(E')] E' dE' / (E'^2 - E^2)           (eq. 4.31)

computed as a Hilbert transform by FFT of the odd extension of Im[-1/eps] (Johnson, J. Phys. A 8 (1975) 490),
and eps = eps1 + i eps2 = (Re[1/eps] + i Im[-1/eps]) / (Re[1/eps]^2 + Im[-1/eps]^2).
Not included: the iterative surface-loss correction and retardation (Cerenkov) effects.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import fft as sfft

from mlhep.tasks.eels.kinematics import BOHR_RADIUS_NM, aperture_factor, effective_energy_ev


@dataclass(frozen=True)
class KKResult:
    """energy: (m,) eV, the positive-loss channels analysed; eps: (..., m) complex dielectric function;
    elf: (..., m) Im[-1/eps]; thickness: (...,) t in nm (None when t was given and I0 was not)."""

    energy: np.ndarray
    eps: np.ndarray
    elf: np.ndarray
    thickness: np.ndarray | None


def kramers_kronig(energy: np.ndarray, ssd: np.ndarray, beam_energy_kev: float, collection_mrad: float,
                   zlp_counts: float | np.ndarray | None = None, refractive_index: float | None = None,
                   thickness_nm: float | np.ndarray | None = None, fft_factor: int = 2) -> KKResult:
    """Kramers-Kronig analysis of single-scattering distributions.

    energy: (n,) uniform eV axis; ssd: (..., n) counts per channel (e.g. from ``fourier_log_deconvolution``);
    only channels with E > 0 are used. Extend it beyond the axis first (``power_law_extrapolation``) when the
    losses do not die out within it: the sum rule needs the whole integral.
    beam_energy_kev: E0; collection_mrad: the collection semi-angle beta.
    Normalise either by ``refractive_index`` n (np.inf for a metal; with ``zlp_counts`` I0 the thickness
    follows) or by ``thickness_nm`` t together with ``zlp_counts``.
    fft_factor: the FFT length is this times the number of channels (zero padding against wrap-around).
    """
    energy = np.asarray(energy, dtype=np.float64)
    ssd = np.asarray(ssd, dtype=np.float64)
    if (refractive_index is None) == (thickness_nm is None):
        raise ValueError("give exactly one of refractive_index and thickness_nm")
    if thickness_nm is not None and zlp_counts is None:
        raise ValueError("normalising by the thickness needs zlp_counts (I0)")
    step = float(np.mean(np.diff(energy)))
    positive = energy > 0
    e = energy[positive]
    t_eff = effective_energy_ev(beam_energy_kev)
    # K Im[-1/eps] in counts per eV, without the aperture factor (eq. 4.26).
    scaled_elf = ssd[..., positive] / step / aperture_factor(e, beam_energy_kev, collection_mrad)
    thickness = None
    if refractive_index is not None:
        sum_rule = np.pi / 2 * (1 - 1 / refractive_index ** 2)
        k = np.sum(scaled_elf / e, axis=-1) * step / sum_rule
        if zlp_counts is not None:
            thickness = 2 * np.pi * BOHR_RADIUS_NM * t_eff * k / np.asarray(zlp_counts, dtype=np.float64)
    else:
        thickness = np.asarray(thickness_nm, dtype=np.float64)
        k = thickness * np.asarray(zlp_counts, dtype=np.float64) / (2 * np.pi * BOHR_RADIUS_NM * t_eff)
    elf = scaled_elf / np.asarray(k)[..., None]
    re_inv = 1 + odd_hilbert(e, elf, fft_factor)
    denom = re_inv ** 2 + elf ** 2
    eps = (re_inv + 1j * elf) / denom
    return KKResult(energy=e, eps=eps, elf=elf, thickness=thickness)


def odd_hilbert(energy: np.ndarray, f: np.ndarray, fft_factor: int = 2) -> np.ndarray:
    """(2/pi) P integral_0^inf f(E') E' dE' / (E^2 - E'^2) at ``energy`` (n,) > 0 (uniform), f (..., n).

    This is the Hilbert transform (1/pi) P integral f(E')/(E - E') dE' of the odd extension of f, computed by
    FFT with the multiplier -i sign(nu) on a grid E_k = k dE starting at 0 (f(0) = 0): f is interpolated onto
    it linearly when ``energy`` is offset from the multiples of dE, and the result interpolated back.
    """
    energy = np.asarray(energy, dtype=np.float64)
    step = float(np.mean(np.diff(energy)))
    m = int(np.ceil(energy[-1] / step)) + 1
    grid = step * np.arange(m)
    aligned = np.allclose(energy, grid[-energy.size:], atol=1e-9 * step)
    flat = f.reshape(-1, energy.size)
    if aligned:
        on_grid = np.zeros((flat.shape[0], m))
        on_grid[:, m - energy.size:] = flat
    else:
        on_grid = np.stack([np.interp(grid, energy, row, left=0.0, right=0.0) for row in flat])
        on_grid[:, grid < energy[0]] = flat[:, :1] * grid[grid < energy[0]] / energy[0]   # linear to 0 at 0
    size = sfft.next_fast_len(2 * fft_factor * m)
    odd = np.zeros((flat.shape[0], size))
    odd[:, :m] = on_grid
    odd[:, size - m + 1:] = -on_grid[:, :0:-1]
    spectrum = sfft.fft(odd, axis=-1)
    multiplier = -1j * np.sign(sfft.fftfreq(size))
    hilbert = sfft.ifft(spectrum * multiplier, axis=-1).real[:, :m]
    if aligned:
        out = hilbert[:, m - energy.size:]
    else:
        out = np.stack([np.interp(energy, grid, row) for row in hilbert])
    return out.reshape(f.shape)
