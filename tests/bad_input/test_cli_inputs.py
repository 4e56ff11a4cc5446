"""Bad input to the command line, the output path and results files: every row must end with its exit code
(2 usage/runcard, 3 results/checkpoint/output) and a message naming what is wrong, before any training and
never with a traceback. The toy-regression task keeps the few real fits to a second or two."""
from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

from mlhep.io import output, results

CARD = """\
task: toy-regression
seed: 3
replicas: 2
engine:
  epochs: 100
  chunk: 50
  checkpoint_seconds: 0
  optimizer: {name: adam, learning_rate: 0.01}
  stopping: {patience: 100}
data:
  points: 20
model:
  hidden: [8]
"""
HYPEROPT = """\
hyperopt:
  trials: 1
  space:
    engine.optimizer.learning_rate: {low: 0.001, high: 0.1, log: true}
"""
STARTED = "mlhep fit: task"     # printed when a fit gets past its checks (not with -q)


@pytest.fixture
def card(tmp_path) -> Path:
    path = tmp_path / "toy.yaml"
    path.write_text(CARD)
    return path


def _kind(path: Path) -> int:
    return stat.S_IFMT(os.stat(path).st_mode)


# ---- the output path is checked before anything is trained or written

def _fifo(tmp):
    os.mkfifo(tmp / "fit.h5")
    return tmp / "fit.h5", "fit.h5: is a FIFO"


def _folder(tmp):
    (tmp / "fit.h5").mkdir()
    return tmp / "fit.h5", "fit.h5: is a directory"


def _checkpoint_folder(tmp):
    (tmp / "fit.h5.ckpt.npz").mkdir()
    return tmp / "fit.h5", "fit.h5.ckpt.npz: is a directory"


def _link_to_fifo(tmp):
    os.mkfifo(tmp / "pipe")
    (tmp / "fit.h5").symlink_to(tmp / "pipe")
    return tmp / "fit.h5", "fit.h5: is a FIFO"


def _parent_is_a_file(tmp):
    (tmp / "a_file").write_text("not a folder")
    return tmp / "a_file" / "fit.h5", "cannot create the output folder"


def _unwritable_folder(tmp):
    if os.access("/sys", os.W_OK) and not Path("/sys").is_mount():
        pytest.skip("/sys is writable here")
    return Path("/sys/fit.h5"), "cannot write in the output folder /sys"


def _dev_null(tmp):
    return Path("/dev/null"), "/dev/null: is a character device"


@pytest.mark.parametrize("make", [_fifo, _folder, _checkpoint_folder, _link_to_fifo, _parent_is_a_file,
                                  _unwritable_folder, _dev_null])
def test_fit_refuses_an_unwritable_output_before_training(tmp_path, card, run_cli, make):
    out, message = make(tmp_path)
    kind_before = _kind(out) if os.path.lexists(out) else None
    code, stdout, err = run_cli("fit", card, "-o", out)
    assert code == 3 and message in err and "Traceback" not in err, err
    assert STARTED not in stdout
    if kind_before is not None:
        assert _kind(out) == kind_before       # a device, FIFO or folder is never replaced by a file
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)
    assert not Path("/dev/null.ckpt.npz").exists() and not Path("/dev/null.lock").exists()


@pytest.mark.parametrize("command", ["merge", "hyperopt"])
def test_merge_and_hyperopt_refuse_a_fifo_output_before_working(tmp_path, card, run_cli, command):
    os.mkfifo(tmp_path / "out")
    if command == "merge":
        args = ("merge", tmp_path / "a.h5", tmp_path / "b.h5", "-o", tmp_path / "out")
    else:
        card.write_text(CARD + HYPEROPT)
        args = ("hyperopt", card, "-o", tmp_path / "out")
    code, out, err = run_cli(*args)
    assert code == 3 and f"{tmp_path / 'out'}: is a FIFO" in err and "trial" not in out, err
    assert stat.S_ISFIFO(os.stat(tmp_path / "out").st_mode)


# ---- temporary files of killed runs, and a second run on the same output

@pytest.mark.parametrize("name, removed", [
    (".fit.h5.tmp999999", True),            # results file being written (results.write)
    ("fit.h5.tmp999999", True),
    ("fit.h5.ckpt.npz.tmp999999", True),    # checkpoint being written (Checkpoint.save)
    ("fit.h5.tmp{live}", False),            # a live process: not ours to delete
    ("other.h5.tmp999999", False),          # another output's
])
def test_stale_temporary_files_are_removed_only_for_dead_processes(tmp_path, name, removed):
    live = subprocess.Popen(["sleep", "60"])
    try:
        path = tmp_path / name.format(live=live.pid)
        path.write_bytes(b"half")
        gone = output.remove_stale_temporaries(tmp_path / "fit.h5")
        assert (gone == [path]) is removed and path.exists() is not removed
    finally:
        live.kill()
        live.wait()


