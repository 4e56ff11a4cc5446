"""A generated jet sample in the cache: made once per settings, reused by every later run.

``$MLHEP_CACHE/jets/<digest>.h5`` where the digest is the SHA-256 of the production plan's record (sample
definition, detector parameters, seed, chunking, and the versions of pythia8mc, fastjet, numpy and mlhep), so a
different setting or generator version makes a new file. The file is written under a name of this process's
own and renamed when complete (two runs generating at once each write their own and the last rename wins: the
files are identical, the sample being reproducible by seed).
"""
from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path
from typing import Callable

from mlhep.paths import cache_dir
from mlhep.tasks.jets.detector import DetectorParams
from mlhep.tasks.jets.production import ProductionPlan
from mlhep.tasks.jets.sample import SampleDefinition

# jets per CPU second in the [550, 650] GeV window at pthat_min = 400 GeV on this project's 2-core test machine
# (mlhep/tasks/jets/sample.py), for the time estimate printed before a generation
RATE_TOP, RATE_QCD = 27.0, 43.0


def plan_for(jets_per_class: int, seed: int, detector: bool, pthat_min: float) -> ProductionPlan:
    return ProductionPlan(n_jets=jets_per_class, seed=seed, sample=SampleDefinition(pthat_min=pthat_min),
                          detector=DetectorParams() if detector else None)


def cached_path(plan: ProductionPlan) -> Path:
    """Where the sample of ``plan`` lives in the cache (whether or not it exists yet)."""
    digest = hashlib.sha256(json.dumps(plan.record(), sort_keys=True).encode()).hexdigest()[:20]
    return cache_dir() / "jets" / f"{digest}.h5"


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:      # not Linux
        return os.cpu_count() or 1


def ensure_sample(plan: ProductionPlan, workers: int = 0, log: Callable[[str], None] = print,
                  progress: bool = True) -> Path:
    """The cached file of ``plan``, generating it first if it is not there (``workers`` 0: one per core)."""
    path = cached_path(plan)
    if path.is_file():
        return path
    from mlhep.tasks.jets.production import produce

    workers = max(1, min(workers or usable_cores(), len(plan.chunks())))
    cpu = plan.n_jets / RATE_TOP + plan.n_jets / RATE_QCD
    log(f"jet-tag: generating {plan.n_jets} top + {plan.n_jets} QCD jets with Pythia 8 (detector "
        f"{'on' if plan.detector else 'off'}, pT-hat > {plan.sample.pthat_min:g} GeV) on {workers} "
        f"process{'es' if workers > 1 else ''} into {path}; once only, about {cpu / workers / 60:.1f} min at "
        f"pT-hat > 400 GeV")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.h5")
    start = time.perf_counter()
    try:
        stats = produce(plan, tmp, workers=workers, progress=progress)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    rates = ", ".join(f"{p} {s['jets_per_cpu_second']:.0f}" for p, s in stats.items())
    log(f"jet-tag: generated in {time.perf_counter() - start:.0f} s (jets per CPU second: {rates})")
    return path
