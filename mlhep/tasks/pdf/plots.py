"""Plots of a pdf-fit results file: PDFs with 68% bands at Q0 and at the stored scales, stopping epochs."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from mlhep.plotting import figure
from mlhep.tasks.pdf import postfit

PIDS = (-6, -5, -4, -3, -2, -1, 21, 1, 2, 3, 4, 5, 6)
PANELS = (("g", {21: 1}), ("Sigma", {p: 1 for p in PIDS if p != 21}), ("u_v", {2: 1, -2: -1}),
          ("d_v", {1: 1, -1: -1}), ("ubar", {-2: 1}), ("dbar", {-1: 1}), ("s", {3: 1}))


def _combine(xf_pid: np.ndarray, weights: dict[int, float]) -> np.ndarray:
    """(..., 13, nx) per pid -> (..., nx) combination."""
    return sum(w * xf_pid[..., PIDS.index(p), :] for p, w in weights.items())


def _panel_grid(x: np.ndarray, xf_pid: np.ndarray, title: str, path: Path) -> Path:
    with figure(path, 2, 4, figsize=(14, 6.5)) as (fig, axes):
        for ax, (label, weights) in zip(axes.flat, PANELS):
            curves = _combine(xf_pid, weights)                       # (R, nx)
            lo, hi = np.percentile(curves, [16, 84], axis=0)
            ax.fill_between(x, lo, hi, alpha=0.4, label="68% band")
            ax.plot(x, curves.mean(axis=0), lw=1.2, label="mean")
            ax.set_xscale("log")
            ax.set_xlabel("x")
            ax.set_title(f"x {label}")
        axes.flat[-1].axis("off")
        axes.flat[0].legend()
        fig.suptitle(title)
    return path


def plot_all(results, outdir: Path) -> list[Path]:
    outdir.mkdir(parents=True, exist_ok=True)
    rep, summ = results.replicas, results.summary
    keep = postfit.accepted(results, results.config)
    keep = keep if keep.any() else np.ones_like(keep)
    x = np.asarray(summ["pdf/x"])
    q0 = float(summ["q0"]) if "q0" in summ else float("nan")
    paths = [_panel_grid(x, rep["pdf/q0/flavour"][keep], f"PDFs at Q0 = {q0:g} GeV ({keep.sum()} replicas)",
                         outdir / "pdf_q0.png")]
    if "pdf/evolved" in rep:
        for iq, q in enumerate(np.atleast_1d(summ["pdf/q"])):
            if abs(q - q0) > 1e-6:
                paths.append(_panel_grid(x, rep["pdf/evolved"][keep][:, iq], f"PDFs at Q = {q:g} GeV",
                                         outdir / f"pdf_q{q:g}.png"))
    paths.append(outdir / "stopping_epochs.png")
    with figure(paths[-1], figsize=(6, 4)) as (fig, ax):
        ax.hist(np.asarray(results.train["best_epoch"]), bins=20)
        ax.set_xlabel("epoch of the kept parameters (best validation chi2)")
        ax.set_ylabel("replicas")
    return paths
