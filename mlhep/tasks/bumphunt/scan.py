"""Scans of the m_jj spectrum: a sliding signal-region window with a sideband fit for each position (local
significances including the fit uncertainty), and a BumpHunter-style global significance (look-elsewhere
effect) from pseudo-experiments, vectorised with numpy over pseudo-experiments and windows.

BumpHunter (G. Choudalakis, arXiv:1101.0390; the statistic of pyBumpHunter, Vaslin et al., arXiv:2208.14760):
for every window of contiguous bins (all positions, widths ``widths`` bins, sliding by ``step`` bins) the local
p-value of the observed count n over the background reference b is the Poisson tail P(N >= n | b) for an
excess (n > b) and 1 otherwise; the test statistic is t = -ln(min over windows of p). Its distribution under the
background-only hypothesis comes from pseudo-experiments, n_i ~ Poisson(b_i) bin by bin from the same reference
(here: any background histogram, typically the dijet fit to the whole spectrum); the global p-value is the
fraction of pseudo-experiments with t >= t_observed. The reference is held fixed (not refitted per
pseudo-experiment), as in BumpHunter; the fit to data that include a signal absorbs part of it, so a global
p-value from a fitted reference is conservative.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
from scipy import special

from mlhep.tasks.bumphunt.dijet_fit import fit_dijet
from mlhep.tasks.bumphunt.significance import local_significance, z_from_p


def windows(n_bins: int, widths, step: int = 1) -> np.ndarray:
    """(k, 2) int [start, stop) bin ranges of every window of each width in ``widths`` (bins), start = 0, step,
    2 step, ... while it fits in ``n_bins``."""
    out = [(a, a + w) for w in widths for a in range(0, n_bins - int(w) + 1, step)]
    if not out:
        raise ValueError(f"no window of widths {list(widths)} fits in {n_bins} bins")
    return np.array(out, dtype=np.int64)


def window_sums(counts, ranges: np.ndarray) -> np.ndarray:
    """(..., k) sums of ``counts`` (..., n_bins) over the windows ``ranges`` (k, 2) (cumulative sums)."""
    counts = np.asarray(counts, dtype=np.float64)
    cum = np.concatenate([np.zeros(counts.shape[:-1] + (1,)), np.cumsum(counts, axis=-1)], axis=-1)
    return cum[..., ranges[:, 1]] - cum[..., ranges[:, 0]]


def excess_p_values(observed, expected) -> np.ndarray:
    """BumpHunter's local p-values: P(N >= n | b) = P(n, b) (regularised lower incomplete gamma) where n > b, 1
    elsewhere; ``observed`` (..., k), ``expected`` (k,)."""
    observed, expected = np.broadcast_arrays(np.asarray(observed, np.float64), np.asarray(expected, np.float64))
    excess = observed > expected
    return np.where(excess, special.gammainc(np.where(excess, observed, 1.0), expected), 1.0)


def statistic(counts, background, ranges: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(t (...,), index of the most significant window (...,), local p (..., k)) of histograms ``counts``
    (..., n_bins) against the reference ``background`` (n_bins,)."""
    p = excess_p_values(window_sums(counts, ranges), window_sums(background, ranges))
    best = np.argmin(p, axis=-1)
    p_min = np.take_along_axis(p, best[..., None], axis=-1)[..., 0]
    return -np.log(np.maximum(p_min, 1e-300)), best, p


def null_distribution(background, ranges: np.ndarray, n_pseudo: int, seed=0, batch: int = 2000) -> np.ndarray:
    """(n_pseudo,) t of pseudo-experiments drawn bin by bin from Poisson(``background``), ``batch`` at a time."""
    rng = np.random.default_rng(seed)
    background = np.asarray(background, dtype=np.float64)
    out = np.empty(n_pseudo)
    for a in range(0, n_pseudo, batch):
        b = min(a + batch, n_pseudo)
        out[a:b] = statistic(rng.poisson(background, size=(b - a, background.size)), background, ranges)[0]
    return out


