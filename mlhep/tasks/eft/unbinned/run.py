"""eft-fit unbinned mode: exact spectrum -> event samples -> replica training -> bounds (exact/learned/binned)."""
from __future__ import annotations

import time

import numpy as np

from mlhep.task import Outputs, RunContext
from mlhep.tasks.eft.unbinned import bounds as B
from mlhep.tasks.eft.unbinned import evaluate as E
from mlhep.tasks.eft.unbinned.config import UnbinnedConfig
from mlhep.tasks.eft.unbinned.events import sample_events
from mlhep.tasks.eft.unbinned.model import RatioModel
from mlhep.tasks.eft.unbinned.physics import Spectrum, build_spectrum
from mlhep.tasks.eft.unbinned.training import build_trainable, loss_floor
from mlhep.tasks.eft.unbinned.validate import check_config, check_pseudo_experiments

KEY = "unbinned"


def run_unbinned(config: UnbinnedConfig, ctx: RunContext) -> Outputs:
    """Fit c_tG with learned unbinned likelihood ratios and compare with the exact and binned likelihoods."""
    check_config(config, ctx, KEY)
    start = time.perf_counter()
    spectrum = _spectrum(config, ctx)
    nu_sm = float(spectrum.expected_events(0.0))
    check_pseudo_experiments(config, ctx, KEY, nu_sm)
    ctx.log(f"unbinned: sigma_SM = {spectrum.sigma[0]:.2f} pb, sigma_lin = {spectrum.sigma[1]:.2f} pb, "
            f"sigma_quad = {spectrum.sigma[2]:.3f} pb; nu_SM = {nu_sm:.4g} events")

    rng = np.random.default_rng(ctx.seed)
    tr = config.training
    samples = [sample_events(spectrum, c, tr.n_events, rng) for c in [0.0, *tr.c_values]]
    ctx.log(f"unbinned: {len(samples)} samples of {tr.n_events} events "
            f"(acceptance {min(s.acceptance for s in samples):.2f}, envelope violations "
            f"{sum(s.violations for s in samples)}) in {time.perf_counter() - start:.1f} s")
    net = config.network
    model = RatioModel.for_sample(net.hidden, net.activation, samples[0].events,
                                  config.theory.m_t if net.threshold_feature else None)
    rho = spectrum.expected_events(np.array(tr.c_values)) / nu_sm
    trainable = build_trainable(model, samples[0].events, [s.events for s in samples[1:]], tr.c_values, rho,
                                tr.validation_fraction, tr.bootstrap)
    result = ctx.train(trainable)

    outputs = evaluate(config, spectrum, model, result.params, rng)
    outputs.summary["events/acceptance"] = np.array([s.acceptance for s in samples])
    outputs.summary["events/envelope_violations"] = np.array([s.violations for s in samples])
    outputs.summary["training/loss_at_exact_ratio"] = loss_floor(
        np.array(tr.c_values), spectrum.cell_sigma[0], *E.exact_on_cells(spectrum))
    outputs.train = result
    # failed replicas (marked and reported by the engine) have NaN parameters: not a scan-range problem
    trained = ~np.asarray(result.failed, dtype=bool)
    leaving = [k for k, v in {**outputs.summary, **{k: v[trained] for k, v in outputs.replicas.items()}}.items()
               if k.startswith(("bounds/", "pseudo/bounds")) and np.any(np.isnan(v))]
    if leaving:
        ctx.log(f"unbinned: warning: intervals leave the c scan range (NaN) in {', '.join(leaving)}; "
                f"widen {KEY}.bounds.c_min/c_max")
    ctx.log(f"unbinned: exact 95% CL interval [{outputs.summary['bounds/exact'][1][0]:+.4g}, "
            f"{outputs.summary['bounds/exact'][1][1]:+.4g}]; learned (median over replicas) "
            f"[{np.nanmedian(outputs.replicas['bounds/learned'][:, 1, 0]):+.4g}, "
            f"{np.nanmedian(outputs.replicas['bounds/learned'][:, 1, 1]):+.4g}]")
    return outputs


