"""Profile-likelihood scans q(c) = -2 Delta ln L and confidence intervals on c_tG.

Unbinned extended likelihood (Barlow, NIM A297 (1990) 496; ML4EFT, arXiv:2211.02058, eq. 2.6), up to terms
independent of c:

    -2 ln L(c) = 2 [ nu(c) - sum_k ln r(x_k, c) ],   r = d sigma(x, c) / d sigma_SM(x),  nu(c) = L eff sigma(c).

On Asimov data (the SM expectation) the sum becomes nu_SM E_SM[ln r(x, c)], evaluated on the integration cells.
With a learned ratio, nu(c) is taken either from the exact sigma(c) ("exact" rate) or consistently from the
learned ratio itself, nu(c) = nu_SM E_SM[r_learned(x, c)] ("learned" rate, the default): then a small bias of the
learned normalisation, which the exact rate would turn into a shift of the minimum of order
bias / (nu_SM^(1/2) precision), only rescales the curvature.
Binned Poisson likelihood with expected counts n_b(c) and observed N_b:

    -2 ln L(c) = 2 sum_b [ n_b(c) - N_b ln n_b(c) ]      (Asimov: N_b = n_b(0)).

An overall normalisation nuisance theta (luminosity, efficiency) multiplying every rate can be profiled:
"fixed" (theta = 1), "constrained" (Gaussian prior of width delta) or "free". It enters only through the total
rate: 2 nu(c) is replaced by min_theta {2 theta nu(c) - 2 N ln theta + (theta - 1)^2 / delta^2} (N the observed
event count), which for a free theta is 2 N ln nu(c) + const; the bounds then come from the shape alone.

q(c) is -2 ln L minus its minimum over the scan; with one parameter, the 68% / 95% CL intervals are
{c: q(c) < chi2_1 quantile} (Wilks), taken as the connected region around the minimum.
"""
from __future__ import annotations

import numpy as np
from scipy.stats import chi2

from mlhep.tasks.eft.unbinned.physics import Spectrum

CL_LEVELS = (0.68, 0.95)
RATIO_FLOOR = 1e-12
NORMALISATIONS = ("fixed", "constrained", "free")


def rate_term(nu: np.ndarray, n_obs: float, normalisation: str = "fixed", delta: float = 0.0) -> np.ndarray:
    """The total-rate part of -2 ln L for expected events ``nu`` (any shape) and ``n_obs`` observed events,
    with the normalisation nuisance profiled as described in the module docstring (c-independent constants
    dropped for "free")."""
    nu = np.asarray(nu, dtype=float)
    if normalisation == "fixed":
        return 2.0 * nu
    if normalisation == "free":
        return 2.0 * n_obs * np.log(nu)
    if normalisation != "constrained" or delta <= 0:
        raise ValueError(f"normalisation {normalisation!r} with delta {delta} (valid: {NORMALISATIONS}, delta > 0)")
    # d/dtheta = 0:  theta^2 / delta^2 + theta (nu - 1/delta^2) - N = 0, positive root
    a = 1.0 / delta ** 2
    b = nu - a
    theta = (-b + np.sqrt(b * b + 4.0 * a * n_obs)) / (2.0 * a)
    return 2.0 * (theta * nu - n_obs * np.log(theta)) + a * (theta - 1.0) ** 2


def thresholds(levels=CL_LEVELS) -> np.ndarray:
    """chi2 (1 dof) quantiles: 0.989 for 68%, 3.841 for 95%."""
    return chi2.ppf(np.asarray(levels), df=1)


def profile(minus_two_log_l: np.ndarray) -> np.ndarray:
    """q = -2 ln L - min over the last axis."""
    return minus_two_log_l - np.min(minus_two_log_l, axis=-1, keepdims=True)


def interval(c_grid: np.ndarray, q: np.ndarray, level: float) -> tuple[float, float]:
    """The connected interval around argmin q where q < level, linearly interpolated; NaN at an end that
    leaves the scan range."""
    i = int(np.argmin(q))
    bounds = []
    for step in (-1, 1):
        j = i
        while 0 <= j + step < len(q) and q[j + step] < level:
            j += step
        k = j + step
        if not 0 <= k < len(q):
            bounds.append(np.nan)
            continue
        frac = (level - q[j]) / (q[k] - q[j])
        bounds.append(float(c_grid[j] + frac * (c_grid[k] - c_grid[j])))
    return bounds[0], bounds[1]


def intervals(c_grid: np.ndarray, q: np.ndarray, levels=CL_LEVELS) -> np.ndarray:
    """(..., n_levels, 2) [low, high] intervals of q (..., n_c)."""
    q2 = q.reshape(-1, q.shape[-1])
    out = np.array([[interval(c_grid, row, t) for t in thresholds(levels)] for row in q2])
    return out.reshape(*q.shape[:-1], len(levels), 2)


def expected_events(spectrum: Spectrum, c_grid: np.ndarray, alpha: np.ndarray | None = None,
                    beta: np.ndarray | None = None) -> np.ndarray:
    """nu(c), (..., n_c): exact (alpha, beta None), or nu_SM E_SM[1 + c alpha + c^2 beta] of ratios on the cells
    (..., n_m, n_y)."""
    if alpha is None:
        return spectrum.expected_events(c_grid)
    p_sm = spectrum.cell_sigma[0] / spectrum.sigma[0]
    mean_a = np.sum(p_sm * alpha, axis=(-2, -1))[..., None]
    mean_b = np.sum(p_sm * beta, axis=(-2, -1))[..., None]
    c = np.asarray(c_grid)
    return spectrum.expected_events(0.0) * (1.0 + c * mean_a + c * c * mean_b)


