"""Many workers, one study: worker processes on one SQLite and one journal study share the trial budget with no
trial trained twice and none lost; a killed worker loses only its running batch, which the study replaces."""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest

from mlhep.hyperopt import outputs, study as study_mod

CARD = """\
task: toy-regression
seed: 2
engine: {{epochs: {epochs}, chunk: 20}}
hyperopt:
  trials: {trials}
  batch: 2
  sampler: random
  study: shared
  space:
    engine.optimizer.learning_rate: {{low: 1.0e-3, high: 0.1, log: true}}
data: {{points: 8}}
model: {{hidden: [3]}}
"""


def worker(card: Path, storage: str, index: int, out: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "mlhep.cli", "hyperopt", str(card), "-q", "--storage", storage,
                             "--worker", str(index), "-o", str(out)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def trained(stdout: str) -> list[int]:
    """Trial numbers a worker says it trained and told."""
    return [int(n) for n in re.findall(r"^trial +(\d+) +complete", stdout, re.M)]


def load(spec: str):
    return optuna.load_study(study_name="shared", storage=study_mod.open_storage(spec))


@pytest.mark.timeout(300)
@pytest.mark.parametrize("kind", ["sqlite", "journal"])
def test_two_workers_on_one_study(tmp_path, kind):
    card = tmp_path / "h.yaml"
    card.write_text(CARD.format(epochs=40, trials=6))
    spec = {"sqlite": f"sqlite:///{tmp_path / 'study.db'}", "journal": f"journal:{tmp_path / 'study.log'}"}[kind]
    procs = [worker(card, spec, w, tmp_path / f"{w}.h5") for w in (0, 1)]
    logs = [proc.communicate(timeout=280) for proc in procs]
    for proc, (_, err) in zip(procs, logs):
        assert proc.returncode == 0, err
    first, second = trained(logs[0][0]), trained(logs[1][0])
    assert not set(first) & set(second), (first, second)              # no trial trained by both
    counted = [t for t in load(spec).get_trials() if study_mod.counted(t)]
    assert len(counted) == 6 and {t.state.name for t in counted} == {"COMPLETE"}
    assert sorted(first + second) == sorted(t.number for t in counted)   # none lost, none extra
    last = max((tmp_path / f"{w}.h5" for w in (0, 1)), key=lambda p: p.stat().st_mtime)
    cols, _ = outputs.read(last)               # the last writer's table holds the whole study
    assert sorted(cols["number"]) == sorted(first + second)


@pytest.mark.slow                 # a worker process killed mid-batch, then the study finished (~35 s on 2 cores)
@pytest.mark.timeout(300)
def test_a_killed_worker_loses_only_its_running_batch(tmp_path, run_cli):
    card = tmp_path / "h.yaml"
    card.write_text(CARD.format(epochs=4000, trials=4))
    spec = f"journal:{tmp_path / 'study.log'}"
    proc = worker(card, spec, 0, tmp_path / "killed.h5")
    try:
        deadline = time.monotonic() + 200
        while time.monotonic() < deadline:
            if (tmp_path / "study.log").exists():
                running = [t for t in load(spec).get_trials() if t.state.name == "RUNNING"]
                if len(running) == 2 and all(study_mod.WORKER in t.user_attrs for t in running):
                    break
            time.sleep(0.3)
        else:
            pytest.fail("the worker never started a batch")
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.communicate()
    lost = sorted(t.number for t in running)
    card.write_text(CARD.format(epochs=40, trials=4))           # other fit settings: not the same study
    code, out, err = run_cli("hyperopt", card, "-q", "--storage", spec, "-o", tmp_path / "after.h5")
    assert code == 2 and "was made from other fit settings" in err and "closed trials" not in out, err
    card.write_text(CARD.format(epochs=4000, trials=4))
    code, out, err = run_cli("hyperopt", card, "-q", "--storage", spec, "-o", tmp_path / "after.h5")
    assert code == 0, err
    assert f"closed trials {', '.join(map(str, lost))} left running" in out
    trials = load(spec).get_trials()
    assert sorted(t.number for t in trials if t.user_attrs.get(study_mod.LOST)) == lost
    counted = [t for t in trials if study_mod.counted(t)]
    assert len(counted) == 4 and {t.state.name for t in counted} == {"COMPLETE"}
    assert sorted(trained(out)) == sorted(t.number for t in counted) and not set(lost) & set(trained(out))
