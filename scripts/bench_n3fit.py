"""Benchmark NNPDF's n3fit against mlhep on the same DIS data, FK tables and methodology, in one run.

1. checks the n3fit environment (``make n3fit-venv``);
2. exports mlhep's FK tables of the runcard's datasets at ``--order`` as an n3fit theory, with its theory card,
   a validphys profile and the Les Houches toy t0 set (scripts/n3fit_inputs.py; skipped when already done);
3. verifies the export: validphys predictions with the toy PDF vs mlhep FK table x toy (fails above 1e-4);
4. runs vp-setupfit + n3fit for each ``--replicas`` count (several replicas: one n3fit process, ``-r N``,
   ``parallel_models``), early stopping off; ms per replica per epoch = median of the 100-epoch intervals of
   its log (timestamped as the lines arrive) after epoch 200; start-up = time before the first epoch;
5. times mlhep on the same data: the jitted batched epoch program of scripts/bench_pdf.py (compilation
   excluded) and an end-to-end fit of the same epochs (runcard loading and compilation included);
6. prints the tables and writes ``--output`` (default benchmarks/n3fit.md).

With ``--fit``, steps 4-6 compare fit quality instead (:func:`fit_comparison`): n3fit fits ``--fit-replicas``
replicas (one process) with the runcard's methodology, its epochs and early stopping (patience as a fraction of
the epochs); mlhep fits the same replicas (``mlhep fit --replicas 0:N``); n3fit's exportgrid PDFs are contracted
with mlhep's FK tables, so both codes get chi2 per dataset of the replica-mean prediction with mlhep's
experimental covariance; writes ``--output`` (default benchmarks/n3fit-fit.md).

    python scripts/bench_n3fit.py [--n3fit-venv .venv-n3fit] [--order NLO] [--epochs 2000] [--replicas 1,4]
    python scripts/bench_n3fit.py --fit [--fit-replicas 4]
"""
from __future__ import annotations

import argparse
import copy
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import time
from importlib.metadata import version
from pathlib import Path

import numpy as np
import yaml

from bench_pdf import load_trainable, per_replica_epoch   # also: MLHEP_JAX_CACHE=0 (compilation measured)
import n3fit_inputs as inputs
from mlhep.fit import load
from mlhep.paths import cache_dir
from mlhep.stats.chi2 import chi2
from mlhep.runtime import use_precision

use_precision("float64")   # what mlhep fit sets for these tasks (import mlhep sets nothing)

REPO = Path(__file__).resolve().parents[1]
EPOCH_LINE = re.compile(r"Epoch (\d+)/(\d+)")
STOPPED = re.compile(r"Stopped at epoch=(\d+)")
TOLERANCE = 1e-4


def check_venv(venv: Path) -> None:
    missing = [p for p in ("bin/n3fit", "bin/vp-setupfit", "bin/python") if not (venv / p).exists()]
    if missing:
        sys.exit(f"n3fit environment {venv} not found (missing {', '.join(missing)}); create it with\n"
                 f"  make n3fit-venv\nor\n  python3 -m venv {venv} && {venv}/bin/pip install nnpdf "
                 "lhapdf-management pdfflow")


def n3fit_env(venv: Path, workdir: Path) -> dict:
    return dict(os.environ, NNPDF_PROFILE_PATH=str(workdir / "nnprofile.yaml"), PYTHONUNBUFFERED="1",
                LHAPDF_DATA_PATH=str(workdir / "share" / "LHAPDF"),
                PATH=f"{venv / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}")


