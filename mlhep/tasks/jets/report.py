"""``mlhep report`` of a jet-tag results file: the metrics table (per replica, their spread, the ensemble mean
score) and the plots: ROC (1/eps_B vs eps_S), score distributions, background mass sculpting.

The ensemble is recomputed here from the replicas' test scores (``/replicas/test_score``), so a file merged
from replica blocks (``mlhep merge``) reports the ensemble of all its replicas; failed replicas are left out.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from mlhep.tasks.jets import metrics


def _ok(results) -> np.ndarray:
    """Replicas that trained (not failed) and have finite test scores."""
    failed = np.asarray(results.train.get("failed", np.zeros(results.n_replicas, bool)), dtype=bool)
    return ~failed & np.all(np.isfinite(results.replicas["test_score"]), axis=1)


def ensemble(results) -> dict:
    """Mean score (N_test,), its spread over replicas (N_test,) and the metrics of the mean (``metrics.summary``)."""
    s = results.summary
    scores = results.replicas["test_score"][_ok(results)]
    return metrics.ensemble(scores, s["test_label"], s["test_mass"], s["mass_edges"]) if scores.shape[0] else {}


def _rejection(x: float) -> str:
    return f"{x:9.1f}" if np.isfinite(x) else f"{'inf' if x > 0 else 'nan':>9s}"   # inf: no background passes


def _row(name: str, auc, acc, r30, r50, jsd) -> str:
    return f"  {name:14s} {auc:8.4f} {acc:8.4f} {_rejection(r30)} {_rejection(r50)} {jsd:10.4f}"


def report_jets(results) -> str:
    s, r = results.summary, results.replicas
    label = s["test_label"]
    n_top = int(np.sum(label == 1))
    ok = _ok(results)
    lines = [f"jet-tag: {s['architecture']} ({int(s['n_parameters'])} parameters), {int(s['constituents'])} "
             f"constituents; decorrelation {s['decorrelation']}; bootstrap {'on' if s['bootstrap'] else 'off'}",
             f"jets: training {int(s['n_train'])}, validation {int(s['n_valid'])}, test {label.size} ({n_top} top, "
             f"{label.size - n_top} QCD)", "",
             f"  {'replica':14s} {'AUC':>8s} {'accuracy':>8s} {'1/eB@0.3':>9s} {'1/eB@0.5':>9s} {'JSD(m)@0.5':>10s}"]
    keys = ("auc", "accuracy", "rejection_30", "rejection_50", "jsd_50")
    for i, rid in enumerate(r["replica_id"]):
        lines.append(_row(str(rid), *(r[k][i] for k in keys)) + ("" if ok[i] else "   (failed)"))
    if ok.sum() > 1:
        with np.errstate(invalid="ignore"):    # inf rejections (no background left) have no spread
            lines.append(_row("mean", *(np.mean(r[k][ok]) for k in keys)))
            lines.append(_row("std", *(np.std(r[k][ok], ddof=1) for k in keys)))
    ens = ensemble(results)
    if ens:
        lines.append(_row(f"ensemble ({ok.sum()})", *(ens[k] for k in keys)))
        if ok.sum() > 1:
            spread = ens["spread"]
            lines += ["", f"per-jet spread of the score over replicas: median {np.median(spread):.4f}, 90% quantile "
                          f"{np.quantile(spread, 0.9):.4f}, max {spread.max():.4f}"]
    lines += ["", "1/eB@x: background rejection at signal efficiency x; JSD(m)@0.5: Jensen-Shannon divergence "
                  "(bits) of the QCD mass distribution after / before the cut at eps_S = 0.5 (0: no sculpting)"]
    return "\n".join(lines)


def plot_jets(results, outdir: Path) -> list[Path]:
    from mlhep.plotting import figure

    s, r = results.summary, results.replicas
    ok = _ok(results)
    ens = ensemble(results)
    eps_s = s["roc_eps_s"]
    paths = []

    path = outdir / "jet_tag_roc.png"
    with figure(path, figsize=(6, 4.5)) as (fig, ax):
        for i in np.flatnonzero(ok):
            eb = r["roc_eps_b"][i]
            ax.plot(eps_s[eb > 0], 1 / eb[eb > 0], color="C0", lw=0.6, alpha=0.4,
                    label="replicas" if i == np.flatnonzero(ok)[0] else None)
        if ens:
            eb = ens["roc_eps_b"]
            ax.plot(eps_s[eb > 0], 1 / eb[eb > 0], color="k", lw=1.5, label=f"ensemble mean, AUC {ens['auc']:.4f}")
        ax.plot(eps_s, 1 / eps_s, "k:", lw=0.8, label="random")
        ax.set_yscale("log"), ax.set_xlim(0, 1), ax.set_xlabel("signal efficiency eps_S")
        ax.set_ylabel("background rejection 1 / eps_B"), ax.set_title(f"jet-tag: {s['architecture']}")
        ax.legend()
    paths.append(path)

    if ens:
        path = outdir / "jet_tag_scores.png"
        label = s["test_label"]
        with figure(path, 1, 2, figsize=(10, 4)) as (fig, (left, right)):
            bins = np.linspace(0, 1, 41)
            for cls, name in ((0, "QCD"), (1, "top")):
                left.hist(ens["score"][label == cls], bins=bins, histtype="step", density=True, label=name)
                right.hist(ens["spread"][label == cls], bins=40, histtype="step", density=True, label=name)
            left.set_yscale("log"), left.set_xlabel("ensemble mean score P(top)"), left.legend()
            right.set_xlabel("spread (std) of the score over replicas"), right.legend()
        paths.append(path)

        path = outdir / "jet_tag_mass_sculpting.png"
        edges = s["mass_edges"]
        centres = 0.5 * (edges[1:] + edges[:-1])
        with figure(path, figsize=(6, 4.5)) as (fig, ax):
            norm = lambda h: h / max(h.sum(), 1) / np.diff(edges)   # noqa: E731
            ax.step(centres, norm(s["mass_before_cut"]), where="mid", color="k", label="QCD, no cut")
            ax.step(centres, norm(ens["mass_after"]), where="mid", color="C1",
                    label=f"QCD, ensemble cut at eps_S = 0.5 (JSD {ens['jsd_50']:.3f})")
            top = s["test_label"] == 1
            ax.hist(s["test_mass"][top], bins=edges, density=True, histtype="step", color="C2", ls="--",
                    label="top, no cut")
            ax.set_xlabel("jet mass [GeV]"), ax.set_ylabel("normalised"), ax.legend(fontsize=8)
        paths.append(path)
    return paths
