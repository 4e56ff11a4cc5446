"""Plain-text report of a binned EFT fit: bounds, chi2 per dataset, flat directions, sampler diagnostics."""
from __future__ import annotations

import numpy as np

from .summary import is_individual
from .pca import leading_components

FIT_NAMES = {"analytic": "analytic linear Gaussian fit (inverse Fisher covariance)",
             "replicas": "Monte Carlo replicas (pseudo-data, one chi2 minimisation each)",
             "nuts": "Bayesian posterior (NUTS, flat priors)",
             "nested": "Bayesian posterior and evidence (nested sampling, flat priors)", "scan": "profile chi2 scans"}


def _str(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(np.asarray(value))


def _names(value) -> list[str]:
    return [v.decode() if isinstance(v, bytes) else str(v) for v in np.atleast_1d(value)]


def report_binned(results) -> str:
    s = results.summary
    fit = _str(s["fit"])
    names, free = _names(s["coefficients/names"]), _names(s["coefficients/free"])
    individual = is_individual(s)
    lines = [f"eft-fit (binned): {FIT_NAMES.get(fit, fit)}"
             + (", one coefficient at a time (the others at zero)" if individual else "")]
    if "projection/noise" in s:
        lumi = float(s["projection/luminosity"])
        lines.append(f"data: {_str(s['projection/noise'])} projection"
                     + (f" to {lumi:g} fb^-1" if np.isfinite(lumi) else " (uncertainties as measured)"))
    if "coefficients/uv_constrained" in s:
        masses = _names(s["coefficients/masses"]) if "coefficients/masses" in s else []
        lines.append(f"UV model: {', '.join(_names(s['coefficients/uv_constrained']))} set by the fitted "
                     f"couplings{' and masses (' + ', '.join(masses) + ')' if masses else ''}")
    if "coefficients" in results.replicas:
        lines.append(f"replicas: {len(results.replicas['coefficients'])}")
    failed = np.asarray(results.replicas.get("failed", []), dtype=bool)
    if failed.any():
        ids = np.asarray(results.replicas["replica_id"])[failed]
        lines.append(f"FAILED replicas (non-finite minimum, excluded from the statistics): {failed.sum()}/"
                     f"{failed.size}: {ids.tolist()}")
    n = int(s["chi2/n_points"])
    lines.append(f"data points: {n}; chi2/N: SM {float(s['chi2/total_sm']) / n:.3f}, "
                 f"{'global ' if individual else ''}best fit {float(s['chi2/total_best']) / n:.3f}")
    lines += ["", "Wilson coefficients (TeV^-2, Lambda = 1 TeV)",
              f"{'coefficient':<12} {'best fit':>10} {'mean':>10} {'std':>10} {'68% interval':>24} "
              f"{'95% interval':>24}"]
    for i, name in enumerate(names):
        tag = "" if name in free else "  (fixed/constrained)"
        b68, b95 = s["bounds68"][i], s["bounds95"][i]
        lines.append(f"{name:<12} {s['best_fit'][i]:>10.4g} {s['mean'][i]:>10.4g} {s['std'][i]:>10.4g} "
                     f"[{b68[0]:>10.4g},{b68[1]:>10.4g}] [{b95[0]:>10.4g},{b95[1]:>10.4g}]{tag}")
    if individual:
        lines += individual_table(s, names, free)
    lines += ["", "chi2 per dataset (own covariance block)",
              f"{'dataset':<36} {'order':>8} {'N':>4} {'chi2/N SM':>10} {'chi2/N fit':>11}"]
    for name, order, size, sm, best in zip(_names(s["datasets/names"]), _names(s["datasets/order"]),
                                           s["datasets/n_points"], s["chi2/per_dataset_sm"],
                                           s["chi2/per_dataset_best"]):
        lines.append(f"{name:<36} {order:>8} {int(size):>4} {sm / size:>10.3f} {best / size:>11.3f}")
    lines += ["", "Fisher information: principal directions (eigenvalue, leading components)"]
    values, vectors, flat = s["pca/eigenvalues"], s["pca/eigenvectors"], s["pca/flat"]
    for k in range(len(values)):
        mark = "  FLAT" if flat[k] else ""
        lines.append(f"  {values[k]:>11.4g}  {leading_components(vectors[:, k], free)}{mark}")
    n_flat = int(np.sum(flat))
    lines.append(f"  {n_flat} flat direction(s) (eigenvalue below the flat_threshold fraction of the largest)"
                 if n_flat else "  no flat direction: every combination is constrained by the data")
    if "posterior/rhat" in s:
        lines += ["", f"NUTS: {int(s['posterior/chains'])} chains, acceptance {float(s['posterior/acceptance']):.2f}, "
                      f"{int(s['posterior/divergences'])} divergences, step size {float(s['posterior/step_size']):.3g}",
                  "  " + ", ".join(f"{c}: R-hat {r:.3f} ESS {e:.0f}"
                                   for c, r, e in zip(free, s["posterior/rhat"], s["posterior/ess"]))]
    if "posterior/log_evidence" in s:
        lines += ["", f"nested sampling: log Z = {float(s['posterior/log_evidence']):.3f} "
                      f"+- {float(s['posterior/log_evidence_error']):.3f} (likelihood exp(-chi2/2), flat prior on the "
                      f"bounds), {int(s['posterior/live_points'])} live points, "
                      f"{int(s['posterior/dead_points'])} dead, ESS {float(s['posterior/nested_ess']):.0f}"
                      + ("" if bool(s["posterior/converged"]) else "; NOT converged (max_steps reached)")]
    if "converged" in results.replicas:
        conv = results.replicas["converged"]
        lines.append(f"\nreplica minimisations converged: {int(np.sum(conv))}/{conv.size}")
    if "timing/fit_seconds" in s:
        lines.append(f"fit time: {float(s['timing/fit_seconds']):.2f} s")
    return "\n".join(lines)


def individual_table(s, names: list[str], free: list[str]) -> list[str]:
    """One-at-a-time 95% bounds beside the global ones (as SMEFiT's reports compare them), with the ratio of the
    widths (global / individual: how much the other coefficients loosen a bound)."""
    evidence = s.get("individual/log_evidence")
    lines = ["", "individual (one at a time) vs global 95% intervals (global: the linear Gaussian analytic fit)",
             f"{'coefficient':<12} {'individual 95%':>24} {'global 95%':>24} {'width ratio':>12}"
             + (f" {'log Z':>9}" if evidence is not None else "")]
    for k, name in enumerate(free):
        i = names.index(name)
        ind, glo = s["bounds95"][i], s["global/bounds95"][i]
        ratio = (glo[1] - glo[0]) / (ind[1] - ind[0]) if ind[1] > ind[0] else float("nan")
        lines.append(f"{name:<12} [{ind[0]:>10.4g},{ind[1]:>10.4g}] [{glo[0]:>10.4g},{glo[1]:>10.4g}] {ratio:>12.3g}"
                     + (f" {float(evidence[k]):>9.3f}" if evidence is not None else ""))
    return lines
