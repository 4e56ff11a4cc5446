"""One optuna study shared by many workers: its storage, sampler and pruner, and how its trial budget is kept.

Storage (``hyperopt.storage`` or ``--storage``):
    FILE.db / FILE.sqlite     SQLite (one machine; its file lock serialises the workers)
    journal:FILE              optuna's JournalStorage in an append-only file (shared filesystems, e.g. a
                              cluster's NFS/Lustre: no database server needed)
    postgresql://..., mysql://..., sqlite:///...   any RDB URL (a cluster with a database server)

The budget: ``trials`` counts every trial that is not *lost* (its worker was killed) or *surplus*. Workers ask
trials independently; optuna numbers them densely and atomically, so a trial whose rank among the counted trials
is ``trials`` or more is surplus: it is closed at once (FAIL, user attribute ``surplus``) and never trained. A
worker records ``host:pid`` on its trials; a worker that starts marks the running trials of dead processes on its
host as lost (and ``--fail-running`` marks every running trial as lost, for a restart after a crashed array job
when no worker runs), so a killed worker loses at most its running batch and the study continues.
"""
from __future__ import annotations

import hashlib
import json
import os
import random
import re
import socket
import time
from pathlib import Path
from typing import Any

from mlhep.errors import UsageError
from mlhep.hyperopt_config import HyperoptConfig

LOST, SURPLUS, WORKER = "lost", "surplus", "worker"
SQLITE_SUFFIXES = (".db", ".sqlite", ".sqlite3")


def storage_spec(spec: str | None, base: Path, default: Path) -> str:
    """A storage as written (runcard: relative to the runcard's folder ``base``; none: ``default``) -> a
    normalised spec: ``journal:/abs/path`` or an RDB URL."""
    if not spec:
        return f"journal:{Path(default).resolve()}"
    if "://" in spec:
        if spec.startswith("sqlite:///") and not spec.startswith("sqlite:////"):
            return "sqlite:///" + str((base / spec[len("sqlite:///"):]).resolve())
        return spec
    if spec.startswith("journal:"):
        path = Path(os.path.expanduser(spec[len("journal:"):]))
        return f"journal:{(path if path.is_absolute() else base / path).resolve()}"
    path = Path(os.path.expanduser(spec))
    if path.suffix in SQLITE_SUFFIXES:
        return "sqlite:///" + str((path if path.is_absolute() else base / path).resolve())
    raise UsageError(f"storage {spec!r}: not a storage (valid: FILE.db or FILE.sqlite for SQLite, journal:FILE for "
                     "a journal file on a shared filesystem, or an RDB URL such as postgresql://host/db)")


def redacted(spec: str) -> str:
    """The storage spec without a password (``user:secret@host`` -> ``user:***@host``), for files and logs."""
    return re.sub(r"(://[^:/@]+):[^@/]*@", r"\1:***@", spec)


def open_storage(spec: str):
    """The optuna storage of a normalised spec (see ``storage_spec``)."""
    import optuna
    if spec.startswith("journal:"):
        from optuna.storages import JournalStorage
        from optuna.storages.journal import JournalFileBackend
        path = Path(spec[len("journal:"):])
        path.parent.mkdir(parents=True, exist_ok=True)
        return JournalStorage(JournalFileBackend(str(path)))
    kwargs = {"connect_args": {"timeout": 120}} if spec.startswith("sqlite") else {"pool_pre_ping": True}
    if spec.startswith("sqlite:///"):
        Path(spec[len("sqlite:///"):]).parent.mkdir(parents=True, exist_ok=True)
    from sqlalchemy.exc import SQLAlchemyError
    for attempt in range(6):
        try:
            return optuna.storages.RDBStorage(spec, engine_kwargs=kwargs)
        except SQLAlchemyError:
            # workers that start together race to create the tables of a new database (one inserts the schema
            # version first, the others fail): the tables exist on the next try
            if attempt == 5:
                raise
            time.sleep(0.2 + random.random() * 2 ** attempt * 0.2)


def sampler(hcfg: HyperoptConfig, seed: int):
    import optuna
    if hcfg.sampler == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if hcfg.sampler == "cmaes":
        return optuna.samplers.CmaEsSampler(seed=seed, warn_independent_sampling=False,
                                            independent_sampler=optuna.samplers.RandomSampler(seed=seed))
    # constant_liar: trials asked together (a batch, other workers) are steered apart while they run
    return optuna.samplers.TPESampler(seed=seed, constant_liar=True)


