"""One-at-a-time (individual) fits: every free coefficient fitted alone, the others at zero (SMEFiT's
``single_parameter_fits``; e.g. SMEFiT 2.0, arXiv:2302.06660, fig. 5.1 sets them beside the marginalised bounds).

With x = t e_k the whitened residual is ``u - a_k t - q_k t^2`` (u = L^-1 (d - base), a_k = L^-1 A[:, k],
q_k = L^-1 Q[:, k, k]; ``BinnedProblem.free_tables``), so each one-coefficient chi2 is a polynomial in t,

    chi2_k(t) = u.u - 2 a.u t + (a.a - 2 q.u) t^2 + 2 a.q t^3 + q.q t^4,

of degree 2 (linear EFT) or 4 (quadratic). All coefficients (and replicas) are handled at once on these five
numbers each:

- analytic (linear): t = a.u / a.a with sigma = 1 / sqrt(a.a) = 1 / sqrt(F_kk) (F the Fisher matrix);
- replicas: each replica's minimum over [min, max], exactly: the real roots of chi2_k' and the box ends are the
  only candidates, so no start point, iteration cap or second minimum can be missed;
- nuts / nested: the 1D posterior exp(-chi2_k/2) on the flat prior [min, max] integrated on grids laid over the
  region where chi2_k - min < 60 (found from the polynomial's roots, every mode included): the evidence
  log Z_k = log(prior mean of exp(-chi2_k/2)), exact quantiles, and samples by the inverse CDF. In one dimension a
  sampler is not needed; the result is the one NUTS or nested sampling converge to.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .problem import BinnedProblem

LEVEL = 60.0          # chi2 above the minimum beyond which the posterior density (e^-30) is dropped
GRID = 8001           # points per integration segment (trapezoid: quantiles to ~1e-6 sigma)
PERCENTILES = {"bounds68": (15.865, 84.135), "bounds95": (2.5, 97.5)}


@dataclass(frozen=True)
class OneAtATime:
    """Whitened tables of the F one-coefficient problems: base (n,), a (F, n), q (F, n) or None."""

    base: np.ndarray
    a: np.ndarray
    q: np.ndarray | None
    lower: np.ndarray         # (F,)
    upper: np.ndarray         # (F,)
    whitening: object

    @classmethod
    def of(cls, problem: BinnedProblem) -> "OneAtATime":
        whitening = problem.fit_whitening
        base, A, Q = problem.free_tables()
        q = None if Q is None else whitening.whiten(np.diagonal(Q, axis1=1, axis2=2)).T
        cmap = problem.coefficients
        return cls(whitening.whiten(base), whitening.whiten(A).T, q, cmap.lower, cmap.upper, whitening)

    def polynomials(self, data: np.ndarray) -> np.ndarray:
        """(..., F, 5) coefficients c0..c4 (increasing powers of t) of chi2_k for data (..., n)."""
        data = np.asarray(data, dtype=float)
        flat = data.reshape(-1, data.shape[-1])
        u = self.whitening.whiten(flat.T).T - self.base                       # (M, n)
        au = u @ self.a.T                                                     # (M, F)
        out = np.zeros((u.shape[0], self.a.shape[0], 5))
        out[..., 0] = np.einsum("mn,mn->m", u, u)[:, None]
        out[..., 1] = -2.0 * au
        out[..., 2] = np.einsum("fn,fn->f", self.a, self.a)
        if self.q is not None:
            out[..., 2] -= 2.0 * (u @ self.q.T)
            out[..., 3] = 2.0 * np.einsum("fn,fn->f", self.a, self.q)
            out[..., 4] = np.einsum("fn,fn->f", self.q, self.q)
        return out.reshape(*data.shape[:-1], self.a.shape[0], 5)


def evaluate(coefficients: np.ndarray, t: np.ndarray, constant: bool = True) -> np.ndarray:
    """chi2 at t (..., F, K) of polynomials (..., F, 5) (without c0 when not ``constant``: more digits for
    comparing points)."""
    c = coefficients[..., None, :]
    value = t * (c[..., 1] + t * (c[..., 2] + t * (c[..., 3] + t * c[..., 4])))
    return value + c[..., 0] if constant else value


def _real_roots(coefficients: np.ndarray) -> np.ndarray:
    """Real roots (..., d) of polynomials (..., d + 1) in increasing powers with a non-zero leading term (NaN for
    the complex ones), from the companion matrices' eigenvalues, polished by two Newton steps."""
    d = coefficients.shape[-1] - 1
    lead = coefficients[..., -1:]
    companion = np.zeros((*coefficients.shape[:-1], d, d))
    companion[..., 0, :] = -coefficients[..., -2::-1] / lead
    companion[..., np.arange(1, d), np.arange(d - 1)] = 1.0
    roots = np.linalg.eigvals(companion)
    scale = 1.0 + np.abs(roots)
    real = np.where(np.abs(roots.imag) <= 1e-7 * scale, roots.real, np.nan)
    powers = np.arange(d + 1)
    for _ in range(2):
        value = np.sum(coefficients[..., None, :] * real[..., None] ** powers, axis=-1)
        slope = np.sum(coefficients[..., None, 1:] * powers[1:] * real[..., None] ** (powers[1:] - 1), axis=-1)
        with np.errstate(divide="ignore", invalid="ignore"):
            step = np.where(slope != 0, value / slope, 0.0)
        real = real - np.where(np.isfinite(step), step, 0.0)
    return real


