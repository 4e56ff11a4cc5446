"""jet-tag benchmark (issue 10): throughput and test performance of every architecture on a real sample, mlhep
against the reference implementations, and replica ensembles batched vs sequential; writes benchmarks/jets.md.

    python scripts/bench_jets.py --data jets.h5 [--only PART ...] [--out benchmarks/jets.md] [--workdir DIR]

``--data``: an mlhep jet file (scripts/generate_jets.py layout) with both classes, e.g. 100k top + 100k QCD.
Parts (each replaces its own section of ``--out`` and leaves the others, so a partial run still writes a table):

    pfn-vs-energyflow     mlhep's PFN (``mlhep fit``) and energyflow's PFN (Keras, its own venv, as a
                          subprocess: scripts/energyflow_reference.py) trained one after the other on the same
                          arrays (mlhep's inputs: the 7 features of the 50 hardest constituents), the same split,
                          epochs, minibatch and optimiser: training jets/s, test AUC and 1/eps_B
    particlenet-vs-weaver one training step of mlhep's ParticleNet (jitted; ``bench_jet_models.measure``) and of
                          weaver-core's ParticleNet (PyTorch, scripts/weaver_reference.py) at the same minibatch
                          on minibatches of the same real training jets, one after the other
    architectures         ``mlhep fit`` of each architecture, 1 replica, a fixed number of epochs on (a cap of)
                          the sample: wall, compile, training jets/s, test AUC, 1/eps_B at eps_S = 0.3, 0.5
    ensemble              scripts/bench_jet_models.py (R = 1, 8, 32 replicas batched vs one by one), its table

mlhep never imports energyflow or torch: the competitors run in their own environments (``--energyflow-python``,
``--weaver-python``) on an .npz of the arrays exported from mlhep's data pipeline (``dataset.read_jets`` and
``dataset.split``, the functions the task's setup calls, with the runcard's defaults).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
PARTS = ("pfn-vs-energyflow", "particlenet-vs-weaver", "architectures", "ensemble")
ARCHITECTURES = ("dense", "cnn", "efn", "pfn", "particlenet", "part", "lola", "rnn")
# Jets read from the file (None: all) and epochs per architecture in the `architectures` part: sized so that each
# fit takes a few minutes on a shared 2-core CPU (the pairwise networks train at ~100-500 jets/s there).
PLAN = {"dense": (None, 3), "cnn": (60_000, 2), "efn": (None, 2), "pfn": (None, 2), "particlenet": (20_000, 1),
        "part": (20_000, 1), "lola": (None, 1), "rnn": (100_000, 1)}
SPLIT = {"validation_fraction": 0.2, "test_fraction": 0.3, "split_seed": 0}   # the runcard defaults
CONSTITUENTS = 50
BATCH = 256
LEARNING_RATE = 1e-3


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def command_line() -> str:
    return " ".join(["python scripts/bench_jets.py", *sys.argv[1:]])


def now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


# -- the arrays -----------------------------------------------------------------------------------------------------
def load(path: Path, needed=("particles", "points", "mask"), max_jets: int | None = None):
    """(Jets, Split) exactly as the task's setup makes them for a runcard with the default data section."""
    from mlhep.tasks.jets.dataset import read_jets, split

    jets = read_jets([path], needed, CONSTITUENTS, max_per_file=max_jets)
    return jets, split(jets.label, **{k: SPLIT[k] for k in ("validation_fraction", "test_fraction")},
                       seed=SPLIT["split_seed"])