def pruner(hcfg: HyperoptConfig):
    import optuna
    return optuna.pruners.MedianPruner() if hcfg.pruner == "median" else optuna.pruners.NopPruner()


def fingerprint(runcard, hcfg: HyperoptConfig) -> str:
    """What makes trials comparable: the fit settings, the space and the reward (not trials, batch, storage)."""
    from mlhep.runcard import to_plain
    what = {"task": runcard.task, "seed": runcard.seed, "engine": to_plain(runcard.engine),
            "config": to_plain(runcard.config), "space": to_plain(hcfg.space), "reward": hcfg.reward,
            "output": hcfg.output, "direction": hcfg.direction, "kfold": to_plain(hcfg.kfold),
            "replicas_per_trial": hcfg.replicas_per_trial}
    return hashlib.sha256(json.dumps(what, sort_keys=True).encode()).hexdigest()


def open_study(runcard, hcfg: HyperoptConfig, spec: str, study_name: str, worker: int):
    """Create or join the study; refuses one made from other fit settings, space or reward."""
    import importlib.util

    import optuna
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    if hcfg.sampler == "cmaes" and importlib.util.find_spec("cmaes") is None:
        raise runcard.fail("hyperopt.sampler", "cmaes needs the package cmaes (pip install cmaes), which is not "
                                               "installed (valid without it: tpe, random)")
    seed = (runcard.seed if hcfg.seed is None else hcfg.seed) + worker
    study = optuna.create_study(study_name=study_name, storage=open_storage(spec), sampler=sampler(hcfg, seed),
                                pruner=pruner(hcfg), direction=hcfg.direction, load_if_exists=True)
    mine = fingerprint(runcard, hcfg)
    theirs = study.user_attrs.get("fingerprint")
    if theirs is None:
        study.set_user_attr("fingerprint", mine)
        study.set_user_attr("runcard_text", runcard.text)
    elif theirs != mine:
        raise UsageError(f"study '{study_name}' in {redacted(spec)} was made from other fit settings, search space "
                         "or reward than this runcard: choose another hyperopt.study (or --study) or storage")
    return study


def this_worker() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def counted(trial) -> bool:
    """Does the trial count against the budget (not lost, not surplus)?"""
    return not trial.user_attrs.get(LOST) and not trial.user_attrs.get(SURPLUS)


def remaining(study, n_trials: int) -> int:
    """Trials still to ask: the budget minus the counted trials (finished or running)."""
    return n_trials - sum(counted(t) for t in study.get_trials(deepcopy=False))


def in_budget(study, numbers: list[int], n_trials: int) -> list[bool]:
    """For trials just asked (their numbers): is each among the first ``n_trials`` counted trials?"""
    ranks = sorted(t.number for t in study.get_trials(deepcopy=False) if counted(t))
    return [ranks.index(n) < n_trials if n in ranks else False for n in numbers]


def close(study, number: int, attr: str) -> None:
    """Mark a running trial ``attr`` (lost or surplus) and close it as failed: it no longer counts."""
    import optuna
    trial_id = next(t._trial_id for t in study.get_trials(deepcopy=False) if t.number == number)
    study._storage.set_trial_user_attr(trial_id, attr, True)
    study.tell(number, state=optuna.trial.TrialState.FAIL)


def release_lost(study, everyone: bool = False) -> list[int]:
    """Close as lost the running trials whose worker process is gone (on this host; with ``everyone``, every
    running trial: use it only when no worker runs). Returns their numbers."""
    import optuna
    host = socket.gethostname()
    lost = []
    for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
        who = str(t.user_attrs.get(WORKER, ""))
        name, _, pid = who.rpartition(":")
        if everyone or (name == host and pid.isdigit() and not _alive(int(pid))):
            close(study, t.number, LOST)
            lost.append(t.number)
    return lost


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def trial_attr(trial, key: str, value: Any) -> None:
    """Store a JSON-able value on a running trial (numpy scalars and arrays as plain numbers and lists)."""
    import numpy as np
    if isinstance(value, np.ndarray):
        value = value.tolist()
    elif isinstance(value, np.generic):
        value = value.item()
    trial.set_user_attr(key, value)