def asimov_unbinned(spectrum: Spectrum, c_grid: np.ndarray, alpha: np.ndarray, beta: np.ndarray,
                    rate: str = "learned", normalisation: str = "fixed", delta: float = 0.0) -> np.ndarray:
    """-2 ln L(c) on Asimov data, (..., n_c), for ratios alpha, beta (..., n_m, n_y) at the cell centres;
    ``rate`` "learned" (nu from these ratios) or "exact" (nu from the exact sigma(c))."""
    p_sm = spectrum.cell_sigma[0] / spectrum.sigma[0]
    nu_sm = spectrum.expected_events(0.0)
    c = np.asarray(c_grid)[:, None, None]
    out = []
    for a, b in zip(alpha.reshape(-1, *alpha.shape[-2:]), beta.reshape(-1, *beta.shape[-2:])):
        log_r = np.log(np.maximum(1.0 + c * a + c * c * b, RATIO_FLOOR))
        nu = expected_events(spectrum, c_grid, *((a, b) if rate == "learned" else (None, None)))
        out.append(rate_term(nu, nu_sm, normalisation, delta) - 2.0 * nu_sm * np.sum(p_sm * log_r, axis=(1, 2)))
    return np.array(out).reshape(*alpha.shape[:-2], len(c_grid))


def events_unbinned(nu: np.ndarray, c_grid: np.ndarray, alpha: np.ndarray, beta: np.ndarray,
                    normalisation: str = "fixed", delta: float = 0.0) -> np.ndarray:
    """-2 ln L(c) of one event set with ratios alpha, beta (n_events,) at its events and expected events
    ``nu`` (n_c,) -> (n_c,)."""
    c_grid = np.asarray(c_grid)
    sum_log_r = np.empty(len(c_grid))
    for start in range(0, len(c_grid), 32):        # (32, n_events) at a time
        c = c_grid[start:start + 32, None]
        sum_log_r[start:start + 32] = np.sum(
            np.log(np.maximum(1.0 + c * alpha[None] + c * c * beta[None], RATIO_FLOOR)), axis=1)
    return rate_term(nu, len(alpha), normalisation, delta) - 2.0 * sum_log_r


def binned(c_grid: np.ndarray, bin_sigma: np.ndarray, rate_per_pb: float, counts: np.ndarray | None = None,
           normalisation: str = "fixed", delta: float = 0.0) -> np.ndarray:
    """-2 ln L(c) of binned Poisson counts (n_bins,) (None: Asimov) -> (n_c,); ``bin_sigma`` (3, n_bins) pb."""
    c = np.asarray(c_grid)[:, None]
    expected = rate_per_pb * (bin_sigma[0] + c * bin_sigma[1] + c * c * bin_sigma[2])
    observed = rate_per_pb * bin_sigma[0] if counts is None else np.asarray(counts, dtype=float)
    log_expected = np.log(np.maximum(expected, RATIO_FLOOR))
    return (rate_term(expected.sum(axis=1), observed.sum(), normalisation, delta)
            - 2.0 * np.sum(observed * log_expected, axis=1))


def bin_sigma(spectrum: Spectrum, m_edges, abs_y_edges, nodes: int = 32) -> np.ndarray:
    """(3, n_m_bins * n_y_bins) sm/lin/quad cross sections (pb) of bins in m_tt and |y_tt| (row-major: m_tt
    outer), by Gauss-Legendre quadrature in ln m_tt and y_tt inside each bin (the y range cut at Y(m))."""
    m_edges, y_edges = np.asarray(m_edges, float), np.asarray(abs_y_edges, float)
    x, w = np.polynomial.legendre.leggauss(nodes)
    t_lo, t_hi = np.log(m_edges[:-1]), np.log(m_edges[1:])
    t = 0.5 * (t_hi - t_lo)[:, None] * (x + 1)[None] + t_lo[:, None]                 # (n_mb, nodes)
    wt = 0.5 * (t_hi - t_lo)[:, None] * w[None]
    m = np.exp(t)
    y_max = np.log(spectrum.sqrts / m)
    lo = np.minimum(y_edges[:-1][None, None], y_max[..., None])                     # (n_mb, nodes, n_yb)
    hi = np.minimum(y_edges[1:][None, None], y_max[..., None])
    y = 0.5 * (hi - lo)[..., None] * (x + 1) + lo[..., None]                          # (..., n_yb, nodes)
    wy = 0.5 * (hi - lo)[..., None] * w
    d = spectrum.density(np.broadcast_to(m[..., None, None], y.shape), y)
    weight = 2.0 * (m * wt)[..., None, None] * wy                                    # +-y, dm = m dt
    return np.stack([np.sum(np.asarray(a) * weight, axis=(1, 3)).reshape(-1) for a in d])


def histogram(events: np.ndarray, m_edges, abs_y_edges) -> np.ndarray:
    """Counts (n_m_bins * n_y_bins,) of events (n, 2) in the bins of ``bin_sigma`` (outside: dropped)."""
    h, _, _ = np.histogram2d(events[:, 0], np.abs(events[:, 1]), bins=[m_edges, abs_y_edges])
    return h.reshape(-1)
