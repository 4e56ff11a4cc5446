"""Specimen thickness from low-loss spectra by the log-ratio method.

Egerton, "Electron Energy-Loss Spectroscopy in the Electron Microscope", 3rd ed. (2011), Section 5.1.1: the
number of inelastic collisions is Poisson distributed, so the zero-loss intensity is I0 = I_t exp(-t/lambda) and

    t / lambda = ln(I_t / I0)                                                   (Egerton eq. 5.1)

with I_t the total intensity. The absolute thickness needs the mean free path lambda; the Kramers-Kronig sum
rule gives it without lambda (``kramers_kronig``).
"""
from __future__ import annotations

import numpy as np


def log_ratio_thickness(counts: np.ndarray, zlp: np.ndarray | float) -> np.ndarray:
    """t/lambda = ln(sum of counts / I0). ``counts`` (..., n) per channel; ``zlp`` the ZLP counts (..., n) on the
    same channels, or its integral I0 (a number or (...,)). Returns (...,)."""
    total = np.sum(counts, axis=-1)
    i0 = np.sum(zlp, axis=-1) if np.ndim(zlp) == np.ndim(counts) else np.asarray(zlp, dtype=np.float64)
    return np.log(total / i0)


def zero_loss_intensity(energy: np.ndarray, counts: np.ndarray, threshold: float | np.ndarray | None = None,
                        method: str = "threshold") -> np.ndarray:
    """A quick estimate of I0 without a ZLP model, (..., n) -> (...,).

    method "threshold": the counts below ``threshold`` eV (default: the first minimum after the peak of the
    summed spectrum, ``first_minimum_after_peak``) (Egerton Section 5.1.1; exSpy's
    ``estimate_elastic_scattering_intensity``). "mirror": twice the counts up to the peak channel, for a
    symmetric ZLP (Egerton Section 4.1.1), with the peak channel counted once.
    """
    energy = np.asarray(energy, dtype=np.float64)
    counts = np.asarray(counts, dtype=np.float64)
    if method == "threshold":
        if threshold is None:
            threshold = first_minimum_after_peak(energy, counts.reshape(-1, energy.size).sum(axis=0))
        below = energy < np.asarray(threshold, dtype=np.float64)[..., None]     # (..., n) or (n,)
        return np.sum(counts * below, axis=-1)
    if method == "mirror":
        peak = np.argmax(counts, axis=-1)[..., None]
        index = np.arange(energy.size)
        return 2 * np.sum(counts * (index < peak), axis=-1) + np.take_along_axis(counts, peak, -1)[..., 0]
    raise ValueError(f"method {method!r}: valid are 'threshold' and 'mirror'")


def first_minimum_after_peak(energy: np.ndarray, spectrum: np.ndarray, smooth: int = 5) -> float:
    """Energy of the first local minimum after the maximum of ``spectrum`` (n,), after a running mean over
    ``smooth`` channels; the end of the axis if the spectrum only falls."""
    kernel = np.ones(smooth) / smooth
    s = np.convolve(spectrum, kernel, mode="same")
    peak = int(np.argmax(s))
    rising = np.nonzero(np.diff(s[peak:]) > 0)[0]
    return float(energy[peak + rising[0]] if rising.size else energy[-1])