def global_p_value(t_observed, t_null) -> np.ndarray:
    """Fraction of the null statistics >= ``t_observed`` (any shape); 0 means below 1 / len(t_null)."""
    t_null = np.sort(np.asarray(t_null))
    return 1.0 - np.searchsorted(t_null, np.asarray(t_observed), side="left") / t_null.size


@dataclass(frozen=True)
class BumpHunterResult:
    """``window`` (lo, hi) TeV of the most significant window, its ``observed`` and ``expected`` counts,
    ``local_p`` and ``local_z``; ``t`` = -ln(local_p); ``global_p`` and ``global_z`` (look-elsewhere included;
    ``global_p`` 0 means < 1 / n_pseudo, and ``global_z`` is then the lower bound at 1 / n_pseudo);
    ``ranges`` (k, 2) bins and ``p_values`` (k,) of every window; ``t_null`` (n_pseudo,); ``seconds``."""

    window: tuple[float, float]
    observed: float
    expected: float
    local_p: float
    local_z: float
    t: float
    global_p: float
    global_z: float
    ranges: np.ndarray
    p_values: np.ndarray
    t_null: np.ndarray
    seconds: float


def bumphunter(edges, counts, background, widths=(2, 3, 4, 5, 6), step: int = 1, n_pseudo: int = 10_000,
               seed=0) -> BumpHunterResult:
    """BumpHunter on the histogram ``counts`` (n,) with bin ``edges`` (n + 1,) [TeV] against ``background``
    (n,) (module docstring); windows of ``widths`` bins sliding by ``step``; ``n_pseudo`` pseudo-experiments."""
    start = time.perf_counter()
    edges, counts, background = (np.asarray(v, dtype=np.float64) for v in (edges, counts, background))
    if counts.shape != background.shape or edges.shape != (counts.size + 1,):
        raise ValueError(f"bumphunter: counts {counts.shape}, background {background.shape} and edges "
                         f"{edges.shape} do not match (n, n, n + 1)")
    ranges = windows(counts.size, widths, step)
    t, best, p = statistic(counts, background, ranges)
    t_null = null_distribution(background, ranges, n_pseudo, seed)
    g = float(global_p_value(t, t_null))
    lo, hi = ranges[best]
    local_p = float(p[best])
    return BumpHunterResult(window=(float(edges[lo]), float(edges[hi])), observed=float(counts[lo:hi].sum()),
                            expected=float(background[lo:hi].sum()), local_p=local_p,
                            local_z=float(z_from_p(local_p)), t=float(t), global_p=g,
                            global_z=float(z_from_p(max(g, 1.0 / n_pseudo))), ranges=ranges, p_values=p,
                            t_null=t_null, seconds=time.perf_counter() - start)


def sliding_window_scan(edges, counts, width: int, step: int = 1, n_params: int = 4,
                        method: str = "profile") -> dict[str, np.ndarray]:
    """Slide a signal-region window of ``width`` bins over the histogram by ``step`` bins; for each position fit
    the dijet function to all bins outside it and test the window's count against the interpolation (with its
    fit uncertainty, ``method`` of ``significance.local_significance``). Returns arrays over positions: lo, hi
    [TeV], observed, background, background_error, z, p, converged (one fit per position)."""
    edges, counts = np.asarray(edges, dtype=np.float64), np.asarray(counts, dtype=np.float64)
    ranges = windows(counts.size, [width], step)
    rows = []
    for a, b in ranges:
        outside = np.ones(counts.size, dtype=bool)
        outside[a:b] = False
        fit = fit_dijet(edges, counts, fitted=outside, n_params=n_params)
        background, error = fit.window(edges[a], edges[b])
        n = counts[a:b].sum()
        z, p = local_significance(n, background, error, method)
        rows.append((edges[a], edges[b], n, background, error, float(z), float(p), fit.converged))
    names = ("lo", "hi", "observed", "background", "background_error", "z", "p", "converged")
    return {name: np.array(column) for name, column in zip(names, zip(*rows))}
