"""Run a binned EFT fit (analytic, replicas, NUTS, nested sampling or scans; global or one at a time) and collect
its outputs."""
from __future__ import annotations

import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

from mlhep.errors import DataError, TrainingFailed
from mlhep.task import Outputs

from .config import BinnedConfig
from .fits import (NewtonTrainable, ReplicaTrainable, analytic_fit, make_replica_solver, replica_data,
                   replica_keys, separate_minima, start_points)
from .problem import BinnedProblem
from .scans import DELTA_CHI2_1D, interval_from_scan, run_scans, scan_ranges
from .setup import SECTION, setup_fit
from .summary import summarise, summarise_individual


def run_binned(config: BinnedConfig, ctx) -> Outputs:
    """The binned mode of eft-fit: returns per-replica arrays (replica fits) and a summary."""
    problem = setup_fit(config, ctx)
    analytic = analytic_fit(problem)
    refuse_non_finite(analytic.fisher, "Fisher information A^T C^-1 A", problem)
    refuse_non_finite(analytic.best, "analytic linear fit (best point)", problem)
    started = time.perf_counter()
    if config.individual:
        return _run_individual(problem, config, ctx, analytic, started)
    replicas, extra, samples, train = {}, {}, None, None
    if config.fit == "analytic":
        best = analytic.best
    elif config.fit == "replicas":
        best, replicas, train = _replica_fit(problem, config, ctx)
        replicas["failed"] = report_failed_replicas(replicas, train)
        samples = replicas["free"][~replicas["failed"]]
    else:
        best = _global_minimum(problem, config, ctx.seed)
    refuse_non_finite(best, "best fit to the central data", problem)
    if not problem.coefficients.is_linear:     # UV couplings: the Gaussian (Laplace) approximation at the best fit
        analytic = analytic_fit(problem, at=best)
    if config.fit == "nuts":
        whiten, chi2_whitened = problem.whitened()
        central_w = whiten(jnp.asarray(problem.central))
        from .sampler import sample_posterior   # blackjax starts JAX's backend on import: only when sampling
        minima = _check_modes(problem, config, ctx)
        extra["posterior/minima"], extra["posterior/minima_chi2"] = minima
        posterior = sample_posterior(
            lambda x: chi2_whitened(x, central_w), best,
            problem.coefficients.lower, problem.coefficients.upper, jax.random.PRNGKey(ctx.seed),
            config.nuts.chains, config.nuts.warmup, config.nuts.samples,
            minima=minima[0] if len(minima[0]) > 1 else None)
        samples = posterior.samples.reshape(-1, posterior.samples.shape[-1])
        refuse_non_finite(samples, "NUTS posterior sample", problem)
        extra.update({"posterior/rhat": posterior.rhat, "posterior/ess": posterior.ess,
                      "posterior/acceptance": np.float64(posterior.acceptance),
                      "posterior/divergences": np.int64(posterior.divergences),
                      "posterior/step_size": np.float64(posterior.step_size),
                      "posterior/chains": np.int64(config.nuts.chains)})
        ctx.log(f"eft-fit: NUTS max R-hat {np.nanmax(posterior.rhat):.3f}, min ESS {np.min(posterior.ess):.0f}, "
                f"acceptance {posterior.acceptance:.2f}, {posterior.divergences} divergences")
    if config.fit == "nested":
        samples, nested_extra = _nested(problem, config, ctx)
        extra.update(nested_extra)
    if config.fit == "scan" or (config.scan.pairs and config.fit != "analytic"):
        extra.update(_scans(problem, config, ctx, best, analytic))
    seconds = time.perf_counter() - started
    summary = summarise(problem, config, best, analytic, samples, extra)
    summary["timing/fit_seconds"] = np.float64(seconds)
    if "free" in replicas:
        replicas["coefficients"] = problem.coefficients.full(replicas.pop("free"))
    outputs = Outputs(replicas=replicas, summary=summary)
    outputs.train = train
    _export(outputs, config, ctx)
    return outputs


def _run_individual(problem: BinnedProblem, config: BinnedConfig, ctx, analytic, started: float) -> Outputs:
    """One-at-a-time fits of every free coefficient (``individual``), all in one vectorised computation."""
    from .individual import fit_individual, free_to_full
    n_samples = config.nested.samples if config.fit == "nested" else config.nuts.chains * config.nuts.samples
    fit = fit_individual(problem, config.fit, ctx.seed, ctx.replica_ids, n_samples)
    refuse_non_finite(fit.best, "one-at-a-time best fit", problem)
    ctx.log(f"eft-fit: {len(problem.coefficients.free)} one-at-a-time fits ({config.fit}) in "
            f"{time.perf_counter() - started:.3f} s")
    # the global best fit, where the chi2 block is evaluated: closed form at linear order (bounds ignored)
    best = _global_minimum(problem, config, ctx.seed) if config.use_quadratic else analytic.best
    summary = summarise_individual(problem, config, fit, best, analytic)
    summary["timing/fit_seconds"] = np.float64(time.perf_counter() - started)
    replicas = dict(fit.replicas)
    if "free" in replicas:      # replicas/chi2 (R, F): each replica's minimum of each one-coefficient chi2
        replicas["failed"] = report_failed_replicas({**replicas, "chi2": replicas["chi2"].sum(axis=1)})
        replicas["coefficients"] = free_to_full(problem.coefficients, replicas.pop("free"))
    outputs = Outputs(replicas=replicas, summary=summary)
    _export(outputs, config, ctx)
    return outputs


