"""End to end through the ``mlhep`` command on the toy task: results file, report, errors, merge, resume."""
from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

from mlhep.io.results import Results
from conftest import mlhep_from_a_terminal

TINY = """\
task: toy-regression
seed: 3
replicas: 4
engine:
  epochs: {epochs}
  chunk: 50
  checkpoint_seconds: 0
  optimizer: {{name: adam, learning_rate: 0.01}}
  stopping: {{patience: 100}}
data:
  points: 20
model:
  hidden: [8]
"""


def write_card(tmp_path: Path, name="toy.yaml", epochs=200, extra="") -> Path:
    path = tmp_path / name
    path.write_text(TINY.format(epochs=epochs) + extra)
    return path


def test_fit_writes_a_complete_results_file(tmp_path, run_cli):
    card = write_card(tmp_path)
    code, out, err = run_cli("fit", card, "-o", tmp_path / "fit.h5", "--quiet")
    assert code == 0, err
    res = Results.read(tmp_path / "fit.h5")
    assert res.task == "toy-regression" and res.runcard_text == card.read_text()
    import hashlib
    assert res.runcard_sha256 == hashlib.sha256(card.read_bytes()).hexdigest()
    np.testing.assert_array_equal(res.replicas["replica_id"], np.arange(4))
    assert res.replicas["prediction"].shape == (4, 20)
    assert res.train["history_valid"].shape == (4, 4) and res.train["best_epoch"].shape == (4,)
    assert any(k.endswith("kernel']") for k in res.params)
    assert res.provenance["versions"]["jax"] != "not installed" and res.provenance["seed"] == 3
    assert res.resolved["engine"]["epochs"] == 200 and res.resolved["config"]["data"]["points"] == 20
    assert not list(tmp_path.glob("*.tmp*")) and not list(tmp_path.glob("*.ckpt.npz"))
    code, out, _ = run_cli("report", tmp_path / "fit.h5", "--plot", tmp_path / "plots")
    assert code == 0 and "chi2/point" in out and "stopping" in out
    assert (tmp_path / "plots" / "toy_fit.png").stat().st_size > 1000


def test_sequential_flag_gives_the_same_fit(tmp_path, run_cli):
    card = write_card(tmp_path, epochs=100)
    assert run_cli("fit", card, "-o", tmp_path / "a.h5", "-q")[0] == 0
    assert run_cli("fit", card, "-o", tmp_path / "b.h5", "-q", "--sequential")[0] == 0
    a, b = Results.read(tmp_path / "a.h5"), Results.read(tmp_path / "b.h5")
    np.testing.assert_allclose(a.replicas["prediction"], b.replicas["prediction"], rtol=1e-12)
    np.testing.assert_array_equal(a.train["best_epoch"], b.train["best_epoch"])


@pytest.mark.parametrize("extra, line, message", [
    ("engine:\n  epoch: 3\n", 4, "engine.epoch: unknown key 'epoch' (did you mean 'epochs'?"),
    ("engine:\n  optimizer:\n    name: adma\n", 5, "engine.optimizer.name: must be one of"),
    ("model:\n  hidden: [8, 0.5]\n", 4, "model.hidden[1]: must be an integer"),
    ("seed: -1\n", 3, "seed: must be >= 0"),
    ("data: [1, 2]\n", 3, "data: "),
    ("engine:\n  epochs: 10\n epochs: 3\n", 5, "invalid YAML"),
])
def test_runcard_mistakes_exit_2_with_location(tmp_path, run_cli, extra, line, message):
    card = tmp_path / "bad.yaml"
    card.write_text("task: toy-regression\nreplicas: 2\n" + extra)
    code, out, err = run_cli("fit", card)
    assert code == 2
    assert f"{card}:{line}:" in err and message in err and "Traceback" not in err


def test_semantic_error_from_a_task_points_at_the_key(tmp_path, run_cli):
    card = tmp_path / "bad.yaml"
    card.write_text("task: toy-regression\ndata:\n  x_min: 1.0\n  x_max: 0.5\n")
    code, _, err = run_cli("check", card)
    assert code == 2 and f"{card}:4:10: data.x_max: must be larger" in err


def test_unknown_task_and_missing_file(tmp_path, run_cli):
    card = tmp_path / "bad.yaml"
    card.write_text("task: toy-regresion\n")
    code, _, err = run_cli("check", card)
    assert code == 2 and "did you mean 'toy-regression'" in err and f"{card}:1:" in err
    code, _, err = run_cli("fit", tmp_path / "nope.yaml")
    assert code == 2 and "file not found" in err