def _hold_lock(output: Path) -> subprocess.Popen:
    """Another process that holds the output's lock, as a running `mlhep fit` does."""
    code = ("import sys, time; from pathlib import Path; from mlhep.io.output import OutputLock\n"
            "lock = OutputLock(Path(sys.argv[1])).__enter__(); print('locked', flush=True); time.sleep(120)")
    proc = subprocess.Popen([sys.executable, "-c", code, str(output)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "locked"
    return proc


def test_second_run_on_a_running_output_is_refused_then_a_killed_run_is_cleaned_up(tmp_path, card, run_cli):
    """While another process writes fit.h5 a fit is refused (exit 3, naming the process); once that process
    is killed -9, its lock and temporary files are taken over and removed and the fit completes."""
    out = tmp_path / "fit.h5"
    holder = _hold_lock(out)
    try:
        code, stdout, err = run_cli("fit", card, "-o", out)
        assert code == 3 and f"{out} is being written by process {holder.pid} (started " in err, err
        assert STARTED not in stdout and "--resume" not in err
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    assert (tmp_path / "fit.h5.lock").exists()           # left behind by the kill, naming a dead process
    stale = [tmp_path / ".fit.h5.tmp999999", tmp_path / "fit.h5.ckpt.npz.tmp999999"]
    for path in stale:
        path.write_bytes(b"half-written")
    code, stdout, err = run_cli("fit", card, "-o", out)
    assert code == 0, err
    assert "removed" in stdout and not any(p.exists() for p in stale)
    assert results.Results.read(out).n_replicas == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fit.h5", "toy.yaml"]


def test_the_lock_is_held_for_the_whole_fit(tmp_path, card, run_cli, monkeypatch):
    """Training and writing happen inside the lock (checked without training: the fit body is replaced)."""
    import mlhep.fit

    def body(runcard, task, ids, out, *rest):
        with pytest.raises(results.ResultsError, match=f"being written by process {os.getpid()}"):
            output.OutputLock(out).__enter__()
        return out
    monkeypatch.setattr(mlhep.fit, "_fit_and_write", body)
    assert run_cli("fit", card, "-o", tmp_path / "fit.h5")[0] == 0
    assert not (tmp_path / "fit.h5.lock").exists()


# ---- exit codes of usage errors, as in the README: 2 for the command line and the runcard

@pytest.mark.parametrize("args, message", [
    (["fit", "{card}", "--replicas", "3:1"], "--replicas 3:1: empty range (valid: START:STOP"),
    (["fit", "{card}", "--replicas", "0:0"], "--replicas 0:0: empty range"),
    (["fit", "{card}", "--replicas", "a:b"], "--replicas 'a:b': not a replica selection (valid: START:STOP"),
    (["fit", "{card}", "--replicas", "1,,2"], "not a replica selection"),
    (["fit", "{card}", "--replicas", "-1"], "--replicas '-1': not a replica selection"),
    (["fit", "{card}", "--replicas", "0:99999999999999999999"], "replica ids that large are not valid"),
    (["fit", "{card}", "--replicas", "5:8"],
     "{card}:3:11: replicas: --replicas 5:8 asks for replica id 7, but the runcard has replicas: 2"),
    (["fit", "{card}", "--replicas", "0,2"], "asks for replica id 2, but the runcard has replicas: 2"),
    (["fit", "{card}", "--bogus"], "No such option '--bogus'"),
    (["report"], "Missing argument 'RESULTS_FILE'"),
    (["merge", "a.h5", "b.h5"], "Missing option '-o'"),
    (["fit", "{tmp}/nope.yaml"], "{tmp}/nope.yaml: file not found"),
    (["check", "{tmp}/nope.yaml"], "{tmp}/nope.yaml: file not found"),
    (["hyperopt", "{tmp}/nope.yaml"], "{tmp}/nope.yaml: file not found"),
    (["fit", "--example", "no-such-example"], "no embedded runcard 'no-such-example' (available: "),
    (["fit", "{card}", "--example", "toy-regression"], "give a runcard file or --example, not both"),
    (["hyperopt", "{card}", "--trials", "0"], "Invalid value for '--trials'"),
])
def test_usage_errors_exit_2_before_any_work(tmp_path, card, run_cli, args, message):
    fill = {"card": card, "tmp": tmp_path}
    code, out, err = run_cli(*[a.format(**fill) for a in args])
    assert code == 2 and message.format(**fill) in err and "Traceback" not in err, err
    assert STARTED not in out and not list(tmp_path.glob("*.h5"))


@pytest.mark.parametrize("mode, message", [
    ("", "{card}:1:1: hyperopt: no 'hyperopt:' section"),
    # eft-fit's modes are two tasks: the error names the mode that cannot, at its line
    ("binned", "{card}:2:7: mode: task 'eft-fit' with mode: binned cannot do hyperopt: it has no replica that "
               "the engine trains by gradient descent (tasks that can: "),   # the list grows with the tasks
    ("unbinned", "{card}:2:7: mode: task 'eft-fit' with mode: unbinned cannot do hyperopt"),
])
def test_hyperopt_on_a_runcard_or_task_that_cannot_do_it(card, run_cli, mode, message):
    if mode:
        card.write_text(f"task: eft-fit\nmode: {mode}\n" + HYPEROPT)
    code, out, err = run_cli("hyperopt", card)
    assert code == 2 and message.format(card=card) in err and "Traceback" not in err, err


def test_a_bug_keeps_its_traceback(card, monkeypatch):
    """Only user mistakes become one-line messages: an unexpected exception is not swallowed."""
    import mlhep.fit
    from mlhep.cli import main

    def broken(*args, **kwargs):
        raise RuntimeError("a real bug")
    monkeypatch.setattr(mlhep.fit, "fit", broken)
    with pytest.raises(RuntimeError, match="a real bug"):
        main(["fit", str(card)])


# ---- checkpoints: refused or reported before the data are loaded

def _write_npz(path: Path, **arrays):
    with open(path, "wb") as f:
        np.savez(f, **arrays)


@pytest.mark.parametrize("resume, make, message", [
    (False, lambda p: p.write_bytes(b"anything"), "holds an interrupted run of this output: continue it with --resume"),
    # the wording of a damaged checkpoint is Checkpoint.load's (engine); here: exit 3, the file, no traceback
    (True, lambda p: p.write_bytes(b"not a zip file"), "checkpoint"),
    (True, lambda p: p.write_bytes(b""), "checkpoint"),
    (True, lambda p: _write_npz(p, x=np.zeros(2)), "checkpoint"),                       # no metadata
    (True, lambda p: _write_npz(p, __meta__=np.array("{not json")), "checkpoint"),
    (True, lambda p: _write_npz(p, __meta__=np.array(json.dumps(
        {"fingerprint": "another run", "epoch": 50, "finished_epochs": []}))), "another runcard"),
    (True, lambda p: p.mkdir(), "fit.h5.ckpt.npz: is a directory"),
])
def test_bad_checkpoint_is_reported_before_training(tmp_path, card, run_cli, resume, make, message):
    ckpt = tmp_path / "fit.h5.ckpt.npz"
    make(ckpt)
    code, out, err = run_cli("fit", card, "-o", tmp_path / "fit.h5", *(["--resume"] if resume else []))
    assert code == 3 and str(ckpt) in err and message in err and "Traceback" not in err, err
    assert STARTED not in out and not (tmp_path / "fit.h5").exists() and ckpt.exists()


# ---- report and merge of files that are not (complete) results files

def _good_results(path: Path, task: str = "toy-regression", ids=(0, 1), **extra) -> Path:
    """A results file of our layout, written directly (no fit needed)."""
    n = len(ids)
    return results.write(path, task=task, runcard_text=CARD, runcard_sha256="0" * 64, runcard_path="toy.yaml",
                         resolved={"task": task}, provenance={"seed": 3},
                         replicas={"replica_id": np.array(ids), "prediction": np.zeros((n, 20)),
                                   **{f"train/{k}": np.zeros(n) for k in results.TRAIN_KEYS[:3]},
                                   **{f"train/{k}": np.zeros((n, 2)) for k in results.TRAIN_KEYS[3:]}, **extra},
                         summary={})


def _h5(change):
    """A damage that edits the file in place with h5py: ``change(f)``."""
    def damage(path: Path) -> None:
        with h5py.File(path, "a") as f:
            change(f)
    return damage


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[:len(data) // 2])


def _other_layout(path: Path) -> None:
    path.unlink()
    with h5py.File(path, "w") as f:
        f["x"] = np.random.default_rng(0).normal(size=5)
        f.create_group("g")["y"] = np.arange(4)


def _flat_history(f: h5py.File) -> None:
    del f["replicas/train/history_valid"]
    f["replicas/train/history_valid"] = np.zeros(2)


def _ragged(f: h5py.File) -> None:
    del f["replicas/prediction"]
    f["replicas/prediction"] = np.zeros((3, 20))      # 3 rows for 2 replica ids


BAD_FILES = {   # name: (damage applied to a good results file, the decisive part of the message)
    "not HDF5": (lambda p: p.write_text("task: toy-regression\n"), "unreadable HDF5 file"),
    "empty": (lambda p: p.write_bytes(b""), "empty file (0 bytes)"),
    "directory": (lambda p: (p.unlink(), p.mkdir()), "is a directory"),
    "FIFO": (lambda p: (p.unlink(), os.mkfifo(p)), "is a FIFO"),       # must not hang reading it
    "missing": (lambda p: p.unlink(), "no such results file"),
    "other layout": (_other_layout, "not an mlhep results file"),
    "truncated": (_truncate, "unreadable HDF5 file"),
    "no /summary": (_h5(lambda f: f.__delitem__("summary")), "incomplete mlhep results file (no group /summary)"),
    "no runcard": (_h5(lambda f: f["config"].attrs.__delitem__("runcard_text")),
                   "no /config attribute 'runcard_text'"),
    "bad JSON in /config": (_h5(lambda f: f["config"].attrs.__setitem__("resolved", "{oops")),
                            "/config attribute 'resolved' is not valid JSON"),
    "bad JSON in /provenance": (_h5(lambda f: f["provenance"].attrs.__setitem__("seed", "[1,")),
                                "/provenance attribute 'seed' is not valid JSON"),
    "number in /provenance": (_h5(lambda f: f["provenance"].attrs.__setitem__("seed", 3)),
                              "/provenance attribute 'seed' should be a JSON string"),
    "no replica ids": (_h5(lambda f: f["replicas"].__delitem__("replica_id")), "/replicas/replica_id is missing"),
    "ragged replicas": (_h5(_ragged), "/replicas/prediction does not have one row per replica"),
    "no training history": (_h5(lambda f: f["replicas/train"].__delitem__("history_valid")),
                            "/replicas/train is incomplete (no history_valid)"),
    "1-D training history": (_h5(_flat_history), "/replicas/train/history_valid should be 2-D"),
}


@pytest.mark.parametrize("command", ["report", "merge"])
@pytest.mark.parametrize("bad", list(BAD_FILES))
def test_report_and_merge_refuse_a_bad_results_file(tmp_path, run_cli, command, bad):
    damage, message = BAD_FILES[bad]
    path = _good_results(tmp_path / "bad.h5")
    damage(path)
    if command == "report":
        code, _, err = run_cli("report", path)
    else:
        code, _, err = run_cli("merge", _good_results(tmp_path / "good.h5"), path, "-o", tmp_path / "m.h5")
        assert not (tmp_path / "m.h5").exists()
    assert code == 3 and f"{path}: " in err and message in err and "Traceback" not in err, err


def test_report_of_a_task_that_is_not_installed(tmp_path, run_cli):
    path = _good_results(tmp_path / "fit.h5", task="no-such-task")
    code, _, err = run_cli("report", path)
    assert code == 3 and f"{path}: made by task 'no-such-task', which is not installed here" in err


@pytest.mark.parametrize("second, message", [
    (lambda p: _good_results(p, ids=(2, 3), extra=np.zeros((2, 3))), "has no replicas array 'extra'"),
    (lambda p: _good_results(p, ids=(2, 3), prediction=np.zeros((2, 7))), "array 'prediction' has shape (7,)"),
    (lambda p: _good_results(p, ids=(1, 2)), "the files share replica ids (1)"),
    (None, "merge needs at least two results files"),
])
def test_merge_refuses_blocks_that_do_not_fit_together(tmp_path, run_cli, second, message):
    inputs = [_good_results(tmp_path / "a.h5")] + ([second(tmp_path / "b.h5")] if second else [])
    code, _, err = run_cli("merge", *inputs, "-o", tmp_path / "m.h5")
    assert code == 3 and message in err and "Traceback" not in err, err
    assert not (tmp_path / "m.h5").exists()