def _spectrum(config: UnbinnedConfig, ctx: RunContext) -> Spectrum:
    if config.theory.pdf == "lh_toy_q0":
        return build_spectrum(config)
    try:
        return build_spectrum(config)
    except ModuleNotFoundError as err:   # eko not installed: name the key and the fallback
        if (err.name or "mlhep").split(".")[0] == "mlhep":   # a module of our own missing is a bug
            raise
        raise ctx.fail(f"{KEY}.theory.pdf", f"the eko-evolved toy PDF could not be built ({type(err).__name__}: "
                       f"{err}); use 'lh_toy_q0' (unevolved, scale independent)") from None


def normalisation(config: UnbinnedConfig) -> dict:
    """Keyword arguments of the normalisation nuisance for the likelihoods in ``bounds``."""
    return {"normalisation": config.bounds.normalisation, "delta": config.bounds.normalisation_uncertainty}


def scan_grid(config: UnbinnedConfig, spectrum: Spectrum, norm: dict | None = None) -> np.ndarray:
    """The c scan: the runcard's range, or (c_min = c_max) from -4 to 4 times the exact Asimov 95% CL half-width
    (doubled until q at both ends exceeds twice the 95% threshold); ``norm`` overrides the normalisation."""
    b = config.bounds
    norm = normalisation(config) if norm is None else norm
    if b.c_min != b.c_max and norm == normalisation(config):
        return np.linspace(b.c_min, b.c_max, b.n_scan)
    a_x, b_x = E.exact_on_cells(spectrum)
    p = spectrum.cell_sigma[0] / spectrum.sigma[0]
    half = np.sqrt(B.thresholds()[-1] / (spectrum.expected_events(0.0) * np.sum(p * a_x ** 2)))
    for _ in range(20):
        grid = np.linspace(-4 * half, 4 * half, b.n_scan)
        q = B.profile(B.asimov_unbinned(spectrum, grid, a_x, b_x, rate="exact", **norm))
        if min(q[0], q[-1]) > 2 * B.thresholds()[-1]:
            return grid
        half *= 2
    return grid


def shape_only_bounds(config: UnbinnedConfig, spectrum: Spectrum, alpha: np.ndarray, beta: np.ndarray,
                      bin_sigma: np.ndarray) -> tuple[dict, dict]:
    """Asimov intervals with a free normalisation (the shape information alone): exact, learned (alpha, beta
    (R, n_m, n_y)) and binned, for comparison with the runcard's normalisation choice."""
    free = {"normalisation": "free", "delta": 0.0}
    grid = scan_grid(config, spectrum, free)
    a_x, b_x = E.exact_on_cells(spectrum)
    q_exact = B.profile(B.asimov_unbinned(spectrum, grid, a_x, b_x, rate="exact", **free))
    q_learned = B.profile(B.asimov_unbinned(spectrum, grid, alpha, beta, rate="learned", **free))
    q_binned = B.profile(B.binned(grid, bin_sigma, spectrum.rate_per_pb, **free))
    return ({"shape_only/bounds_learned": B.intervals(grid, q_learned)},
            {"shape_only/bounds_exact": B.intervals(grid, q_exact),
             "shape_only/bounds_binned": B.intervals(grid, q_binned)})


