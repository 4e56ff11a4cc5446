"""Benchmark the replica engine: N replicas of the toy task trained batched (one vmapped program) vs one by one.

Both modes run the same fixed number of epochs (early stopping off) so the work is identical. Each setting
runs twice: the first call compiles, the second reuses the compiled program and gives the steady-state time;
their difference is the compile time. Writes benchmarks/engine.md.

    python scripts/bench_engine.py [--replicas 1 10 100] [--epochs 2000]
"""
from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

os.environ.setdefault("MLHEP_JAX_CACHE", "0")  # measure compilation honestly

import jax  # noqa: E402
import numpy as np  # noqa: E402

import mlhep  # noqa: E402,F401
from mlhep.engine import EngineConfig, train  # noqa: E402
from mlhep.engine.config import StoppingConfig  # noqa: E402
from mlhep.tasks.toy import TASK, ToyConfig  # noqa: E402
from mlhep.runtime import use_precision  # noqa: E402

use_precision("float64")   # what mlhep fit sets for these tasks (import mlhep sets nothing)


def timed(trainable, n, cfg):
    start = time.perf_counter()
    result = train(trainable, np.arange(n), seed=0, cfg=cfg)
    return time.perf_counter() - start, result


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replicas", type=int, nargs="+", default=[1, 10, 100])
    parser.add_argument("--epochs", type=int, default=2000)
    parser.add_argument("--out", default=str(Path(__file__).parents[1] / "benchmarks" / "engine.md"))
    args = parser.parse_args()
    config = ToyConfig()
    problem = TASK.setup(config, None)
    trainable = TASK.trainable(problem, config)
    rows = []
    for n in args.replicas:
        times = {}
        for batch in (True, False):
            cfg = EngineConfig(epochs=args.epochs, chunk=250, batch=batch,
                               stopping=StoppingConfig(patience=10 * args.epochs))
            first, _ = timed(trainable, n, cfg)
            steady, _ = timed(trainable, n, cfg)
            times[batch] = (first - steady, steady)
        per_batched = times[True][1] / n / args.epochs * 1e6
        per_seq = times[False][1] / n / args.epochs * 1e6
        rows.append((n, times[True][0], times[True][1], times[False][1], per_batched, per_seq,
                     times[False][1] / times[True][1]))
        print(f"N={n:4d}  batched {times[True][1]:8.2f} s  sequential {times[False][1]:8.2f} s  "
              f"speed-up {rows[-1][-1]:6.1f}x", flush=True)
    header = ("| replicas | compile, batched (s) | batched (s) | sequential (s) | batched us/replica/epoch | "
              "sequential us/replica/epoch | speed-up |\n|---:|---:|---:|---:|---:|---:|---:|\n")
    table = header + "".join(f"| {n} | {c:.1f} | {b:.2f} | {s:.2f} | {pb:.1f} | {ps:.1f} | {r:.1f}x |\n"
                             for n, c, b, s, pb, ps, r in rows)
    text = (f"# Engine benchmark: toy-regression (MLP 1-16-16-1, 40 points), {args.epochs} epochs per replica\n\n"
            f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, jax {jax.__version__} on "
            f"{jax.devices()[0].device_kind}; steady-state times for {args.epochs} epochs of all replicas "
            f"(compilation excluded; shown separately)."
            f"\n\n{table}")
    Path(args.out).parent.mkdir(exist_ok=True)
    Path(args.out).write_text(text)
    print(table)


if __name__ == "__main__":
    main()