def run_n3fit(venv: Path, env: dict, rundir: Path, card: dict, name: str, replicas: int,
              all_epochs: bool = True) -> dict:
    """vp-setupfit then n3fit of ``replicas`` replicas; timings from the timestamped log. ``all_epochs``: fail
    unless the fit trained all epochs (early stopping off)."""
    rundir.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(rundir / name, ignore_errors=True)
    (rundir / f"{name}.yml").write_text(yaml.safe_dump(card, sort_keys=False))
    start = time.time()
    with open(rundir / f"setupfit_{name}.log", "w") as log:
        if subprocess.run([str(venv / "bin" / "vp-setupfit"), f"{name}.yml"], cwd=rundir, env=env, stdout=log,
                          stderr=subprocess.STDOUT).returncode:
            sys.exit(f"vp-setupfit failed, see {rundir / f'setupfit_{name}.log'}")
    setup = time.time() - start
    command = [str(venv / "bin" / "n3fit"), f"{name}.yml", "1"] + (["-r", str(replicas)] if replicas > 1 else [])
    epochs, stopped = [], None
    launch = time.time()
    with open(rundir / f"n3fit_{name}.log", "w") as log:
        proc = subprocess.Popen(command, cwd=rundir, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True, bufsize=1)
        for line in proc.stdout:
            now = time.time()
            log.write(f"{now:.4f} {line}")
            if match := EPOCH_LINE.search(line):
                epochs.append((int(match.group(1)), now))
            if match := STOPPED.search(line):
                stopped = int(match.group(1))
        code = proc.wait()
    total = time.time() - launch
    if code or len(epochs) < 2:
        sys.exit(f"n3fit failed (exit {code}, {len(epochs)} epoch lines), see {rundir / f'n3fit_{name}.log'}")
    wanted = card["parameters"]["epochs"]
    if all_epochs and stopped != wanted:
        sys.exit(f"n3fit stopped at epoch {stopped}, not {wanted}: early stopping was not off")
    intervals = [(t1 - t0) / (e1 - e0) for (e0, t0), (e1, t1) in zip(epochs, epochs[1:])]
    late = [v for (e0, _), v in zip(epochs, intervals) if e0 >= 200] or intervals
    per_epoch = statistics.median(late)
    first_epoch, first_time = epochs[0]
    return dict(per_epoch=per_epoch / replicas, setup=setup, total=total, intervals=len(late),
                startup=first_time - launch - first_epoch * per_epoch, stopped=stopped)


def mlhep_runcard(path: Path, order: str, workdir: Path) -> Path:
    """``path``, or a copy next to the export with ``theory.order`` set to ``order``."""
    raw = yaml.safe_load(path.read_text())
    if raw.get("theory", {}).get("order", "NLO") == order:
        return path
    raw.setdefault("theory", {})["order"] = order
    out = workdir / f"mlhep-{path.stem}-{order}.yaml"
    out.write_text(yaml.safe_dump(raw, sort_keys=False))
    return out


