"""``mlhep report`` on a trials table (``mlhep hyperopt``'s HDF5): the best trials, and with ``--plot`` the reward
per trial and per hyperparameter, as NNPDF shows its scans (arXiv:2109.02653 fig. 3.3): a violin (kernel density
of the rewards) per choice of a categorical or small-integer key, and for a continuous key the rewards against the
value with the density (KDE) of the values the best quarter of trials chose.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from mlhep.hyperopt.outputs import read
from mlhep.plotting import figure

BEST_SHOWN = 10
MAX_VIOLINS = 12          # an integer key with more distinct values is drawn as a continuous one


def summary(path: Path) -> str:
    cols, attrs = read(path)
    states = cols["state"]
    lines = [f"hyperopt {path}", f"task     {attrs['task']}   study '{attrs['study']}' in {attrs['storage']}",
             f"trials   {len(states)} finished of {attrs['trials_wanted']} wanted: "
             f"{int(np.sum(states == 'COMPLETE'))} complete, {int(np.sum(states == 'PRUNED'))} pruned, "
             f"{int(np.sum(states == 'FAIL'))} failed; training {np.nansum(cols['seconds']):.1f} s in all",
             f"reward   {_reward_text(attrs)}"]
    order = _ranked(cols, attrs["direction"])
    if not len(order):
        return "\n".join(lines + ["no trial completed"])
    keys = [k[len("values/"):] for k in cols if k.startswith("values/")]
    folds = cols["fold_losses"].shape[1] if attrs["reward"] == "kfold" else 0
    head = f"{'rank':>4} {'trial':>5} {'reward':>10}" + "".join(f" {'fold ' + str(k):>8}" for k in range(folds))
    lines += ["", head + "  " + "  ".join(keys)]
    for rank, row in enumerate(order[:BEST_SHOWN], 1):
        fold_text = "".join(f" {v:8.3g}" for v in cols["fold_losses"][row][:folds])
        values = "  ".join(_show(cols[f"values/{k}"][row]) for k in keys)
        lines.append(f"{rank:4d} {cols['number'][row]:5d} {cols['reward'][row]:10.4g}{fold_text}  {values}")
    if attrs.get("best_trial", -1) >= 0:
        lines.append(f"\nbest runcard: {Path(path).with_name(Path(path).stem + '-best.yaml')}")
    return "\n".join(lines)


def _reward_text(attrs: dict) -> str:
    if attrs["reward"] == "kfold":
        folds = json.loads(attrs["folds"]) if isinstance(attrs["folds"], str) else attrs["folds"]
        return (f"k-fold: {attrs['statistic']} over {len(folds)} folds of the held-out chi2 per point "
                f"(lower is better)")
    if attrs["reward"] == "output":
        return f"output '{attrs['output']}', mean over replicas ({attrs['direction']})"
    return "best validation loss, mean over replicas (lower is better)"


def _ranked(cols: dict, direction: str) -> np.ndarray:
    ok = np.flatnonzero((cols["state"] == "COMPLETE") & np.isfinite(cols["reward"]))
    order = np.argsort(cols["reward"][ok], kind="stable")
    return ok[order[::-1] if direction == "maximize" else order]


def _show(value) -> str:
    return f"{value:.4g}" if isinstance(value, (float, np.floating)) else str(value)


def plots(path: Path, outdir: Path) -> list[Path]:
    cols, attrs = read(path)
    outdir.mkdir(parents=True, exist_ok=True)
    ok = (cols["state"] == "COMPLETE") & np.isfinite(cols["reward"])
    written = [_reward_per_trial(cols, attrs, ok, outdir / "hyperopt_reward.png")]
    keys = [k[len("values/"):] for k in cols if k.startswith("values/")]
    if keys and ok.any():
        written.append(_per_hyperparameter(cols, attrs, ok, keys, outdir / "hyperopt_hyperparameters.png"))
    return written


def _reward_per_trial(cols: dict, attrs: dict, ok: np.ndarray, path: Path) -> Path:
    number, reward = cols["number"], cols["reward"]
    with figure(path, figsize=(7, 4)) as (fig, ax):
        ax.plot(number[ok], reward[ok], ".", label="trial")
        if ok.any():
            running = (np.maximum if attrs["direction"] == "maximize" else np.minimum).accumulate(reward[ok])
            ax.step(number[ok], running, where="post", color="k", label="best so far")
        if (~ok).any():
            ax.plot(number[~ok], np.full((~ok).sum(), np.nanmax(reward[ok]) if ok.any() else 1.0), "x",
                    color="grey", label="failed / pruned")
        _scale(ax, reward[ok])
        ax.set_xlabel("trial"), ax.set_ylabel("reward"), ax.legend()
        ax.set_title(f"{attrs['task']}: {_reward_text(attrs)}", fontsize=8)
    return path


def _per_hyperparameter(cols: dict, attrs: dict, ok: np.ndarray, keys: list[str], path: Path) -> Path:
    reward = cols["reward"][ok]
    space = json.loads(attrs["space"]) if isinstance(attrs["space"], str) else attrs["space"]
    ncols = min(len(keys), 3)
    nrows = -(-len(keys) // ncols)
    with figure(path, nrows, ncols, figsize=(4.5 * ncols, 3.6 * nrows), squeeze=False) as (fig, axes):
        for ax, key in zip(axes.flat, keys):
            values, dim = cols[f"values/{key}"][ok], space.get(key, {})
            labels = _categories(values, dim)
            if labels is not None:
                _violins(ax, values, reward, labels)
            else:
                _scatter_kde(ax, values.astype(float), reward, bool(dim.get("log")), attrs["direction"])
            _scale(ax, reward)
            ax.set_xlabel(key, fontsize=8), ax.set_ylabel("reward")
        for ax in list(axes.flat)[len(keys):]:
            ax.set_visible(False)
    return path


def _categories(values: np.ndarray, dim: dict) -> list | None:
    """The distinct values to draw as violins (categorical keys, integers with few values), or None."""
    if dim.get("choices") is not None:
        return [json.dumps(c) for c in dim["choices"]]
    if dim.get("integer") and len(np.unique(values)) <= MAX_VIOLINS:
        return sorted(np.unique(values).tolist())
    return None


def _violins(ax, values: np.ndarray, reward: np.ndarray, labels: list) -> None:
    groups = [reward[values == label] for label in labels]
    drawn = [i for i, g in enumerate(groups) if len(g) > 1]      # a violin needs two points
    if drawn:
        ax.violinplot([groups[i] for i in drawn], positions=drawn, showmedians=True)
    for i, g in enumerate(groups):
        ax.plot(np.full(len(g), i), g, ".", color="k", alpha=0.5)
    ax.set_xticks(range(len(labels)))
    ax.set_xticklabels([_short(label) for label in labels], rotation=30, fontsize=7)


def _short(label) -> str:
    text = label if isinstance(label, str) else f"{label:g}"
    return text.strip('"')


def _scatter_kde(ax, values: np.ndarray, reward: np.ndarray, log: bool, direction: str) -> None:
    ax.plot(values, reward, ".", alpha=0.7)
    if log:
        from matplotlib.ticker import NullFormatter
        ax.set_xscale("log")
        ax.xaxis.set_minor_formatter(NullFormatter())    # minor labels overlap on a range of one decade
    best = np.sort(reward)[::-1] if direction == "maximize" else np.sort(reward)
    chosen = values[np.isin(reward, best[:max(len(best) // 4, 2)])]
    x = np.log(chosen) if log else chosen
    if len(np.unique(x)) < 2:
        return
    from scipy.stats import gaussian_kde
    grid = np.linspace(x.min() - 0.2 * np.ptp(x), x.max() + 0.2 * np.ptp(x), 200)
    density = gaussian_kde(x)(grid)
    twin = ax.twinx()
    twin.fill_between(np.exp(grid) if log else grid, density, alpha=0.25, color="C1", label="best 25% (KDE)")
    twin.set_yticks([]), twin.legend(loc="upper right", fontsize=7)


def _scale(ax, reward: np.ndarray) -> None:
    """Log scale when the rewards span decades (a penalised trial next to good ones)."""
    finite = reward[np.isfinite(reward)]
    if len(finite) and finite.min() > 0 and finite.max() / finite.min() > 30:
        ax.set_yscale("log")