# -- mlhep fit ------------------------------------------------------------------------------------------------------
def runcard(path: Path, architecture: str, epochs: int, max_jets: int | None, options: dict | None = None) -> str:
    """A runcard that trains ``epochs`` epochs, validating (and possibly keeping) the parameters each epoch starts
    from and those after the last epoch (the engine's ``finish``: ``epochs + 1`` validated points). Results in
    ``benchmarks/jets.md`` older than that engine fix ran ``epochs + 1`` epochs, the last one never validated."""
    lines = ["task: jet-tag", f"description: bench_jets {architecture}, {epochs} epoch(s)", "seed: 7",
             "replicas: 1", "engine:", f"  epochs: {epochs}", "  chunk: 1", f"  minibatch_size: {BATCH}",
             "  optimizer: {name: adam, learning_rate: " + f"{LEARNING_RATE}" + "}",
             f"  stopping: {{patience: {epochs + 1}}}", "data:", f"  files: [{path}]",
             f"  constituents: {CONSTITUENTS}"] + [f"  {k}: {v}" for k, v in SPLIT.items()]
    if max_jets:
        lines.append(f"  max_jets_per_file: {max_jets}")
    lines += ["model:", f"  architecture: {architecture}"]
    if options:
        lines.append("  options: " + json.dumps(options))
    return "\n".join(lines) + "\n"


def mlhep_fit(workdir: Path, name: str, text: str) -> dict:
    """Run ``mlhep fit`` on the runcard ``text``; the numbers of its results file and its log (``read_fit``)."""
    card, out, log = workdir / f"{name}.yaml", workdir / f"{name}.h5", workdir / f"{name}.log"
    card.write_text(text)
    out.unlink(missing_ok=True)
    env = dict(os.environ, MLHEP_JAX_CACHE="0")    # compile every time: the compile column is honest
    start = time.perf_counter()
    with open(log, "w") as f:
        code = subprocess.run([str(Path(sys.executable).parent / "mlhep"), "fit", str(card), "-o", str(out)],
                              stdout=f, stderr=subprocess.STDOUT, env=env).returncode
    wall = time.perf_counter() - start
    if code:
        raise RuntimeError(f"mlhep fit {card} failed (exit {code}); see {log}:\n{log.read_text()[-2000:]}")
    (workdir / f"{name}.wall").write_text(f"{wall}\n")
    return read_fit(workdir, name)


def read_fit(workdir: Path, name: str) -> dict:
    """The numbers of the fit ``name`` in ``workdir``: results file, log (compile time) and command wall time."""
    import h5py

    compiles = [float(s) for s in re.findall(r"compiled in ([0-9.]+) s", (workdir / f"{name}.log").read_text())]
    with h5py.File(workdir / f"{name}.h5", "r") as f:
        prov = {k: json.loads(v) for k, v in f["provenance"].attrs.items()}
        s, r = f["summary"], f["replicas"]
        return {"wall": float((workdir / f"{name}.wall").read_text()), "compile": sum(compiles),
                "training": float(prov["training_seconds"]), "epochs": int(prov["epochs_run"]),
                "n_train": int(s["n_train"][()]), "n_valid": int(s["n_valid"][()]), "n_test": len(s["test_label"]),
                "n_parameters": int(s["n_parameters"][()]), "auc": float(r["auc"][0]),
                "rejection_30": float(r["rejection_30"][0]), "rejection_50": float(r["rejection_50"][0]),
                "test_label": s["test_label"][()], "best_epoch": int(r["train/best_epoch"][0]),
                "versions": prov.get("versions", {})}


def jets_per_second(fit: dict) -> float:
    """Training jets per second of a fit, compilation excluded (its validation passes included)."""
    return fit["epochs"] * fit["n_train"] / (fit["training"] - fit["compile"])


