"""bump-hunt benchmarks; each part writes its own section of ``benchmarks/bumphunt.md`` (between the markers
``<!-- begin PART -->`` and ``<!-- end PART -->``; the text around them is kept):

    .venv/bin/python scripts/bench_bumphunt.py scan [--pybumphunter-venv DIR]
    .venv/bin/python scripts/bench_bumphunt.py timing [--replicas 4] [--epochs 4]
    .venv/bin/python scripts/bench_bumphunt.py pythia RUNCARD

``scan``: mlhep's BumpHunter (``mlhep/tasks/bumphunt/scan.py``) against pyBumpHunter 0.5.1 on the same histogram
(the uncut m_jj spectrum of ``runcards/bump-hunt-surrogate.yaml``) and reference (the 4-parameter dijet fit to all
bins, as ``analysis.hunt`` makes it), the same windows (every width from ``width_min`` to ``width_max`` bins,
sliding by one bin) and the same number of pseudo-experiments, in one run. pyBumpHunter runs in its own
environment (``make pybumphunter-venv``) through ``scripts/pybumphunter_reference.py``; both times are wall
times of the scan alone (Poisson draws of the pseudo-experiments and every window's p-value), in one thread.

``timing``: training time per stage and per method of one runcard (the surrogate runcard with all five methods,
``--replicas`` replicas, ``--epochs`` epochs per stage), the replica ensemble batched (one vmapped program, the
default) and one replica at a time (``mlhep fit --sequential``, engine ``batch: false``), each run twice: the
first compiles (and fills mlhep's compilation cache), the second loads the programs from the cache.

``pythia``: ``mlhep fit RUNCARD`` (a bump-hunt runcard on files of ``scripts/generate_lhco.py``), its wall time and
per-stage training time, the sample (sizes, injected S/B, the generation settings and the pT-hat content of the
regions) and per method max SIC, background rejection 1/eps_B at eps_S = 0.2 and 0.5, and the bump hunt.

Per-stage times come from the engine's ``TrainResult.wall_seconds`` (compilation included), read by running
``mlhep.fit.fit`` in a child process (``_fit``) that records each stage's result.
"""
from __future__ import annotations

import argparse
import io
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "bumphunt.md"
SURROGATE = ROOT / "runcards" / "bump-hunt-surrogate.yaml"
METHOD_STAGES = {"cathode": ("flow_sb", "cathode"), "anode": ("flow_sb", "flow_sr"), "cwola": ("cwola",),
                 "idealised": ("idealised",), "supervised": ("supervised",)}
STAGES = ("flow_sb", "cathode", "flow_sr", "cwola", "idealised", "supervised")
# max SIC in the CATHODE paper (Hallin et al., arXiv:2109.00546) on the LHCO R&D set at S/B = 0.6% in the SR
PAPER_MAX_SIC = {"supervised": 18, "idealised": 14, "cathode": 14, "cwola": 11, "anode": 6.5}


# --- bookkeeping ------------------------------------------------------------------------------------------------

def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def versions(*extra: str) -> str:
    out = []
    for package in ("mlhep", "jax", "jaxlib", "flax", "optax", "numpy", "scipy", *extra):
        try:
            out.append(f"{package} {metadata.version(package)}")
        except metadata.PackageNotFoundError:
            out.append(f"{package} (not installed)")
    return ", ".join(out)


def header(command: str, load_before: str, load_after: str, *extra: str) -> list[str]:
    return [f"Command: `{command}`", "",
            f"Date: {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC; machine: {platform.machine()}, "
            f"{os.cpu_count()} cores, {platform.python_implementation()} {platform.python_version()}; "
            f"shared, so every time is an upper bound.", "",
            f"Load before: `{load_before}`", "", f"Load after: `{load_after}`", "",
            f"Versions: {versions(*extra)}", ""]


