"""Benchmark the pdf-fit replica engine: batched (one vmapped program) vs sequential (one replica at a time).

Same data, same runcard; the time per replica per epoch is measured as the difference between runs of E and
2E epochs (which removes compilation and setup), with stopping disabled. Prints a table and writes
benchmarks/pdf.md.

    python scripts/bench_pdf.py [--runcard runcards/pdf-fit-dis.yaml] [--replicas 1,10,100] [--epochs 200]
                                [--max-sequential 10]

Sequential runs with more than --max-sequential replicas are extrapolated from the per-replica cost measured
at --max-sequential (sequential cost is linear in the number of replicas); the table says which.
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


def timed(trainable, engine, n_replicas: int, epochs: int, batch: bool) -> float:
    cfg = copy.deepcopy(engine)
    cfg.epochs, cfg.batch, cfg.chunk = epochs, batch, min(engine.chunk, epochs)
    cfg.stopping.patience = 10 * epochs
    start = time.perf_counter()
    train(trainable, np.arange(n_replicas), 0, cfg)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runcard", default=str(REPO / "runcards" / "pdf-fit-dis.yaml"))
    parser.add_argument("--replicas", default="1,10,100")
    parser.add_argument("--epochs", type=int, default=200)
    parser.add_argument("--max-sequential", type=int, default=10)
    parser.add_argument("--output", default=str(REPO / "benchmarks" / "pdf.md"))
    args = parser.parse_args()

    runcard, task = load(Path(args.runcard))
    ctx = RunContext(runcard_path=Path(args.runcard), seed=runcard.seed, replica_ids=np.arange(1),
                     fail=runcard.fail, train=None, quiet=True)
    problem = task.setup(runcard.config, ctx)
    trainable = task.trainable(problem, runcard.config)
    e = args.epochs
    rows = []
    for n in [int(v) for v in args.replicas.split(",")]:
        line = {"replicas": n}
        for batch in (True, False):
            measured_n = n if (batch or n <= args.max_sequential) else args.max_sequential
            t1 = timed(trainable, runcard.engine, measured_n, e, batch)
            t2 = timed(trainable, runcard.engine, measured_n, 2 * e, batch)
            per = max(t2 - t1, 1e-12) / (measured_n * e)
            line["batched" if batch else "sequential"] = per
            line["extrapolated"] = line.get("extrapolated", False) or measured_n != n
            print(f"  {n:>4} replicas {'batched' if batch else 'sequential'}: {per * 1e3:.3f} ms/replica/epoch "
                  f"(runs of {e} and {2 * e} epochs: {t1:.1f} s, {t2:.1f} s)", flush=True)
        rows.append(line)

    header = (f"pdf-fit engine benchmark: {len(problem.central)} data points, {problem.fk.shape[1]} FK columns, "
              f"network {runcard.config.model.architecture}, {platform.processor() or platform.machine()}, "
              f"{__import__('os').cpu_count()} cores")
    table = ["| replicas | batched [ms/replica/epoch] | sequential [ms/replica/epoch] | speed-up |",
             "|---:|---:|---:|---:|"]
    for r in rows:
        mark = " (extrapolated)" if r["extrapolated"] else ""
        table.append(f"| {r['replicas']} | {r['batched'] * 1e3:.3f} | {r['sequential'] * 1e3:.3f}{mark} | "
                     f"{r['sequential'] / r['batched']:.1f}x |")
    text = "\n".join([f"# {header}", "", *table, ""])
    print(text)
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(text)


if __name__ == "__main__":
    main()
