"""Bandgap energy and type from the onset of the inelastic (ZLP-subtracted) intensity.

Near the onset the single scattering of a semiconductor behaves as (Rafferty and Brown, Phys. Rev. B 58 (1998)
10326; Rafferty et al., J. Electron Spectrosc. 108 (2000) 191; Roest et al., Ultramicroscopy 222 (2021) 113202):

    I(E) = A (E - E_bg)^b   for E > E_bg,   0 below,

with b ~ 1/2 for a direct and b ~ 3/2 for an indirect gap. ``fit_bandgap`` is a weighted least-squares fit in
an energy window (scipy), with the covariance of (A, E_bg, b); ``fit_bandgap_grid`` profiles A out analytically
on a grid of (E_bg, b), vectorised over many spectra (pixels x replicas) at once.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import least_squares


def onset(energy: np.ndarray, amplitude, bandgap, exponent) -> np.ndarray:
    """A (E - E_bg)^b above E_bg, 0 below; broadcasts."""
    x = np.clip(np.asarray(energy, dtype=np.float64) - bandgap, 0.0, None)
    return amplitude * x ** exponent


@dataclass(frozen=True)
class BandgapFit:
    """amplitude A, bandgap E_bg (eV), exponent b; ``errors`` their standard deviations and ``covariance`` the
    3x3 covariance (for a fixed b its row and column are 0); ``chi2`` and ``ndof`` of the fit."""

    amplitude: float
    bandgap: float
    exponent: float
    errors: np.ndarray
    covariance: np.ndarray
    chi2: float
    ndof: int


def fit_bandgap(energy: np.ndarray, intensity: np.ndarray, window: tuple[float, float],
                sigma: np.ndarray | None = None, exponent: float | None = None,
                exponent_bounds: tuple[float, float] = (0.05, 4.0)) -> BandgapFit:
    """Least-squares fit of A (E - E_bg)^b to ``intensity`` (n,) on ``energy`` (n,) eV inside ``window``.

    sigma: (n,) standard deviations (weights 1/sigma^2); without it the errors are scaled by sqrt(chi2/ndof).
    exponent: fix b (0.5 direct, 1.5 indirect) instead of fitting it.
    E_bg is bounded to [window low - (window width), window high) and A >= 0. Several starting points are tried
    (the fit is not convex in E_bg); the best is kept.
    """
    energy = np.asarray(energy, dtype=np.float64)
    intensity = np.asarray(intensity, dtype=np.float64)
    inside = (energy >= window[0]) & (energy <= window[1])
    e, y = energy[inside], intensity[inside]
    w = np.ones_like(y) if sigma is None else 1.0 / np.asarray(sigma, dtype=np.float64)[inside]
    n_par = 2 if exponent is not None else 3
    if e.size <= n_par:
        raise ValueError(f"only {e.size} channels in the window {window}")
    width = window[1] - window[0]
    lo = [0.0, window[0] - width, exponent_bounds[0]]
    hi = [np.inf, window[1] - 1e-6 * width, exponent_bounds[1]]

    def model(p):
        b = exponent if exponent is not None else p[2]
        return onset(e, p[0], p[1], b)

    def residuals(p):
        return (model(p) - y) * w

    best = None
    b_starts = [exponent] if exponent is not None else [0.5, 1.0, 1.5, 2.0]
    for b0 in b_starts:
        for g0 in window[0] + width * np.array([-0.5, 0.0, 0.25, 0.5]):
            a0 = max(float(np.max(y)), 1e-12) / max(window[1] - g0, 1e-6) ** b0
            start = [a0, g0] if exponent is not None else [a0, g0, b0]
            result = least_squares(residuals, start, bounds=(lo[:n_par], hi[:n_par]), x_scale="jac",
                                   max_nfev=2000)
            if best is None or result.cost < best.cost:
                best = result
    chi2 = 2.0 * best.cost
    ndof = e.size - n_par
    jac = best.jac
    cov = np.linalg.pinv(jac.T @ jac)
    if sigma is None:
        cov = cov * chi2 / max(ndof, 1)
    full = np.zeros((3, 3))
    full[:n_par, :n_par] = cov
    b = float(exponent if exponent is not None else best.x[2])
    return BandgapFit(amplitude=float(best.x[0]), bandgap=float(best.x[1]), exponent=b,
                      errors=np.sqrt(np.diag(full)), covariance=full, chi2=float(chi2), ndof=ndof)


def fit_bandgap_grid(energy: np.ndarray, intensity: np.ndarray, window: tuple[float, float],
                     bandgaps: np.ndarray, exponents: np.ndarray, sigma: np.ndarray | None = None
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Profile least squares on a grid, vectorised over spectra: for every (E_bg, b) the best A is linear,
    A = sum(w y f) / sum(w f^2) with f = (E - E_bg)^b, and chi2 = sum(w y^2) - (sum w y f)^2 / sum(w f^2).

    intensity: (..., n); bandgaps (G,), exponents (B,) the grid; sigma: (n,) or (..., n).
    Returns (amplitude, bandgap, exponent, chi2), each (...,), at the grid point of least chi2 (its resolution
    is the grid spacing). Memory ~ (spectra x G x B) floats per call: chunk the spectra for large images.
    """
    energy = np.asarray(energy, dtype=np.float64)
    inside = (energy >= window[0]) & (energy <= window[1])
    e = energy[inside]
    y = np.asarray(intensity, dtype=np.float64)[..., inside]
    w = np.ones(e.size) if sigma is None else np.asarray(sigma, dtype=np.float64)[..., inside] ** -2.0
    g = np.asarray(bandgaps, dtype=np.float64)
    b = np.asarray(exponents, dtype=np.float64)
    f = np.clip(e[None, None, :] - g[:, None, None], 0.0, None) ** b[None, :, None]      # (G, B, n_w)
    flat_y = y.reshape(-1, e.size)
    flat_w = np.broadcast_to(w, y.shape).reshape(-1, e.size)
    wy = flat_w * flat_y
    yf = np.einsum("sn,gbn->sgb", wy, f)
    ff = np.einsum("sn,gbn->sgb", flat_w, f ** 2)
    chi2 = np.sum(wy * flat_y, axis=-1)[:, None, None] - np.where(ff > 0, yf ** 2 / np.where(ff > 0, ff, 1), 0)
    best = np.argmin(chi2.reshape(chi2.shape[0], -1), axis=-1)
    ig, ib = np.unravel_index(best, (g.size, b.size))
    rows = np.arange(chi2.shape[0])
    amp = np.where(ff[rows, ig, ib] > 0, yf[rows, ig, ib] / np.where(ff[rows, ig, ib] > 0, ff[rows, ig, ib], 1), 0)
    shape = y.shape[:-1]
    return (amp.reshape(shape), g[ig].reshape(shape), b[ib].reshape(shape), chi2[rows, ig, ib].reshape(shape))