def write_section(name: str, lines: list[str], out: Path = OUT) -> None:
    """Replace the section ``name`` of ``out`` (or append it), keeping everything else."""
    begin, end = f"<!-- begin {name} -->", f"<!-- end {name} -->"
    block = "\n".join([begin, *lines, end])
    text = out.read_text() if out.exists() else "# bump-hunt benchmarks\n"
    if begin in text and end in text:
        text = text[:text.index(begin)] + block + text[text.index(end) + len(end):]
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    out.write_text(text)
    print("\n".join(lines))


def fmt(x, digits: int = 3) -> str:
    x = float(x)
    if not np.isfinite(x):
        return "nan" if np.isnan(x) else "inf"
    return f"{x:.{digits}g}"


# --- running a fit in a child process, recording every stage's time ----------------------------------------------

def child_fit(runcard: str, output: str, record: str, sequential: bool) -> None:
    """``mlhep fit`` in this process, writing {stage: {seconds, epochs}} and the wall time to ``record``."""
    from mlhep.runtime import configure_process
    configure_process()
    import mlhep.fit as fit_module

    made = []

    class RecordingStages(fit_module.Stages):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            made.append(self)

    fit_module.Stages = RecordingStages
    start = time.perf_counter()
    fit_module.fit(Path(runcard), Path(output), quiet=True, batch=False if sequential else None)
    wall = time.perf_counter() - start
    stages = {name: {"seconds": r.wall_seconds, "epochs": int(r.epochs_run)} for name, r in made[0].results.items()}
    Path(record).write_text(json.dumps({"wall": wall, "stages": stages}))


def run_fit(runcard: Path, output: Path, sequential: bool = False) -> dict:
    record = output.with_suffix(".json")
    start = time.perf_counter()
    subprocess.run([sys.executable, __file__, "_fit", str(runcard), str(output), str(record)]
                   + (["--sequential"] if sequential else []), check=True)
    out = json.loads(record.read_text())
    out["process_wall"] = time.perf_counter() - start
    return out


# --- scan: mlhep's BumpHunter vs pyBumpHunter ---------------------------------------------------------------------

def surrogate_events(runcard: Path = SURROGATE):
    from mlhep.registry import load_tasks
    from mlhep.runcard import load_runcard
    from mlhep.task import RunContext
    from mlhep.tasks.bumphunt.task import TASK
    rc = load_runcard(runcard, load_tasks())
    ctx = RunContext(runcard_path=runcard, seed=0, replica_ids=np.arange(1), fail=rc.fail, train=None, quiet=True)
    events, _ = TASK.setup(rc.config, ctx)
    return events, rc.config


def pybumphunter(venv: Path, edges, counts, background, width_min, width_max, npe, seed, nworker, work: Path):
    source, target = work / "pbh_in.npz", work / "pbh_out.npz"
    np.savez(source, edges=edges, counts=counts, background=background, width_min=width_min, width_max=width_max,
             npe=npe, seed=seed, nworker=nworker)
    subprocess.run([str(venv / "bin" / "python"), str(ROOT / "scripts" / "pybumphunter_reference.py"), str(source),
                    str(target)], check=True)
    return dict(np.load(target))


