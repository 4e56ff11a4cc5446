"""Fourier-log deconvolution: the single-scattering distribution from a low-loss spectrum and its ZLP.

Egerton, "Electron Energy-Loss Spectroscopy in the Electron Microscope", 3rd ed. (2011), Section 4.1.1
(Johnson and Spence, J. Phys. D 7 (1974) 771). Plural scattering makes the spectrum's Fourier transform
j(nu) = z(nu) exp[s(nu)/I0] (eq. 4.8), with z the ZLP's transform and I0 its integral, so

    s(nu) = I0 ln[j(nu) / z(nu)]                                               (eq. 4.10)

and, to keep the noise of the high frequencies out, the result is reconvolved with the ZLP itself,
z(nu) ln[j(nu)/z(nu)] (eq. 4.11 with the ZLP as the reconvolution function; exSpy and EELSfitter do the same),
or with a Gaussian of chosen width.
"""
from __future__ import annotations

import numpy as np
from scipy import fft as sfft


def fourier_log_deconvolution(energy: np.ndarray, counts: np.ndarray, zlp: np.ndarray,
                              kernel: str | float = "zlp", taper_channels: int | None = None,
                              unwrap: bool = True) -> np.ndarray:
    """The single-scattering distribution (counts per channel) on the same uniform axis ``energy`` (n,) eV.

    counts: (..., n) spectra; zlp: their zero-loss peaks, (..., n) or (n,).
    kernel: "zlp" reconvolves with the ZLP (the SSD as the instrument would record it without plural
        scattering: area I0 t/lambda); a number reconvolves with a unit Gaussian of that FWHM (eV) times I0;
        "none" returns I0 ln(j/z) itself (noisy, for noiseless tests).
    taper_channels: the last channels of ``counts`` are brought smoothly to zero by a half Hann window so the
        zero padding against wrap-around makes no step (default max(20, 2% of n), as exSpy's
        ``hanning_taper``); the result there is not reliable.
    unwrap: take the phase of j/z continuous along the frequency axis, so that ln is the analytic continuation
        (needed for thick specimens where the phase passes pi; Egerton Section 4.1.1).
    Returns (..., n).
    """
    energy = np.asarray(energy, dtype=np.float64)
    counts = np.asarray(counts, dtype=np.float64)
    n = energy.size
    step = float(np.mean(np.diff(energy)))
    zlp = np.broadcast_to(np.asarray(zlp, dtype=np.float64), counts.shape)
    taper = max(20, int(round(0.02 * n))) if taper_channels is None else int(taper_channels)
    if taper > 0:
        window = np.ones(n)
        window[n - taper:] = np.hanning(2 * taper)[taper:]
        counts = counts * window
    size = sfft.next_fast_len(2 * n, real=True)
    j = sfft.rfft(counts, size, axis=-1)
    z = sfft.rfft(zlp, size, axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = j / z
        log_ratio = np.log(np.abs(ratio)) + 1j * (np.unwrap(np.angle(ratio), axis=-1) if unwrap
                                                  else np.angle(ratio))
    log_ratio = np.nan_to_num(log_ratio, nan=0.0, posinf=0.0, neginf=0.0)
    if isinstance(kernel, str) and kernel == "zlp":
        s_hat = z * log_ratio
    else:
        freq = np.arange(size // 2 + 1) / (size * step)                  # 1/eV
        # ln(j/z) carries no position: move lag 0 to the channel of E = 0 (a fractional shift in general).
        shift = np.exp(2j * np.pi * freq * energy[0])
        i0 = z[..., :1].real
        if isinstance(kernel, str) and kernel == "none":
            response = 1.0
        elif isinstance(kernel, (int, float)) and kernel > 0:
            sigma = float(kernel) / (2 * np.sqrt(2 * np.log(2)))
            response = np.exp(-2 * (np.pi * sigma * freq) ** 2)             # a unit-area Gaussian
        else:
            raise ValueError(f"kernel {kernel!r}: valid are 'zlp', 'none' or a positive FWHM in eV")
        # ln(j/z) is the transform of the SSD in counts per channel over I0 (DFT(j) = DFT(z) exp(DFT(s)/I0)).
        s_hat = i0 * log_ratio * shift * response
    return sfft.irfft(s_hat, size, axis=-1)[..., :n]


def power_law_extrapolation(energy: np.ndarray, counts: np.ndarray, n_extra: int,
                            fit_channels: int = 50) -> tuple[np.ndarray, np.ndarray]:
    """Extend spectra beyond the axis by A E^-r fitted (least squares in log-log) to the last ``fit_channels``
    (Egerton Section 4.2.2: the tail the Kramers-Kronig sum rule and the Fourier methods need).
    energy (n,) > 0 at the end, counts (..., n) -> ((n + n_extra,), (..., n + n_extra)); r is clipped to >= 1 so
    the tail stays integrable."""
    energy = np.asarray(energy, dtype=np.float64)
    counts = np.asarray(counts, dtype=np.float64)
    step = float(np.mean(np.diff(energy)))
    x = np.log(energy[-fit_channels:])
    y = np.log(np.clip(counts[..., -fit_channels:], 1e-300, None))
    xc = x - x.mean()
    slope = np.sum(xc * (y - y.mean(axis=-1, keepdims=True)), axis=-1) / np.sum(xc ** 2)
    r = np.clip(-slope, 1.0, None)
    log_a = y.mean(axis=-1) + r * x.mean()
    extra = energy[-1] + step * np.arange(1, n_extra + 1)
    tail = np.exp(log_a[..., None] - r[..., None] * np.log(extra))
    return np.concatenate([energy, extra]), np.concatenate([counts, tail], axis=-1)
