"""Plain-text report of a pdf-fit results file: chi2 per dataset of the accepted replicas' mean prediction."""
from __future__ import annotations

import numpy as np

from mlhep.stats.chi2 import chi2, chi2_per_block
from mlhep.physics.evolution import FIT_BASIS
from mlhep.tasks.pdf import closure, postfit


def correlated_groups(summ):
    """(dataset indices, key prefix of its covariances) of each block of mutually correlated datasets."""
    group = 0
    while f"corr_groups/{group}/datasets" in summ:
        yield np.atleast_1d(summ[f"corr_groups/{group}/datasets"]).astype(int), f"corr_groups/{group}"
        group += 1


def report(results) -> str:
    rep, summ, config = results.replicas, results.summary, results.config
    names = postfit._names(results)
    ndata = np.asarray(summ["ndata"])
    keep = postfit.accepted(results, config)
    if not keep.any():
        return (f"pdf-fit: no replica passes postfit ({len(keep)} fitted; chi2 threshold "
                f"{config.postfit.chi2_threshold}, positivity, arc-length); nothing to report")
    lines = [f"pdf-fit: {int(keep.sum())}/{len(keep)} replicas accepted by postfit "
             f"(chi2/N < {config.postfit.chi2_threshold}, positive, arc-length < mean + "
             f"{config.postfit.arclength_sigma} sigma)", "",
             f"{'dataset':<36} {'ndata':>6} {'chi2/N exp':>11} {'chi2/N t0':>10}"]
    per_dataset = {}
    total = {"exp": 0.0, "t0": 0.0}
    for members, group in correlated_groups(summ):
        mean = np.concatenate([rep[f"prediction/{names[i]}"][keep].mean(axis=0) for i in members])
        data = np.concatenate([np.asarray(summ[f"data/{names[i]}"]) for i in members])
        for kind in ("exp", "t0"):
            cov = np.asarray(summ[f"{group}/cov_{kind}"])
            total[kind] += chi2(mean - data, cov)
            for i, value in zip(members, chi2_per_block(mean - data, cov, ndata[members])):
                per_dataset.setdefault(names[i], {})[kind] = value
    for name, n in zip(names, ndata):
        c = per_dataset[name]
        lines.append(f"{name:<36} {n:>6d} {c['exp'] / n:>11.3f} {c['t0'] / n:>10.3f}")
    n_total = int(ndata.sum())
    lines.append(f"{'total (with cross-dataset correlations)':<36} {n_total:>6d} {total['exp'] / n_total:>11.3f} "
                 f"{total['t0'] / n_total:>10.3f}")
    lines += ["", "per replica (accepted): " + ", ".join(
        f"{label} {np.mean(rep[key][keep]):.3f} +- {np.std(rep[key][keep]):.3f}"
        for label, key in (("chi2/N train", "chi2_train"), ("chi2/N valid", "chi2_valid")))]
    epochs = np.asarray(results.train["best_epoch"])[keep]
    lines.append(f"stopping epoch (best validation): mean {epochs.mean():.0f}, min {epochs.min()}, max {epochs.max()}")
    lines.append("sum rules (accepted mean +- std): " + ", ".join(
        f"{k} {np.mean(rep[f'sumrules/{k}'][keep]):.5f} +- {np.std(rep[f'sumrules/{k}'][keep]):.1e}"
        for k in ("momentum", "uv", "dv", "sv")))
    if "closure/fk_truth" in summ:
        lines += ["", *_closure_lines(rep, summ, keep, names)]
    return "\n".join(lines)


def _closure_lines(rep, summ, keep: np.ndarray, names: list[str]) -> list[str]:
    """Closure-test estimators of the accepted replicas (``closure``): per dataset, per correlated group of
    datasets, and in PDF space on the FK x grid."""
    lines = [f"closure test, level {int(summ['closure/level'])}: bias and variance per point (experimental "
             "covariance), R_bv = sqrt(bias/variance) ~ 1 for faithful uncertainties",
             f"{'dataset':<36} {'ndata':>6} {'bias':>9} {'variance':>9} {'R_bv':>6}"]
    row = lambda label, n, b, v: f"{label:<36} {n:>6d} {b:>9.3f} {v:>9.3f} {np.sqrt(b / v):>6.2f}"  # noqa: E731
    ndata, totals, per_dataset = np.asarray(summ["ndata"]), [], {}
    for members, group in correlated_groups(summ):
        cov = np.asarray(summ[f"{group}/cov_exp"])
        start = 0
        for i in members:
            n = int(ndata[i])
            per_dataset[i] = closure.bias_variance(rep[f"prediction/{names[i]}"][keep],
                                                   np.asarray(summ[f"closure/prediction/{names[i]}"]),
                                                   cov[start:start + n, start:start + n])
            start += n
        predictions = np.concatenate([rep[f"prediction/{names[i]}"][keep] for i in members], axis=1)
        truth = np.concatenate([np.asarray(summ[f"closure/prediction/{names[i]}"]) for i in members])
        totals.append((len(truth), *closure.bias_variance(predictions, truth, cov)))
    lines += [row(name, int(n), *per_dataset[i]) for i, (name, n) in enumerate(zip(names, ndata))]
    n_total = sum(n for n, _, _ in totals)
    bias = sum(n * b for n, b, _ in totals) / n_total
    variance = sum(n * v for n, _, v in totals) / n_total
    lines.append(row("total (with cross-dataset correlations)", n_total, bias, variance))
    x = np.asarray(summ["fk_xgrid"])
    region = (x > 1e-3) & (x < 0.7)
    xf = np.asarray(rep["pdf/fk/basis"])[keep][:, :, region]
    truth = np.asarray(summ["closure/fk_truth"])[:, region]
    inside = np.abs(xf.mean(axis=0) - truth) <= xf.std(axis=0)
    lines.append("truth within the 1-sigma replica band at Q0 (FK grid, 1e-3 < x < 0.7; 68% expected): " + ", ".join(
        f"{name} {100 * frac:.0f}%" for name, frac in zip(FIT_BASIS, inside.mean(axis=1))))
    return lines
