"""Plots of a binned EFT fit: 1D posteriors (or profiles) per coefficient and 68/95% contours for a few pairs."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from mlhep.plotting import figure

from .summary import is_individual
from .report import _names, _str
from .scans import DELTA_CHI2_2D


def _free_samples(results, free_index: np.ndarray):
    """(S, F) samples of the free coefficients, or None for analytic/scan fits."""
    s = results.summary
    if "coefficients" in results.replicas:
        kept = ~np.asarray(results.replicas.get("failed", False), dtype=bool)   # failed replicas are NaN
        return np.asarray(results.replicas["coefficients"])[np.broadcast_to(kept, results.n_replicas)][:, free_index]
    if "posterior/samples" in s:
        return np.asarray(s["posterior/samples"])[:, free_index]
    return None


def _mass_levels(hist: np.ndarray, fractions=(0.95, 0.68)) -> list[float]:
    """Density levels enclosing the given probability fractions of a gridded density (highest-density regions)."""
    flat = np.sort(hist.ravel())[::-1]
    cumulative = np.cumsum(flat) / flat.sum()
    return [float(flat[min(np.searchsorted(cumulative, f), flat.size - 1)]) for f in fractions]


def _kde_grid(x: np.ndarray, y: np.ndarray, points: int = 80):
    """Gaussian kernel density estimate (scipy, Scott's bandwidth) of 2D samples on a regular grid; None when
    the samples span no area (e.g. two replicas left after failures: no density to draw, only the points)."""
    from scipy.stats import gaussian_kde

    if len(x) < 3 or np.linalg.matrix_rank(np.cov(np.stack([x, y]))) < 2:
        return None
    kde = gaussian_kde(np.stack([x, y]))
    pad_x, pad_y = 0.15 * np.ptp(x), 0.15 * np.ptp(y)
    xs = np.linspace(x.min() - pad_x, x.max() + pad_x, points)
    ys = np.linspace(y.min() - pad_y, y.max() + pad_y, points)
    mx, my = np.meshgrid(xs, ys, indexing="ij")
    return xs, ys, kde(np.stack([mx.ravel(), my.ravel()])).reshape(points, points)


def _pairs(results, free: list[str], correlation: np.ndarray, count: int = 3) -> list[tuple[int, int]]:
    s = results.summary
    if "scan2d/pairs" in s:
        return [tuple(int(v) for v in p) for p in np.atleast_2d(s["scan2d/pairs"])]
    F = len(free)
    candidates = [(abs(correlation[i, j]), i, j) for i in range(F) for j in range(i + 1, F)]
    return [(i, j) for _, i, j in sorted(candidates, reverse=True)[:count]]


def plot_binned(results, outdir: Path) -> list[Path]:
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    s = results.summary
    names, free = _names(s["coefficients/names"]), _names(s["coefficients/free"])
    free_index = np.array([names.index(f) for f in free])
    samples = _free_samples(results, free_index)
    best, mean, std = (np.asarray(s[k])[free_index] for k in ("best_fit", "mean", "std"))
    fit = _str(s["fit"])
    paths = []

    columns = min(4, len(free))
    rows = int(np.ceil(len(free) / columns))
    paths.append(outdir / "eft_binned_1d.png")
    with figure(paths[-1], rows, columns, figsize=(3.2 * columns, 2.6 * rows), squeeze=False) as (fig, axes):
        for k, name in enumerate(free):
            ax = axes.flat[k]
            if samples is not None:
                bins = int(np.clip(1.5 * np.sqrt(len(samples)), 10, 50))
                ax.hist(samples[:, k], bins=bins, density=True, color="C0", alpha=0.5)
                if np.ptp(samples[:, k]) > 0:
                    from scipy.stats import gaussian_kde
                    xs = np.linspace(samples[:, k].min(), samples[:, k].max(), 200)
                    ax.plot(xs, gaussian_kde(samples[:, k])(xs), color="C0")
                lo, hi = np.asarray(s["bounds68"])[free_index[k]]
                ax.axvspan(lo, hi, color="C0", alpha=0.12, label="68%")
                ax.set_ylabel("posterior density")
            elif "scan1d/grid" in s:
                grid, chi2 = s["scan1d/grid"][k], s["scan1d/chi2"][k]
                ax.plot(grid, chi2 - chi2.min(), color="C0")
                for level in (1.0, 3.84):
                    ax.axhline(level, color="grey", lw=0.7, ls="--")
                ax.set_ylabel(r"$\Delta\chi^2$ (profile)")
            else:
                x = np.linspace(mean[k] - 4 * std[k], mean[k] + 4 * std[k], 200)
                ax.plot(x, np.exp(-0.5 * ((x - mean[k]) / std[k]) ** 2) / (np.sqrt(2 * np.pi) * std[k]), color="C0")
                ax.set_ylabel("Gaussian posterior")
            ax.axvline(best[k], color="C3", lw=1, label="best fit")
            ax.axvline(0.0, color="k", lw=0.7, ls=":", label="SM")
            ax.set_xlabel(f"{name} [TeV$^{{-2}}$]")
        for ax in list(axes.flat)[len(free):]:
            ax.set_visible(False)
        axes.flat[0].legend(fontsize=7)
        fig.suptitle(f"eft-fit binned ({fit}{', one at a time' if is_individual(s) else ''}): 1D distributions")

    pairs = [] if is_individual(s) else _pairs(results, free, np.asarray(s["correlation"]))
    if pairs and len(free) > 1:        # (one-at-a-time fits have no joint distribution to draw)
        paths.append(outdir / "eft_binned_2d.png")
        with figure(paths[-1], 1, len(pairs), figsize=(4 * len(pairs), 3.6), squeeze=False) as (fig, axes):
            for ax, (i, j), k in zip(axes.flat, pairs, range(len(pairs))):
                if "scan2d/chi2" in s:
                    chi2 = s["scan2d/chi2"][k]
                    ax.contour(s["scan2d/axis_a"][k], s["scan2d/axis_b"][k], (chi2 - chi2.min()).T,
                               levels=[DELTA_CHI2_2D[68], DELTA_CHI2_2D[95]], colors=["C0", "C1"])
                elif samples is not None:
                    grid = _kde_grid(samples[:, i], samples[:, j])
                    if grid is not None:
                        xs, ys, density = grid
                        ax.contour(xs, ys, density.T, levels=sorted(set(_mass_levels(density))),
                                   colors=["C1", "C0"])
                    ax.scatter(samples[:, i], samples[:, j], s=2, color="grey", alpha=0.3)
                else:
                    cov = np.asarray(s["analytic/covariance"])[np.ix_([i, j], [i, j])]
                    values, vectors = np.linalg.eigh(cov)
                    t = np.linspace(0, 2 * np.pi, 200)
                    for level, color in ((DELTA_CHI2_2D[68], "C0"), (DELTA_CHI2_2D[95], "C1")):
                        circle = np.stack([np.cos(t), np.sin(t)]) * np.sqrt(level * np.clip(values, 0, None))[:, None]
                        ellipse = vectors @ circle
                        ax.plot(best[i] + ellipse[0], best[j] + ellipse[1], color=color)
                ax.plot(best[i], best[j], "r+", label="best fit")
                ax.plot(0, 0, "kx", label="SM")
                ax.set_xlabel(f"{free[i]} [TeV$^{{-2}}$]")
                ax.set_ylabel(f"{free[j]} [TeV$^{{-2}}$]")
            axes.flat[0].legend(fontsize=7, title="68% / 95%")
            fig.suptitle(f"eft-fit binned ({fit}): 2D 68% and 95% regions")
    return paths
