"""Generate a dijet sample like the LHC Olympics 2020 R&D set: QCD dijets and W' -> X Y -> qq qq (Pythia 8 +
mlhep's detector + FastJet), with the features of ``mlhep.tasks.bumphunt.events.Events``.

    .venv/bin/python scripts/generate_lhco.py generate -o lhco.h5 --n-background 100000 --n-signal 10000 --workers 2
    .venv/bin/python scripts/generate_lhco.py generate -o part.h5 --n-background 1000000 --task-index 3 --task-count 10
    .venv/bin/python scripts/generate_lhco.py merge part.part*of10.h5 -o lhco.h5

With ``--task-index i --task-count n`` (e.g. ``$SLURM_ARRAY_TASK_ID`` and the array size) the job makes only its
share of the chunks and writes ``OUTPUT`` with ``.partIofN`` before the suffix; ``merge`` joins the parts into a
file identical to a single job's. Physics in ``mlhep/tasks/bumphunt/pythia_dijets.py``, file layout in
``mlhep/tasks/bumphunt/generate.py``; read the file with ``mlhep.tasks.bumphunt.generate.read_generated``.

Measured on this machine (one core, detector on, default settings, seed 7): QCD 109 events/s kept (60% of
the generated events pass), 11% of them in 3.3 <= m_jj < 3.7 TeV (300 events); W' 77 events/s (50% pass),
77% of them in that window (100 events). So 1M QCD events take ~2.5 CPU hours.

The pT-hat > 1.1 TeV cut of the QCD sample (``--pthat-min``) is a bias: generated with pT-hat > 600 GeV (400
kept events), 28 +- 2% of the kept events come from pT-hat < 1.1 TeV (38% at m_jj < 2.8 TeV, 27% at 2.8-3.3,
8% in 3.3-3.7 (37 events), 17% above), and 3% from pT-hat < 800 GeV; with pT-hat > 800 GeV the rate is 28
events/s. So ``--pthat-min 800`` gives a ~97% complete sample at a quarter of the speed; the default leaves out
the events whose leading jet gets above 1.2 TeV by recoiling against hard radiation, mostly at low m_jj.
"""
from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

from mlhep.errors import MlhepError
from mlhep.tasks.bumphunt.generate import DijetPlan, merge, produce
from mlhep.tasks.bumphunt.pythia_dijets import DijetSample
from mlhep.tasks.jets.detector import DetectorParams


def part_path(output: Path, task_index: int, task_count: int) -> Path:
    """``lhco.h5`` -> ``lhco.part003of010.h5`` for an array task; unchanged for a single job."""
    if task_count == 1:
        return output
    width = len(str(task_count - 1))
    return output.with_name(f"{output.stem}.part{task_index:0{width}d}of{task_count}{output.suffix}")


def _count(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"{value} (must be >= 0)")
    return value


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} (must be >= 1)")
    return value


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    g = sub.add_parser("generate", help="generate events (or one array task's part)")
    g.add_argument("-o", "--output", type=Path, required=True)
    g.add_argument("--n-background", type=_count, required=True, help="QCD events kept")
    g.add_argument("--n-signal", type=_count, default=0, help="W' events kept (default 0)")
    g.add_argument("--seed", type=int, default=1, help="sample seed in [0, 2^32 - 1] (default 1)")
    g.add_argument("--workers", type=_positive, default=1, help="worker processes (default 1)")
    g.add_argument("--chunk-size", type=_positive, default=1000, help="events per chunk (default 1000)")
    g.add_argument("--batch-events", type=_positive, default=200, help="events per Pythia batch (default 200)")
    g.add_argument("--detector", choices=("simple", "none"), default="simple",
                   help="'simple': the parametrised detector of mlhep/tasks/jets/detector.py; 'none': particles")
    g.add_argument("--pthat-min", type=float, default=DijetSample.pthat_min, help="QCD pT-hat cut, GeV")
    g.add_argument("--pthat-bias-pow", type=float, default=0.0,
                   help="> 0: sample QCD pT-hat with (pT-hat / pthat-min)^pow and store the compensating weights")
    g.add_argument("--mpi", action="store_true", help="multi-parton interactions on (off by default)")
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
            n = merge(args.parts, args.output)
            print(f"{args.output}: {n} events from {len(args.parts)} parts")
            return 0
        if not 0 <= args.seed <= 2 ** 32 - 1:
            print(f"--seed {args.seed}: must be in [0, 2^32 - 1]", file=sys.stderr)
            return 2
        if not 0 <= args.task_index < args.task_count:
            print(f"--task-index {args.task_index}: must be in [0, --task-count)", file=sys.stderr)
            return 2
        if args.n_background + args.n_signal == 0:
            print("--n-background and --n-signal are both 0: nothing to generate", file=sys.stderr)
            return 2
        sample = dataclasses.replace(DijetSample(), pthat_min=args.pthat_min, pthat_bias_pow=args.pthat_bias_pow,
                                     mpi=args.mpi)
        plan = DijetPlan(n_background=args.n_background, n_signal=args.n_signal, seed=args.seed,
                         chunk_size=args.chunk_size, sample=sample,
                         detector=DetectorParams() if args.detector == "simple" else None,
                         batch_events=args.batch_events)
        output = part_path(args.output, args.task_index, args.task_count)
        stats = produce(plan, output, workers=args.workers, task_index=args.task_index,
                        task_count=args.task_count, progress=not args.quiet)
        for process, s in stats.items():
            if s["events"]:
                print(f"{process}: {s['events']} events kept of {s['generated']} generated, {s['cpu_seconds']:.1f} "
                      f"CPU s: {s['events_per_cpu_second']:.1f} events/s per core")
        print(f"wrote {output}")
        return 0
    except MlhepError as err:
        print(f"error: {err}", file=sys.stderr)
        return err.exit_code
    except RuntimeError as err:         # Pythia refused a setting, or the selection keeps (almost) nothing
        print(f"error: {err}; nothing written", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted: nothing written", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
