"""The bandgap fit I(E) = A (E - E_bg)^b of many spectra at once (every replica of every pixel), vectorised numpy.

The model and its least-squares profile are those of ``bandgap.fit_bandgap_grid`` (Rafferty and Brown, Phys.
Rev. B 58 (1998) 10326; Roest et al., Ultramicroscopy 222 (2021) 113202): for fixed (E_bg, b) the best A is
linear, so chi2 is profiled over a grid of (E_bg, b). A grid fine enough everywhere would cost (range/step)^2
points per spectrum; instead ``fit_onsets`` takes ``fit_bandgap_grid`` on a coarse grid, then zooms in on each
spectrum's own best point: a 9 x 9 grid spanning the previous spacing either side, repeated (a quarter of the
spacing each time) until the spacing is below the resolution asked for: a few thousand model evaluations per
spectrum instead of ~10^6. Like any grid search it finds the global minimum only within the coarse spacing's
basin: the coarse grid is 0.05 eV and 0.1 in b, far below the structure of a power-law onset. A is kept >= 0.
"""
from __future__ import annotations

import numpy as np

from mlhep.tasks.eels.bandgap import fit_bandgap_grid

COARSE_BANDGAP, COARSE_EXPONENT = 0.05, 0.1
BATCH = 2048                 # spectra per step: bounds the (spectra x grid x channels) temporaries


def fit_onsets(energy: np.ndarray, intensity: np.ndarray, window: tuple[float, float],
               bandgap_range: tuple[float, float], exponent: float | None = None,
               exponent_range: tuple[float, float] = (0.1, 3.0), resolution: float = 0.002,
               sigma: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Fit every spectrum of ``intensity`` (S, n) on ``energy`` (n,) eV inside ``window``.

    bandgap_range: the E_bg searched; exponent: fix b, else b is searched in ``exponent_range``; resolution:
    the final grid step (eV for E_bg, units of b). sigma: (S, n) or (n,) standard deviations (None:
    unweighted). Returns {"amplitude", "bandgap", "exponent", "chi2"}, each (S,); a spectrum that is not
    finite in the window gets NaN.
    """
    energy = np.asarray(energy, dtype=np.float64)
    inside = (energy >= window[0]) & (energy <= window[1])
    if inside.sum() < 4:
        raise ValueError(f"only {inside.sum()} channels in the bandgap window {window}")
    e = energy[inside]
    y = np.asarray(intensity, dtype=np.float64)[..., inside]
    w = (np.ones_like(y) if sigma is None else
         np.broadcast_to(np.asarray(sigma, dtype=np.float64)[..., inside], y.shape) ** -2.0)
    parts = [_fit(e, y[i:i + BATCH], w[i:i + BATCH], bandgap_range, exponent, exponent_range, resolution)
             for i in range(0, len(y), BATCH)]
    return {k: np.concatenate([p[k] for p in parts]) if parts else np.zeros(0) for k in
            ("amplitude", "bandgap", "exponent", "chi2")}


def _fit(e, y, w, bandgap_range, exponent, exponent_range, resolution) -> dict[str, np.ndarray]:
    good = np.all(np.isfinite(y), axis=-1)
    y = np.where(good[:, None], y, 0.0)
    lo, hi = bandgap_range
    hi = min(hi, e[-1] - 1e-9)                 # the onset inside the window: at least one channel above it
    g_coarse = np.arange(lo, hi + 1e-12, COARSE_BANDGAP)
    if exponent is None:
        b_coarse = np.arange(exponent_range[0], exponent_range[1] + 1e-12, COARSE_EXPONENT)
        b_step = COARSE_EXPONENT
    else:
        b_coarse, b_step = np.array([float(exponent)]), 0.0
    _, g, b, _ = fit_bandgap_grid(e, y, (e[0], e[-1]), g_coarse, b_coarse, np.sqrt(1 / w))
    g_step = COARSE_BANDGAP
    offsets = np.linspace(-1.0, 1.0, 9)                 # the previous spacing either side, a quarter of it apart
    rows = np.arange(len(y))
    while g_step > resolution or b_step > resolution:
        g_grid = np.clip(g[:, None] + g_step * offsets, lo, hi)                               # (S, 9)
        b_grid = np.clip(b[:, None] + b_step * offsets, *exponent_range) if b_step else b[:, None]  # (S, 9|1)
        chi2, _ = _profile(e, y, w, g_grid, b_grid)
        ig, ib = np.unravel_index(np.argmin(chi2.reshape(len(y), -1), axis=-1), chi2.shape[1:])
        g, b = g_grid[rows, ig], b_grid[rows, ib]
        g_step, b_step = g_step / 4, b_step / 4
    chi2, amp = _profile(e, y, w, g[:, None], b[:, None])
    nan = np.where(good, 1.0, np.nan)
    return {"amplitude": amp[:, 0, 0] * nan, "bandgap": g * nan, "exponent": b * nan, "chi2": chi2[:, 0, 0] * nan}


def _profile(e, y, w, g_grid, b_grid):
    """chi2 (S, G, B) and the best amplitude at every (E_bg, b) of each spectrum's own grid (S, G), (S, B)."""
    x = np.clip(e[None, None, :] - g_grid[:, :, None], 0.0, None)                       # (S, G, n)
    with np.errstate(divide="ignore"):
        log_x = np.where(x > 0, np.log(np.where(x > 0, x, 1.0)), -np.inf)
    f = np.exp(log_x[:, :, None, :] * b_grid[:, None, :, None])                         # (S, G, B, n)
    wy = (w * y)[:, None, None, :]
    yf = np.sum(wy * f, axis=-1)
    ff = np.sum(w[:, None, None, :] * f * f, axis=-1)
    fits = (ff > 0) & (yf > 0)                          # else the best A >= 0 is 0
    safe = np.where(fits, ff, 1.0)
    chi2 = np.sum(w * y * y, axis=-1)[:, None, None] - np.where(fits, yf ** 2 / safe, 0.0)
    return chi2, np.where(fits, yf / safe, 0.0)