def part_scan(args) -> None:
    from scipy import stats

    from mlhep.tasks.bumphunt.dijet_fit import fit_dijet, histogram
    from mlhep.tasks.bumphunt.scan import bumphunter
    if not (args.pybumphunter_venv / "bin" / "python").exists():
        sys.exit(f"no pyBumpHunter environment at {args.pybumphunter_venv}: run `make pybumphunter-venv` first")
    load_before = uptime()
    events, config = surrogate_events()
    lo, hi = config.significance.mjj_range
    cases = [(config.significance.bin_width, min(config.significance.widths), max(config.significance.widths)),
             (0.05, 1, 12), (0.02, 1, 30)]
    rows, agree = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for width, wmin, wmax in cases:
            edges = lo + width * np.arange(int(round((hi - lo) / width)) + 1)
            inside = (events.mjj >= edges[0]) & (events.mjj < edges[-1])
            counts = histogram(events.mjj[inside], edges, events.weights[inside])
            reference = fit_dijet(edges, counts, n_params=4).expected()[0]
            ours = [bumphunter(edges, counts, reference, widths=range(wmin, wmax + 1), n_pseudo=args.npe, seed=1)
                    for _ in range(args.repeat)]
            theirs = [pybumphunter(args.pybumphunter_venv, edges, counts, reference, wmin, wmax, args.npe, 2, 1,
                                   Path(tmp)) for _ in range(args.repeat)]
            ours_s, theirs_s = [o.seconds for o in ours], [float(t["seconds"]) for t in theirs]
            n_windows = len(ours[0].ranges)
            t0, o0 = theirs[0], ours[0]
            lo_t, hi_t = edges[int(t0["loc"])], edges[int(t0["loc"]) + int(t0["width"])]
            rows.append(f"| {len(counts)} x {width * 1000:g} GeV | {wmin}-{wmax} | {n_windows} | {args.npe} | "
                        f"{np.median(ours_s):.2f} ({', '.join(f'{s:.2f}' for s in ours_s)}) | "
                        f"{np.median(theirs_s):.2f} ({', '.join(f'{s:.2f}' for s in theirs_s)}) | "
                        f"{np.median(theirs_s) / np.median(ours_s):.1f}x |")
            agree.append(f"| {len(counts)} x {width * 1000:g} GeV, {wmin}-{wmax} | "
                         f"{o0.window[0]:.2f}-{o0.window[1]:.2f} / {lo_t:.2f}-{hi_t:.2f} | "
                         f"{abs(o0.local_p / float(t0['p_local']) - 1):.1e} | "
                         f"{abs(o0.t / float(t0['t'][0]) - 1):.1e} | "
                         f"{o0.global_p:.4f} / {float(t0['global_p']):.4f} | "
                         f"{stats.ks_2samp(o0.t_null, t0['t'][1:]).pvalue:.2f} |")
        pbh_version = str(theirs[0]["version"])
    load_after = uptime()
    lines = ["## BumpHunter scan: mlhep vs pyBumpHunter " + pbh_version, ""]
    lines += header(f"scripts/bench_bumphunt.py scan --npe {args.npe} --repeat {args.repeat}", load_before,
                    load_after)
    python = subprocess.run([str(args.pybumphunter_venv / "bin" / "python"), "--version"], capture_output=True,
                            text=True).stdout.strip()
    lines += [f"pyBumpHunter {pbh_version} in its own environment ({python}, numpy/scipy wheels of its own)"
              ", `nworker=1`; mlhep's numpy scan in this process. Histogram: the uncut m_jj spectrum of "
              f"`runcards/bump-hunt-surrogate.yaml` ({len(events)} events) over {lo:g}-{hi:g} TeV; reference: the "
              "4-parameter dijet fit to all bins (what `analysis.hunt` gives BumpHunter). Windows of every width "
              "from min to max bins at every position (step 1 bin); both draw the pseudo-experiments bin by bin from "
              f"Poisson(reference). Wall time of the scan alone, {args.repeat} runs each: median (each run). The "
              "first row is the runcard's own setting (0.1 TeV bins, widths 2-6).", "",
              "| histogram | widths (bins) | windows | pseudo-experiments | mlhep (s) | pyBumpHunter (s) | "
              "pyBumpHunter / mlhep |", "|---|---|---:|---:|---:|---:|---:|", *rows, "",
              "Same result (first run of each; the two codes draw different pseudo-experiments):", "",
              "| case | most significant window, TeV (mlhep / pyBumpHunter) | local p, rel. diff. | t, rel. diff. | "
              "global p (mlhep / pyBumpHunter) | KS p of the two null t samples |", "|---|---|---:|---:|---|---:|",
              *agree, ""]
    write_section("scan", lines, args.out)


# --- timing: batched vs sequential ----------------------------------------------------------------------------------

def timing_runcard(replicas: int, epochs: int) -> str:
    from ruamel.yaml import YAML
    yaml = YAML()
    card = yaml.load(SURROGATE.read_text())
    card["replicas"] = replicas
    card["methods"] = list(METHOD_STAGES)
    card["engine"]["chunk"] = epochs
    card["engine"]["stages"] = {stage: {"epochs": epochs} for stage in STAGES}
    card["significance"]["efficiencies"] = [0.1]
    card["significance"]["pseudo_experiments"] = 1000     # the bump hunt after training is not what is timed
    card["description"] = f"bench_bumphunt timing: all methods, {replicas} replicas, {epochs} epochs per stage"
    out = io.StringIO()
    yaml.dump(card, out)
    return out.getvalue()


