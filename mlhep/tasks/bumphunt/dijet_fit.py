"""The standard dijet function and its binned Poisson likelihood fit in the sidebands, with the prediction (and
its uncertainty) interpolated into the signal region.

    f(m) = p0 (1 - x)^p1 / x^(p2 + p3 ln x),   x = m_jj / sqrt(s),  sqrt(s) = 13 TeV

(CDF, PRD 79 (2009) 112002; CMS, PRL 105 (2010) 211801; the form of every LHC dijet search since; 3 parameters =
p3 fixed to 0). f is a density in events per TeV; the expected count of a bin is its integral over the bin
(Gauss-Legendre, 8 points per bin: exact to < 1e-10 relative for these smooth spectra).

The fit minimises the binned Poisson negative log-likelihood sum_i (mu_i - n_i ln mu_i) over the bins used
(the sidebands) with scipy's ``trust-exact`` (exact gradient and Hessian). ln f is linear in
(ln p0, p1, p2, p3) with the basis (1, ln(1 - x), -ln x, -ln^2 x); these columns are nearly collinear, so the fit
runs in an orthonormalised basis (QR of the basis at the fitted bins' centres, weighted by sqrt(n)) and maps
back; it starts from a weighted least-squares fit of ln n. The covariance of the parameters is the inverse
Hessian of the NLL at the minimum (observed information); a prediction g(theta) (a bin or a window count) gets
the variance J C J^T, J = dg/dtheta (linear error propagation).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.optimize

SQRT_S = 13.0       # TeV
_NODES, _WEIGHTS = np.polynomial.legendre.leggauss(8)


def dijet_function(mjj, params, sqrt_s: float = SQRT_S):
    """f(x) = p0 (1 - x)^p1 / x^(p2 + p3 ln x), x = m_jj / sqrt(s) (module docstring); ``mjj`` (...) in TeV,
    ``params`` (p0, p1, p2, p3) (p3 optional: 3 parameters = p3 0)."""
    p = np.asarray(params, dtype=np.float64)
    p3 = p[3] if len(p) > 3 else 0.0
    x = np.asarray(mjj, dtype=np.float64) / sqrt_s
    return p[0] * (1.0 - x) ** p[1] / x ** (p[2] + p3 * np.log(x))


def _basis(m, n_params: int, sqrt_s: float) -> np.ndarray:
    """(..., n_params) columns of ln f = theta . basis: (1, ln(1 - x), -ln x, -ln^2 x)."""
    x = np.asarray(m, dtype=np.float64) / sqrt_s
    lx = np.log(x)
    return np.stack([np.ones_like(x), np.log1p(-x), -lx, -lx * lx], axis=-1)[..., :n_params]


def _theta(params, n_params):
    p = np.asarray(params, dtype=np.float64)
    return np.concatenate([[np.log(p[0])], p[1:n_params]])


def _params(theta) -> np.ndarray:
    """(p0, p1, p2, p3) from theta = (ln p0, p1, p2[, p3])."""
    out = np.zeros(4)
    out[0], out[1:len(theta)] = np.exp(theta[0]), theta[1:]
    return out


@dataclass(frozen=True)
class _Quadrature:
    """Gauss-Legendre nodes of a set of bins: ``basis`` (n_bins, 8, k), ``weights`` (n_bins, 8) (TeV)."""

    basis: np.ndarray
    weights: np.ndarray

    @classmethod
    def of(cls, lo, hi, n_params: int, sqrt_s: float) -> "_Quadrature":
        lo, hi = np.asarray(lo, dtype=np.float64), np.asarray(hi, dtype=np.float64)
        half = 0.5 * (hi - lo)
        nodes = (0.5 * (hi + lo))[:, None] + half[:, None] * _NODES
        return cls(_basis(nodes, n_params, sqrt_s), half[:, None] * _WEIGHTS)

    def integrals(self, theta, order: int = 0):
        """Integrals over each bin of f (order 0: (n,)), f g (order 1: (n, k)) or f g g^T (order 2: (n, k, k)),
        g the basis: the expected counts and their first and second derivatives in theta."""
        f = self.weights * np.exp(self.basis @ theta)
        if order == 0:
            return f.sum(axis=1)
        if order == 1:
            return np.einsum("bq,bqk->bk", f, self.basis)
        return np.einsum("bq,bqk,bql->bkl", f, self.basis, self.basis)


@dataclass(frozen=True)
class DijetFit:
    """A dijet-function fit to a histogram: ``params`` (p0, p1, p2, p3) (p3 = 0 for 3 parameters), ``theta`` the
    fitted (ln p0, p1, p2[, p3]) and ``covariance`` its (k, k) covariance, ``edges`` (n + 1,) [TeV],
    ``counts`` (n,), ``fitted`` (n,) bool (the bins in the fit), ``nll`` at the minimum (minus its value
    at mu = n: half the Poisson deviance), ``converged``."""

    params: np.ndarray
    theta: np.ndarray
    covariance: np.ndarray
    edges: np.ndarray
    counts: np.ndarray
    fitted: np.ndarray
    nll: float
    converged: bool
    sqrt_s: float = SQRT_S

    @property
    def n_params(self) -> int:
        return len(self.theta)

    def _quadrature(self, lo, hi) -> _Quadrature:
        return _Quadrature.of(np.atleast_1d(lo), np.atleast_1d(hi), self.n_params, self.sqrt_s)

    def expected(self, lo=None, hi=None) -> tuple[np.ndarray, np.ndarray]:
        """(expected counts, their standard deviations from the fit covariance), (m,), for the windows
        [lo, hi) (TeV, arrays of the same shape); default: the histogram's bins."""
        if lo is None:
            lo, hi = self.edges[:-1], self.edges[1:]
        q = self._quadrature(lo, hi)
        jac = q.integrals(self.theta, 1)
        var = np.einsum("bk,kl,bl->b", jac, self.covariance, jac)
        return q.integrals(self.theta), np.sqrt(np.maximum(var, 0.0))

    def window(self, lo: float, hi: float) -> tuple[float, float]:
        """(expected background count in [lo, hi) TeV, its fit uncertainty): the signal-region prediction."""
        mu, sigma = self.expected(np.array([lo]), np.array([hi]))
        return float(mu[0]), float(sigma[0])

    def pulls(self) -> np.ndarray:
        """(n,) (n_i - mu_i) / sqrt(mu_i) for every bin (in and out of the fit)."""
        mu, _ = self.expected()
        return (self.counts - mu) / np.sqrt(np.maximum(mu, 1e-300))

    def chi2(self) -> tuple[float, int]:
        """(Poisson deviance 2 sum [mu - n + n ln(n / mu)] over the fitted bins, degrees of freedom): the
        goodness of fit, chi2-distributed with that many degrees of freedom for large counts."""
        mu, _ = self.expected()
        n, mu = self.counts[self.fitted], mu[self.fitted]
        term = np.where(n > 0, n * np.log(np.where(n > 0, n, 1.0) / mu), 0.0)
        return float(2 * np.sum(mu - n + term)), int(self.fitted.sum() - self.n_params)


