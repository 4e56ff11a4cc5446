"""The energy-loss regions of the ZLP fit: below dE1 the spectrum is (nearly) all ZLP and is fitted, above dE2
the ZLP is negligible and forced to zero, in between the network interpolates (Roest et al., Ultramicroscopy
222 (2021) 113202, Fig. 2; EELSfitter 3.1 documentation, "NN training").

``find_de1_de2`` finds them automatically from a cluster's spectra the way EELSfitter 3.1 does
(``TrainZeroLossPeak.find_fwhm_idx`` ... ``calculate_hyperparameters``), here reimplemented:

1. counts below 1 are set to 1; the cluster's median spectrum y and log y are taken;
2. the FWHM of y from the channels above half maximum among those below 5 eV;
3. the steepest descent of log y: the minimum of its channel-to-channel difference (Hann-smoothed over 11
   channels) between the left half-maximum point and 10 FWHM;
4. the first local minimum of y after it: where the difference of y (Hann-smoothed over 31 channels) first
   turns positive (else where it is smallest in magnitude);
5. dE1 = the knee (point of largest curvature, the "Kneedle" algorithm of Satopaa et al., ICDCS Workshops 2011,
   as the ``kneed`` package implements it, offline, sensitivity 1) of log y between 3. and 4., times shift_de1;
6. dE2 = where the straight line in log10(y) through the points of 5. and 4. crosses one count, times
   shift_de2, at most the second-to-last channel.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Regions:
    """dE1, dE2 and the FWHM (eV) of one cluster, with the intermediate points of the search (eV) for plots:
    ``steepest`` (3.), ``first_minimum`` (4.) and ``knee`` (5., before the shift)."""

    de1: float
    de2: float
    fwhm: float
    steepest: float
    first_minimum: float
    knee: float


def hann_smooth(signal: np.ndarray, window: int) -> np.ndarray:
    """Moving average with a normalised Hann window of ``window`` channels (made odd), the signal mirrored at
    both ends so the output keeps its length (n,) -> (n,): the smoothing of EELSfitter's ``smooth_signal``."""
    signal = np.asarray(signal, dtype=np.float64)
    window += (window + 1) % 2
    if signal.size < window:
        raise ValueError(f"cannot smooth {signal.size} channels with a window of {window}")
    padded = np.concatenate([signal[window - 1:0:-1], signal, signal[-2:-window - 1:-1]])
    kernel = np.hanning(window)
    half = (window - 1) // 2
    return np.convolve(padded, kernel / kernel.sum(), mode="valid")[half:-half]


def knee(x: np.ndarray, y: np.ndarray, sensitivity: float = 1.0) -> float | None:
    """The knee of a convex decreasing curve by the Kneedle algorithm (Satopaa et al. 2011) in the offline form
    of the ``kneed`` package (0.9, ``KneeLocator(x, y, curve='convex', direction='decreasing')``), which
    EELSfitter calls: with x and y scaled to [0, 1], the difference curve is d = (1 - y) - x; walking from its
    first local maximum, each local maximum sets the threshold d_max - sensitivity * mean(dx) and a local minimum
    suspends the search until the next maximum; the knee is the last maximum passed when d first drops below
    the threshold. Local extrema include ties and the end points (scipy's ``argrelextrema`` in 'clip' mode).
    Returns the x of the knee, None when there is none."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if x.size < 2 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return None
    xn = (x - x.min()) / np.ptp(x)
    yn = (y - y.min()) / np.ptp(y)
    d = (yn.max() - yn) - xn
    before, after = d[np.r_[0, : d.size - 1]], d[np.r_[1 : d.size, d.size - 1]]
    is_max = (d >= before) & (d >= after)
    is_min = (d <= before) & (d <= after)
    maxima = np.nonzero(is_max)[0]
    if maxima.size == 0:
        return None
    step = sensitivity * abs(np.diff(xn).mean())
    threshold, at, active = 0.0, int(maxima[0]), True
    for i in range(int(maxima[0]), d.size - 1):
        if is_max[i]:
            threshold, at, active = d[i] - step, i, True
        if is_min[i]:
            threshold, active = 0.0, False
        if active and d[i + 1] < threshold:
            return float(x[at])
    return None


def fwhm_indices(energy: np.ndarray, spectrum: np.ndarray, below: float = 5.0) -> tuple[int, int]:
    """(left, right): the channels just outside the half-maximum region of the peak, searched below ``below``
    eV (EELSfitter's ``find_fwhm_idx``)."""
    search = energy < below
    half = np.nonzero(spectrum[search] > spectrum.max() / 2)[0]
    if half.size == 0:
        raise ValueError("no channel above half maximum below 5 eV: is there a zero-loss peak?")
    return max(int(half[0]) - 1, 0), min(int(half[-1]) + 1, energy.size - 1)


def find_de1_de2(energy: np.ndarray, spectra: np.ndarray, shift_de1: float = 1.0, shift_de2: float = 1.0
                 ) -> Regions:
    """dE1 and dE2 (eV) of one cluster from its spectra (m, n) or one spectrum (n,), by EELSfitter 3.1's
    recipe (module docstring). ``energy`` (n,) uniform, with the ZLP maximum near 0."""
    energy = np.asarray(energy, dtype=np.float64)
    spectra = np.clip(np.atleast_2d(np.asarray(spectra, dtype=np.float64)), 1.0, None)
    y = spectra[0] if spectra.shape[0] == 1 else np.percentile(spectra, 50, axis=0)
    log_y = np.log(y)
    left, right = fwhm_indices(energy, y)
    fwhm = float(energy[right] - energy[left])
    # the differences are indexed like EELSfitter: difference i (between channels i and i+1) at channel i
    dlog = hann_smooth(np.diff(log_y), 11)
    dy = hann_smooth(np.diff(y), 31)
    stop = max(int(np.searchsorted(energy, 10 * fwhm)), left + 1)
    steepest = left + int(np.argmin(dlog[left:stop]))
    rising = np.nonzero(dy[steepest:] > 0)[0]
    first_min = steepest + int(rising[0] if rising.size else np.argmin(np.abs(dy[steepest:])))
    knee_energy = knee(energy[steepest:first_min], log_y[steepest:first_min])
    if knee_energy is None:             # too short or straight a stretch: fall back to its start, like kneed's
        knee_energy = float(energy[steepest])
    knee_idx = int(np.nonzero(energy > knee_energy)[0][0])
    de1 = float(energy[knee_idx] * shift_de1)
    # log10 line through (knee, first minimum); where it crosses 1 count
    x1, x2 = energy[knee_idx], energy[first_min]
    l1, l2 = np.log10(y[knee_idx]), np.log10(y[first_min])
    line = l2 + (l2 - l1) / (x2 - x1) * (energy - x2) if x2 != x1 else np.full_like(energy, l2)
    below_one = np.nonzero(line < 0)[0]
    cross = int(below_one[0]) if below_one.size else energy.size - 2
    de2 = float(min(energy[cross] * shift_de2, energy[-2]))
    return Regions(de1=de1, de2=de2, fwhm=fwhm, steepest=float(energy[steepest]),
                   first_minimum=float(energy[first_min]), knee=float(knee_energy))