def part_timing(args) -> None:
    from mlhep.io.results import Results
    load_before = uptime()
    runs = {}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        card = work / "bump-hunt-timing.yaml"
        card.write_text(timing_runcard(args.replicas, args.epochs))
        for label, sequential in (("batched, compiling", False), ("one by one, compiling", True),
                                  ("batched, cached", False), ("one by one, cached", True)):
            out = work / f"{label.replace(', ', '_').replace(' ', '_')}.h5"
            runs[label] = run_fit(card, out, sequential)
            runs[label]["summary"] = Results.read(out).summary
            print(label, json.dumps({k: v for k, v in runs[label].items() if k != "summary"}), flush=True)
    load_after = uptime()
    labels = list(runs)

    def seconds(label, stages):
        return sum(runs[label]["stages"][s]["seconds"] for s in dict.fromkeys(stages))

    lines = ["## Training time per method: the replica ensemble batched vs one replica at a time", ""]
    lines += header(f"scripts/bench_bumphunt.py timing --replicas {args.replicas} --epochs {args.epochs}",
                    load_before, load_after)
    summary = runs[labels[0]]["summary"]
    lines += [f"Runcard: `runcards/bump-hunt-surrogate.yaml` ({int(summary['n_events'])} events, "
              f"{int(summary['n_signal_region'])} in the signal region) with all five methods, {args.replicas} "
              f"replicas, {args.epochs} epochs per stage (chunk {args.epochs}: one compiled call per stage), minibatch "
              "256. Batched: `mlhep fit` (one vmapped program per stage); one by one: `mlhep fit --sequential` "
              "(engine `batch: false`). Each mode run twice in this order: batched, one by one, batched, one by "
              "one; the first of each compiles (and fills mlhep's compilation cache), the second loads the "
              "programs from it. Seconds per stage are the engine's wall time of that stage (compilation "
              "included); a method's time is the sum of its stages (CATHODE: flow_sb + cathode; ANODE: flow_sb + "
              "flow_sr; the sideband flow is trained once for both in a run).", "",
              "| stage | " + " | ".join(labels) + " | one by one / batched (cached) |",
              "|---|" + "---:|" * (len(labels) + 1)]
    for stage in STAGES:
        cells = [f"{runs[label]['stages'][stage]['seconds']:.1f}" for label in labels]
        lines.append(f"| {stage} | " + " | ".join(cells) +
                     f" | {seconds(labels[3], [stage]) / seconds(labels[2], [stage]):.2f}x |")
    lines.append("| **all stages** | " + " | ".join(f"{seconds(label, STAGES):.1f}" for label in labels) +
                 f" | {seconds(labels[3], STAGES) / seconds(labels[2], STAGES):.2f}x |")
    lines.append("| whole `mlhep fit` (wall, incl. data and bump hunts) | " +
                 " | ".join(f"{runs[label]['wall']:.1f}" for label in labels) + " | |")
    lines += ["", "| method (its stages) | batched, cached (s) | one by one, cached (s) | one by one / batched | "
              "max SIC batched / one by one |", "|---|---:|---:|---:|---|"]
    for method, stages in METHOD_STAGES.items():
        b, s = seconds(labels[2], stages), seconds(labels[3], stages)
        sic = [fmt(runs[label]["summary"].get(f"{method}/max_sic", np.nan), 4) for label in (labels[2], labels[3])]
        lines.append(f"| {method} ({' + '.join(stages)}) | {b:.1f} | {s:.1f} | {s / b:.2f}x | {sic[0]} / {sic[1]} |")
    lines.append("")
    write_section("timing", lines, args.out)


# --- pythia: the methods on the generated sample ----------------------------------------------------------------

