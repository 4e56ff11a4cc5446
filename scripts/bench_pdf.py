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
    from mlhep.engine.replicas import _Program, replica_keys

    program = _Program(trainable, engine)
    devices = sharding.replica_devices(True) if n_replicas > 1 else 1
    padded = sharding.padded_count(n_replicas, devices)
    state, data = program.init(replica_keys(0, np.arange(padded)))
    state, data, lr_scale = sharding.shard((state, data, jax.numpy.ones(padded)), devices)
    state = program.chunk(state, data, lr_scale, jax.numpy.asarray(0))
    jax.block_until_ready(state)
    start = time.perf_counter()
    for k in range(chunks):
        state = program.chunk(state, data, lr_scale, jax.numpy.asarray((k + 1) * engine.chunk))
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


def end_to_end(runcard_path: str, n_replicas: int, block: int) -> dict[str, float]:
    from mlhep.engine import train

    runcard, problem, trainable = load_trainable(runcard_path)
    ids = np.arange(n_replicas)
    times = {}
    for label, batch, size in (("batched", True, None), ("blocks", True, block), ("sequential", False, None)):
        engine = copy.deepcopy(runcard.engine)
        engine.batch, engine.block_size = batch, size
        result = train(trainable, ids, runcard.seed, engine)
        times[label] = result.wall_seconds
        times[f"{label}_epochs"] = float(np.mean(result.best_epoch))
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runcard", default=str(REPO / "runcards" / "pdf-fit-dis.yaml"))
    parser.add_argument("--replicas", default="1,4,10,100")
    parser.add_argument("--chunks", type=int, default=4, help="timed chunks of engine.chunk epochs")
    parser.add_argument("--end-to-end", type=int, default=0, metavar="R",
                        help="also time a whole fit of R replicas with early stopping, batched vs sequential")
    parser.add_argument("--block", type=int, default=4, help="block size of the end-to-end blocked run")
    parser.add_argument("--json", action="store_true", help=argparse.SUPPRESS)   # subprocess mode
    parser.add_argument("--output", default=str(REPO / "benchmarks" / "pdf.md"))
    args = parser.parse_args()
    sizes = [int(v) for v in args.replicas.split(",")]
    if args.json:
        print(json.dumps(per_epoch_table(args.runcard, sizes, args.chunks)))
        return

    cores = os.cpu_count() or 1
    single = per_epoch_table(args.runcard, sizes, args.chunks)
    sharded = sharded_in_subprocess(args, cores) if cores > 1 else single
    sequential = single[1] if 1 in single else per_epoch_table(args.runcard, [1], args.chunks)[1]
    runcard, problem, _ = load_trainable(args.runcard)
    header = (f"pdf-fit engine benchmark: {len(problem.central)} data points, {problem.fk.shape[1]} FK columns, "
              f"network {runcard.config.model.architecture}, theory {runcard.config.theory.order}, "
              f"{platform.processor() or platform.machine()}, {cores} cores")
    table = ["| replicas | sequential | batched, 1 device | speed-up | "
             f"batched, {cores} CPU devices | speed-up |", "|---:|---:|---:|---:|---:|---:|"]
    for n in sizes:
        table.append(f"| {n} | {sequential * 1e3:.3f} | {single[n] * 1e3:.3f} | {sequential / single[n]:.1f}x | "
                     f"{sharded[n] * 1e3:.3f} | {sequential / sharded[n]:.1f}x |")
    lines = [f"# {header}", "", "ms per replica per epoch:", "", *table, "",
             f"Epoch chunks of {runcard.engine.chunk} in one jitted lax.scan; compilation excluded; sequential = "
             "the 1-replica program run once per replica (engine.batch: false)."]
    if args.end_to_end:
        t = end_to_end(args.runcard, args.end_to_end, args.block)
        lines += ["", f"End to end, {args.end_to_end} replicas with the runcard's early stopping (mean best epoch "
                  f"{t['batched_epochs']:.0f}), compilation included, 1 device: all in one batch "
                  f"{t['batched']:.1f} s, blocks of {args.block} {t['blocks']:.1f} s, one by one "
                  f"{t['sequential']:.1f} s (speed-up over one by one: {t['sequential'] / t['batched']:.2f}x, "
                  f"{t['sequential'] / t['blocks']:.2f}x)."]
    text = "\n".join(lines) + "\n"
    print(text)
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(text)


if __name__ == "__main__":
    main()
