"""Plots of an unbinned eft-fit results file: q(c) scans, learned vs exact alpha and beta over m_tt."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from mlhep.plotting import figure


def plot_unbinned(results, outdir: Path) -> list[Path]:
    """Write ``unbinned_q_scan.png`` and ``unbinned_ratio.png`` into ``outdir``; return their paths."""
    s, r = results.summary, results.replicas
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    paths = []

    paths.append(outdir / "unbinned_q_scan.png")
    with figure(paths[-1], figsize=(6, 4.2)) as (fig, ax):
        c = np.asarray(s["scan/c"])
        for q in r["scan/q_learned"]:
            ax.plot(c, q, color="tab:orange", alpha=0.3, lw=0.8)
        ax.plot(c, np.median(r["scan/q_learned"], axis=0), color="tab:orange", lw=2,
                label="learned (replicas, median)")
        ax.plot(c, s["scan/q_exact"], "k--", lw=1.5, label="exact unbinned")
        ax.plot(c, s["scan/q_binned"], color="tab:blue", lw=1.5, label="binned Poisson")
        for level in (0.989, 3.841):
            ax.axhline(level, color="grey", lw=0.6, ls=":")
        ax.set_xlabel(r"$c_{tG}$ ($\Lambda$ = 1 TeV)")
        ax.set_ylabel(r"$q(c) = -2\,\Delta\ln L$ (Asimov)")
        ax.set_ylim(0, 4 * 3.841)
        ax.legend()

    paths.append(outdir / "unbinned_ratio.png")
    with figure(paths[-1], 2, 1, figsize=(6, 6), sharex=True) as (fig, axes):
        m = np.asarray(s["ratio/m_tt_cells"])
        for ax, name, label in zip(axes, ("alpha", "beta"), (r"$\alpha(m_{t\bar t})$", r"$\beta(m_{t\bar t})$")):
            learned = np.asarray(r[f"ratio/{name}_vs_mtt"])
            lo, med, hi = np.percentile(learned, [16, 50, 84], axis=0)
            ax.fill_between(m, lo, hi, color="tab:orange", alpha=0.35, label="learned, replicas 68%")
            ax.plot(m, med, color="tab:orange", lw=1.5, label="learned, median")
            ax.plot(m, s[f"ratio/{name}_vs_mtt_exact"], "k--", lw=1.2, label="exact")
            ax.set_ylabel(label + r", $y_{t\bar t}$-averaged")
            ax.set_xscale("log")
        axes[0].legend()
        axes[1].set_xlabel(r"$m_{t\bar t}$ [GeV]")
        fig.suptitle(r"$r(x, c) = 1 + c\,\alpha(x) + c^2\,\beta(x)$")
    return paths
