"""Synthetic low-loss EELS spectra and spectrum images with a known truth, for closure tests and examples.

A spectrum is the zero-loss peak (ZLP, the instrument response) convolved with the Poisson series of plural
scattering (Egerton, "Electron Energy-Loss Spectroscopy in the Electron Microscope", 3rd ed., Section 4.1,
eqs. 4.1-4.8):

    J(E) = N Z(E) (x) exp(-tau) [delta(E) + s(E) + s(x)s(E)/2! + s(x)s(x)s(E)/3! + ...],   integral of s = tau,

with tau = t/lambda the thickness in inelastic mean free paths, N the electrons per pixel, Z the unit-area ZLP
shape and s the single-scattering distribution (per eV). The ZLP intensity is I0 = N exp(-tau), so
J_total / I0 = exp(tau): the log-ratio law. In Fourier space J = N Z^ exp(tau (p^ - 1)) with p the unit-area
shape of s, which is how it is computed here (exactly, on a grid long enough that nothing wraps around).

The single-scattering shape of a ``Sample`` is an interband onset A (E - E_bg)^b above the bandgap (b = 1/2
direct, 3/2 indirect; Rafferty and Brown, Phys. Rev. B 58 (1998) 10326) plus Drude bulk plasmons, the latter
multiplied by the aperture factor ln[1 + (beta/theta_E)^2] of Egerton eq. 4.26.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from scipy import fft as sfft

from mlhep.tasks.eels.kinematics import aperture_factor
from mlhep.tasks.eels.spectra import Spectra


@dataclass(frozen=True)
class ZLPShape:
    """A unit-area ZLP: a Gaussian core of full width ``fwhm`` (eV) plus a fraction ``tail_fraction`` of
    Lorentzian tails, with half widths ``tail_gain`` on the energy-gain side (E < 0) and ``tail_loss`` on the
    loss side (E > 0): asymmetric, and continuous at 0."""

    fwhm: float = 0.1
    tail_fraction: float = 0.02
    tail_gain: float = 0.03
    tail_loss: float = 0.06

    def density(self, energy: np.ndarray) -> np.ndarray:
        """Z(E) per eV, (n,) -> (n,); integrates to 1 over the real line."""
        e = np.asarray(energy, dtype=np.float64)
        sigma = self.fwhm / (2 * np.sqrt(2 * np.log(2)))
        core = np.exp(-0.5 * (e / sigma) ** 2) / (np.sqrt(2 * np.pi) * sigma)
        width = np.where(e < 0, self.tail_gain, self.tail_loss)
        tails = 2 / (np.pi * (self.tail_gain + self.tail_loss)) / (1 + (e / width) ** 2)
        return (1 - self.tail_fraction) * core + self.tail_fraction * tails


@dataclass(frozen=True)
class Plasmon:
    """A Drude bulk plasmon: energy-loss function E Gamma Ep^2 / ((E^2 - Ep^2)^2 + (E Gamma)^2) (Egerton eq.
    3.43), ``energy`` Ep and ``width`` Gamma in eV; ``weight`` is its share of the plasmon scattering."""

    energy: float = 22.0
    width: float = 5.0
    weight: float = 1.0

    def elf(self, e: np.ndarray) -> np.ndarray:
        return e * self.width * self.energy ** 2 / ((e ** 2 - self.energy ** 2) ** 2 + (e * self.width) ** 2)


@dataclass(frozen=True)
class Sample:
    """The single-scattering shape of a semiconductor (unit area; the thickness sets its integral).

    bandgap E_bg (eV) and exponent b: the interband onset (E - E_bg)^b / (1 + ((E - E_bg)/onset_scale)^(b+2)),
    a pure power law near the onset (corrections of relative size ((E - E_bg)/onset_scale)^(b+2)) that falls
    like E^-2 far above it. ``onset_weight``: the onset's share of the single scattering, the rest are the
    ``plasmons``, zero below the gap (a semiconductor has no losses there) and switched on smoothly above it by
    1 - exp(-((E - E_bg)/plasmon_onset)^4), so that within ~plasmon_onset/2 of the gap the spectrum is the
    interband power law alone (the region a bandgap fit uses). ``beam_energy_kev`` and ``collection_mrad`` set
    the plasmons' aperture factor.
    """

    bandgap: float = 1.6
    exponent: float = 1.5
    onset_weight: float = 0.1
    onset_scale: float = 5.0
    plasmons: tuple[Plasmon, ...] = field(default=(Plasmon(),))
    plasmon_onset: float = 3.0
    beam_energy_kev: float = 200.0
    collection_mrad: float = 10.0

    def onset(self, e: np.ndarray) -> np.ndarray:
        """(E - E_bg)^b / (1 + ((E - E_bg)/onset_scale)^(b+2)) above the gap, 0 below; unnormalised."""
        x = np.clip(np.asarray(e, dtype=np.float64) - self.bandgap, 0.0, None)
        return x ** self.exponent / (1 + (x / self.onset_scale) ** (self.exponent + 2))

    def plasmon_shape(self, e: np.ndarray) -> np.ndarray:
        e = np.asarray(e, dtype=np.float64)
        out = np.zeros_like(e)
        above = e > max(self.bandgap, 0.0)
        if self.plasmons and np.any(above):
            ea = e[above]
            elf = sum(p.weight * p.elf(ea) for p in self.plasmons)
            gate = -np.expm1(-(((ea - max(self.bandgap, 0.0)) / self.plasmon_onset) ** 4))
            out[above] = gate * elf * aperture_factor(ea, self.beam_energy_kev, self.collection_mrad)
        return out


@dataclass(frozen=True)
class SyntheticSpectra:
    """A synthetic data set and its truth; all count arrays are (..., n) counts per channel on ``spectra``'s
    axis, the leading (pixel) axes those of ``thickness``.

    spectra: the noisy counts (Poisson + Gaussian read noise) as a ``Spectra``.
    expected: the noiseless spectrum J.
    zlp: the noiseless zero-loss peak I0 Z (what a ZLP model must learn); inelastic = expected - zlp.
    single_scattering: I0 (Z (x) s), the single-scattering distribution broadened by the ZLP: what Fourier-log
        deconvolution with the true ZLP returns. single_scattering_sharp: I0 s, without the broadening.
    onset: I0 (Z (x) s_onset), the interband-onset part of ``single_scattering`` (zeros for a callable shape).
    thickness: t/lambda per pixel; zlp_total: I0 = N exp(-t/lambda), the ZLP's full integral (also off-axis);
    electrons: N, the integral of the whole spectrum including losses beyond the axis.
    onset_amplitude: A with onset(E) = A (E - E_bg)^b near the gap, for ``onset`` (per channel), per pixel.
    """

    spectra: Spectra
    expected: np.ndarray
    zlp: np.ndarray
    single_scattering: np.ndarray
    single_scattering_sharp: np.ndarray
    onset: np.ndarray
    thickness: np.ndarray
    zlp_total: np.ndarray
    electrons: np.ndarray
    onset_amplitude: np.ndarray

    @property
    def inelastic(self) -> np.ndarray:
        return self.expected - self.zlp


def simulate(energy: np.ndarray, sample: Sample | Callable[[np.ndarray], np.ndarray],
             thickness: float | np.ndarray, zlp: ZLPShape = ZLPShape(), electrons: float | np.ndarray = 1e6,
             read_noise: float = 0.0, seed: int = 0, kind: str = "specimen", loss_range: float = 200.0,
             zlp_reach: float = 5.0, chunk: int = 256) -> SyntheticSpectra:
    """Synthetic spectra on the uniform axis ``energy`` (n,) eV.

    sample: a ``Sample``, or a function E -> single-scattering shape per eV on E >= 0 (normalised here).
    thickness: t/lambda, a number or an array of pixel shape (e.g. ``thickness_map``); electrons: N per pixel
        (a number or an array of pixel shape).
    read_noise: standard deviation of the Gaussian read noise added to the Poisson counts; ``seed`` makes the
        noise deterministic (numpy's default_rng).
    loss_range: single scattering is computed up to at least this loss (eV), further than the axis when
        plasmons lie beyond it; zlp_reach: the ZLP is computed from -zlp_reach eV (or the axis start).
    chunk: pixels per FFT batch (bounds memory for large images).
    """
    energy = np.asarray(energy, dtype=np.float64)
    step = float(np.mean(np.diff(energy)))
    if np.ptp(np.diff(energy)) > 1e-6 * step:
        raise ValueError("synthetic spectra need a uniform energy axis")
    tau = np.asarray(thickness, dtype=np.float64)
    pixel_shape = np.broadcast_shapes(tau.shape, np.shape(electrons))
    tau = np.broadcast_to(tau, pixel_shape).ravel()
    n_e = np.broadcast_to(np.asarray(electrons, dtype=np.float64), pixel_shape).ravel()
    if np.any(tau < 0) or np.any(n_e <= 0):
        raise ValueError("thickness must be >= 0 and electrons > 0")

    # Extended grid: `pad` channels left of the axis so the ZLP (from -zlp_reach eV) lies on it.
    n = energy.size
    pad = max(0, int(np.ceil((energy[0] + zlp_reach) / step)))
    n_ext = pad + n
    n_fft = sfft.next_fast_len(max(2 * n_ext, int(np.ceil(2 * loss_range / step))), real=True)
    grid = energy[0] + step * (np.arange(n_fft) - pad)        # ZLP on grid[:n_ext], zero beyond
    lags = step * np.arange(n_fft)                            # single scattering at energy losses >= 0
    lags_kept = lags < n_fft * step / 2                       # p vanishes on the upper half: no wrap-around
    z = np.where(np.arange(n_fft) < n_ext, zlp.density(grid), 0.0)
    z /= z.sum()                                              # the extended grid holds all the ZLP

    if isinstance(sample, Sample):
        onset_shape = np.where(lags_kept, sample.onset(lags), 0.0)
        plasmon_shape = np.where(lags_kept, sample.plasmon_shape(lags), 0.0)
        onset_mass, plasmon_mass = onset_shape.sum(), plasmon_shape.sum()
        w = sample.onset_weight if plasmon_mass > 0 else 1.0
        p_onset = w * onset_shape / onset_mass if onset_mass > 0 else np.zeros(n_fft)
        p = p_onset + ((1 - w) * plasmon_shape / plasmon_mass if plasmon_mass > 0 else 0.0)
        # onset(E) = A (E - E_bg)^b near the gap: A per channel for unit tau and I0.
        a_unit = w / onset_mass if onset_mass > 0 else 0.0
    else:
        p = np.where(lags_kept, np.asarray(sample(lags), dtype=np.float64), 0.0)
        p_onset, a_unit = np.zeros(n_fft), 0.0
        p = p / p.sum()
    z_hat, p_hat, onset_hat = sfft.rfft(z), sfft.rfft(p), sfft.rfft(p_onset)

    out = {k: np.empty((tau.size, n)) for k in ("expected", "zlp", "ss", "ss_sharp", "onset")}
    axis = slice(pad, pad + n)
    for start in range(0, tau.size, chunk):
        t, ne = tau[start:start + chunk, None], n_e[start:start + chunk, None]
        i0 = ne * np.exp(-t)
        plural = np.exp(t * (p_hat - 1.0))                    # FT of exp(-tau)[delta + s + s(x)s/2! + ...]
        rows = slice(start, start + chunk)
        out["expected"][rows] = ne * sfft.irfft(z_hat * plural, n_fft)[:, axis]
        out["zlp"][rows] = i0 * z[axis]
        out["ss"][rows] = i0 * t * sfft.irfft(z_hat * p_hat, n_fft)[axis]
        out["ss_sharp"][rows] = i0 * t * _on_axis(p, energy, step)
        out["onset"][rows] = i0 * t * sfft.irfft(z_hat * onset_hat, n_fft)[axis]

    rng = np.random.default_rng(seed)
    expected = np.clip(out["expected"], 0.0, None)            # FFT round-off can dip below 0 far from signal
    noisy = rng.poisson(expected).astype(np.float64)
    if read_noise > 0:
        noisy += rng.normal(0.0, read_noise, size=noisy.shape)
    shape = pixel_shape + (n,)
    spectra = Spectra(energy=energy, counts=noisy.reshape(shape), source="synthetic", kind=kind)
    return SyntheticSpectra(
        spectra=spectra, expected=expected.reshape(shape), zlp=out["zlp"].reshape(shape),
        single_scattering=out["ss"].reshape(shape), single_scattering_sharp=out["ss_sharp"].reshape(shape),
        onset=out["onset"].reshape(shape), thickness=tau.reshape(pixel_shape),
        zlp_total=(n_e * np.exp(-tau)).reshape(pixel_shape), electrons=n_e.reshape(pixel_shape),
        onset_amplitude=(n_e * np.exp(-tau) * tau * a_unit).reshape(pixel_shape))


def _on_axis(p_lags: np.ndarray, energy: np.ndarray, step: float) -> np.ndarray:
    """A function sampled at losses k*step, read at the axis energies (0 where they are negative)."""
    idx = np.rint(energy / step).astype(np.int64)
    inside = (idx >= 0) & (idx < p_lags.size)
    return np.where(inside, p_lags[np.clip(idx, 0, p_lags.size - 1)], 0.0)


def vacuum(energy: np.ndarray, zlp: ZLPShape = ZLPShape(), electrons: float | np.ndarray = 1e6,
           read_noise: float = 0.0, seed: int = 0, n_spectra: int | None = None) -> SyntheticSpectra:
    """ZLP-only spectra (beam through vacuum, t/lambda = 0): (n,) or (n_spectra, n)."""
    shape = () if n_spectra is None else (n_spectra,)
    return simulate(energy, Sample(plasmons=()), np.zeros(shape), zlp=zlp, electrons=electrons,
                    read_noise=read_noise, seed=seed, kind="vacuum")


def thickness_map(shape: tuple[int, int], t_max: float = 1.0, radius: float = 0.35,
                  substrate: float = 0.0) -> np.ndarray:
    """(ny, nx) t/lambda of a lens-shaped particle on a substrate: t_max sqrt(1 - r^2/R^2) inside the radius R
    (a fraction of the image width, centred), plus ``substrate`` everywhere; vacuum (0) around it when the
    substrate is 0."""
    ny, nx = shape
    y, x = np.meshgrid((np.arange(ny) + 0.5) / ny - 0.5, (np.arange(nx) + 0.5) / nx - 0.5, indexing="ij")
    r2 = (x ** 2 + y ** 2) / radius ** 2
    return substrate + t_max * np.sqrt(np.clip(1 - r2, 0.0, None))
