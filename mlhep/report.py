"""``mlhep report``: the engine's summary of any results file, then the task's own table and plots (or, for a
``mlhep hyperopt`` trials table, its best trials and scan plots)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from mlhep.errors import ResultsError
from mlhep.hyperopt import report as hyperopt_report
from mlhep.hyperopt.outputs import is_hyperopt_file
from mlhep.io.results import Results
from mlhep.plotting import figure
from mlhep.registry import load_tasks


def _task_of(res: Results):
    tasks = load_tasks()
    if res.task not in tasks:
        raise ResultsError(f"{res.path}: made by task '{res.task}', which is not installed here")
    return tasks[res.task]


def training_summary(res: Results) -> str:
    prov = res.provenance
    lines = [f"results  {res.path}", f"task     {res.task}   runcard {res.runcard_path} "
             f"(sha256 {res.runcard_sha256[:12]})",
             f"made     {prov.get('finished', '?')} with mlhep {prov.get('versions', {}).get('mlhep', '?')}, "
             f"jax {prov.get('versions', {}).get('jax', '?')} on {prov.get('device', {}).get('kind', '?')}"]
    if res.train:
        wall = prov.get("training_seconds") or float("nan")
        lines.append(f"replicas {res.n_replicas} (ids {prov.get('replica_ids', '?')}), training {wall:.1f} s")
    for stage in res.stages:   # [""] for a single-stage fit; train/<stage>/ of each stage otherwise
        train, name = res.stage_train(stage), f"stage {stage}: " if stage else ""
        epochs, valid, stopped = train["best_epoch"], train["best_valid"], train["stopped"]
        lines += [f"stopping {name}best epoch mean {epochs.mean():.0f} (min {epochs.min()}, max {epochs.max()}); "
                  f"{int(stopped.sum())} stopped early, {int((~stopped).sum())} reached the epoch limit",
                  f"valid    {name}best validation loss median {np.median(valid):.4g} "
                  f"(16-84%: {np.percentile(valid, 16):.4g} .. {np.percentile(valid, 84):.4g})"]
    return "\n".join(lines)


def summary(path: Path) -> str:
    if is_hyperopt_file(path):
        return hyperopt_report.summary(path)
    res = Results.read(path)
    text = _task_of(res).report(res)
    return training_summary(res) + ("\n\n" + text if text else "")


def plots(path: Path, outdir: Path) -> list[Path]:
    try:
        outdir.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ResultsError(f"cannot create the plot folder {outdir}: {err.strerror}") from None
    if is_hyperopt_file(path):
        return hyperopt_report.plots(path, outdir)
    res = Results.read(path)
    written = list(_task_of(res).plot(res, outdir))
    for stage in res.stages:
        if res.stage_train(stage)["history_valid"].size:
            written.append(_history_plot(res, outdir, stage))
    return written


def export(path: Path, outdir: Path) -> list[Path]:
    """The results in the field tool's own layout (``Task.export``: eft-fit binned -> SMEFiT's JSON)."""
    res = Results.read(path)
    task = _task_of(res)
    if not hasattr(task, "export"):
        raise ResultsError(f"{path}: task '{res.task}' has no export format (--export is for eft-fit binned)")
    return list(task.export(res, outdir))


def _history_plot(res: Results, outdir: Path, stage: str = "") -> Path:
    hist = res.stage_train(stage)["history_valid"]
    engine = res.resolved.get("engine", {})
    chunk = engine.get("stages", {}).get(stage, engine).get("chunk", 1)
    epochs = chunk * (1 + np.arange(hist.shape[1]))
    path = outdir / (f"training_history_{stage}.png" if stage else "training_history.png")
    with figure(path, figsize=(6, 4)) as (fig, ax):
        ax.plot(epochs, hist.T, lw=0.5, alpha=0.5)
        ax.set_yscale("symlog" if np.nanmin(hist) <= 0 else "log"), ax.set_xlabel("epoch")
        ax.set_ylabel("validation loss")
        ax.set_title(f"{res.task}{' ' + stage if stage else ''}: {res.n_replicas} replicas")
    return path
