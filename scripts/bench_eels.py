"""Time and peak memory of eels-fit's per-pixel processing of large synthetic spectrum images.

For every replica and pixel: the ZLP (the network at the pixel's ln N, or interpolated on a ln N grid), EELSfitter's
matching and subtraction, the bandgap fit and the log-ratio thickness, in chunks of pixels; then the maps (median
and 68% interval over replicas). This is ``mlhep.tasks.eels.analysis.Evaluator.pixels``, what ``mlhep fit`` runs
after training. The replicas' parameters are freshly initialised networks: the cost does not depend on their
values. The image tiles the 1024 distinct spectra of a 32 x 32 synthetic image (the default synthetic settings)
to the size asked for. Each case runs in its own process, so its peak resident memory (``ru_maxrss``) is its own.

    .venv/bin/python scripts/bench_eels.py                      # the table into benchmarks/eels.md
    .venv/bin/python scripts/bench_eels.py --case 1000000 10 0 1.5 --chunk 2048
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
KEEP = "## Training"          # benchmarks/eels.md from this heading on is not this script's
# (pixels, replicas, ln-N grid points (0: the network at every pixel), fixed exponent (0: b fitted))
CASES = [(10_000, 10, 0, 0.0), (10_000, 10, 0, 1.5), (10_000, 10, 64, 1.5), (100_000, 10, 64, 1.5),
         (1_000_000, 10, 64, 1.5)]


def run_case(pixels: int, replicas: int, grid: int, exponent: float, chunk: int) -> dict:
    import jax
    import numpy as np

    from mlhep.runtime import configure_process, use_precision
    configure_process()
    use_precision("float32")
    from mlhep.task import RunContext
    from mlhep.tasks.eels.analysis import Evaluator
    from mlhep.tasks.eels.config import (Analysis, Bandgap, Clustering, EelsData, EelsFitConfig, Images,
                                         SyntheticImage)
    from mlhep.tasks.eels.inputs import load_problem
    from mlhep.tasks.eels.trainable import ZLPTrainable
    from mlhep.tasks.eels.zlp_model import ZLPNet

    analysis = Analysis(bandgap=Bandgap(window=[1.3, 2.8], exponent=exponent or None),
                        images=Images(pixel_chunk=chunk, zlp_interpolation=grid, keep_pixel_replicas=0))
    config = EelsFitConfig(data=EelsData(synthetic=SyntheticImage(pixels=[32, 32])), clustering=Clustering(k=3),
                           analysis=analysis)
    ctx = RunContext(runcard_path=ROOT / "bench.yaml", seed=0, replica_ids=np.arange(replicas),
                     fail=lambda key, why: ValueError(f"{key}: {why}"), train=None)
    small = load_problem(config, ctx)
    tiles = -(-pixels // len(small.pixels))
    problem = dataclasses.replace(small, pixels=np.tile(small.pixels, (tiles, 1))[:pixels],
                                  pixel_cluster=np.tile(small.pixel_cluster, tiles)[:pixels],
                                  pixel_shape=(pixels,), truth={})
    trainable = ZLPTrainable.from_problem(problem, ZLPNet(activations=("tanh",) * 3), 10.0, 0.25)
    params = jax.vmap(trainable.init, in_axes=(0, None))(jax.random.split(jax.random.PRNGKey(0), replicas),
                                                          trainable.shared())
    evaluator = Evaluator(trainable, problem, config, params)
    evaluator._pixel_chunk(np.arange(min(chunk, pixels)), evaluator.chunk_size())   # compile first: time the work
    start = time.perf_counter()
    _, maps = evaluator.pixels()
    seconds = time.perf_counter() - start
    assert maps["map/thickness/median"].shape == (pixels,)
    return {"pixels": pixels, "replicas": replicas, "grid": grid, "exponent": exponent, "chunk": chunk,
            "channels": int(problem.energy.size), "seconds": seconds,
            "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "image_mb": problem.pixels.nbytes / 2**20}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--case", nargs=4, type=float, metavar=("PIXELS", "REPLICAS", "GRID", "EXPONENT"),
                        help="run one case in this process and print its JSON")
    parser.add_argument("--chunk", type=int, default=2048, help="pixels per chunk")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "eels.md")
    parser.add_argument("--max-pixels", type=int, default=10**6, help="skip larger cases")
    args = parser.parse_args()
    if args.case:
        pixels, replicas, grid, exponent = args.case
        print(json.dumps(run_case(int(pixels), int(replicas), int(grid), exponent, args.chunk)))
        return
    rows = []
    for pixels, replicas, grid, exponent in CASES:
        if pixels > args.max_pixels:
            continue
        command = [sys.executable, __file__, "--case", str(pixels), str(replicas), str(grid), str(exponent),
                   "--chunk", str(args.chunk)]
        done = subprocess.run(command, capture_output=True, text=True, check=True)
        row = json.loads(done.stdout.strip().splitlines()[-1])
        rows.append(row)
        print(row, flush=True)
    write_table(rows, args.out)


def write_table(rows: list[dict], out: Path) -> None:
    lines = ["# eels-fit: per-pixel processing of large spectrum images", "",
             f"`scripts/bench_eels.py` on {platform.processor() or platform.machine()}, {_cores()} cores "
             "(shared with other jobs; times are upper bounds). For every replica and pixel: ZLP, matching, "
             "subtraction, bandgap fit (window 1.3-2.8 eV), log-ratio t/lambda; then the maps. Replicas' networks "
             "are EELSfitter's 2-10-15-5-1 (tanh), freshly initialised: the cost does not depend on the weights. "
             "Peak memory is the process's resident peak, image included.", "",
             "| pixels | replicas | channels | ZLP | b | chunk | time (s) | us per pixel-replica | peak memory (MB) "
             "| image (MB) |", "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        zlp = "network per pixel" if not r["grid"] else f"{r['grid']}-point ln N grid"
        b = "fitted" if not r["exponent"] else f"fixed {r['exponent']:g}"
        per = 1e6 * r["seconds"] / (r["pixels"] * r["replicas"])
        lines.append(f"| {r['pixels']:,} | {r['replicas']} | {r['channels']} | {zlp} | {b} | {r['chunk']} | "
                     f"{r['seconds']:.1f} | {per:.1f} | {r['peak_mb']:.0f} | {r['image_mb']:.0f} |")
    out.parent.mkdir(parents=True, exist_ok=True)
    kept = ""
    if out.exists() and KEEP in out.read_text():         # sections measured otherwise (training) stay
        kept = "\n" + out.read_text()[out.read_text().index(KEEP):]
    out.write_text("\n".join(lines) + "\n" + kept)
    print(f"wrote {out}")


def _cores() -> int:
    import os
    return len(os.sched_getaffinity(0))


if __name__ == "__main__":
    main()