def sample_description(rc, runcard: Path) -> list[str]:
    """Sizes, generation settings and the pT-hat content of the regions of the runcard's files."""
    import h5py

    from mlhep.tasks.bumphunt.generate import generation_settings
    d = rc.config.data
    lines = []
    for key in ("files", "signal_files", "template_files"):
        names = getattr(d, key) or []
        paths = [(runcard.parent / n).resolve() for n in names]
        if not paths:
            continue
        n_events, cpu, kept_gen = 0, 0.0, [0, 0]
        pthat, mjj, label = [], [], []
        for p in paths:
            with h5py.File(p, "r") as f:
                n_events += f["label"].shape[0]
                chunks = f["chunks"][:]
                cpu += float(chunks["seconds"].sum())
                kept_gen[0] += int(chunks["n_jets"].sum())
                kept_gen[1] += int(chunks["n_events"].sum())
                p4 = f["jet_p4"][:].sum(axis=1)
                mjj.append(np.sqrt(np.maximum(p4[:, 0] ** 2 - (p4[:, 1:] ** 2).sum(-1), 0)) / 1000)
                pthat.append(f["pthat"][:])
                label.append(f["label"][:])
        s = generation_settings(paths[0])["sample"]
        pthat, mjj, label = np.concatenate(pthat), np.concatenate(mjj), np.concatenate(label)
        qcd = label == 0
        what = (f"QCD with pT-hat > {s['pthat_min']:g} GeV" if qcd.all() else
                f"W' ({s['w_mass']:g} GeV) -> X ({s['x_mass']:g}) Y ({s['y_mass']:g})" if not qcd.any() else
                f"QCD (pT-hat > {s['pthat_min']:g} GeV) and W'")
        lines.append(f"- `data.{key}`: {len(paths)} file(s), {n_events} events of {what} ({kept_gen[1]} generated, "
                     f"{kept_gen[0] / max(kept_gen[1], 1):.0%} pass the selection), {cpu / 3600:.2f} CPU hours "
                     f"({kept_gen[0] / cpu:.1f} kept events per CPU second); MPI {'on' if s['mpi'] else 'off'}, "
                     f"anti-kT R = {s['jet_r']:g}, leading jet pT > {s['leading_pt_min']:g} GeV.")
        if qcd.any() and key != "signal_files":
            lo_sb, hi_sb = d.sidebands or (rc.config.significance.mjj_range[0], rc.config.significance.mjj_range[1])
            lo, hi = d.signal_region
            cells = []
            for name, (a, b) in (("below the sidebands", (0, lo_sb)), ("low sideband", (lo_sb, lo)),
                                 ("signal region", (lo, hi)), ("high sideband", (hi, hi_sb))):
                m = qcd & (mjj >= a) & (mjj < b)
                cells.append(f"{name} {a:g}-{b:g} TeV: {int(m.sum())} events, "
                             f"{np.mean(pthat[m] < 1000):.1%} / {np.mean(pthat[m] < 1100):.1%}")
            lines.append("  QCD by m_jj region, events and the fraction with pT-hat < 1.0 / 1.1 TeV (what a "
                         "higher cut would lose): " + "; ".join(cells) + ".")
    return lines