# -- part 1 ---------------------------------------------------------------------------------------------------------
def pfn_vs_energyflow(args, jets, parts) -> list[str]:
    from mlhep.tasks.jets import metrics
    from mlhep.tasks.jets.models import options

    defaults = options("pfn")
    phi, f_sizes = list(defaults["phi_sizes"]), list(defaults["f_sizes"])
    particles = np.where(jets.inputs["mask"][..., None], jets.inputs["particles"], 0.0).astype(np.float32)
    npz, result = args.workdir / "pfn_input.npz", args.workdir / "pfn_energyflow.npz"
    np.savez(npz, x_train=particles[parts.train], x_valid=particles[parts.valid], x_test=particles[parts.test],
             y_train=jets.label[parts.train], y_valid=jets.label[parts.valid], epochs=args.pfn_epochs,
             batch=BATCH, lr=LEARNING_RATE, seed=7, phi_sizes=phi, f_sizes=f_sizes)
    y_test = jets.label[parts.test].astype(np.int8)
    del particles

    meta = args.workdir / "pfn_meta.json"
    if args.reuse and meta.exists():   # render the last run's results again
        fit, info = read_fit(args.workdir, "pfn_mlhep"), json.loads(meta.read_text())
    else:
        info = {"before": uptime(), "command": command_line()}
        fit = mlhep_fit(args.workdir, "pfn_mlhep", runcard(args.data, "pfn", args.pfn_epochs, args.sample))
        start = time.perf_counter()
        code = subprocess.run([args.energyflow_python, str(ROOT / "scripts" / "energyflow_reference.py"), str(npz),
                               str(result)], capture_output=True, text=True,
                              env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"))
        info["energyflow_wall"] = time.perf_counter() - start
        if code.returncode:
            raise RuntimeError(f"energyflow_reference.py failed:\n{code.stderr[-3000:]}")
        info["after"], info["finished"] = uptime(), now()
        meta.write_text(json.dumps(info))
    if not np.array_equal(fit["test_label"], y_test) or fit["n_train"] != parts.train.size:
        raise RuntimeError("mlhep's split differs from the exported one")
    before, after, ef_wall = info["before"], info["after"], info["energyflow_wall"]
    ef = np.load(result)
    score = ef["test_score"].astype(np.float64)
    ef_rej = metrics.rejection(score, y_test, metrics.WORKING_POINTS)
    ef_auc = metrics.auc(score, y_test)
    e = args.pfn_epochs
    ef_rate = e * fit["n_train"] / float(np.sum(ef["epoch_seconds"]))
    ml_rate = jets_per_second(fit)
    if fit["epochs"] > e:   # a fit from before the engine validated the parameters after the last epoch
        validated = (f"mlhep's engine validated the parameters an epoch starts from, so its last epoch was never "
                     f"validated: mlhep ran {e + 1} epochs to validate the parameters after 0..{e} epochs, "
                     f"energyflow {e} (validated after each) (measured before the engine's fix that also validates "
                     f"the parameters after the last epoch).")
    else:
        validated = (f"mlhep validates the parameters after 0..{e} epochs (the engine validates those each epoch "
                     f"starts from and those after the last one), energyflow after each of its {e} epochs.")
    rows = [
        f"| mlhep PFN (JAX/flax) | {fit['n_parameters']:,} | {fit['wall']:.0f} | {fit['compile']:.1f} | "
        f"{ml_rate:,.0f} | {fit['auc']:.4f} | {fit['rejection_30']:.1f} | {fit['rejection_50']:.1f} | "
        f"{fit['best_epoch']} of {fit['epochs']} run |",
        f"| energyflow PFN (Keras 3 / TF) | {int(ef['n_parameters']):,} | {ef_wall:.0f} | - | {ef_rate:,.0f} | "
        f"{ef_auc:.4f} | {ef_rej[0]:.1f} | {ef_rej[1]:.1f} | {int(ef['best_epoch']) + 1} of {e} run |"]
    return [
        f"## PFN: mlhep vs energyflow, same arrays, one run ({info.get('finished', now())})", "",
        f"`{info['command']}`" + (f" (rendered again with `--reuse` {now()})" if args.reuse else ""), "",
        f"{fit['n_train']:,} training, {fit['n_valid']:,} validation and {fit['n_test']:,} test jets (the split of "
        f"the task's setup, split_seed {SPLIT['split_seed']}); the 7 features of the {CONSTITUENTS} hardest "
        f"constituents from mlhep's pipeline; {e} epochs, minibatch {BATCH}, Adam lr {LEARNING_RATE:g}, 1 model; "
        f"Phi {phi}, F {f_sizes} (energyflow's default sizes) in both. Each keeps the weights of its best "
        f"validation epoch. {validated} Differences: mlhep's PFN normalises its inputs with a masked batch norm "
        "(14 parameters) and has one logit (binary cross-entropy); energyflow's gets the same features "
        "standardised beforehand with the training jets' statistics, and has a 2-class softmax (categorical "
        f"cross-entropy; 101 more parameters). {ef['versions']}.", "",
        "Training jets/s: epochs x training jets / training time, validation passes included; mlhep: the "
        "engine's training time minus the compilation it reports; energyflow: the sum of Keras's epoch times "
        "(its graph tracing, a few seconds in the first epoch, included; epochs took "
        f"{', '.join(f'{t:.0f}' for t in ef['epoch_seconds'])} s). Wall: the whole command (reading the jets, "
        "training, testing; for energyflow also TensorFlow's start-up).", "",
        "| implementation | params | wall (s) | compile (s) | training jets/s | test AUC | 1/eps_B @ eps_S=0.3 | "
        "1/eps_B @ 0.5 | kept: epochs trained |", "|---|---:|---:|---:|---:|---:|---:|---:|---:|", *rows, "",
        f"Throughput ratio mlhep / energyflow: **{ml_rate / ef_rate:.2f}x**.", "",
        f"Machine load: before `{before}`; after `{after}`.", ""]


# -- part 2 ---------------------------------------------------------------------------------------------------------
def particlenet_vs_weaver(args, jets, parts) -> list[str]:
    import argparse as ap

    import jax
    import jax.numpy as jnp

    import bench_jet_models
    from mlhep.runtime import configure_process, use_precision
    from mlhep.tasks.jets.models import options

    configure_process()
    use_precision("float32")
    defaults = options("particlenet")
    pool_rows = parts.train[np.random.default_rng(0).permutation(parts.train.size)[:args.pool]]
    inputs = {k: jets.inputs[k][pool_rows] for k in ("particles", "points", "mask")}
    inputs["particles"] = np.where(inputs["mask"][..., None], inputs["particles"], 0.0).astype(np.float32)
    inputs["points"] = np.ascontiguousarray(inputs["particles"][..., :2])
    labels = jets.label[pool_rows].astype(np.float32)
    rng = np.random.default_rng(1)
    rows = rng.integers(0, pool_rows.size, (args.warmup + args.steps, BATCH))
    conv = defaults["conv_params"]
    npz, result = args.workdir / "particlenet_input.npz", args.workdir / "particlenet_weaver.npz"
    np.savez(npz, particles=inputs["particles"], mask=inputs["mask"], label=labels.astype(np.int64), rows=rows,
             warmup=args.warmup, lr=LEARNING_RATE, seed=7, conv_k=[k for k, _ in conv],
             conv_channels=[list(c) for _, c in conv], fc_width=defaults["fc_params"][0][0],
             fc_dropout=defaults["fc_params"][0][1])

    before = uptime()
    pool = {k: jnp.asarray(v) for k, v in inputs.items()}
    settings = ap.Namespace(batch=BATCH, steps=args.steps)
    compile_seconds, ml_rate = bench_jet_models.measure("particlenet", None, settings, pool, jnp.asarray(labels))
    net = bench_jet_models.build("particlenet")
    params, _ = net.init(jax.random.PRNGKey(0), {k: v[:1] for k, v in pool.items()})
    ml_params = sum(int(np.prod(a.shape)) for a in jax.tree.leaves(params))
    code = subprocess.run([args.weaver_python, str(ROOT / "scripts" / "weaver_reference.py"), str(npz),
                           str(result)], capture_output=True, text=True)
    if code.returncode:
        raise RuntimeError(f"weaver_reference.py failed:\n{code.stderr[-3000:]}")
    after = uptime()
    w = np.load(result)
    w_rate = BATCH / float(np.mean(w["step_seconds"]))
    return [
        f"## ParticleNet: mlhep vs weaver-core, one training step, one run ({now()})", "",
        f"ParticleNet-Lite (weaver's default): EdgeConv blocks (k={conv[0][0]}, {list(conv[0][1])}), "
        f"(k={conv[1][0]}, {list(conv[1][1])}), fusion, one hidden layer of {defaults['fc_params'][0][0]} with "
        f"dropout {defaults['fc_params'][0][1]}, input batch norm, in both. Minibatch {BATCH} jets drawn at random "
        f"from a pool of {pool_rows.size:,} real training jets ({CONSTITUENTS} constituent slots, the 7 features "
        "from mlhep's pipeline, (dy, dphi) as the first kNN coordinates); one step = forward, loss, backward, Adam. "
        f"mlhep: jitted step ({args.steps} timed steps after the compiling one); weaver: {args.warmup} warm-up "
        f"steps, then {args.steps} timed, {w['versions']}. Differences: weaver with trim=False (its default "
        "trimmer drops particles beyond a random 90-100 % length quantile in training); mlhep's batch norms take "
        "statistics over real particles only and a particle with fewer than k real neighbours averages over "
        "those (weaver: padded slots moved to 1e9 may still be picked); one logit vs a 2-class softmax.", "",
        "| implementation | params | compile (s) | training jets/s |", "|---|---:|---:|---:|",
        f"| mlhep ParticleNet (JAX/flax) | {ml_params:,} | {compile_seconds:.1f} | {ml_rate:,.0f} |",
        f"| weaver-core ParticleNet (PyTorch) | {int(w['n_parameters']):,} | - | {w_rate:,.0f} |", "",
        f"Throughput ratio mlhep / weaver: **{ml_rate / w_rate:.2f}x**.", "",
        f"Machine load: before `{before}`; after `{after}`.", ""]


# -- part 3 ---------------------------------------------------------------------------------------------------------
def load_average(text: str) -> str:
    """The 1-minute load average of an ``uptime`` line."""
    found = re.search(r"load average: ([0-9.]+)", text)
    return found.group(1) if found else "?"


def architectures(args) -> list[str]:
    """Fit the architectures asked for; the table has every architecture with a result in ``--workdir`` (so
    several runs, e.g. one architecture again with other settings, make one table)."""
    failed = {}
    for name in args.architectures:
        max_jets, epochs = PLAN[name]
        if name in args.max_jets:
            max_jets = args.max_jets[name] or None
        if name in args.epochs:
            epochs = args.epochs[name]
        load = {"before": uptime()}
        try:
            mlhep_fit(args.workdir, f"arch_{name}", runcard(args.data, name, epochs, max_jets))
        except RuntimeError as err:
            print(err, file=sys.stderr)
            failed[name] = f"| {name} | failed (see {args.workdir}/arch_{name}.log) |" + " |" * 11
            continue
        load |= {"after": uptime(), "finished": now()}
        (args.workdir / f"arch_{name}.json").write_text(json.dumps(load))
    rows = []
    for name in ARCHITECTURES:
        done = args.workdir / f"arch_{name}.json"
        if name in failed:
            rows.append(failed[name])
        elif done.exists():
            fit, load = read_fit(args.workdir, f"arch_{name}"), json.loads(done.read_text())
            rows.append(f"| {name} | {fit['n_parameters']:,} | {fit['n_train']:,} | {fit['epochs']} | "
                        f"{fit['best_epoch']} | {fit['wall']:.0f} | {fit['compile']:.1f} | "
                        f"{jets_per_second(fit):,.0f} | {fit['n_test']:,} | {fit['auc']:.4f} | "
                        f"{fit['rejection_30']:.1f} | {fit['rejection_50']:.1f} | {load_average(load['before'])} / "
                        f"{load_average(load['after'])} | {load['finished'][11:16]} |")
    return [
        "## Every architecture: `mlhep fit`, 1 replica, a few epochs", "",
        "**Not trained to convergence**: a fixed, small number of epochs per architecture (and, for the slow "
        "pairwise networks, only the first jets of the file: the training-jets column) so the whole table fits in "
        "about an hour of a shared 2-core CPU. The numbers rank the architectures' cost; their AUC after so short a "
        "training is a lower bound, not the architectures' reach. Each fit: default model sizes (mlhep/tasks/jets/"
        f"models/), {CONSTITUENTS} constituents, minibatch {BATCH}, Adam lr {LEARNING_RATE:g}, validation every "
        "epoch, the best validated parameters kept (the engine validates the parameters each epoch starts from "
        "and those after the last epoch, so 'epochs run' = the epochs planned and 'kept' may be any of 0..epochs; "
        "rows measured before that engine fix ran the epochs planned + 1, the last one never validated); split "
        "50/20/30 % train/validation/test per class (split_seed 0: "
        "with all jets read, the same test jets for every row). Training jets/s: epochs x training jets / (the "
        "engine's training time - compilation), validation passes included. Wall: the whole `mlhep fit` "
        "(reading and preprocessing the jets, compiling, training, testing).", "",
        "| model | params | training jets | epochs run | kept: epochs trained | wall (s) | compile (s) | "
        "training jets/s | test jets | test AUC | 1/eps_B @ eps_S=0.3 | 1/eps_B @ 0.5 | load before / after | "
        "finished (UTC) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|", *rows, "",
        "Load: the 1-minute load average (`uptime`) before and after each fit, on 2 cores.", ""]


# -- part 4 ---------------------------------------------------------------------------------------------------------
def ensemble(args) -> list[str]:
    """bench_jet_models.py's table (its lines so far if it runs past ``--ensemble-timeout``)."""
    before, after, note = uptime(), "", ""
    if args.ensemble_table:
        text, before = Path(args.ensemble_table).read_text(), "(not recorded: a table given with --ensemble-table)"
        command = "(an earlier run)"
    else:
        command = [sys.executable, str(ROOT / "scripts" / "bench_jet_models.py"), "--particles", str(CONSTITUENTS),
                   "--steps", str(args.ensemble_steps), *(["--models", *args.ensemble_models]
                                                          if args.ensemble_models else [])]
        log = args.workdir / "jet-models.log"
        with open(log, "w") as f:
            proc = subprocess.Popen(command, stdout=f, stderr=subprocess.STDOUT)
            try:
                proc.wait(timeout=args.ensemble_timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
                note = (f"Stopped after {args.ensemble_timeout:.0f} s (`--ensemble-timeout`): the models not "
                        "listed did not run.")
        after = uptime()
        text = log.read_text()
        command = " ".join(["python scripts/bench_jet_models.py", *command[2:]])
    lines = [line for line in text.strip().splitlines() if line.startswith(("|", "Jet-tag", "Sequential"))]
    lines = [line for line in lines if not line.startswith("|")] + [""] + [line for line in lines
                                                                         if line.startswith("|")]
    return [f"## Replica ensembles: R = 1, 8, 32 batched vs sequential ({now()})", "",
            f"`{command}`: synthetic jets (throughput does not depend on the physics), one jitted Adam step.", "",
            *lines, "", *([note, ""] if note else []),
            f"Machine load: before `{before}`" + (f"; after `{after}`." if after else "."), ""]


# -- the markdown ---------------------------------------------------------------------------------------------------
def write_section(out: Path, part: str, lines: list[str], header: str) -> None:
    """Replace (or add, in PARTS order) the section of ``part`` in ``out``."""
    sections = {}
    if out.exists():
        for name, body in re.findall(r"<!-- part: (\S+) -->\n(.*?)<!-- /part -->\n", out.read_text(), re.S):
            sections[name] = body
    sections[part] = "\n".join(lines) + "\n"
    text = header + "".join(f"<!-- part: {p} -->\n{sections[p]}<!-- /part -->\n" for p in PARTS if p in sections)
    out.write_text(text)


def pairs(values: list[str]) -> dict:
    out = {}
    for v in values:
        name, _, number = v.partition("=")
        if name not in ARCHITECTURES or not number.isdigit():
            raise SystemExit(f"expected ARCH=N with ARCH one of {', '.join(ARCHITECTURES)}: {v!r}")
        out[name] = int(number)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="mlhep jet file with top and QCD jets")
    parser.add_argument("--only", nargs="+", choices=PARTS, default=list(PARTS))
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "jets.md")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/bench_jets"),
                        help="runcards, results, logs and the exported arrays")
    parser.add_argument("--energyflow-python", default="/work/envs/energyflow/bin/python")
    parser.add_argument("--weaver-python", default="/work/envs/weaver/bin/python")
    parser.add_argument("--pfn-epochs", type=int, default=3)
    parser.add_argument("--steps", type=int, default=20, help="timed ParticleNet steps per implementation")
    parser.add_argument("--warmup", type=int, default=5, help="weaver's untimed first steps")
    parser.add_argument("--pool", type=int, default=16384, help="training jets the ParticleNet minibatches come from")
    parser.add_argument("--architectures", nargs="+", choices=ARCHITECTURES, default=list(ARCHITECTURES))
    parser.add_argument("--max-jets", nargs="*", default=[], help="ARCH=N: read N jets (0: all) instead of PLAN's")
    parser.add_argument("--epochs", nargs="*", default=[], help="ARCH=N: N epochs instead of PLAN's")
    parser.add_argument("--reuse", action="store_true",
                        help="pfn-vs-energyflow: render the results of the last run in --workdir, train nothing")
    parser.add_argument("--sample", type=int, default=None,
                        help="comparisons: read only the first N jets of the file (a quick check)")
    parser.add_argument("--ensemble-steps", type=int, default=5)
    parser.add_argument("--ensemble-timeout", type=float, default=2400, help="seconds; then keep the rows so far")
    parser.add_argument("--ensemble-models", nargs="+", choices=ARCHITECTURES, default=None)
    parser.add_argument("--ensemble-table", default=None, help="use this bench_jet_models.py output, do not rerun")
    args = parser.parse_args()
    args.max_jets, args.epochs = pairs(args.max_jets), pairs(args.epochs)
    args.data = args.data.resolve()
    args.workdir.mkdir(parents=True, exist_ok=True)

    import jax
    header = (f"# jet-tag benchmark (issue 10)\n\n{platform.machine()}, {os.cpu_count()} cores shared with other jobs "
              f"(a load average above 2 inflates every time; the two sides of a comparison ran one after the "
              f"other in one command), jax {jax.__version__}. Sample: `{args.data.name}` (Pythia 8 + FastJet + "
              "mlhep's detector, seed 7; 100k top + 100k QCD jets, pT 550-650 GeV, anti-kT R = 0.8). Written by "
              "`scripts/bench_jets.py`; each section says when it ran.\n\n")
    jets = parts = None
    if {"pfn-vs-energyflow", "particlenet-vs-weaver"} & set(args.only):
        start = time.perf_counter()
        jets, parts = load(args.data, max_jets=args.sample)
        print(f"read {len(jets)} jets in {time.perf_counter() - start:.0f} s", flush=True)
    for part in PARTS:
        if part not in args.only:
            continue
        print(f"== {part}", flush=True)
        if part == "pfn-vs-energyflow":
            lines = pfn_vs_energyflow(args, jets, parts)
        elif part == "particlenet-vs-weaver":
            lines = particlenet_vs_weaver(args, jets, parts)
        elif part == "architectures":
            lines = architectures(args)
        else:
            lines = ensemble(args)
        if part != "pfn-vs-energyflow":   # that part names the command that measured it
            lines.insert(2, f"`{command_line()}`\n")
        write_section(args.out, part, lines, header)
        print("\n".join(lines), flush=True)


if __name__ == "__main__":
    main()
