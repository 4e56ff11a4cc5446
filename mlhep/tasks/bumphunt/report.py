"""bump-hunt's report and plots: a table per method (max SIC, rejection, local significance per cut efficiency,
global p-value), the SIC curves, the m_jj fit of each method's cut spectrum with its pulls, and the significance
against the cut efficiency."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from mlhep.tasks.bumphunt.dijet_fit import sideband_bins


def _methods(summary) -> list[str]:
    return [m for m in str(summary["methods"]).split(",") if m]


def _value(summary, key, default=np.nan):
    return np.asarray(summary.get(key, default), dtype=np.float64)


def table(summary) -> str:
    """The text table of a results summary (also logged at the end of ``mlhep fit``)."""
    effs = np.asarray(summary["efficiencies"])
    eps_s = np.asarray(summary["eps_s"])
    z_cols = "  ".join(f"Z@{e:g}".rjust(8) for e in effs)
    p_cols = "  ".join(f"p_glob@{e:g}".rjust(11) for e in effs)
    rej_cols = "  ".join(f"R@eS{e:g}".rjust(8) for e in eps_s)
    lines = [f"bump-hunt: {int(summary['n_events'])} events, {int(summary['n_signal_region'])} in the signal region "
             f"{np.asarray(summary['signal_region']).tolist()} TeV ({int(summary['n_signal_region_signal'])} "
             "labelled signal)",
             f"no cut: observed {float(_value(summary, 'uncut/observed')[0]):.0f}, sideband fit "
             f"{float(_value(summary, 'uncut/background')[0]):.1f} +- "
             f"{float(_value(summary, 'uncut/background_error')[0]):.1f}, Z_local "
             f"{float(_value(summary, 'uncut/z_local')[0]):.2f}, global p "
             f"{float(_value(summary, 'uncut/p_global')[0]):.3g}",
             f"{'method':<11}{'max SIC':>8}  {rej_cols}  {z_cols}  {p_cols}"]
    for m in _methods(summary):
        sic = float(_value(summary, f"{m}/max_sic"))
        rej = _value(summary, f"{m}/rejection", np.full(len(eps_s), np.nan))
        z = _value(summary, f"{m}/z_local")
        valid = _value(summary, f"{m}/valid", np.ones(len(z))) > 0
        p = _value(summary, f"{m}/p_global")
        lines.append(f"{m:<11}{sic:8.2f}  " + "  ".join(f"{r:8.1f}" for r in rej) + "  "
                     + "  ".join(f"{v:7.2f}{' ' if ok or not np.isfinite(v) else '*'}" for v, ok in zip(z, valid))
                     + "  " + "  ".join(f"{v:11.3g}" for v in p))
    lines += ["max SIC: eps_S / sqrt(eps_B) over cuts keeping >= 25 background events; R@eS: 1 / eps_B at that "
              "signal efficiency (signal-region out-of-fold scores, truth labels)",
              "Z@eff: local significance of the signal-region count over the sideband fit after keeping that "
              "fraction of the signal-region events",
              "  (*: no valid test: the fitted background does not fall smoothly near the signal region, the fit did "
              "not converge, or ANODE's flow-based estimate; nan: too few events for a fit)",
              "p_glob: BumpHunter global p-value over all windows (0: below 1 / pseudo-experiments)"]
    return "\n".join(lines)


def report(results) -> str:
    return table(results.summary)


def plot(results, outdir: Path) -> list[Path]:
    from mlhep.plotting import figure
    s, outdir = results.summary, Path(outdir)
    methods, paths = _methods(s), []
    effs = np.asarray(s["efficiencies"])
    with_sic = [m for m in methods if f"{m}/sic" in s]
    if with_sic:
        path = outdir / "bump_hunt_sic.png"
        with figure(path, figsize=(6, 4.5)) as (fig, ax):
            for m in with_sic:
                ax.plot(s[f"{m}/sic_eps_s"], s[f"{m}/sic"], label=f"{m} (max {float(s[f'{m}/max_sic']):.1f})")
            ax.axhline(1, color="grey", ls=":", label="random")
            ax.set_xlabel("signal efficiency eps_S (signal region)"), ax.set_ylabel("SIC = eps_S / sqrt(eps_B)")
            ax.legend()
        paths.append(path)
    edges, (lo, hi) = np.asarray(s["edges"]), np.asarray(s["signal_region"])
    centres = 0.5 * (edges[1:] + edges[:-1])
    side = sideband_bins(edges, (lo, hi))
    for m in ["uncut"] + [m for m in methods if f"{m}/counts" in s and np.isfinite(s[f"{m}/counts"]).any()]:
        counts, expected = np.asarray(s[f"{m}/counts"]), np.asarray(s[f"{m}/expected"])
        z, ok = _value(s, f"{m}/z_local"), _value(s, f"{m}/valid") > 0
        best = np.where(ok, z, np.nan) if np.isfinite(np.where(ok, z, np.nan)).any() else z
        i = int(np.nanargmax(best)) if np.isfinite(best).any() else len(counts) - 1   # the most significant cut
        path = outdir / f"bump_hunt_fit_{m}.png"
        with figure(path, 2, 1, figsize=(6, 6), sharex=True, gridspec_kw={"height_ratios": [3, 1]}) as (fig, ax):
            ax[0].errorbar(centres, counts[i], np.sqrt(counts[i]), fmt="k.", label="events")
            fitted = np.isfinite(expected[i]).any()
            ax[0].plot(centres, expected[i], "C0-", label="dijet fit to the sidebands" if fitted else
                       "no valid sideband fit (too few events, or a rising fit)")
            ax[0].axvspan(lo, hi, color="grey", alpha=0.2, label="signal region")
            valid = bool(ok[i])
            cut = ("no cut" if m == "uncut" else f"{m}, {effs[i]:g} of the signal region kept") + \
                f", Z = {z[i]:.1f}" + ("" if valid else " (fit not falling near the SR: no valid test)")
            ax[0].set_yscale("log", nonpositive="clip"), ax[0].set_ylabel("events / bin"), ax[0].legend(title=cut)
            pull = (counts[i] - expected[i]) / np.sqrt(np.maximum(expected[i], 1e-9))
            ax[1].bar(centres, pull, width=np.diff(edges), color=np.where(side, "C0", "C3"))
            ax[1].axhline(0, color="k"), ax[1].set_ylabel("pull"), ax[1].set_xlabel("m_jj [TeV]")
        paths.append(path)
    path = outdir / "bump_hunt_significance.png"
    with figure(path, 1, 2, figsize=(10, 4)) as (fig, (left, right)):
        for k, m in enumerate(methods):
            z, ok = np.asarray(s[f"{m}/z_local"]), _value(s, f"{m}/valid") > 0
            left.plot(effs, z, "-", color=f"C{k}", label=f"{m} (x: fit not falling near the SR)")
            left.plot(effs[ok], z[ok], "o", color=f"C{k}"), left.plot(effs[~ok], z[~ok], "x", color=f"C{k}")
            right.plot(effs, s[f"{m}/z_global"], "o-", color=f"C{k}", label=m)
        for ax, what in ((left, "local Z (signal region)"), (right, "global Z (BumpHunter)")):
            ax.axhline(float(_value(s, "uncut/z_local" if ax is left else "uncut/z_global")[0]), color="grey",
                       ls="--", label="no cut")
            ax.set_xlim(effs.min() / 1.5, effs.max() * 1.5)      # also when every Z is NaN (no data to scale)
            ax.set_xscale("log"), ax.set_xlabel("fraction of signal-region events kept"), ax.set_ylabel(what)
            ax.legend()
    paths.append(path)
    return paths