def mlhep_timings(path: Path, sizes: list[int], epochs: int, end_to_end: bool) -> dict:
    from mlhep.engine import train

    runcard, problem, trainable = load_trainable(str(path))
    engine = copy.deepcopy(runcard.engine)
    engine.epochs = epochs
    engine.stopping.patience = engine.stopping.min_epochs = 10 ** 9     # every replica trains all epochs
    chunks = max(1, epochs // engine.chunk - 1)                           # + 1 warm-up (compiling) chunk
    out = {n: dict(per_epoch=per_replica_epoch(trainable, engine, n, chunks)) for n in sizes}
    for n in sizes if end_to_end else []:
        start = time.perf_counter()
        runcard, _, fresh = load_trainable(str(path))                     # new program: compiled again
        result = train(fresh, np.arange(n), runcard.seed, engine)
        out[n]["total"] = time.perf_counter() - start
        if result.epochs_run < epochs:
            sys.exit(f"mlhep trained {result.epochs_run} epochs, not {epochs}: early stopping was not off")
    return dict(sizes=out, points=len(problem.central), chunk=engine.chunk, chunks=chunks)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n3fit-venv", default=str(REPO / ".venv-n3fit"))
    parser.add_argument("--runcard", default=str(REPO / "runcards" / "pdf-fit-dis.yaml"))
    parser.add_argument("--order", default="NLO", choices=["LO", "NLO"])
    parser.add_argument("--epochs", type=int, default=2000, help="epochs of every fit (at least 400)")
    parser.add_argument("--replicas", default="1,4")
    parser.add_argument("--workdir", default=None, help="default: $MLHEP_CACHE/n3fit-bench")
    parser.add_argument("--no-end-to-end", action="store_true", help="skip the end-to-end mlhep fits")
    parser.add_argument("--fit", action="store_true", help="compare fit quality (runcard epochs and stopping)")
    parser.add_argument("--fit-replicas", type=int, default=4, help="replicas of each code with --fit")
    parser.add_argument("--output", default=None, help="default: benchmarks/n3fit.md (--fit: n3fit-fit.md)")
    args = parser.parse_args()
    args.output = args.output or str(REPO / "benchmarks" / ("n3fit-fit.md" if args.fit else "n3fit.md"))
    if args.epochs < 400 and not args.fit:
        parser.error("--epochs must be at least 400 (intervals after epoch 200 are timed)")
    sizes = [int(v) for v in args.replicas.split(",")]
    venv = Path(args.n3fit_venv).resolve()
    workdir = Path(args.workdir or cache_dir() / "n3fit-bench").resolve()
    check_venv(venv)
    info = inputs.venv_info(venv)

    print(f"[1/4] export to {workdir}", flush=True)
    workdir.mkdir(parents=True, exist_ok=True)
    runcard_path = mlhep_runcard(Path(args.runcard).resolve(), args.order, workdir)
    runcard, _ = load(runcard_path)
    datasets = [d.name for d in runcard.config.data.datasets]
    tid = inputs.export_theory(workdir, datasets, args.order, Path(info["cards"]))
    inputs.write_toy_set(workdir)
    inputs.write_profile(workdir)
    env = n3fit_env(venv, workdir)

    print("[2/4] export check (validphys vs mlhep)", flush=True)
    worst, points = inputs.check_export(venv, env, workdir, runcard, args.order, tid)
    print(f"  {points} points, max |validphys / mlhep - 1| = {worst:.2e}", flush=True)
    if worst > TOLERANCE:
        sys.exit(f"export check failed: {worst:.2e} > {TOLERANCE:g}")
    if args.fit:
        text = fit_comparison(args, info, venv, env, workdir, runcard_path, runcard, tid, worst, points)
        print(text)
        Path(args.output).parent.mkdir(parents=True, exist_ok=True)
        Path(args.output).write_text(text)
        return

    print("[3/4] n3fit", flush=True)
    n3fit = {}
    for n in sizes:
        name = f"{args.order.lower()}_e{args.epochs}_r{n}"
        card = inputs.n3fit_runcard(runcard, tid, args.epochs, parallel=True)
        n3fit[n] = run_n3fit(venv, env, workdir / "runs", card, name, n)
        print(f"  {n} replicas: {n3fit[n]['per_epoch'] * 1e3:.3f} ms/replica/epoch, start-up "
              f"{n3fit[n]['startup']:.1f} s, total {n3fit[n]['total']:.1f} s", flush=True)

    print("[4/4] mlhep", flush=True)
    ml = mlhep_timings(runcard_path, sizes, args.epochs, not args.no_end_to_end)
    text = report(args, info, runcard, tid, worst, points, n3fit, ml, sizes)
    print(text)
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(text)


def report(args, info, runcard, tid, worst, points, n3fit, ml, sizes) -> str:
    import jax

    cfg = runcard.config
    rows = ["| replicas | n3fit ms/replica/epoch | mlhep ms/replica/epoch | ratio n3fit/mlhep |",
            "|---:|---:|---:|---:|"]
    rows += [f"| {n} | {n3fit[n]['per_epoch'] * 1e3:.3f} | {ml['sizes'][n]['per_epoch'] * 1e3:.3f} | "
             f"{n3fit[n]['per_epoch'] / ml['sizes'][n]['per_epoch']:.1f}x |" for n in sizes]
    walls = ["| replicas | n3fit: vp-setupfit s | n3fit: start-up s | n3fit: total s | mlhep: end to end s |",
             "|---:|---:|---:|---:|---:|"]
    walls += [f"| {n} | {n3fit[n]['setup']:.1f} | {n3fit[n]['startup']:.1f} | {n3fit[n]['total']:.1f} | "
              + (f"{ml['sizes'][n]['total']:.1f} |" if "total" in ml["sizes"][n] else "- |") for n in sizes]
    command = " ".join(["python", "scripts/bench_n3fit.py", *sys.argv[1:]])
    lines = [
        f"# n3fit vs mlhep: DIS fit at {args.order}, {points} data points, {args.epochs} epochs", "",
        f"Datasets, cuts, training fractions, t0 (Les Houches toy at Q0), network {[*cfg.model.architecture, 7]} "
        f"{cfg.model.activation}, preprocessing ranges and optimizer ({runcard.engine.optimizer.name}, learning "
        f"rate {runcard.engine.optimizer.learning_rate}) of {Path(args.runcard).name}; both fit mlhep's FK "
        f"tables (n3fit theory {tid}, exported by scripts/n3fit_inputs.py); every replica trains all epochs.", "",
        "Per epoch (ms per replica per epoch):", "", *rows, "",
        f"n3fit: median of its 100-epoch log intervals after epoch 200, timestamped as the lines arrive, divided "
        f"by the replicas (all in one n3fit process, `-r N`, `parallel_models: true`). mlhep: the batched jitted "
        f"program of scripts/bench_pdf.py, {ml['chunks']} chunk(s) of {ml['chunk']} epochs after one warm-up "
        f"(compiling) chunk, one CPU device.", "",
        "Wall time (s):", "", *walls, "",
        "n3fit start-up = launch to first epoch line minus the epochs before it (imports, data, t0, model "
        "building); total = the n3fit process. mlhep end to end = runcard loading, problem set-up, compilation "
        f"and training of {args.epochs} epochs in the running process (`engine.train`).", "",
        "Differences in setup:", "",
        "- n3fit runs without positivity and integrability datasets (their FK tables are not available "
        "offline); mlhep keeps its positivity and integrability penalties on, so it does more work per epoch;",
        "- n3fit computes in float32 (its default), mlhep in float64 (jax_enable_x64); n3fit sets the TensorFlow "
        "thread count itself, JAX uses XLA's default CPU threading;",
        "- pseudodata seeds and the training/validation split differ (timing only, not a fit comparison).", "",
        f"Export check: validphys predictions (LHAPDF set {inputs.TOY}) vs mlhep FK table x toy on all "
        f"{points} points after cuts (same cut points): max relative difference {worst:.1e} (limit {TOLERANCE:g}).",
        "",
        f"Versions: nnpdf {info['nnpdf']}, tensorflow {info['tensorflow']}, keras {info['keras']}, pineappl "
        f"{info['pineappl']} (n3fit environment); jax {jax.__version__}, mlhep {version('mlhep')}.", "",
        f"Machine: {platform.platform()}, {platform.processor() or platform.machine()}, {os.cpu_count()} cores.", "",
        f"Command: `{command}`", "",
    ]
    return "\n".join(lines)


def mlhep_fit(runcard_path: Path, replicas: int, out: Path) -> dict:
    """``mlhep fit --replicas 0:N`` in its own process; its results file and wall time."""
    from mlhep.io.results import Results

    out.parent.mkdir(parents=True, exist_ok=True)
    out.unlink(missing_ok=True)
    command = [str(Path(sys.executable).with_name("mlhep")), "fit", str(runcard_path), "--replicas",
               f"0:{replicas}", "-o", str(out)]
    start = time.time()
    with open(out.with_suffix(".log"), "w") as log:
        if subprocess.run(command, stdout=log, stderr=subprocess.STDOUT).returncode:
            sys.exit(f"mlhep fit failed, see {out.with_suffix('.log')}")
    return dict(results=Results.read(out), total=time.time() - start)


def chi2_table(problem, predictions: np.ndarray, cov: np.ndarray) -> dict:
    """chi2 of the replica-mean prediction per dataset (its own covariance block) and in total (full
    covariance, cross-dataset correlations kept), and the total chi2/N of each replica; ``predictions`` (R, n)."""
    resid = predictions - problem.central
    mean = resid.mean(axis=0)
    return dict(datasets=[chi2(mean[sl], cov[sl, sl]) for sl in problem.slices()], total=chi2(mean, cov),
                replicas=np.array([chi2(r, cov) for r in resid]) / len(problem.central))


def fit_comparison(args, info, venv, env, workdir, runcard_path, runcard, tid, worst, points) -> str:
    """n3fit and mlhep fits of ``--fit-replicas`` replicas with the runcard's methodology; the report."""
    from mlhep.tasks.pdf import postfit

    n, engine = args.fit_replicas, runcard.engine
    patience = engine.stopping.patience / engine.epochs
    print(f"[3/4] n3fit fit: {n} replicas, {engine.epochs} epochs, stopping_patience {patience:g}", flush=True)
    name = f"{args.order.lower()}_fit_r{n}"
    card = inputs.n3fit_runcard(runcard, tid, engine.epochs, parallel=True, patience=patience)
    n3 = run_n3fit(venv, env, workdir / "runs", card, name, n, all_epochs=False)
    _, problem, _ = load_trainable(str(runcard_path))
    n3 |= inputs.read_n3fit_fit(workdir / "runs" / name, name, problem.xgrid)
    n3["predictions"] = problem.predictions(n3["xf"])
    print(f"  {n3['total'] + n3['setup']:.0f} s", flush=True)

    print(f"[4/4] mlhep fit: {n} replicas", flush=True)
    ml = mlhep_fit(runcard_path, n, workdir / "runs" / f"mlhep_{args.order.lower()}_fit_r{n}.h5")
    res = ml["results"]
    ml["predictions"] = np.concatenate([res.replicas[f"prediction/{d}"] for d in problem.names], axis=1)
    print(f"  {ml['total']:.0f} s", flush=True)

    exp = {code: chi2_table(problem, v["predictions"], problem.cov_exp) for code, v in (("n3", n3), ("ml", ml))}
    t0_n3 = chi2_table(problem, n3["predictions"], problem.cov_t0)["replicas"]
    check = float(np.max(np.abs(t0_n3 - n3["chi2"])))
    accepted = int(postfit.accepted(res, res.config).sum())
    rows = ["| dataset | ndata | n3fit chi2/N | mlhep chi2/N |", "|:---|---:|---:|---:|"]
    rows += [f"| {d} | {k} | {a / k:.3f} | {b / k:.3f} |"
             for d, k, a, b in zip(problem.names, problem.ndata, exp["n3"]["datasets"], exp["ml"]["datasets"])]
    total = len(problem.central)
    rows.append(f"| **total** (cross-dataset correlations kept) | {total} | {exp['n3']['total'] / total:.3f} | "
                f"{exp['ml']['total'] / total:.3f} |")

    def spread(values, digits=3):
        values = np.asarray(values, dtype=float)
        return f"{values.mean():.{digits}f} +- {values.std():.{digits}f}"

    best_ml, stops_ml = np.asarray(res.train["best_epoch"]), res.provenance.get("epochs_run")
    per = ["| per replica (mean +- std over replicas) | n3fit | mlhep |", "|:---|---:|---:|",
           f"| chi2/N to central data, exp covariance | {spread(exp['n3']['replicas'])} | "
           f"{spread(exp['ml']['replicas'])} |",
           f"| chi2/N to central data, t0 covariance | {spread(t0_n3)} | "
           f"{spread(chi2_table(problem, ml['predictions'], problem.cov_t0)['replicas'])} |",
           f"| training chi2/N (own pseudo-data, t0 covariance) | {spread(n3['chi2_train'])} | "
           f"{spread(res.replicas['chi2_train'])} |",
           f"| validation chi2/N (own pseudo-data, t0 covariance) | {spread(n3['chi2_valid'])} | "
           f"{spread(res.replicas['chi2_valid'])} |",
           f"| stopping epoch (best validation) | {' '.join(map(str, n3['best_epoch']))} | "
           f"{' '.join(map(str, best_ml))} |",
           f"| epochs trained by the process | {int(np.max(n3['stop_epoch']))} | {stops_ml} |",
           f"| wall time, s | {n3['setup'] + n3['total']:.0f} (vp-setupfit {n3['setup']:.0f} + n3fit "
           f"{n3['total']:.0f}) | {ml['total']:.0f} (`mlhep fit`) |"]
    cfg = runcard.config
    command = " ".join(["python", "scripts/bench_n3fit.py", *sys.argv[1:]])
    lines = [
        f"# n3fit vs mlhep: fit quality, DIS at {args.order}, {total} data points, {n} replicas", "",
        f"Both codes fit the datasets, cuts and FK tables of {Path(args.runcard).name} (n3fit theory {tid}, mlhep's "
        f"FK tables exported by scripts/n3fit_inputs.py) with its methodology: {engine.epochs} epochs, patience "
        f"{engine.stopping.patience} epochs (n3fit `stopping_patience: {patience:g}`), training fraction "
        f"{cfg.data.datasets[0].frac:g} per dataset, t0 = Les Houches toy at Q0 (n3fit: LHAPDF set {inputs.TOY}), "
        f"network {[*cfg.model.architecture, 7]} {cfg.model.activation}, {engine.optimizer.name} learning rate "
        f"{engine.optimizer.learning_rate}; {n} replicas each (n3fit: one process, `-r {n}`, "
        "`parallel_models: true`).", "",
        "chi2/N of the replica-mean prediction (all replicas, no postfit selection) with mlhep's experimental "
        "covariance; per dataset with its own covariance block:", "", *rows, "",
        "n3fit's predictions are its exported PDFs (`nnfit/replica_*/*.exportgrid`: x f at Q0 on n3fit's 196-point "
        "x grid) splined in log x onto mlhep's FK x grid, rotated to mlhep's fit basis and contracted with mlhep's "
        f"FK tables. Check: chi2/N with mlhep's t0 covariance vs the `chi2` n3fit writes to each replica's json "
        f"(its fitting covariance, t0): max difference {check:.1e}.", "",
        *per, "",
        "n3fit: training/validation chi2 = `erf_tr`/`erf_vl`, stopping epoch = `best_epoch` of the replica jsons; "
        "epochs trained = `stop_epoch` (the process runs until every replica has stopped). mlhep: `chi2_train`/"
        f"`chi2_valid` and `train/best_epoch` of the results file; {accepted}/{n} replicas pass its postfit "
        "(its report averages the accepted ones; the table above uses all). Wall times include start-up; the "
        "machine has 2 cores shared with other jobs, so they are indicative only.", "",
        "Differences in setup:", "",
        "- n3fit runs without positivity and integrability constraints (their FK tables are not available "
        f"offline); mlhep keeps its positivity (multiplier {cfg.positivity.multiplier:g}, growth "
        f"{cfg.positivity.growth:g}) and integrability penalties;",
        f"- mlhep lets no replica stop before epoch {engine.stopping.min_epochs} (`stopping.min_epochs`); n3fit has "
        "no such floor, but counts patience only once the validation chi2/N is below `threshold_chi2: 3.5`;",
        "- pseudo-data, training/validation splits and network initialisations come from different random "
        "generators (n3fit seeds mcseed 1, trvlseed 3, nnseed 2; mlhep seed "
        f"{runcard.seed}), so with {n} replicas the two means differ by replica noise too;",
        "- n3fit computes in float32, mlhep in float64; preprocessing exponents: same ranges, not trained "
        f"(fit_exponents {cfg.model.fit_exponents}) in both, but drawn per replica by each code's generator.", "",
        f"Export check: validphys predictions ({inputs.TOY}) vs mlhep FK table x toy on all {points} points: max "
        f"relative difference {worst:.1e}.", "",
        f"Versions: nnpdf {info['nnpdf']}, tensorflow {info['tensorflow']} (n3fit environment); mlhep "
        f"{version('mlhep')}. Machine: {platform.platform()}, {os.cpu_count()} cores.", "",
        f"Command: `{command}`", "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