def stationary_points(coefficients: np.ndarray) -> np.ndarray:
    """(..., F, 3) real stationary points of the chi2 polynomials (NaN where none): the roots of
    c1 + 2 c2 t + 3 c3 t^2 + 4 c4 t^3 (or the one root of the linear derivative when c4 = c3 = 0)."""
    derivative = coefficients[..., 1:] * np.arange(1, 5)
    quartic = derivative[..., 3] != 0
    safe = np.where(quartic[..., None], derivative, [1.0, 0.0, 0.0, 1.0])
    cubic_roots = _real_roots(safe)
    with np.errstate(divide="ignore", invalid="ignore"):
        linear_root = -derivative[..., 0] / derivative[..., 1]
    linear_roots = np.stack([linear_root, np.full_like(linear_root, np.nan), np.full_like(linear_root, np.nan)], -1)
    return np.where(quartic[..., None], cubic_roots, linear_roots)


def minimise(coefficients: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The global minimum of every chi2 polynomial (..., F, 5) over [lower, upper] (F,): (t (..., F), chi2)."""
    points = np.clip(stationary_points(coefficients), lower[:, None], upper[:, None])
    ends = np.broadcast_to(np.stack([lower, upper], -1), (*coefficients.shape[:-1], 2))
    candidates = np.concatenate([points, np.where(np.isfinite(ends), ends, np.nan)], axis=-1)
    values = evaluate(coefficients, candidates, constant=False)
    best = np.argmin(np.where(np.isfinite(values), values, np.inf), axis=-1)
    t = np.take_along_axis(candidates, best[..., None], -1)[..., 0]
    return t, np.take_along_axis(values, best[..., None], -1)[..., 0] + coefficients[..., 0]


@dataclass(frozen=True)
class Posterior1D:
    """Exact one-coefficient posteriors (F coefficients) on the flat prior [lower, upper]."""

    mean: np.ndarray              # (F,)
    std: np.ndarray               # (F,)
    bounds68: np.ndarray          # (F, 2) central (equal-tailed) intervals
    bounds95: np.ndarray          # (F, 2)
    log_evidence: np.ndarray      # (F,) log of the prior mean of exp(-chi2_k/2)
    max_loglikelihood: np.ndarray  # (F,) -chi2_k,min / 2
    mode: np.ndarray              # (F,) the maximum a posteriori (= the best fit in the box)
    samples: np.ndarray           # (S, F) independent draws per coefficient


def posterior(coefficients: np.ndarray, lower: np.ndarray, upper: np.ndarray, n_samples: int,
              rng: np.random.Generator) -> Posterior1D:
    """The 1D posteriors of chi2 polynomials (F, 5) with finite bounds (F,) (see the module docstring)."""
    t_min, chi2_min = minimise(coefficients, lower, upper)
    shifted = coefficients.copy()
    shifted[:, 0] = -(chi2_min - coefficients[:, 0]) - LEVEL        # p(t) - (min + LEVEL), without c0
    degree4 = shifted[:, 4] != 0
    degree2 = ~degree4 & (shifted[:, 2] != 0)
    roots = np.full((len(lower), 4), np.nan)
    if degree4.any():
        roots[degree4] = _real_roots(shifted[degree4])
    if degree2.any():
        roots[degree2, :2] = _real_roots(shifted[degree2][:, :3])
    breaks = np.sort(np.concatenate([np.clip(np.where(np.isfinite(roots), roots, upper[:, None]),
                                             lower[:, None], upper[:, None]), lower[:, None], upper[:, None]],
                                    axis=1), axis=1)                                  # (F, 6)
    left, right = breaks[:, :-1], breaks[:, 1:]                                       # (F, 5) segments
    fraction = np.linspace(0.0, 1.0, GRID)
    grid = left[..., None] + (right - left)[..., None] * fraction                    # (F, 5, G)
    offset = (coefficients[:, 0] - chi2_min)[:, None, None]                       # chi2 - min = p(t) - c0 + this
    excess = evaluate(coefficients[:, None, :], grid, constant=False) + offset
    middle = evaluate(coefficients[:, None, :], 0.5 * (left + right)[..., None], constant=False) + offset
    inside = middle[..., 0] <= LEVEL
    density = np.exp(-0.5 * np.maximum(excess, 0.0)) * (inside & (right > left))[..., None]
    step = ((right - left) / (GRID - 1))[..., None]
    pieces = 0.5 * (density[..., 1:] + density[..., :-1]) * step                     # (F, 5, G - 1)
    cdf = np.concatenate([np.zeros((len(lower), 1)), np.cumsum(pieces.reshape(len(lower), -1), axis=1)], axis=1)
    flat_grid = np.concatenate([grid[:, :1, 0], grid[..., 1:].reshape(len(lower), -1)], axis=1)
    mass = cdf[:, -1]
    def integral(f):        # trapezoid rule over every segment (exact to exponentially small terms for these)
        return np.sum(0.5 * (f[..., 1:] + f[..., :-1]) * step, axis=(1, 2))
    mean = integral(density * grid) / mass
    std = np.sqrt(np.clip(integral(density * (grid - mean[:, None, None]) ** 2) / mass, 0.0, None))
    quantile = lambda p: np.array([np.interp(p, c / c[-1], g) for c, g in zip(cdf, flat_grid)])  # noqa: E731
    bounds = {key: np.stack([quantile(lo / 100), quantile(hi / 100)], axis=-1) for key, (lo, hi) in
              PERCENTILES.items()}
    draws = quantile(rng.uniform(size=n_samples)).T if n_samples else np.zeros((0, len(lower)))
    log_z = -0.5 * chi2_min + np.log(mass) - np.log(upper - lower)
    return Posterior1D(mean, std, bounds["bounds68"], bounds["bounds95"], log_z, -0.5 * chi2_min, t_min, draws)


@dataclass(frozen=True)
class IndividualFit:
    """One-at-a-time results for the F free coefficients."""

    best: np.ndarray                   # (F,) best fit of each one-coefficient chi2 (to the central data)
    chi2_min: np.ndarray               # (F,) its chi2
    mean: np.ndarray                   # (F,)
    std: np.ndarray                    # (F,)
    bounds68: np.ndarray               # (F, 2)
    bounds95: np.ndarray               # (F, 2)
    samples: np.ndarray | None         # (S, F) replicas or posterior draws (independent per coefficient)
    log_evidence: np.ndarray | None    # (F,) nuts / nested only
    replicas: dict                     # replica fits: replica_id (R,), free (R, F), chi2 (R, F)


def fit_individual(problem: BinnedProblem, fit: str, seed: int, replica_ids: np.ndarray,
                   n_samples: int) -> IndividualFit:
    """Every free coefficient fitted alone with method ``fit`` (analytic, replicas, nuts or nested)."""
    tables = OneAtATime.of(problem)
    central = tables.polynomials(problem.central)                            # (F, 5)
    lower, upper = tables.lower, tables.upper
    if fit == "analytic":                                                    # linear: c2 = a.a = F_kk
        best = -central[:, 1] / (2.0 * central[:, 2])
        sigma = 1.0 / np.sqrt(central[:, 2])
        chi2_min = evaluate(central, best[:, None])[:, 0]
        return IndividualFit(best, chi2_min, best, sigma, np.stack([best - sigma, best + sigma], -1),
                             np.stack([best - 1.95996 * sigma, best + 1.95996 * sigma], -1), None, None, {})
    best, chi2_min = minimise(central, lower, upper)
    if fit == "replicas":
        from .fits import replica_data, replica_keys
        ids = np.asarray(replica_ids)
        data = np.asarray(replica_data(problem, replica_keys(seed, ids)))
        t, chi2 = minimise(tables.polynomials(data), lower, upper)          # (R, F)
        many = len(t) > 1
        bounds = {key: np.percentile(t, [lo, hi], axis=0).T if many else np.full((len(best), 2), np.nan)
                  for key, (lo, hi) in PERCENTILES.items()}
        return IndividualFit(best, chi2_min, t.mean(axis=0), t.std(axis=0, ddof=1) if many else np.full_like(best,
                             np.nan), bounds["bounds68"], bounds["bounds95"], t, None,
                             {"replica_id": ids, "free": t, "chi2": chi2})
    post = posterior(central, lower, upper, n_samples, np.random.default_rng(seed))
    return IndividualFit(post.mode, chi2_min, post.mean, post.std, post.bounds68, post.bounds95, post.samples,
                         post.log_evidence, {})


def free_to_full(cmap, values: np.ndarray) -> np.ndarray:
    """One-at-a-time values of the free coefficients (..., F) -> (..., N): fixed coefficients keep their value;
    constrained ones are NaN (in fit k they follow t_k, a different value in every one-coefficient fit)."""
    values = np.asarray(values, dtype=float)
    out = np.broadcast_to(cmap.offset, (*values.shape[:-1], len(cmap.names))).copy()
    for i, name in enumerate(cmap.names):
        if name in cmap.free:
            out[..., i] = values[..., cmap.free.index(name)]
        elif cmap.depends_on(i):
            out[..., i] = np.nan
    return out