def histogram(mjj, edges, weights=None) -> np.ndarray:
    """(n,) counts of ``mjj`` [TeV] in the bins ``edges`` (n + 1,) (weighted sums with ``weights``)."""
    return np.histogram(np.asarray(mjj), bins=np.asarray(edges), weights=weights)[0].astype(np.float64)


def sideband_bins(edges, signal_region) -> np.ndarray:
    """(n,) bool: the bins entirely outside ``signal_region`` = (lo, hi) TeV."""
    edges = np.asarray(edges, dtype=np.float64)
    lo, hi = signal_region
    return (edges[1:] <= lo + 1e-12) | (edges[:-1] >= hi - 1e-12)


def fit_dijet(edges, counts, fitted=None, signal_region=None, n_params: int = 4, start=None,
              sqrt_s: float = SQRT_S) -> DijetFit:
    """Fit the dijet function to the histogram ``counts`` (n,) with bin ``edges`` (n + 1,) [TeV], using the bins
    ``fitted`` (n,) bool, or all bins outside ``signal_region`` = (lo, hi) TeV, or all bins. ``n_params`` 3 or 4;
    ``start`` optional initial (p0, p1, p2[, p3]) (default: least squares of ln n)."""
    edges, counts = np.asarray(edges, dtype=np.float64), np.asarray(counts, dtype=np.float64)
    if edges.shape != (len(counts) + 1,) or np.any(np.diff(edges) <= 0):
        raise ValueError(f"fit_dijet: {len(counts)} counts need {len(counts) + 1} increasing edges, got "
                         f"{edges.shape[0]}")
    if n_params not in (3, 4):
        raise ValueError(f"fit_dijet: n_params must be 3 or 4, got {n_params}")
    if fitted is None:
        fitted = sideband_bins(edges, signal_region) if signal_region is not None else np.ones(len(counts), bool)
    fitted = np.asarray(fitted, dtype=bool)
    if fitted.sum() <= n_params:
        raise ValueError(f"fit_dijet: {fitted.sum()} bins to fit {n_params} parameters")
    n = counts[fitted]
    q = _Quadrature.of(edges[:-1][fitted], edges[1:][fitted], n_params, sqrt_s)
    centres = _basis(0.5 * (edges[:-1] + edges[1:])[fitted], n_params, sqrt_s)
    # orthonormal basis: theta = T a with T = R^-1 from the QR of sqrt(w) G at the bin centres
    w = np.sqrt(np.maximum(n, 1.0))
    _, r = np.linalg.qr(centres * w[:, None])
    t = np.linalg.inv(r)
    if start is None:
        log_density = np.log(np.maximum(n, 0.5) / np.diff(edges)[fitted])
        theta0 = np.linalg.lstsq(centres * w[:, None], log_density * w, rcond=None)[0]
    else:
        theta0 = _theta(start, n_params)
    a0 = np.linalg.solve(t, theta0)

    n_log_n = np.where(n > 0, n * np.log(np.where(n > 0, n, 1.0)), 0.0)

    def objective(a):       # the NLL minus its value for mu = n: O(number of bins), so no cancellation
        theta = t @ a
        mu = q.integrals(theta)
        return float(np.sum(mu - n - n * np.log(np.maximum(mu, 1e-300)) + n_log_n))

    def gradient(a):
        theta = t @ a
        mu, jac = q.integrals(theta), q.integrals(theta, 1)
        return t.T @ ((1.0 - n / mu) @ jac)

    def hessian(a):
        theta = t @ a
        mu, jac, second = q.integrals(theta), q.integrals(theta, 1), q.integrals(theta, 2)
        h = np.einsum("b,bk,bl->kl", n / mu ** 2, jac, jac) + np.einsum("b,bkl->kl", 1.0 - n / mu, second)
        return t.T @ h @ t

    result = scipy.optimize.minimize(objective, a0, jac=gradient, hess=hessian, method="trust-exact",
                                     options={"gtol": 1e-6, "maxiter": 200})
    theta = t @ result.x
    h = hessian(result.x)
    # in the orthonormal basis the Hessian is ~1: a gradient far below 1 is a minimum even when scipy stops on
    # "a bad approximation" (the last digits of the NLL)
    converged = bool(result.success) or bool(np.max(np.abs(result.jac)) < 1e-4 and np.all(np.linalg.eigvalsh(h) > 0))
    try:
        cov_a = np.linalg.inv(h)
    except np.linalg.LinAlgError:
        cov_a = np.linalg.pinv(h)
    return DijetFit(params=_params(theta), theta=theta, covariance=t @ cov_a @ t.T, edges=edges, counts=counts,
                    fitted=fitted, nll=float(result.fun), converged=converged, sqrt_s=sqrt_s)


def expected_counts(edges, params, sqrt_s: float = SQRT_S) -> np.ndarray:
    """(n,) integrals of the dijet function with ``params`` over the bins ``edges`` (n + 1,) [TeV]."""
    edges = np.asarray(edges, dtype=np.float64)
    p = np.asarray(params, dtype=np.float64)
    k = 4 if len(p) > 3 and p[3] != 0 else 3
    return _Quadrature.of(edges[:-1], edges[1:], k, sqrt_s).integrals(_theta(p, k))
