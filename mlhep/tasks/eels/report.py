"""The text report and the plots of an eels-fit results file (``mlhep report``)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from mlhep.tasks.eels.analysis import band


def _interval(values: np.ndarray, digits: int = 2) -> str:
    """'m +u -d' of the median and the 68% interval of replica values (NaN ignored), '-' if there are none."""
    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values)]
    if values.size == 0:
        return "-"
    low, median, high = np.percentile(values, [16, 50, 84])
    return f"{median:.{digits}f} +{high - median:.{digits}f} -{median - low:.{digits}f}"


def report(results) -> str:
    r, s = results.replicas, results.summary
    names = [str(n) for n in np.atleast_1d(s["cluster/names"])]
    ok = _ok(results)
    lines = [f"eels-fit on {s['source']}: {results.n_replicas} replicas ({(~ok).sum()} failed or left out), "
             f"{len(names)} clusters; medians and 68% intervals over the replicas",
             f"{'cluster':<10} {'spectra':>7} {'dE1':>6} {'dE2':>6}  {'chi2/pt (region I)':<22} "
             f"{'E_bg (eV)':<20} {'b':<20} {'t/lambda':<20}"]
    for k, name in enumerate(names):
        col = {q: _interval(r[f"cluster/{q}"][ok, k], 3 if q == "thickness" else 2) if f"cluster/{q}" in r else "-"
               for q in ("chi2", "bandgap", "exponent", "thickness")}
        sizes = f"{int(s['cluster/sizes'][k]):>7} {s['cluster/de1'][k]:>6.3f} {s['cluster/de2'][k]:>6.2f}"
        lines.append(f"{name:<10} {sizes}  {col['chi2']:<22} {col['bandgap']:<20} {col['exponent']:<20} "
                     f"{col['thickness']:<20}")
    if "cluster/thickness_kk" in r:
        lines.append("Kramers-Kronig thickness (nm): " + ", ".join(
            f"{name} {_interval(r['cluster/thickness_kk'][ok, k], 1)}" for k, name in enumerate(names)
            if name != "vacuum"))
    window = s["bandgap/window"]
    fixed = float(s["bandgap/fixed_exponent"])
    lines.append(f"bandgap fit A (E - E_bg)^b in [{window[0]:g}, {window[1]:g}] eV, "
                 + ("b fitted" if np.isnan(fixed) else f"b fixed at {fixed:g}"))
    if "pixel/bandgap" in r or "pixel/thickness" in r:
        lines.append("per spectrum:")
        for i in range(r.get("pixel/bandgap", r.get("pixel/thickness")).shape[1]):
            parts = [f"{q} {_interval(r[f'pixel/{key}'][ok, i], 3 if key == 'thickness' else 2)}"
                     for q, key in (("E_bg", "bandgap"), ("b", "exponent"), ("t/lambda", "thickness"))
                     if f"pixel/{key}" in r]
            labels = np.atleast_1d(s.get("pixel/labels", []))
            name = f"{i} ({labels[i]})" if len(labels) > i else f"{i}"
            lines.append(f"  spectrum {name}: " + ", ".join(parts))
    maps = [q for q in ("bandgap", "exponent", "thickness") if f"map/{q}/median" in s]
    if maps and bool(s["is_image"]):
        shape = tuple(int(v) for v in s["pixel_shape"])
        lines.append(f"maps ({shape[0]} x {shape[1]} pixels): over the pixels, the replica medians span")
        for q in maps:
            m, width = s[f"map/{q}/median"], s[f"map/{q}/high"] - s[f"map/{q}/low"]
            lines.append(f"  {q:<10} {np.nanpercentile(m, 5):.3f} to {np.nanpercentile(m, 95):.3f} (5-95%), median "
                         f"68% width {np.nanmedian(width):.3f}")
    lines += _truth_lines(results)
    return "\n".join(lines)


def _truth_lines(results) -> list[str]:
    """Closure against a synthetic truth: the recovered E_bg, b and t/lambda against the generated ones."""
    s = results.summary
    if "truth/bandgap" not in s:
        return []
    lines = [f"synthetic truth: E_bg {float(s['truth/bandgap']):g} eV, b {float(s['truth/exponent']):g}"]
    if "map/thickness/median" in s:
        true, fit = s["truth/thickness_on_axis"], s["map/thickness/median"]
        width = (s["map/thickness/high"] - s["map/thickness/low"]) / 2
        lines.append(f"  t/lambda: median |fit - truth on the axis| {np.nanmedian(np.abs(fit - true)):.4f} "
                     f"(median 68% half-width {np.nanmedian(width):.4f})")
    for q in ("bandgap", "exponent"):
        if f"map/{q}/median" in s:
            fit = s[f"map/{q}/median"]
            lines.append(f"  {q}: pixel medians {np.nanmedian(fit):.3f} (16-84% over pixels "
                         f"{np.nanpercentile(fit, 16):.3f} to {np.nanpercentile(fit, 84):.3f}); truth "
                         f"{float(s[f'truth/{q}']):g}, the same fit to the noiseless inelastic signal "
                         f"{np.nanmedian(s[f'truth/{q}_fit']):.3f}")
    return lines


def plot_all(results, outdir: Path) -> list[Path]:
    outdir.mkdir(parents=True, exist_ok=True)
    paths = [_plot_clusters(results, outdir / "eels_zlp.png")]
    if "cluster/bandgap" in results.replicas:
        paths.append(_plot_bandgap(results, outdir / "eels_bandgap.png"))
    s = results.summary
    if bool(s["is_image"]) and any(f"map/{q}/median" in s for q in ("bandgap", "thickness")):
        paths.append(_plot_maps(results, outdir / "eels_maps.png"))
    if "pixel/inelastic/median" in s:
        paths.append(_plot_pixels(results, outdir / "eels_spectra.png"))
    if "cluster/eps1/median" in s or "cluster/ssd/median" in s:
        paths.append(_plot_dielectric(results, outdir / "eels_single_scattering.png"))
    return paths


def _ok(results) -> np.ndarray:
    """The replicas in the results: trained, and below ``analysis.max_loss`` if set."""
    return np.asarray(results.replicas["selected"], dtype=bool)


def _plot_clusters(results, path: Path) -> Path:
    """Each cluster's median spectrum with the ZLP band and the subtracted signal's band (68%), log scale."""
    from mlhep.plotting import figure
    r, s = results.replicas, results.summary
    names, e, ok = [str(n) for n in np.atleast_1d(s["cluster/names"])], s["energy"], _ok(results)
    with figure(path, 1, len(names), figsize=(5.5 * len(names), 4), squeeze=False) as (fig, axes):
        for k, (ax, name) in enumerate(zip(axes[0], names)):
            ax.semilogy(e, np.clip(s["cluster/median"][k], 1, None), "k-", lw=1, label="median spectrum")
            for key, colour, label in (("zlp", "tab:blue", "ZLP model"), ("inelastic", "tab:red", "subtracted")):
                b = band(r[f"cluster/{key}"][ok, k])
                ax.fill_between(e, np.clip(b["low"], 1, None), np.clip(b["high"], 1, None), color=colour, alpha=0.35,
                                label=f"{label} (68%)")
                ax.plot(e, np.clip(b["median"], 1, None), color=colour, lw=0.8)
            for x in (s["cluster/de1"][k], s["cluster/de2"][k]):
                ax.axvline(x, color="grey", ls="--", lw=0.8)
            ax.set_xlim(e[0], min(e[-1], 3 * s["cluster/de2"][k]))
            ax.set_ylim(1, 3 * np.max(s["cluster/median"][k]))
            ax.set_xlabel("energy loss (eV)"), ax.set_ylabel("counts"), ax.set_title(f"{name} (dE1, dE2 dashed)")
            ax.legend(fontsize=8)
    return path


def _plot_bandgap(results, path: Path) -> Path:
    """The subtracted spectrum near the onset with every replica's fit (bands), per specimen cluster."""
    from mlhep.plotting import figure
    r, s = results.replicas, results.summary
    names, e, ok = [str(n) for n in np.atleast_1d(s["cluster/names"])], s["energy"], _ok(results)
    specimen = [k for k, n in enumerate(names) if n != "vacuum"]
    window = s["bandgap/window"]
    with figure(path, 1, len(specimen), figsize=(5.5 * len(specimen), 4), squeeze=False) as (fig, axes):
        for ax, k in zip(axes[0], specimen):
            near = (e > max(window[0] - 1.0, 0)) & (e < window[1] + 0.5)
            b = band(r["cluster/inelastic"][ok, k][:, near])
            ax.fill_between(e[near], b["low"], b["high"], color="tab:red", alpha=0.35, label="subtracted (68%)")
            ax.plot(e[near], b["median"], color="tab:red", lw=0.8)
            a, g, x = (r[f"cluster/{q}"][ok, k][:, None] for q in ("amplitude", "bandgap", "exponent"))
            curves = a * np.clip(e[near][None] - g, 0, None) ** x
            fit = band(curves)
            ax.fill_between(e[near], fit["low"], fit["high"], color="tab:green", alpha=0.35,
                            label="A (E - E_bg)^b (68%)")
            ax.plot(e[near], fit["median"], "g--", lw=1)
            ax.axvspan(*window, color="grey", alpha=0.12, label="fit window")
            ax.set_title(f"{names[k]}: E_bg {np.nanmedian(g):.2f} eV, b {np.nanmedian(x):.2f}")
            ax.set_xlabel("energy loss (eV)"), ax.set_ylabel("counts"), ax.legend(fontsize=8)
    return path


