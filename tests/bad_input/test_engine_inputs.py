"""Bad input to the training engine: replicas whose loss becomes non-finite, fits that would train nothing,
Ctrl-C at any moment, damaged checkpoints, and the compilation pause. Every row ends with its exit code (or
the engine's exception) and the decisive part of its message; none with a traceback or a quiet success."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mlhep.engine import EngineConfig, train
from mlhep.engine.checkpoint import Checkpoint
from mlhep.engine.config import OptimizerConfig, StoppingConfig
from mlhep.errors import DataError, TrainingFailed
from mlhep.io.results import Results
from conftest import mlhep_from_a_terminal

CARD = """\
task: toy-regression
seed: 3
replicas: 4
engine:
  epochs: {epochs}
  chunk: {chunk}
  checkpoint_seconds: {checkpoint_seconds}
  optimizer: {{name: {optimizer}, learning_rate: {learning_rate}}}
  stopping: {{patience: {patience}}}
data:
  points: 20
  training_fraction: {fraction}
model:
  hidden: [8]
"""
DEFAULTS = dict(epochs=200, chunk=50, checkpoint_seconds=0, optimizer="adam", learning_rate=0.01, patience=100,
                fraction=0.75)


def write_card(folder: Path, name: str = "toy.yaml", **values) -> Path:
    path = folder / name
    path.write_text(CARD.format(**(DEFAULTS | values)))
    return path


# ---- replicas whose loss becomes non-finite, or that learn nothing

@pytest.mark.parametrize("optimizer, reason", [
    ("sgd", "training loss became non-finite"),       # the updates overflow to inf within a few epochs
    ("adam", "patience ran out before it ever improved on its initial parameters"),  # huge but finite steps
])
def test_a_learning_rate_that_wrecks_every_replica_is_an_error(tmp_path, run_cli, optimizer, reason):
    card = write_card(tmp_path, optimizer=optimizer, learning_rate=1e30)
    code, out, err = run_cli("fit", card, "-o", tmp_path / "fit.h5", "-q")
    assert code == 4, err
    assert "replica 0 failed at epoch" in err and reason in err
    assert "every replica failed" in err and "engine.optimizer.learning_rate" in err and "Traceback" not in err
    assert not (tmp_path / "fit.h5").exists() and not (tmp_path / "fit.h5.ckpt.npz").exists()


class Line:
    """Each replica fits y = a x + b to y = 2x + 1; the replica whose data key is ``bad_key`` gets a training
    loss that turns NaN or inf from epoch ``at`` on, or (``which="valid"``) a validation loss that always is."""

    x = jnp.linspace(-1.0, 1.0, 16)

    def __init__(self, bad_key, which: str, at: int, value: float = jnp.nan):
        self.bad_key, self.which, self.at, self.value = bad_key, which, at, value

    def init(self, key, shared):
        return {"a": jax.random.normal(key), "b": jnp.asarray(0.0)}

    def replica_data(self, key, shared):
        return {"y": 2.0 * self.x + 1.0, "bad": jnp.all(key == self.bad_key)}

    def _loss(self, params, data, epoch, which):
        loss = jnp.mean((params["a"] * self.x + params["b"] - data["y"]) ** 2)
        broken = data["bad"] & (epoch >= self.at) & (which == self.which)
        return jnp.where(broken, self.value, loss)

    def train_loss(self, params, shared, data, epoch):
        return self._loss(params, data, epoch, "train")

    def validation(self, params, shared, data):
        return self._loss(params, data, self.at, "valid"), True     # (no epoch here: broken from the start)


def line_engine(**kw) -> EngineConfig:
    return EngineConfig(**(dict(epochs=300, chunk=50, optimizer=OptimizerConfig(name="adam", learning_rate=0.05),
                                stopping=StoppingConfig(patience=1000)) | kw))


BAD = 2   # the replica that fails, among 0..3


@pytest.mark.parametrize("which, at, value, reason, keeps_best", [
    ("train", 120, np.nan, "training loss became non-finite", True),
    ("train", 0, np.inf, "training loss became non-finite", False),
    ("valid", 0, np.nan, "validation loss became non-finite", False),
])
def test_one_replica_with_a_non_finite_loss_fails_alone(capsys, which, at, value, reason, keeps_best):
    from mlhep.engine.replicas import replica_data_keys
    ids = np.arange(4)
    model = Line(replica_data_keys(0, ids)[BAD], which, at, value)
    result = train(model, ids, seed=0, cfg=line_engine())
    err = capsys.readouterr().err
    np.testing.assert_array_equal(result.failed, ids == BAD)
    assert result.failure[BAD] == reason and result.failed_epoch[BAD] == at
    assert f"replica {BAD} failed at epoch {at}: {reason}" in err and "1 of 4 replicas failed" in err
    a = result.params["a"][BAD]
    assert (np.isfinite(a) and result.best_epoch[BAD] < at) if keeps_best else np.isnan(a)
    # the other replicas are untouched: the same numbers as a fit without the failing one
    good = np.delete(ids, BAD)
    alone = train(Line(replica_data_keys(0, ids)[BAD], which, 10 ** 9), good, seed=0, cfg=line_engine())
    np.testing.assert_allclose(np.delete(result.params["a"], BAD), alone.params["a"], rtol=1e-12)


def test_every_replica_failing_is_an_error_and_leaves_no_checkpoint(tmp_path):
    ckpt = Checkpoint(tmp_path / "fit.h5.ckpt.npz", "fingerprint")
    model = Line(None, "train", 30)
    model.replica_data = lambda key, shared: {"y": 2.0 * model.x + 1.0, "bad": jnp.asarray(True)}
    with pytest.raises(TrainingFailed, match=r"every replica failed \(training loss became non-finite: "
                                             r"replicas 0, 1, 2\)") as caught:
        train(model, np.arange(3), seed=0, cfg=line_engine(checkpoint_seconds=0.0), checkpoint=ckpt)
    assert caught.value.exit_code == 4 and caught.value.result.failed.all()
    assert not ckpt.path.exists()


# ---- a fit that would train on nothing

def test_a_training_fraction_that_leaves_no_training_point_is_a_runcard_error(tmp_path, run_cli):
    card = write_card(tmp_path, fraction=0.02)
    line = next(n for n, text in enumerate(card.read_text().splitlines(), 1) if "training_fraction" in text)
    code, out, err = run_cli("fit", card, "-o", tmp_path / "fit.h5", "-q")
    assert code == 2, err
    assert f"{card}:{line}:" in err and "data.training_fraction: 0.02 of 20 points leaves no training point" in err
    assert not (tmp_path / "fit.h5").exists()


class NoTrainingForOne(Line):
    def training_points(self, data):
        return jnp.where(data["bad"], 0, 16)


def _toy_with_fraction(fraction):
    """The toy's trainable built past the task's own check: the engine's safety net must refuse it."""
    from mlhep.task import RunContext
    from mlhep.tasks.toy import TASK, ToyConfig, ToyData, ToyTrainable
    problem = TASK.setup(ToyConfig(), RunContext(Path("toy.yaml"), 0, np.arange(2), None, None))
    return ToyTrainable(problem, ToyConfig(data=ToyData(training_fraction=fraction)))


