"""Plain-text report of a pdf-fit results file: chi2 per dataset of the accepted replicas' mean prediction."""
from __future__ import annotations

import numpy as np

from mlhep.stats.chi2 import chi2, chi2_per_block
from mlhep.tasks.pdf import postfit


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
    group = 0
    while f"corr_groups/{group}/datasets" in summ:
        members = np.atleast_1d(summ[f"corr_groups/{group}/datasets"]).astype(int)
        mean = np.concatenate([rep[f"prediction/{names[i]}"][keep].mean(axis=0) for i in members])
        data = np.concatenate([np.asarray(summ[f"data/{names[i]}"]) for i in members])
        for kind in ("exp", "t0"):
            cov = np.asarray(summ[f"corr_groups/{group}/cov_{kind}"])
            total[kind] += chi2(mean - data, cov)
            for i, value in zip(members, chi2_per_block(mean - data, cov, ndata[members])):
                per_dataset.setdefault(names[i], {})[kind] = value
        group += 1
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
    return "\n".join(lines)
