"""Generate a boosted-top vs QCD jet sample like the top-tagging reference sample (Pythia 8 + FastJet).

    .venv/bin/python scripts/generate_jets.py generate -o jets.h5 --n-jets 100000 --workers 2
    .venv/bin/python scripts/generate_jets.py generate -o part.h5 --n-jets 100000 --task-index 3 --task-count 10
    .venv/bin/python scripts/generate_jets.py merge part_*.h5 -o jets.h5

``--n-jets`` is per class. With ``--task-index i --task-count n`` (e.g. ``$SLURM_ARRAY_TASK_ID`` and the array
size) the job makes only its share of the chunks and writes ``OUTPUT`` with ``.partIofN`` before the suffix;
``merge`` joins the parts into a file identical to a single job's. See ``mlhep/tasks/jets/`` for the physics
(``sample.py``), the detector model (``detector.py``) and the file layout (``h5io.py``).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from mlhep.errors import MlhepError
from mlhep.tasks.jets.detector import DetectorParams
from mlhep.tasks.jets.h5io import merge_parts
from mlhep.tasks.jets.production import ProductionPlan, produce
from mlhep.tasks.jets.sample import PROCESSES, SampleDefinition


def part_path(output: Path, task_index: int, task_count: int) -> Path:
    """``jets.h5`` -> ``jets.part003of010.h5`` for an array task; unchanged for a single job."""
    if task_count == 1:
        return output
    width = len(str(task_count - 1))
    return output.with_name(f"{output.stem}.part{task_index:0{width}d}of{task_count}{output.suffix}")


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} (must be >= 1)")
    return value


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    g = sub.add_parser("generate", help="generate jets (or one array task's part)")
    g.add_argument("-o", "--output", type=Path, required=True)
    g.add_argument("--n-jets", type=_positive, required=True, help="jets per class")
    g.add_argument("--seed", type=int, default=1, help="sample seed in [0, 2^32 - 1] (default 1)")
    g.add_argument("--workers", type=_positive, default=1, help="worker processes (default 1)")
    g.add_argument("--chunk-size", type=_positive, default=500, help="jets per chunk (default 500)")
    g.add_argument("--batch-events", type=_positive, default=200, help="events per Pythia batch (default 200)")
    g.add_argument("--detector", choices=("simple", "none"), default="simple",
                   help="'simple': the parametrised detector of mlhep/tasks/jets/detector.py; 'none': particles")
    g.add_argument("--processes", default=",".join(PROCESSES), help="comma-separated subset of top,qcd")
    g.add_argument("--pthat-min", type=float, default=SampleDefinition.pthat_min, help="GeV")
    g.add_argument("--pthat-max", type=float, default=SampleDefinition.pthat_max, help="GeV (-1: none)")
    g.add_argument("--all-jets", action="store_true", help="every jet in the window, not only the leading one")
    g.add_argument("--task-index", type=int, default=0)
    g.add_argument("--task-count", type=_positive, default=1)
    g.add_argument("--quiet", action="store_true", help="no progress bar")
    m = sub.add_parser("merge", help="join the part files of an array job")
    m.add_argument("parts", nargs="+", type=Path)
    m.add_argument("-o", "--output", type=Path, required=True)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        if args.command == "merge":
            n = merge_parts(args.parts, args.output)
            print(f"{args.output}: {n} jets from {len(args.parts)} parts")
            return 0
        processes = tuple(p.strip() for p in args.processes.split(",") if p.strip())
        if not processes or any(p not in PROCESSES for p in processes):
            print(f"--processes {args.processes!r}: valid are {', '.join(PROCESSES)}", file=sys.stderr)
            return 2
        if not 0 <= args.seed <= 2 ** 32 - 1:
            print(f"--seed {args.seed}: must be in [0, 2^32 - 1]", file=sys.stderr)
            return 2
        if not 0 <= args.task_index < args.task_count:
            print(f"--task-index {args.task_index}: must be in [0, --task-count)", file=sys.stderr)
            return 2
        sample = SampleDefinition(pthat_min=args.pthat_min, pthat_max=args.pthat_max,
                                  leading_only=not args.all_jets)
        plan = ProductionPlan(n_jets=args.n_jets, seed=args.seed, chunk_size=args.chunk_size, sample=sample,
                              detector=DetectorParams() if args.detector == "simple" else None,
                              batch_events=args.batch_events, processes=processes)
        output = part_path(args.output, args.task_index, args.task_count)
        stats = produce(plan, output, workers=args.workers, task_index=args.task_index,
                        task_count=args.task_count, progress=not args.quiet)
        for process, s in stats.items():
            if s["jets"]:
                print(f"{process}: {s['jets']} jets from {s['events']} events, {s['cpu_seconds']:.1f} CPU s: "
                      f"{s['jets_per_cpu_second']:.1f} jets/s per core "
                      f"(selection efficiency {s['jets'] / s['events']:.3f})")
        print(f"wrote {output}")
        return 0
    except MlhepError as err:
        print(f"error: {err}", file=sys.stderr)
        return err.exit_code
    except RuntimeError as err:         # Pythia refused a setting, or the selection accepts (almost) nothing
        print(f"error: {err}; nothing written", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted: nothing written", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