def _plot_maps(results, path: Path) -> Path:
    """Median and 68% width over replicas of E_bg, b and t/lambda, per pixel."""
    from mlhep.plotting import figure
    s = results.summary
    quantities = [q for q in ("bandgap", "exponent", "thickness") if f"map/{q}/median" in s]
    labels = {"bandgap": "E_bg (eV)", "exponent": "b", "thickness": "t/lambda"}
    with figure(path, 2, len(quantities), figsize=(4.2 * len(quantities), 7), squeeze=False) as (fig, axes):
        for j, q in enumerate(quantities):
            median, width = s[f"map/{q}/median"], s[f"map/{q}/high"] - s[f"map/{q}/low"]
            for i, (values, title) in enumerate(((median, f"{labels[q]}: median"), (width, "68% width"))):
                lo, hi = np.nanpercentile(values, [2, 98]) if np.isfinite(values).any() else (0, 1)
                image = axes[i, j].imshow(values, origin="lower", vmin=lo, vmax=hi, cmap="viridis")
                fig.colorbar(image, ax=axes[i, j], shrink=0.8)
                axes[i, j].set_title(title)
    return path


def _plot_pixels(results, path: Path) -> Path:
    """The subtracted signal of every analysed spectrum (68% band), below 3 times the bandgap window's end."""
    from mlhep.plotting import figure
    s = results.summary
    e, window = s["energy"], s["bandgap/window"]
    near = (e > 0) & (e < window[1] * 1.5)
    with figure(path, 1, 1, figsize=(7, 4.5)) as (fig, ax):
        for i in range(s["pixel/inelastic/median"].shape[0]):
            line, = ax.plot(e[near], s["pixel/inelastic/median"][i, near], lw=0.8, label=f"spectrum {i}")
            ax.fill_between(e[near], s["pixel/inelastic/low"][i, near], s["pixel/inelastic/high"][i, near],
                            color=line.get_color(), alpha=0.25)
        ax.axvspan(*window, color="grey", alpha=0.12)
        ax.set_xlabel("energy loss (eV)"), ax.set_ylabel("subtracted counts (68% bands)")
        ax.legend(fontsize=7, ncol=2)
    return path


