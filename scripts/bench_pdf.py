"""Benchmark the pdf-fit replica engine: batched (one vmapped program) vs sequential (one replica at a time).

Same data (the runcard's), the engine's own jitted program, in one run:

1. per epoch: for R replicas batched, the wall time of ``--chunks`` chunks of epochs after a warm-up chunk
   (compilation excluded, nobody stops), divided by R x epochs; on one CPU device, and with the replica axis
   sharded over one CPU device per core (a subprocess with ``--xla_force_host_platform_device_count``).
   Sequential training runs the R = 1 program once per replica, so its cost per replica per epoch is that of
   R = 1 for any R.
2. end to end (``--end-to-end R``): ``engine.train`` of R replicas with the runcard's early stopping, batched
   (stopped replicas leave the batch as it shrinks), batched in blocks of ``--block`` replicas, and
   ``batch: false``; wall time including compilation.

Prints the tables and writes benchmarks/pdf.md.

    python scripts/bench_pdf.py [--runcard runcards/pdf-fit-dis.yaml] [--replicas 1,4,10,100] [--end-to-end 10]
"""
from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("MLHEP_JAX_CACHE", "0")  # measure compilation honestly

import numpy as np  # noqa: E402

import mlhep  # noqa: E402,F401
from mlhep.fit import load  # noqa: E402
from mlhep.task import RunContext  # noqa: E402
from mlhep.runtime import use_precision  # noqa: E402

use_precision("float64")   # what mlhep fit sets for these tasks (import mlhep sets nothing)

REPO = Path(__file__).resolve().parents[1]


def load_trainable(runcard_path: str):
    runcard, task = load(Path(runcard_path))
    ctx = RunContext(runcard_path=Path(runcard_path), seed=runcard.seed, replica_ids=np.arange(1),
                     fail=runcard.fail, train=None, quiet=True)
    problem = task.setup(runcard.config, ctx)
    return runcard, problem, task.trainable(problem, runcard.config)


def per_replica_epoch(trainable, engine, n_replicas: int, chunks: int) -> float:
    """Seconds per replica per epoch of the batched program for ``n_replicas`` (after one warm-up chunk),
    sharded over all local devices when there are several."""
    import jax

    from mlhep.engine import sharding
    from mlhep.engine.program import Program, replica_keys, shared_data

    program = Program(trainable, engine)
    devices = sharding.replica_devices(True) if n_replicas > 1 else 1
    padded = sharding.padded_count(n_replicas, devices)
    # as the engine does: initialise on one device, then place the batch (a cross-device gather can deadlock
    # XLA's CPU devices)
    host_shared = shared_data(trainable)
    state, data = jax.tree_util.tree_map(np.array, program.init(replica_keys(0, np.arange(padded)), host_shared))
    shared = sharding.replicate(host_shared, devices)
    state, data = sharding.shard((state, data), devices)
    chunk = program.chunk(None)
    state = chunk(state, shared, data)
    jax.block_until_ready(state)
    start = time.perf_counter()
    for _ in range(chunks):
        state = chunk(state, shared, data)
    jax.block_until_ready(state)
    return (time.perf_counter() - start) / (n_replicas * chunks * engine.chunk)


def per_epoch_table(runcard_path: str, sizes: list[int], chunks: int) -> dict[int, float]:
    runcard, _, trainable = load_trainable(runcard_path)
    engine = copy.deepcopy(runcard.engine)
    engine.stopping.patience = engine.stopping.min_epochs = 10 ** 9     # nobody stops while timing
    return {n: per_replica_epoch(trainable, engine, n, chunks) for n in sizes}


def sharded_in_subprocess(args, devices: int) -> dict[int, float]:
    env = dict(os.environ, XLA_FLAGS=f"--xla_force_host_platform_device_count={devices}")
    out = subprocess.run([sys.executable, __file__, "--runcard", args.runcard, "--replicas", args.replicas,
                          "--chunks", str(args.chunks), "--json"], env=env, check=True, capture_output=True,
                         text=True).stdout
    return {int(k): v for k, v in json.loads(out.strip().splitlines()[-1]).items()}


E2E_MODES = (   # label, engine.batch, engine.block_size (None: the default width), CPU devices
    ("one by one (--sequential)", False, None, 1),
    ("default: one replica per core (2 CPU devices)", True, None, 2),
    ("all replicas in one batch, 1 device", True, 100000, 1),
    ("all replicas in one batch, 2 CPU devices", True, 100000, 2),
)