def _export(outputs: Outputs, config: BinnedConfig, ctx) -> None:
    """``binned.export``: the results in SMEFiT's layout, written at fit time (also ``BinnedEftTask.export``)."""
    if config.export is None:
        return
    from mlhep.runcard import to_plain
    from .export import export_smefit
    from .setup import database_path
    folder = export_smefit(outputs.summary, outputs.replicas, to_plain(config), ctx.resolve(config.export),
                           ctx.runcard_path.stem, database_path(config, ctx))
    outputs.files["smefit_export"] = folder
    ctx.log(f"eft-fit: wrote the SMEFiT-layout results to {folder}")


def _check_modes(problem: BinnedProblem, config: BinnedConfig, ctx) -> tuple[np.ndarray, np.ndarray]:
    """Separate minima of the chi2 (Delta chi2 < 10) from multi-start Newton; more than one is a multimodal
    posterior, which NUTS does not sample across: warned about, with the chains started one per minimum."""
    starts = start_points(problem, max(16, n_starts(config)), ctx.seed)
    minima, chi2 = separate_minima(problem, starts, config.replica.max_iterations, config.replica.tolerance)
    if len(minima) > 1:
        where = "; ".join(f"chi2 {c:.2f} at [{', '.join(f'{v:.3g}' for v in x)}]" for x, c in zip(minima, chi2))
        print(f"eft-fit: warning: the chi2 has {len(minima)} separate minima within Delta chi2 < 10 ({where}): the "
              f"posterior is multimodal and NUTS does not move between modes (its chains start one per minimum, so "
              f"R-hat > 1.1 shows it); use {SECTION}.fit: nested for the weights of the modes",
              file=sys.stderr, flush=True)
    return minima, chi2


def _nested(problem: BinnedProblem, config: BinnedConfig, ctx) -> tuple[np.ndarray, dict]:
    from .nested import nested_sample
    whiten, chi2_whitened = problem.whitened()
    central_w = whiten(jnp.asarray(problem.central))
    n = config.nested
    result = nested_sample(lambda x: chi2_whitened(x, central_w), problem.coefficients.lower,
                           problem.coefficients.upper, jax.random.PRNGKey(ctx.seed), n.live, n.inner_steps,
                           n.tolerance, n.max_steps, n.samples, log=ctx.log)
    refuse_non_finite(result.samples, "nested-sampling posterior sample", problem)
    ctx.log(f"eft-fit: nested sampling log Z = {result.log_evidence:.3f} +- {result.log_evidence_error:.3f}, "
            f"{result.dead} dead points, ESS {result.ess:.0f}")
    return result.samples, {
        "posterior/log_evidence": np.float64(result.log_evidence),
        "posterior/log_evidence_error": np.float64(result.log_evidence_error),
        "posterior/dead_points": np.int64(result.dead), "posterior/nested_ess": np.float64(result.ess),
        "posterior/live_points": np.int64(n.live), "posterior/converged": np.bool_(result.converged)}


def refuse_non_finite(values: np.ndarray, what: str, problem: BinnedProblem) -> None:
    """A fit whose result is NaN or infinite is an error, never a results file with NaN bounds. Inputs are
    checked finite when read, so this means the chi2 overflows (or a solver broke down)."""
    values = np.asarray(values)
    if not np.all(np.isfinite(values)):
        raise DataError(f"eft-fit: the {what} is not finite ({values.ravel()[:6]}...): the chi2 of datasets "
                        f"{', '.join(problem.datasets)} cannot be minimised; check their commondata and theory "
                        "tables for extreme values (largest |linear correction| "
                        f"{np.max(np.abs(problem.linear)):.3g})")


def report_failed_replicas(replicas: dict, train=None) -> np.ndarray:
    """(R,) bool: replicas whose minimum is not finite (or, with the engine solver, that the engine marked as
    failed). They are kept in the results file (flag ``failed``), excluded from the summary statistics and
    named on stderr; if every replica failed, the fit fails (``TrainingFailed``, exit 4)."""
    failed = ~np.all(np.isfinite(replicas["free"]), axis=1) | ~np.isfinite(replicas["chi2"])
    if train is not None:
        failed |= np.asarray(train.failed, dtype=bool)
    if np.all(failed):
        raise TrainingFailed(f"eft-fit: every replica's minimum is non-finite ({failed.size} replicas); no "
                             "results written: check the data and theory tables for extreme values")
    if np.any(failed):
        ids = np.asarray(replicas["replica_id"])[failed]
        # a warning, not progress: printed even with --quiet
        print(f"eft-fit: warning: {failed.sum()}/{failed.size} replicas ended non-finite and are excluded "
              f"from the bounds (flag 'failed' in the results file): {ids.tolist()}", file=sys.stderr, flush=True)
    return failed


