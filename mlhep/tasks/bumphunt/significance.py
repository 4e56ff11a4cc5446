"""Local significance of an excess of n observed events over a background prediction b +- sigma_b (the signal-
region count against the sideband fit's interpolation), including the uncertainty of the prediction.

Two ways, both vectorised over arrays of (n, b, sigma_b):

- ``"profile"`` (default): the profile-likelihood ratio for a Poisson count n ~ Pois(s + b) with b constrained by
  an auxiliary measurement, in the asymptotic (Wilks/Wald) limit: Cowan, Cranmer, Gross, Vitells, Eur. Phys. J.
  C 71 (2011) 1554, arXiv:1007.1727, and Cowan's "Discovery sensitivity for a counting experiment with background
  uncertainty" (2012), eq. (20), with n in place of the Asimov s + b:

      Z^2 = 2 [ n ln( n (b + s2) / (b^2 + n s2) ) - (b^2 / s2) ln( 1 + s2 (n - b) / (b (b + s2)) ) ],  s2 = sigma_b^2

  which tends to 2 [n ln(n / b) - (n - b)] as sigma_b -> 0. Returned signed: Z < 0 for a deficit (n < b), so that
  under the background-only hypothesis Z ~ N(0, 1) asymptotically and p = Phi(-Z) is uniform. Valid when the
  counts are large (tens or more) and sigma_b << b.
- ``"convolved"``: the Gaussian-convolved Poisson tail (prior-predictive, Cousins & Highland, NIM A320 (1992) 331):
  p = integral P(N >= n | lambda) N(lambda; b, sigma_b^2) d lambda over lambda > 0 (40-point Gauss-Hermite
  quadrature; the Gaussian truncated at 0 and renormalised), Z = Phi^-1(1 - p). Valid at any count; for discrete
  small counts p is conservative (P(N >= n), not mid-p).
"""
from __future__ import annotations

import numpy as np
from scipy import special, stats

_GH_X, _GH_W = np.polynomial.hermite_e.hermegauss(40)     # nodes/weights for the weight exp(-x^2 / 2)


def profile_z(n, b, sigma_b=0.0) -> np.ndarray:
    """Signed asymptotic significance of observing ``n`` over ``b`` +- ``sigma_b`` (module docstring, "profile")."""
    n, b, sigma_b = np.broadcast_arrays(*(np.asarray(v, dtype=np.float64) for v in (n, b, sigma_b)))
    s2 = sigma_b ** 2
    safe_n = np.where(n > 0, n, 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        exact = 2 * (np.where(n > 0, n * np.log(safe_n / b), 0.0) - (n - b))          # sigma_b = 0
        with_sigma = 2 * (np.where(n > 0, n * np.log(safe_n * (b + s2) / (b * b + n * s2)), 0.0)
                          - (b * b / np.where(s2 > 0, s2, 1.0)) * np.log1p(s2 * (n - b) / (b * (b + s2))))
    # the sigma_b formula loses digits when sigma_b^2 << b: use the exact limit there
    z2 = np.where(s2 > 1e-9 * b, with_sigma, exact)
    return np.sign(n - b) * np.sqrt(np.maximum(z2, 0.0))


def convolved_p(n, b, sigma_b=0.0) -> np.ndarray:
    """P(N >= n) for N ~ Poisson(lambda), lambda ~ N(b, sigma_b^2) truncated at 0 (module docstring)."""
    n, b, sigma_b = np.broadcast_arrays(*(np.asarray(v, dtype=np.float64) for v in (n, b, sigma_b)))
    lam = b[..., None] + sigma_b[..., None] * _GH_X                         # (..., 40)
    weight = np.where(lam > 0, _GH_W, 0.0)
    # P(N >= n | lambda) = regularised lower incomplete gamma P(n, lambda); 1 for n <= 0
    tail = np.where(n[..., None] > 0, special.gammainc(np.maximum(n[..., None], 1e-300),
                                                       np.maximum(lam, 1e-300)), 1.0)
    return np.sum(weight * tail, axis=-1) / np.sum(weight, axis=-1)


def z_from_p(p) -> np.ndarray:
    """One-sided Z = Phi^-1(1 - p)."""
    return stats.norm.isf(np.asarray(p, dtype=np.float64))


def p_from_z(z) -> np.ndarray:
    """One-sided p = 1 - Phi(Z)."""
    return stats.norm.sf(np.asarray(z, dtype=np.float64))


def local_significance(n, b, sigma_b=0.0, method: str = "profile") -> tuple[np.ndarray, np.ndarray]:
    """(Z, p) of ``n`` observed over ``b`` +- ``sigma_b`` expected; ``method`` "profile" or "convolved"."""
    if method == "profile":
        z = profile_z(n, b, sigma_b)
        return z, p_from_z(z)
    if method == "convolved":
        p = convolved_p(n, b, sigma_b)
        return z_from_p(p), p
    raise ValueError(f"local_significance: method {method!r} (valid: profile, convolved)")


def signal_region_significance(fit, signal_region, method: str = "profile") -> dict:
    """The signal-region test of a sideband ``fit`` (a ``DijetFit`` whose bins tile ``signal_region`` (lo, hi)
    exactly): observed n, predicted b +- sigma_b, Z and p."""
    lo, hi = signal_region
    edges = fit.edges
    inside = (edges[:-1] >= lo - 1e-12) & (edges[1:] <= hi + 1e-12)
    if not inside.any() or abs(edges[:-1][inside][0] - lo) > 1e-9 or abs(edges[1:][inside][-1] - hi) > 1e-9:
        raise ValueError(f"the bins of the fit do not tile the signal region {signal_region}")
    n = float(fit.counts[inside].sum())
    b, sigma_b = fit.window(lo, hi)
    z, p = local_significance(n, b, sigma_b, method)
    return {"observed": n, "background": b, "background_error": sigma_b, "z": float(z), "p": float(p),
            "method": method}
