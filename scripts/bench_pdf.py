"""Benchmark the pdf-fit replica engine: batched (one vmapped program) vs sequential (one replica at a time).

Same data (the runcard's), the engine's own jitted program (``mlhep.engine.replicas._Program``): for R replicas
batched, the wall time of ``chunks`` chunks of epochs after a warm-up chunk (compilation excluded), divided by
R x epochs. Sequential training (``engine.batch: false``) runs the R = 1 program once per replica, so its cost per
replica per epoch is that of R = 1 for any number of replicas (the per-replica re-initialisation, ~1 s, is not
included). Prints a table and writes benchmarks/pdf.md.

    python scripts/bench_pdf.py [--runcard runcards/pdf-fit-dis.yaml] [--replicas 1,10,100] [--chunks 4]
"""
from __future__ import annotations

import argparse
import copy
import platform
import time
from pathlib import Path

import numpy as np

import mlhep  # noqa: F401
from mlhep.engine import train
from mlhep.fit import load
from mlhep.task import RunContext

REPO = Path(__file__).resolve().parents[1]


def per_replica_epoch(trainable, engine, n_replicas: int, chunks: int) -> float:
    """Seconds per replica per epoch of the batched program for ``n_replicas`` (after one warm-up chunk)."""
    import jax

    from mlhep.engine.replicas import _Program, replica_keys

    program = _Program(trainable, engine)
    state, data = program.init(replica_keys(0, np.arange(n_replicas)))
    lr_scale = jax.numpy.ones(n_replicas)
    state = program.chunk(state, data, lr_scale, jax.numpy.asarray(0))
    jax.block_until_ready(state)
    start = time.perf_counter()
    for k in range(chunks):
        state = program.chunk(state, data, lr_scale, jax.numpy.asarray((k + 1) * engine.chunk))
    jax.block_until_ready(state)
    return (time.perf_counter() - start) / (n_replicas * chunks * engine.chunk)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runcard", default=str(REPO / "runcards" / "pdf-fit-dis.yaml"))
    parser.add_argument("--replicas", default="1,10,100")
    parser.add_argument("--chunks", type=int, default=4, help="timed chunks of engine.chunk epochs")
    parser.add_argument("--output", default=str(REPO / "benchmarks" / "pdf.md"))
    args = parser.parse_args()

    runcard, task = load(Path(args.runcard))
    ctx = RunContext(runcard_path=Path(args.runcard), seed=runcard.seed, replica_ids=np.arange(1),
                     fail=runcard.fail, train=None, quiet=True)
    problem = task.setup(runcard.config, ctx)
    trainable = task.trainable(problem, runcard.config)
    engine = copy.deepcopy(runcard.engine)
    engine.stopping.patience = engine.stopping.min_epochs = 10 ** 9     # nobody stops while timing
    sizes = [int(v) for v in args.replicas.split(",")]
    sequential = per_replica_epoch(trainable, engine, 1, args.chunks)
    rows = []
    for n in sizes:
        batched = sequential if n == 1 else per_replica_epoch(trainable, engine, n, args.chunks)
        rows.append({"replicas": n, "batched": batched, "sequential": sequential})
        print(f"  {n:>4} replicas: batched {batched * 1e3:.3f}, sequential {sequential * 1e3:.3f} ms/replica/epoch",
              flush=True)

    header = (f"pdf-fit engine benchmark: {len(problem.central)} data points, {problem.fk.shape[1]} FK columns, "
              f"network {runcard.config.model.architecture}, {platform.processor() or platform.machine()}, "
              f"{__import__('os').cpu_count()} cores")
    table = ["| replicas | batched [ms/replica/epoch] | sequential [ms/replica/epoch] | speed-up |",
             "|---:|---:|---:|---:|"]
    for r in rows:
        table.append(f"| {r['replicas']} | {r['batched'] * 1e3:.3f} | {r['sequential'] * 1e3:.3f} | "
                     f"{r['sequential'] / r['batched']:.1f}x |")
    note = (f"Epoch chunks of {engine.chunk} in one jitted lax.scan; compilation excluded; sequential = the 1-replica "
            "program run once per replica (engine.batch: false).")
    text = "\n".join([f"# {header}", "", *table, "", note, ""])
    print(text)
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(text)


if __name__ == "__main__":
    main()