def evaluate(config: UnbinnedConfig, spectrum: Spectrum, model: RatioModel, params, rng: np.random.Generator
             ) -> Outputs:
    """Ratios, accuracies, q(c) scans and intervals of the exact, learned (per replica) and binned fits."""
    norm = normalisation(config)
    c_grid = scan_grid(config, spectrum, norm)
    a_x, b_x = E.exact_on_cells(spectrum)
    a_l, b_l = E.on_cells(model, params, spectrum)
    bulk = E.bulk_mask(spectrum.cell_sigma[0], config.grid.bulk_fraction)
    accuracy_c = np.unique(np.array([*config.grid.accuracy_c_values, *config.training.c_values], dtype=float))
    accuracy = E.ratio_accuracy(spectrum, a_l, b_l, accuracy_c, bulk)
    bin_sigma = B.bin_sigma(spectrum, config.binning.m_tt_edges, config.binning.abs_y_tt_edges)

    q_exact = B.profile(B.asimov_unbinned(spectrum, c_grid, a_x, b_x, rate="exact", **norm))
    q_learned = B.profile(B.asimov_unbinned(spectrum, c_grid, a_l, b_l, rate="learned", **norm))
    q_learned_exact_rate = B.profile(B.asimov_unbinned(spectrum, c_grid, a_l, b_l, rate="exact", **norm))
    q_binned = B.profile(B.binned(c_grid, bin_sigma, spectrum.rate_per_pb, **norm))

    m_test, y_test = E.ratio_test_grid(spectrum, config.grid.test_n_m, config.grid.test_n_y)
    test_events = np.stack([m_test.ravel(), y_test.ravel()], axis=1)
    a_test, b_test = E.learned_alpha_beta(model, params, test_events)
    a_test_x, b_test_x = E.exact_on_points(spectrum, m_test, y_test)
    m_cells = np.exp(0.5 * (spectrum.t_edges[1:] + spectrum.t_edges[:-1]))
    a_m_x, b_m_x = E.y_averaged(spectrum, a_x, b_x)
    a_m_l, b_m_l = E.y_averaged(spectrum, a_l, b_l)

    replicas = {
        "bounds/learned": B.intervals(c_grid, q_learned),
        "bounds/learned_exact_rate": B.intervals(c_grid, q_learned_exact_rate),
        "scan/q_learned": q_learned,
        "ratio/alpha": a_test.reshape(-1, *m_test.shape),
        "ratio/beta": b_test.reshape(-1, *m_test.shape),
        "ratio/alpha_vs_mtt": a_m_l,
        "ratio/beta_vs_mtt": b_m_l,
        "accuracy/ratio_mean": accuracy["mean"],
        "accuracy/ratio_q90": accuracy["q90"],
        "accuracy/ratio_max": accuracy["max"],
        "accuracy/ratio_tail_mean": accuracy["tail_mean"],
        "accuracy/alpha": accuracy["alpha"],
    }
    summary = {
        "mode": "unbinned",
        "cl_levels": np.array(B.CL_LEVELS),
        "setup/sqrts": config.collider.sqrts,
        "setup/luminosity": config.collider.luminosity,
        "setup/efficiency": config.collider.efficiency,
        "setup/normalisation": config.bounds.normalisation,
        "setup/normalisation_uncertainty": config.bounds.normalisation_uncertainty,
        "sigma/sm_lin_quad_pb": spectrum.sigma,
        "sigma/nu_sm": float(spectrum.expected_events(0.0)),
        "bounds/exact": B.intervals(c_grid, q_exact),
        "bounds/binned": B.intervals(c_grid, q_binned),
        "scan/c": c_grid,
        "scan/q_exact": q_exact,
        "scan/q_binned": q_binned,
        "ratio/m_tt": m_test,
        "ratio/y_tt": y_test,
        "ratio/alpha_exact": a_test_x,
        "ratio/beta_exact": b_test_x,
        "ratio/m_tt_cells": m_cells,
        "ratio/alpha_vs_mtt_exact": a_m_x,
        "ratio/beta_vs_mtt_exact": b_m_x,
        "accuracy/c_values": accuracy_c,
        "accuracy/bulk_fraction": config.grid.bulk_fraction,
        "binning/m_tt_edges": np.array(config.binning.m_tt_edges, dtype=float),
        "binning/abs_y_tt_edges": np.array(config.binning.abs_y_tt_edges, dtype=float),
    }
    if config.bounds.normalisation != "free":
        shape_replicas, shape_summary = shape_only_bounds(config, spectrum, a_l, b_l, bin_sigma)
        replicas.update(shape_replicas)
        summary.update(shape_summary)
    if config.bounds.pseudo_experiments:
        from mlhep.tasks.eft.unbinned.pseudo import pseudo_experiment_bounds
        pe_replicas, pe_summary = pseudo_experiment_bounds(config, spectrum, model, params, c_grid, bin_sigma,
                                                           a_l, b_l, rng)
        replicas.update(pe_replicas)
        summary.update(pe_summary)
    return Outputs(replicas=replicas, summary=summary)