def part_pythia(args) -> None:
    from mlhep.io.results import Results
    from mlhep.registry import load_tasks
    from mlhep.runcard import load_runcard
    runcard = args.runcard.resolve()
    rc = load_runcard(runcard, load_tasks())
    load_before = uptime()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "pythia.h5"
        run = run_fit(runcard, out)
        res = Results.read(out)
    load_after = uptime()
    s = res.summary
    methods = str(s["methods"]).split(",")
    n_sr, n_sig = int(s["n_signal_region"]), int(s["n_signal_region_signal"])
    effs = np.asarray(s["efficiencies"])
    lines = ["## SIC per method on the generated Pythia 8 sample", ""]
    lines += header(f"scripts/bench_bumphunt.py pythia {args.runcard}", load_before, load_after, "pythia8mc",
                    "fastjet")
    d = rc.config.data
    lines += ["Sample:", ""] + sample_description(rc, runcard) + [
        f"- After injection: {int(s['n_events'])} events, {n_sr} in the signal region {d.signal_region[0]:g}-"
        f"{d.signal_region[1]:g} TeV, of which {n_sig} W' (S/B = {n_sig / max(n_sr - n_sig, 1):.2%} in the signal "
        f"region, runcard `s_over_b_in_sr: {d.inject.s_over_b_in_sr}`; S/sqrt(B) = "
        f"{n_sig / np.sqrt(max(n_sr - n_sig, 1)):.1f}); sidebands {d.sidebands} TeV. With {n_sr - n_sig} background "
        f"events in the signal region, max SIC cannot exceed sqrt({n_sr - n_sig} / 25) = "
        f"{np.sqrt((n_sr - n_sig) / 25):.1f} (eps_S <= 1, at least 25 background events kept).",
        f"- Runcard `{args.runcard}`: {rc.replicas} replicas ({rc.config.model.folds} folds), epochs per stage "
        + ", ".join(f"{k} {v['epochs']}" for k, v in run["stages"].items()) + ".",
        f"- Wall time of `mlhep fit` on it: {run['wall']:.0f} s (process {run['process_wall']:.0f} s); training "
        + ", ".join(f"{k} {v['seconds']:.0f} s" for k, v in run["stages"].items()) + " (compilation included).", "",
        "| method | max SIC | 1/eps_B at eps_S = 0.2 | 1/eps_B at eps_S = 0.5 | Z_local after the cut keeping "
        + " / ".join(f"{e:g}" for e in effs) + " of the SR (valid?) | global p | CATHODE paper's max SIC (S/B 0.6%, "
        "R&D set) |", "|---|---:|---:|---:|---|---|---:|"]
    lines.append("| no cut | | | | " + f"{fmt(s['uncut/z_local'][0])} | {fmt(s['uncut/p_global'][0])} | |")
    for m in methods:
        rej = s.get(f"{m}/rejection", [np.nan, np.nan])
        z = " / ".join(f"{fmt(z)}{'' if v else '*'}" for z, v in zip(s[f"{m}/z_local"], s[f"{m}/valid"]))
        p = " / ".join(fmt(p) for p in s[f"{m}/p_global"])
        lines.append(f"| {m} | {fmt(s.get(f'{m}/max_sic', np.nan))} | {fmt(rej[0])} | {fmt(rej[1])} | {z} | {p} | "
                     f"{PAPER_MAX_SIC[m]:g} |")
    lines += ["", "`*`: the fit is flagged not valid (did not converge, or the fitted background does not fall "
              "monotonically near the signal region; ANODE's Z is always a diagnostic). max SIC = max over cuts of "
              "eps_S / sqrt(eps_B), counting only cuts that keep at least 25 background events "
              "(`metrics.MIN_BACKGROUND`); 1/eps_B = inf: no background event of the signal region passes.", ""]
    write_section("pythia", lines, args.out)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "_fit":
        child_fit(*sys.argv[2:5], sequential="--sequential" in sys.argv[5:])
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="part", required=True)
    scan = sub.add_parser("scan", help="mlhep's BumpHunter vs pyBumpHunter")
    scan.add_argument("--pybumphunter-venv", type=Path, default=ROOT / ".venv-pybumphunter")
    scan.add_argument("--npe", type=int, default=10000)
    scan.add_argument("--repeat", type=int, default=3)
    timing = sub.add_parser("timing", help="training time per method, batched vs one by one")
    timing.add_argument("--replicas", type=int, default=4)
    timing.add_argument("--epochs", type=int, default=4)
    pythia = sub.add_parser("pythia", help="the methods on a generated sample")
    pythia.add_argument("runcard", type=Path)
    for p in (scan, timing, pythia):
        p.add_argument("--out", type=Path, default=OUT, help=f"the markdown file (default {OUT.relative_to(ROOT)})")
    args = parser.parse_args()
    {"scan": part_scan, "timing": part_timing, "pythia": part_pythia}[args.part](args)


if __name__ == "__main__":
    main()