def end_to_end(runcard_path: str, n_replicas: int, folder: Path) -> dict[str, dict]:
    """Whole ``mlhep fit`` runs of ``n_replicas`` with the runcard's early stopping, each in a fresh process
    with the compilation cache off (compilation included): training seconds and total wall seconds."""
    import h5py
    from ruamel.yaml import YAML

    yaml = YAML()
    card = yaml.load(Path(runcard_path).read_text())
    card["replicas"] = n_replicas
    times = {}
    for label, batch, width, devices in E2E_MODES:
        card["engine"]["batch"], card["engine"]["block_size"] = batch, width
        path = folder / f"e2e_{n_replicas}.yaml"
        with path.open("w") as f:
            yaml.dump(card, f)
        out = folder / f"e2e_{n_replicas}.h5"
        env = dict(os.environ, MLHEP_JAX_CACHE="0", MLHEP_CPU_DEVICES=str(devices))
        env.pop("XLA_FLAGS", None)
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "mlhep.cli", "fit", str(path), "-o", str(out), "--quiet"], env=env,
                       check=True, cwd=folder)
        wall = time.perf_counter() - start
        with h5py.File(out) as f:
            training = json.loads(f["provenance"].attrs["training_seconds"])
        times[label] = {"training": training, "wall": wall}
        print(f"{n_replicas} replicas, {label}: training {training:.1f} s, wall {wall:.1f} s", flush=True)
        out.unlink()
    return times


def end_to_end_table(runcard_path: str, sizes: list[int]) -> list[str]:
    import tempfile
    with tempfile.TemporaryDirectory() as folder:
        results = {n: end_to_end(runcard_path, n, Path(folder)) for n in sizes}
    lines = ["End to end (`mlhep fit`, the runcard's early stopping, compilation included, each run a fresh "
             "process): training seconds (whole command in brackets) and speed-up of training over one by one:",
             "", "| mode | " + " | ".join(f"{n} replicas | speed-up" for n in sizes) + " |",
             "|---|" + "---:|---:|" * len(sizes)]
    for label, *_ in E2E_MODES:
        cells = []
        for n in sizes:
            t, ref = results[n][label], results[n][E2E_MODES[0][0]]
            cells += [f"{t['training']:.1f} ({t['wall']:.1f})", f"{ref['training'] / t['training']:.2f}x"]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runcard", default=str(REPO / "runcards" / "pdf-fit-dis.yaml"))
    parser.add_argument("--replicas", default="1,4,10,100")
    parser.add_argument("--chunks", type=int, default=4, help="timed chunks of engine.chunk epochs")
    parser.add_argument("--end-to-end", default="", metavar="R1,R2",
                        help="also time whole fits of R1, R2 replicas with early stopping in every mode")
    parser.add_argument("--end-to-end-only", action="store_true", help="skip the per-epoch table")
    parser.add_argument("--json", action="store_true", help=argparse.SUPPRESS)   # subprocess mode
    parser.add_argument("--output", default=str(REPO / "benchmarks" / "pdf.md"))
    args = parser.parse_args()
    sizes = [int(v) for v in args.replicas.split(",")]
    if args.json:
        print(json.dumps(per_epoch_table(args.runcard, sizes, args.chunks)))
        return

    cores = os.cpu_count() or 1
    runcard, problem, _ = load_trainable(args.runcard)
    header = (f"pdf-fit engine benchmark: {len(problem.central)} data points, {problem.fk.shape[1]} FK columns, "
              f"network {runcard.config.model.architecture}, theory {runcard.config.theory.order}, "
              f"{platform.processor() or platform.machine()}, {cores} cores")
    lines = [f"# {header}", ""]
    if not args.end_to_end_only:
        single = per_epoch_table(args.runcard, sizes, args.chunks)
        sharded = sharded_in_subprocess(args, cores) if cores > 1 else single
        sequential = single[1] if 1 in single else per_epoch_table(args.runcard, [1], args.chunks)[1]
        table = ["| replicas | sequential | batched, 1 device | speed-up | "
                 f"batched, {cores} CPU devices | speed-up |", "|---:|---:|---:|---:|---:|---:|"]
        for n in sizes:
            table.append(f"| {n} | {sequential * 1e3:.3f} | {single[n] * 1e3:.3f} | {sequential / single[n]:.1f}x | "
                         f"{sharded[n] * 1e3:.3f} | {sequential / sharded[n]:.1f}x |")
        lines += ["ms per replica per epoch:", "", *table, "",
                  f"Epoch chunks of {runcard.engine.chunk} in one jitted lax.scan; compilation excluded; sequential "
                  "= the 1-replica program run once per replica (engine.batch: false).", ""]
    if args.end_to_end:
        lines += end_to_end_table(args.runcard, [int(n) for n in args.end_to_end.split(",")])
    text = "\n".join(lines) + "\n"
    print(text)
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(text)


if __name__ == "__main__":
    main()
