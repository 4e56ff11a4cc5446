"""The summary arrays of a binned EFT fit (what ``report`` and ``plot`` read back from the results file).

Keys: ``mode``, ``fit``; ``coefficients/names`` (N,), ``coefficients/free`` (F,); ``datasets/names|n_points|
order`` (D,); ``best_fit``, ``mean``, ``std`` (N,); ``bounds68``, ``bounds95`` (N, 2); ``correlation`` (F, F);
``chi2/*`` (best fit and SM, total and per dataset; ``chi2/pulls_best`` (n,)); ``pca/*``; ``analytic/*``;
``posterior/samples`` (S, N) for NUTS and nested sampling; and the scan or diagnostic arrays passed in ``extra``.
One-at-a-time fits (``individual``): the same keys hold the individual results (constrained coefficients NaN),
``correlation`` is the identity, ``individual/*`` holds chi2 minima and evidences per free coefficient, and
``global/bounds68|95`` (N, 2) the global linear Gaussian (analytic) bounds to set beside them.
"""
from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from .chi2 import chi2_per_dataset, pulls
from .config import BinnedConfig
from .pca import fisher_pca
from .problem import BinnedProblem


def is_individual(summary) -> bool:
    """Whether a summary is that of one-at-a-time fits (it has their chi2 minima)."""
    return "individual/chi2_min" in summary


def _header(problem: BinnedProblem, config: BinnedConfig) -> dict:
    cmap = problem.coefficients
    out = {"mode": np.array("binned"), "fit": np.array(config.fit),
           "coefficients/names": np.array(cmap.names), "coefficients/free": np.array(cmap.free),
           "datasets/names": np.array(problem.datasets), "datasets/n_points": problem.sizes,
           "datasets/order": np.array(problem.orders),
           "coefficients/matrix": cmap.matrix, "coefficients/offset": cmap.offset}
    if cmap.masses:
        out["coefficients/masses"] = np.array(cmap.masses)
    if not cmap.is_linear:
        out["coefficients/uv_constrained"] = np.array(sorted({cmap.names[t.target] for t in cmap.monomials}))
    if config.projection is not None:
        out["projection/luminosity"] = np.float64(config.projection.luminosity or np.nan)
        out["projection/noise"] = np.array(config.projection.noise)
    return out


def _common(problem: BinnedProblem, config: BinnedConfig, best: np.ndarray, analytic) -> dict:
    """chi2 at ``best`` (the global best fit), the Fisher PCA and the analytic fit."""
    cmap = problem.coefficients
    out = _chi2_summary(problem, best)
    pca = fisher_pca(analytic.fisher, config.flat_threshold)
    out.update({"pca/eigenvalues": pca.eigenvalues, "pca/eigenvectors": pca.eigenvectors, "pca/flat": pca.flat,
                "analytic/best": cmap.full(analytic.best), "analytic/covariance": analytic.covariance,
                "analytic/chi2": np.float64(analytic.chi2)})
    return out