def _plot_dielectric(results, path: Path) -> Path:
    """Single-scattering distributions, and eps1, eps2 of the Kramers-Kronig analysis (68% bands)."""
    from mlhep.plotting import figure
    s = results.summary
    names = [str(n) for n in np.atleast_1d(s["cluster/names"])]
    panels = 2 if "cluster/eps1/median" in s else 1
    with figure(path, 1, panels, figsize=(5.5 * panels, 4), squeeze=False) as (fig, axes):
        e = s["energy"]
        for k, name in enumerate(names):
            if "cluster/ssd/median" in s and np.isfinite(s["cluster/ssd/median"][k]).any():
                axes[0, 0].fill_between(e, s["cluster/ssd/low"][k], s["cluster/ssd/high"][k], alpha=0.35, label=name)
        axes[0, 0].set_xlim(0, e[-1]), axes[0, 0].set_xlabel("energy loss (eV)")
        axes[0, 0].set_ylabel("single scattering (counts)"), axes[0, 0].legend(fontsize=8)
        if panels == 2:
            ek = s["cluster/eps_energy"]
            for k, name in enumerate(names):
                for part, style in (("eps1", "-"), ("eps2", "--")):
                    if np.isfinite(s[f"cluster/{part}/median"][k]).any():
                        axes[0, 1].plot(ek, s[f"cluster/{part}/median"][k], style, label=f"{name} {part}")
                        axes[0, 1].fill_between(ek, s[f"cluster/{part}/low"][k], s[f"cluster/{part}/high"][k],
                                                alpha=0.25)
            axes[0, 1].set_xlabel("energy (eV)"), axes[0, 1].set_ylabel("dielectric function")
            axes[0, 1].legend(fontsize=8)
    return path
