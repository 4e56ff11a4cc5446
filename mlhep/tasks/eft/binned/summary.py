"""The summary arrays of a binned EFT fit (what ``report`` and ``plot`` read back from the results file).

Keys: ``mode``, ``fit``; ``coefficients/names`` (N,), ``coefficients/free`` (F,); ``datasets/names|n_points|
order`` (D,); ``best_fit``, ``mean``, ``std`` (N,); ``bounds68``, ``bounds95`` (N, 2); ``correlation`` (F, F);
``chi2/*`` (best fit and SM, total and per dataset; ``chi2/pulls_best`` (n,)); ``pca/*``; ``analytic/*``;
``posterior/samples`` (S, N) for NUTS and nested sampling; and the scan or diagnostic arrays passed in ``extra``.
"""
from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from .chi2 import chi2_per_dataset, pulls
from .config import BinnedConfig
from .pca import fisher_pca
from .problem import BinnedProblem


def summarise(problem: BinnedProblem, config: BinnedConfig, best: np.ndarray, analytic, samples,
              extra: dict) -> dict:
    cmap = problem.coefficients
    out = {"mode": np.array("binned"), "fit": np.array(config.fit),
           "coefficients/names": np.array(cmap.names), "coefficients/free": np.array(cmap.free),
           "datasets/names": np.array(problem.datasets), "datasets/n_points": problem.sizes,
           "datasets/order": np.array(problem.orders)}
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
        cov_full = cmap.matrix @ analytic.covariance @ cmap.matrix.T
        std = np.sqrt(np.clip(np.diag(cov_full), 0.0, None))
        out["mean"], out["std"] = best_full, std
        out["bounds68"] = np.stack([best_full - std, best_full + std], axis=1)
        out["bounds95"] = np.stack([best_full - 1.95996 * std, best_full + 1.95996 * std], axis=1)
        out["correlation"] = _correlation(analytic.covariance)
    out.update(_chi2_summary(problem, best))
    pca = fisher_pca(analytic.fisher, config.flat_threshold)
    out.update({"pca/eigenvalues": pca.eigenvalues, "pca/eigenvectors": pca.eigenvectors, "pca/flat": pca.flat,
                "analytic/best": cmap.full(analytic.best), "analytic/covariance": analytic.covariance,
                "analytic/chi2": np.float64(analytic.chi2)})
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
        column = np.flatnonzero(cmap.matrix[i])
        if name in cmap.free:
            out[i] = free_intervals[cmap.free.index(name)]
        elif column.size == 0:
            out[i] = cmap.offset[i]
    return out