def test_merge_of_replica_blocks_equals_the_full_fit(tmp_path, run_cli):
    card = write_card(tmp_path, epochs=100)
    for spec in ("0:2", "2:4"):
        assert run_cli("fit", card, "--replicas", spec, "-o", tmp_path / f"b{spec[0]}.h5", "-q")[0] == 0
    assert run_cli("fit", card, "-o", tmp_path / "full.h5", "-q")[0] == 0
    assert run_cli("merge", tmp_path / "b2.h5", tmp_path / "b0.h5", "-o", tmp_path / "m.h5")[0] == 0
    merged, full = Results.read(tmp_path / "m.h5"), Results.read(tmp_path / "full.h5")
    np.testing.assert_array_equal(merged.replicas["replica_id"], np.arange(4))
    np.testing.assert_allclose(merged.replicas["prediction"], full.replicas["prediction"], rtol=1e-12)
    np.testing.assert_array_equal(merged.train["best_epoch"], full.train["best_epoch"])
    assert len(merged.provenance["merged_from"]) == 2
    # refuse: overlapping ids, and blocks of another runcard
    code, _, err = run_cli("merge", tmp_path / "b0.h5", tmp_path / "full.h5", "-o", tmp_path / "x.h5")
    assert code != 0 and "share replica ids" in err
    other = write_card(tmp_path, "other.yaml", epochs=100, extra="description: changed\n")
    assert run_cli("fit", other, "--replicas", "2:4", "-o", tmp_path / "o.h5", "-q")[0] == 0
    code, _, err = run_cli("merge", tmp_path / "b0.h5", tmp_path / "o.h5", "-o", tmp_path / "x.h5")
    assert code != 0 and "another runcard" in err and not (tmp_path / "x.h5").exists()


def test_interrupted_fit_leaves_no_results_and_resumes_to_the_same_numbers(tmp_path, run_cli):
    """Ctrl-C in the middle of a fit: exit 130, a checkpoint, no results file; --resume finishes the job
    with exactly the numbers of an uninterrupted run."""
    card = write_card(tmp_path, epochs=4000, extra="")
    out = tmp_path / "long.h5"
    ckpt = tmp_path / "long.h5.ckpt.npz"
    proc = subprocess.Popen(mlhep_from_a_terminal("fit", card, "-o", out, "-q"),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while not ckpt.exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.2)
    assert ckpt.exists(), proc.communicate()[1]
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130 and "--resume" in err
    assert not out.exists() and ckpt.exists()
    code, _, err = run_cli("fit", card, "-o", out, "-q")
    assert code != 0 and "--resume" in err                 # refuses to silently start afresh
    assert run_cli("fit", card, "-o", out, "-q", "--resume")[0] == 0
    assert not ckpt.exists()
    assert run_cli("fit", card, "-o", tmp_path / "ref.h5", "-q")[0] == 0
    resumed, ref = Results.read(out), Results.read(tmp_path / "ref.h5")
    np.testing.assert_array_equal(resumed.replicas["prediction"], ref.replicas["prediction"])
    np.testing.assert_array_equal(resumed.train["history_valid"], ref.train["history_valid"])


def test_output_folder_is_created_before_training_or_refused_clearly(tmp_path, run_cli):
    """`make example` writes into results/, which a fresh clone does not have: checkpoints go there mid-fit."""
    card = write_card(tmp_path)
    out = tmp_path / "new" / "deeper" / "fit.h5"
    code, _, err = run_cli("fit", card, "-o", out, "--quiet")
    assert code == 0, err
    assert Results.read(out).task == "toy-regression"
    (tmp_path / "a_file").write_text("not a folder")
    code, _, err = run_cli("fit", card, "-o", tmp_path / "a_file" / "fit.h5", "--quiet")
    assert code == 3 and "cannot create the output folder" in err and "Traceback" not in err, err


def test_tasks_and_examples_listing(run_cli):
    code, out, _ = run_cli("tasks")
    assert code == 0 and "toy-regression" in out
    code, out, _ = run_cli("examples")
    assert code == 0 and "toy-regression" in out
    code, out, _ = run_cli("examples", "toy-regression")
    assert "task: toy-regression" in out


def test_one_replica_per_core_is_the_sequential_fit(tmp_path):
    """pdf-fit's CPU default: one device per core, one replica per device (``replicas_per_cpu_device``). Each
    device runs the 1-replica program of ``--sequential`` (as partitioned by XLA's SPMD: equal to the last bits,
    here 1e-14 relative; bit for bit in the pdf-fit example), so the numbers do not depend on the core count."""
    import os
    import subprocess
    import sys
    card = write_card(tmp_path, epochs=150)
    card.write_text(card.read_text().replace("  chunk: 50\n", "  chunk: 50\n  block_size: 2\n"))
    for devices, extra in (("2", []), ("1", ["--sequential"])):
        env = dict(os.environ, MLHEP_CPU_DEVICES=devices)
        env.pop("XLA_FLAGS", None)
        done = subprocess.run([sys.executable, "-m", "mlhep.cli", "fit", str(card), "-o",
                               str(tmp_path / f"{devices}.h5"), "-q", *extra], env=env, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
    two, one = Results.read(tmp_path / "2.h5"), Results.read(tmp_path / "1.h5")
    assert (two.provenance["device"]["count"], one.provenance["device"]["count"]) == ("2", "1")
    np.testing.assert_allclose(two.replicas["prediction"], one.replicas["prediction"], rtol=1e-12, atol=1e-14)
    np.testing.assert_array_equal(two.train["best_epoch"], one.train["best_epoch"])