def n_starts(config: BinnedConfig) -> int:
    if config.replica.starts is not None:
        return config.replica.starts
    nonlinear = any(len(term) > 1 or isinstance(v, list) for spec in config.coefficients.values()
                    for term in (spec.constrain or []) for v in term.values())
    return 8 if config.use_quadratic or nonlinear else 1


def _global_minimum(problem: BinnedProblem, config: BinnedConfig, seed: int) -> np.ndarray:
    """Best fit to the central data: multi-start damped Newton (one exact step if linear and unbounded)."""
    solve = make_replica_solver(problem, config.replica.max_iterations, config.replica.tolerance)
    starts = jnp.asarray(start_points(problem, n_starts(config), seed))
    return np.asarray(solve(jnp.asarray(problem.central)[None, :], starts).x[0])


def _replica_fit(problem: BinnedProblem, config: BinnedConfig, ctx):
    ids = np.asarray(ctx.replica_ids)
    if config.replica.solver == "engine":
        result = ctx.train(ReplicaTrainable(problem))
        free = np.clip(np.asarray(result.params), problem.coefficients.lower, problem.coefficients.upper)
        objective = jax.jit(jax.vmap(problem.objective(), in_axes=(0, 0)))
        data = replica_data(problem, replica_keys(ctx.seed, result.replica_ids))
        chi2 = np.asarray(objective(jnp.asarray(free), data))
        extra = {"replica_id": np.asarray(result.replica_ids), "free": free, "chi2": chi2}
        return _global_minimum(problem, config, ctx.seed), extra, result
    starts = start_points(problem, n_starts(config), ctx.seed)
    trainable = NewtonTrainable(problem, starts, config.replica.max_iterations, config.replica.tolerance)
    started = time.perf_counter()
    result = ctx.train(trainable, engine=trainable.engine(ctx.engine, config.replica.max_iterations))
    outcome = trainable.outcome(result)
    ctx.log(f"eft-fit: {ids.size} replicas minimised in {time.perf_counter() - started:.2f} s "
            f"(batched Newton, {starts.shape[0]} starts each, {outcome['converged'].sum()}/{ids.size} converged, "
            f"max {int(np.max(outcome['iterations']))} iterations)")
    stuck = np.asarray(result.replica_ids)[~np.asarray(outcome["converged"], dtype=bool)]
    if stuck.size:   # reported, never waited for: the step stops every start at the iteration cap
        print(f"eft-fit: warning: {stuck.size} of {ids.size} replicas reached {SECTION}.replica.max_iterations = "
              f"{config.replica.max_iterations} without converging; their best iterate is kept and flagged in "
              f"replicas/converged (raise max_iterations, or check the bounds): {stuck[:20].tolist()}"
              f"{' ...' if stuck.size > 20 else ''}", file=sys.stderr, flush=True)
    return (_global_minimum(problem, config, ctx.seed), {"replica_id": np.asarray(result.replica_ids), **outcome},
            result)


def _scans(problem: BinnedProblem, config: BinnedConfig, ctx, best: np.ndarray, analytic) -> dict:
    cmap = problem.coefficients
    whiten, chi2_whitened = problem.whitened()
    data_w = whiten(jnp.asarray(problem.central))

    def fun(x):
        return chi2_whitened(x, data_w)

    sigma = np.sqrt(np.where(np.diag(analytic.covariance) > 0, np.diag(analytic.covariance), np.inf))
    ranges = scan_ranges(best, sigma, cmap.lower, cmap.upper)
    unbounded = [name for name, lo, hi in zip(cmap.free, *ranges) if not np.isfinite(hi - lo)]
    if unbounded:
        raise ctx.fail(f"{SECTION}.coefficients.{unbounded[0]}", "a flat direction of the chi2 without bounds "
                       f"cannot be scanned: give it min and max (unbounded flat: {', '.join(unbounded)})")
    pairs = [(cmap.free.index(a), cmap.free.index(b)) for a, b in config.scan.pairs
             if a in cmap.free and b in cmap.free]
    grids, chi2, axes, chi2_2d = run_scans(fun, best, cmap.lower, cmap.upper, ranges, config.scan.points, pairs,
                                           config.scan.profile)
    out = {"scan1d/grid": grids, "scan1d/chi2": chi2}
    for level, delta in DELTA_CHI2_1D.items():
        out[f"scan1d/interval{level}"] = np.array([interval_from_scan(g, c, delta) for g, c in zip(grids, chi2)])
    if pairs:
        out["scan2d/pairs"] = np.array(pairs)
        out["scan2d/axis_a"] = np.array([a for a, _ in axes])
        out["scan2d/axis_b"] = np.array([b for _, b in axes])
        out["scan2d/chi2"] = chi2_2d
    return out