def _second_replica_without_training():
    from mlhep.engine.replicas import replica_data_keys
    return NoTrainingForOne(replica_data_keys(0, np.arange(2))[1], "train", 10 ** 9)


@pytest.mark.parametrize("make, message", [
    (lambda: _toy_with_fraction(0.01), "replicas 0, 1 would train on no data point"),
    (_second_replica_without_training, "replica 1 would train on no data point"),
])
def test_the_engine_refuses_a_replica_without_training_points(make, message):
    with pytest.raises(DataError, match=message) as caught:
        train(make(), np.arange(2), seed=0, cfg=line_engine())
    assert caught.value.exit_code == 4 and "training set empty" in str(caught.value)


# ---- Ctrl-C at any moment: exit 130, a checkpoint if training had begun, --resume gives the same numbers

LONG = dict(epochs=60000, chunk=1000, checkpoint_seconds=0.5, patience=10 ** 6)


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory) -> Results:
    """The long fit without interruption: the numbers every resumed run must reproduce exactly."""
    from mlhep.cli import main
    folder = tmp_path_factory.mktemp("reference")
    assert main(["fit", str(write_card(folder, **LONG)), "-o", str(folder / "ref.h5"), "-q"]) == 0
    return Results.read(folder / "ref.h5")


def _fit_process(card: Path, out: Path) -> tuple[subprocess.Popen, list[str]]:
    """`mlhep fit` in a subprocess, its output lines collected as they come."""
    proc = subprocess.Popen(mlhep_from_a_terminal("fit", card, "-o", out),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []
    threading.Thread(target=lambda: lines.extend(proc.stdout), daemon=True).start()
    return proc, lines


def _wait_for(lines: list[str], text: str, proc: subprocess.Popen, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while not any(text in line for line in lines):
        assert proc.poll() is None and time.monotonic() < deadline, "".join(lines)
        time.sleep(0.01)


@pytest.mark.parametrize("after, delays", [
    ("start", [0.3]),               # while `import jax` runs (held back in mlhep/__init__.py)
    ("start", [1.0]),
    ("compiling", [0.05]),          # while XLA compiles: stops once it returns, before training began
    ("compiled in", [0.3]),          # in the first chunks
    ("compiled in", [1.0]),          # between chunks, after a checkpoint
    ("compiled in", [0.3, 0.32]),    # a second Ctrl-C: stops at once, the checkpoint stays whole
])
def test_ctrl_c_at_any_moment_exits_130_and_resumes_to_the_same_numbers(tmp_path, run_cli, uninterrupted,
                                                                        after, delays):
    card, out = write_card(tmp_path, **LONG), tmp_path / "fit.h5"
    proc, lines = _fit_process(card, out)
    if after != "start":
        _wait_for(lines, after, proc)
    start = time.monotonic()
    for delay in delays:
        time.sleep(max(0.0, start + delay - time.monotonic()))
        proc.send_signal(signal.SIGINT)
    proc.wait(timeout=300)
    time.sleep(0.1)
    text = "".join(lines)
    assert proc.returncode == 130, text
    assert "interrupted" in text and "--resume" in text and "Traceback" not in text
    assert not out.exists() and not list(tmp_path.glob("*.tmp*"))
    code, _, err = run_cli("fit", card, "-o", out, "-q", "--resume")
    assert code == 0, err
    resumed = Results.read(out)
    np.testing.assert_array_equal(resumed.replicas["prediction"], uninterrupted.replicas["prediction"])
    np.testing.assert_array_equal(resumed.train["history_valid"], uninterrupted.train["history_valid"])


def test_a_second_ctrl_c_while_the_checkpoint_is_written_keeps_the_previous_one(tmp_path, monkeypatch):
    ckpt = Checkpoint(tmp_path / "fit.h5.ckpt.npz", "fp")
    ckpt.save({"x": np.arange(3.0)}, {"epoch": 50, "finished_epochs": []})

    def interrupted_write(f, **arrays):
        f.write(b"PK\x03\x04 half an archive")
        raise KeyboardInterrupt
    monkeypatch.setattr(np, "savez", interrupted_write)
    with pytest.raises(KeyboardInterrupt):
        ckpt.save({"x": np.arange(5.0)}, {"epoch": 100, "finished_epochs": []})
    monkeypatch.undo()
    arrays, meta = ckpt.load()
    assert meta["epoch"] == 50 and arrays["x"].tolist() == [0.0, 1.0, 2.0]
    assert not list(tmp_path.glob("*.tmp*"))


# ---- damaged checkpoints: exit 3, naming the file and what to do

@pytest.fixture(scope="module")
def real_checkpoint(tmp_path_factory) -> tuple[Path, Path]:
    """(runcard, checkpoint) of a toy fit stopped after its first checkpoint, as a kill would leave them."""
    from mlhep.cli import main
    folder = tmp_path_factory.mktemp("interrupted")
    card = write_card(folder, epochs=400)
    original = Checkpoint.save

    def save_then_die(self, arrays, meta):
        original(self, arrays, meta)
        raise SystemExit(137)
    Checkpoint.save = save_then_die
    try:
        with pytest.raises(SystemExit):
            main(["fit", str(card), "-o", str(folder / "fit.h5"), "-q"])
    finally:
        Checkpoint.save = original
    return card, folder / "fit.h5.ckpt.npz"


def _rewrite(drop: str = "", meta=None):
    """A damage that rewrites the checkpoint without entry ``drop`` and/or with other metadata."""
    def damage(path: Path) -> None:
        with np.load(path) as data:
            arrays = {k: data[k] for k in data.files if not (drop and k.startswith(drop))}
        if meta is not None:
            arrays["__meta__"] = np.array(meta if isinstance(meta, str) else json.dumps(meta))
        with open(path, "wb") as f:
            np.savez(f, **arrays)
    return damage


def _npy(path: Path) -> None:
    with open(path, "wb") as f:
        np.save(f, np.zeros(3))


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:path.stat().st_size // 2])


@pytest.mark.parametrize("damage, message", [
    (_truncate, "unusable checkpoint: not a readable .npz archive"),
    (_rewrite(drop="__meta__"), "unusable checkpoint: it has no metadata (__meta__ entry)"),
    (_rewrite(meta="{not json"), "unusable checkpoint: its metadata is not JSON"),
    (_rewrite(meta={"fingerprint": "x"}), "unusable checkpoint: its metadata lacks epoch, finished_epochs"),
    (_rewrite(meta={"fingerprint": "another", "epoch": 50, "finished_epochs": []}),
     "checkpoint belongs to another runcard"),
    (lambda p: p.write_text("epoch 50\n"), "unusable checkpoint: not a readable .npz archive"),
    (lambda p: _npy(p), "a single .npy array, not an .npz archive"),
    (_rewrite(drop="state.step.params"), "unusable checkpoint: it has no entry state.step.params"),  # found in training
])
def test_a_damaged_checkpoint_is_a_results_error_naming_the_file(tmp_path, run_cli, real_checkpoint, damage,
                                                                  message):
    card, original = real_checkpoint
    card = Path(card)
    local = write_card(tmp_path, epochs=400)
    ckpt = tmp_path / "fit.h5.ckpt.npz"
    ckpt.write_bytes(original.read_bytes())
    assert local.read_text() == card.read_text()
    damage(ckpt)
    code, out, err = run_cli("fit", local, "-o", tmp_path / "fit.h5", "-q", "--resume")
    assert code == 3, err
    assert f"{ckpt}:" in err and message in err and "delete it" in err and "Traceback" not in err
    assert not (tmp_path / "fit.h5").exists()


def test_the_intact_checkpoint_resumes(tmp_path, run_cli, real_checkpoint):
    """The control row of the table above: the same checkpoint, undamaged, resumes to exit 0."""
    card, original = real_checkpoint
    local = write_card(tmp_path, epochs=400)
    (tmp_path / "fit.h5.ckpt.npz").write_bytes(original.read_bytes())
    code, _, err = run_cli("fit", local, "-o", tmp_path / "fit.h5", "-q", "--resume")
    assert code == 0, err
    assert Results.read(tmp_path / "fit.h5").train["best_epoch"].shape == (4,)


def test_stale_checkpoint_temporaries_of_dead_runs_are_removed(tmp_path, run_cli):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale, alive = tmp_path / f"fit.h5.ckpt.npz.tmp{dead.pid}", tmp_path / f"fit.h5.ckpt.npz.tmp{os.getppid()}"
    stale.write_bytes(b"PK half"), alive.write_bytes(b"PK half")
    code, out, err = run_cli("fit", write_card(tmp_path), "-o", tmp_path / "fit.h5")
    assert code == 0, err
    assert not stale.exists() and alive.exists() and f"removed {stale}" in out


# ---- the compilation pause is announced (not with --quiet)

@pytest.mark.parametrize("flags, shown", [
    ((), "compiling the batched program for 4 replicas..."),
    (("--sequential",), "compiling the program for 1 replica..."),
    (("-q",), None),
])
def test_compilation_is_shown_in_the_progress_display(tmp_path, run_cli, flags, shown):
    code, out, err = run_cli("fit", write_card(tmp_path, epochs=100), "-o", tmp_path / "fit.h5", *flags)
    assert code == 0, err
    if shown:
        assert shown in out and "compiled in" in out
        assert out.index("mlhep fit: task") < out.index(shown) < out.index("compiled in") < out.index("wrote")
    else:
        assert "compil" not in out + err
