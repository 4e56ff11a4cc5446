"""Plain-text report of an unbinned eft-fit results file: bounds table and learned-ratio accuracy."""
from __future__ import annotations

import numpy as np


def _interval(b: np.ndarray) -> str:
    return f"[{b[0]:+.5f}, {b[1]:+.5f}]"


def _spread_interval(b: np.ndarray) -> str:
    """(R, 2) replica intervals -> 'median +- std' of each end."""
    med = np.nanmedian(b, axis=0)
    std = np.nanstd(b, axis=0, ddof=1) if len(b) > 1 else np.zeros(2)
    return f"[{med[0]:+.5f}±{std[0]:.5f}, {med[1]:+.5f}±{std[1]:.5f}]"


def _width(b: np.ndarray) -> np.ndarray:
    return b[..., 1] - b[..., 0]


def report_unbinned(results) -> str:
    """Bounds (exact, learned median ± replica spread, binned) at each CL, accuracy of the learned ratio, and
    pseudo-experiment summaries when present."""
    s, r = results.summary, results.replicas
    levels = np.asarray(s["cl_levels"])
    sigma = np.asarray(s["sigma/sm_lin_quad_pb"])
    n_rep = len(r["bounds/learned"])
    lines = [f"eft-fit unbinned: c_tG (Lambda = 1 TeV) from LO tt̄ at sqrt(S) = {float(s['setup/sqrts']):g} GeV, "
             f"L x eff = {float(s['setup/luminosity']):g} fb^-1 x {float(s['setup/efficiency']):g}",
             f"sigma(c) = {sigma[0]:.2f} {sigma[1]:+.2f} c {sigma[2]:+.3f} c^2 pb inside the m_tt range; "
             f"nu_SM = {float(s['sigma/nu_sm']):.5g} events",
             f"normalisation nuisance: {_normalisation(s)}",
             "", "Asimov (SM expectation) intervals, q(c) = -2 Delta ln L < chi2_1 quantile:"]
    header = f"  {'fit':38s}" + "".join(f"{f'{lv:.0%} CL':>34s}" for lv in levels)
    lines.append(header)
    rows = [("exact unbinned", [_interval(b) for b in s["bounds/exact"]]),
            (f"learned unbinned ({n_rep} replicas, med±sd)",
             [_spread_interval(r["bounds/learned"][:, k]) for k in range(len(levels))]),
            ("diagnostic: learned r + exact nu(c)",
             [_spread_interval(r["bounds/learned_exact_rate"][:, k]) for k in range(len(levels))]),
            (f"binned Poisson ({_n_bins(s)} bins)", [_interval(b) for b in s["bounds/binned"]])]
    for name, cells in rows:
        lines.append(f"  {name:38s}" + "".join(f"{c:>34s}" for c in cells))
    exact_w = _width(np.asarray(s["bounds/exact"]))
    learned_w = np.nanmedian(_width(np.asarray(r["bounds/learned"])), axis=0)
    binned_w = _width(np.asarray(s["bounds/binned"]))
    lines.append("  width / exact width:  learned " + ", ".join(f"{x:.3f}" for x in learned_w / exact_w)
                 + ";  binned " + ", ".join(f"{x:.3f}" for x in binned_w / exact_w))

    if "shape_only/bounds_exact" in s:
        lines += ["", "Shape only (free normalisation, profiled), Asimov:"]
        shape = [("exact unbinned", [_interval(b) for b in s["shape_only/bounds_exact"]]),
                 (f"learned unbinned ({n_rep} replicas, med±sd)",
                  [_spread_interval(r["shape_only/bounds_learned"][:, k]) for k in range(len(levels))]),
                 (f"binned Poisson ({_n_bins(s)} bins)", [_interval(b) for b in s["shape_only/bounds_binned"]])]
        for name, cells in shape:
            lines.append(f"  {name:38s}" + "".join(f"{c:>34s}" for c in cells))
        ex = _width(np.asarray(s["shape_only/bounds_exact"]))
        lines.append("  width / exact width:  learned " + ", ".join(
            f"{x:.3f}" for x in np.nanmedian(_width(np.asarray(r["shape_only/bounds_learned"])), axis=0) / ex)
            + ";  binned " + ", ".join(f"{x:.3f}" for x in _width(np.asarray(s["shape_only/bounds_binned"])) / ex))

    c_values = np.asarray(s["accuracy/c_values"])
    lines += ["", f"Learned ratio r = 1 + c NN_alpha + c^2 NN_beta vs exact, over the bulk "
                  f"({float(s['accuracy/bulk_fraction']):.0%} of sigma_SM), median over replicas:"]
    for k, c in enumerate(c_values):
        lines.append(f"  c = {c:+g}: mean |r/r_exact - 1| = {np.median(r['accuracy/ratio_mean'][:, k]):.2%}, "
                     f"90% quantile {np.median(r['accuracy/ratio_q90'][:, k]):.2%}, "
                     f"max {np.median(r['accuracy/ratio_max'][:, k]):.2%}"
                     + (f"; outside the bulk: mean {np.median(r['accuracy/ratio_tail_mean'][:, k]):.2%}"
                        if "accuracy/ratio_tail_mean" in r else ""))
    lines.append(f"  alpha: mean |alpha - alpha_exact| / mean |alpha_exact| = "
                 f"{np.median(r['accuracy/alpha']):.2%}")
    if "training/loss_at_exact_ratio" in s and getattr(results, "train", None):
        lines.append(f"  cross-entropy: best validation loss median {np.median(results.train['best_valid']):.5f}, "
                     f"at the exact ratio (expectation) {float(s['training/loss_at_exact_ratio']):.5f}")
    if "pseudo/bounds_exact" in s:
        lines += ["", f"{len(s['pseudo/n_events'])} SM pseudo-experiments: median interval (median width):"]
        pe = [("exact unbinned", np.asarray(s["pseudo/bounds_exact"])),
              ("learned unbinned (all replicas)", np.asarray(r["pseudo/bounds_learned"]).reshape(
                  -1, len(levels), 2)),
              ("binned Poisson", np.asarray(s["pseudo/bounds_binned"]))]
        for name, b in pe:
            cells = [f"{_interval(np.nanmedian(b[:, k], axis=0))} ({np.nanmedian(_width(b[:, k])):.5f})"
                     for k in range(len(levels))]
            lines.append(f"  {name:38s}" + "".join(f"{c:>34s}" for c in cells))
    return "\n".join(lines)


def _normalisation(summary) -> str:
    mode = str(summary.get("setup/normalisation", "fixed"))
    if mode == "constrained":
        return f"constrained (Gaussian, {float(summary['setup/normalisation_uncertainty']):.1%}), profiled"
    return {"fixed": "none (rate known exactly)", "free": "free, profiled (shape-only bounds)"}.get(mode, mode)


def _n_bins(summary) -> int:
    return (len(summary["binning/m_tt_edges"]) - 1) * (len(summary["binning/abs_y_tt_edges"]) - 1)