def gaussian_bounds(problem: BinnedProblem, analytic) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(best (N,), std (N,), bounds68 (N, 2), bounds95 (N, 2)) of the analytic (linear Gaussian) fit."""
    cmap = problem.coefficients
    best_full = cmap.full(analytic.best)
    jacobian = cmap.jacobian(analytic.best)
    std = np.sqrt(np.clip(np.diag(jacobian @ analytic.covariance @ jacobian.T), 0.0, None))
    return (best_full, std, np.stack([best_full - std, best_full + std], axis=1),
            np.stack([best_full - 1.95996 * std, best_full + 1.95996 * std], axis=1))


def summarise_individual(problem: BinnedProblem, config: BinnedConfig, fit, best: np.ndarray, analytic) -> dict:
    """Summary of one-at-a-time fits (``individual.IndividualFit``); ``best`` is the global best fit, where the
    chi2 block is evaluated."""
    from .individual import free_to_full
    cmap = problem.coefficients
    out = _header(problem, config)
    out["best_fit"], out["mean"], out["std"] = (free_to_full(cmap, v) for v in (fit.best, fit.mean, fit.std))
    out["bounds68"], out["bounds95"] = (free_to_full(cmap, b.T).T for b in (fit.bounds68, fit.bounds95))
    out["correlation"] = np.eye(len(cmap.free))          # every coefficient fitted alone: no correlation
    out["individual/chi2_min"] = fit.chi2_min
    if fit.log_evidence is not None:
        out["individual/log_evidence"] = fit.log_evidence
        out["individual/max_loglikelihood"] = -0.5 * fit.chi2_min
    if fit.samples is not None and config.fit in ("nuts", "nested"):
        out["posterior/samples"] = free_to_full(cmap, fit.samples)
    _, _, out["global/bounds68"], out["global/bounds95"] = gaussian_bounds(problem, analytic)
    out.update(_common(problem, config, best, analytic))
    return out


def summarise(problem: BinnedProblem, config: BinnedConfig, best: np.ndarray, analytic, samples,
              extra: dict) -> dict:
    cmap = problem.coefficients
    out = _header(problem, config)
    best_full = cmap.full(best)
    out["best_fit"] = best_full
    if samples is not None and len(samples) < 2:      # one replica: no spread to quote
        full = cmap.full(np.asarray(samples))
        out["mean"], out["std"] = full.mean(axis=0), np.full(len(cmap.names), np.nan)
        out["bounds68"] = out["bounds95"] = np.full((len(cmap.names), 2), np.nan)
        out["correlation"] = _correlation(analytic.covariance)
    elif samples is not None:
        full = cmap.full(np.asarray(samples))
        out["mean"], out["std"] = full.mean(axis=0), full.std(axis=0, ddof=1)
        out["bounds68"] = np.percentile(full, [15.865, 84.135], axis=0).T
        out["bounds95"] = np.percentile(full, [2.5, 97.5], axis=0).T
        out["correlation"] = _correlation(np.cov(np.asarray(samples), rowvar=False))
        if config.fit in ("nuts", "nested"):
            out["posterior/samples"] = full
    elif config.fit == "scan":
        out["mean"] = best_full
        intervals = {level: _free_to_full_intervals(cmap, extra[f"scan1d/interval{level}"]) for level in (68, 95)}
        out["bounds68"], out["bounds95"] = intervals[68], intervals[95]
        out["std"] = 0.5 * (out["bounds68"][:, 1] - out["bounds68"][:, 0])
        out["correlation"] = _correlation(analytic.covariance)
    else:                                        # analytic: Gaussian with the inverse Fisher covariance
        out["mean"], out["std"], out["bounds68"], out["bounds95"] = gaussian_bounds(problem, analytic)
        out["correlation"] = _correlation(analytic.covariance)
    out.update(_common(problem, config, best, analytic))
    out.update(extra)
    return out


def _chi2_summary(problem: BinnedProblem, best: np.ndarray) -> dict:
    theory_best = np.asarray(problem.theory(jnp.asarray(best)))
    cov = problem.fit_covariance
    per_best = chi2_per_dataset(theory_best, problem.central, cov, problem.sizes)
    per_sm = chi2_per_dataset(problem.sm, problem.central, cov, problem.sizes)
    total = float(np.asarray(problem.objective()(jnp.asarray(best), jnp.asarray(problem.central))))
    residual = problem.central - problem.sm
    total_sm = float(problem.fit_whitening.chi2(residual))
    return {"chi2/total_best": np.float64(total), "chi2/total_sm": np.float64(total_sm),
            "chi2/n_points": np.int64(problem.central.size),
            "chi2/per_dataset_best": per_best, "chi2/per_dataset_sm": per_sm,
            "chi2/pulls_best": pulls(theory_best, problem.central, cov),
            "chi2/pulls_sm": pulls(problem.sm, problem.central, cov)}


def _correlation(cov: np.ndarray) -> np.ndarray:
    cov = np.atleast_2d(cov)   # np.cov of a single coefficient's samples is 0-d
    std = np.sqrt(np.clip(np.diag(cov), 0.0, None))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(np.outer(std, std) > 0, cov / np.outer(std, std), 0.0)


def _free_to_full_intervals(cmap, free_intervals: np.ndarray) -> np.ndarray:
    """(F, 2) intervals of free coefficients -> (N, 2): fixed ones get [v, v], constrained ones nan."""
    out = np.full((len(cmap.names), 2), np.nan)
    for i, name in enumerate(cmap.names):
        if name in cmap.free:
            out[i] = free_intervals[cmap.free.index(name)]
        elif not cmap.depends_on(i):
            out[i] = cmap.offset[i]
    return out
