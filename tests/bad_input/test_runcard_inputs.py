"""Bad runcards, as a hostile new user writes them: `mlhep fit`, `check` and `hyperopt` refuse each one with
exit code 2 and ``file:line:col: key.path: what is wrong (what is valid)``, never a traceback or a hang.

One parametrized row per bad input. Rows on the toy runcard below give their line and column in it; rows on
the shipped example runcards locate the poisoned value by searching for it. No row reaches a task's ``setup``
(the guard below fails the test if one does), so none of them reads data or builds theory.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from mlhep.registry import load_tasks

REPO = Path(__file__).resolve().parents[2]
TASKS = ("toy-regression", "pdf-fit", "eft-fit")
COMMANDS = ("check", "fit", "hyperopt")

TOY = """\
task: toy-regression
seed: 3
replicas: 2
engine:
  epochs: 20
  chunk: 10
  optimizer: {name: adam, learning_rate: 0.01}
data:
  points: 8
  x_min: -1.0
  truth: [0.2, 1.0]
description: toy
"""


def toy(old: str, new: str) -> bytes:
    """The toy runcard with ``old`` (which must occur once) replaced by ``new``."""
    assert TOY.count(old) == 1, old
    return TOY.replace(old, new).encode()


def nested(levels: int) -> bytes:
    """The toy runcard whose ``description`` is a block mapping nested ``levels`` deep (a: {a: {a: ...}})."""
    lines = [f"{'  ' * depth}a:" for depth in range(1, levels)] + [f"{'  ' * levels}a: 1"]
    return toy("description: toy\n", "description:\n" + "\n".join(lines) + "\n")


ALIAS_BOMB = toy("description: toy\n", "description: toy\nlol:\n  - &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n"
                 + "".join(f"  - &{b} [{', '.join([f'*{a}'] * 9)}]\n" for a, b in zip("abcdefgh", "bcdefghi")))

# Three lists 22 deep, each holding the one before through an alias: 66 levels once expanded.
DEEP_ALIASES = toy("description: toy\n", "description: toy\ndeep:\n  - &d0 " + "[" * 22 + "1" + "]" * 22 + "\n"
                   + "".join(f"  - &d{i} {'[' * 22}*d{i - 1}{']' * 22}\n" for i in (1, 2)))

# id, runcard bytes, (line, col), key path ("" for none), decisive part of the message
TEXT_ROWS = [
    # -- the bytes: encoding, binary, control characters, emptiness
    ("latin-1", TOY.replace("description: toy", "description: caf\xe9").encode("latin-1"), (12, 17), "",
     "not UTF-8 text (save it as UTF-8): byte 0xe9 is not UTF-8"),
    ("png-file", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", (1, 1), "", "a binary file, not a YAML runcard"),
    ("utf-16", TOY.encode("utf-16"), (1, 1), "", "UTF-16 or UTF-32 text (save it as UTF-8): byte 0xff"),
    ("empty-file", b"", (1, 1), "", "empty runcard: expected at least 'task: <name>'"),
    ("only-comments", b"# task: toy-regression\n\n", (1, 1), "", "empty runcard"),
    ("nul-byte", toy("seed: 3", "seed: 3\0"), (2, 8), "", "a NUL byte (is this a binary file?) is not allowed"),
    ("bell-character", toy("description: toy", "description: t\aoy"), (12, 15), "",
     "control character U+0007 is not allowed in a YAML runcard"),
    ("terminal-colour-escape", toy("  epochs: 20", "  epochs: \x1b[1m20\x1b[0m"), (5, 11), "",
     "control character U+001B is not allowed"),
    # -- the structure: nesting, aliases
    ("deep-flow-nesting", toy("description: toy", "description: " + "[" * 5000 + "]" * 5000), (12, 77), "",
     "nested deeper than 64 levels"),
    ("deep-block-nesting", nested(200), (76, 129), "", "nested deeper than 64 levels"),
    ("deep-through-aliases", DEEP_ALIASES, (16, 31), "", "nested deeper than 64 levels through alias *d1"),
    ("alias-bomb", ALIAS_BOMB, (19, 9), "", "aliases expand the runcard to more than 100000 values"),
    ("recursive-alias", toy("description: toy", "description: &loop [*loop]"), (12, 21), "",
     "alias *loop is inside its own anchor &loop"),
    ("duplicate-top-level-key", toy("replicas: 2\n", "replicas: 2\nseed: 4\n"), (4, 1), "seed",
     "duplicate key 'seed' (already set to '3' above)"),
    ("duplicate-nested-key", toy("  chunk: 10\n", "  chunk: 10\n  epochs: 30\n"), (7, 3), "engine.epochs",
     "duplicate key 'epochs'"),
    ("top-level-list", b"- task: toy-regression\n- seed: 3\n", (1, 1), "", "the top level must be a mapping"),
    ("top-level-string", b"toy-regression\n", (1, 1), "", "the top level must be a mapping"),
    ("task-is-a-number", toy("task: toy-regression", "task: 3"), (1, 7), "task", "task must be a name (got 3)"),
    ("task-is-a-list", toy("task: toy-regression", "task: [toy-regression]"), (1, 7), "task",
     "task must be a name (got a list)"),
    ("task-is-null", toy("task: toy-regression", "task:"), (1, 1), "task", "task must be a name (got null)"),
    ("two-documents", (TOY + "---\n" + TOY).encode(), (13, 1), "", "expected a single document"),
    ("tab-indentation", toy("  epochs: 20", "\tepochs: 20"), (5, 1), "", "found character '\\t'"),
    ("undefined-alias", toy("seed: 3", "seed: *nope"), (2, 7), "", "found undefined alias 'nope'"),
    ("homoglyph-key", toy("replicas: 2", "r\u0435plicas: 2"), (3, 1), "r\u0435plicas",
     "did you mean 'replicas'?"),
    ("yaml-set", toy("description: toy", "description: !!set {a, b}"), (12, 14), "description",
     "must be a string (got a set)"),
    ("date-as-seed", toy("seed: 3", "seed: 2001-12-14"), (2, 7), "seed",
     "must be an integer (got a date (2001-12-14))"),
    ("python-object-tag", toy("description: toy", "description: !!python/object:os.system ls"), (12, 14),
     "description", "must be a string (got a value tagged tag:yaml.org,2002:python/object:os.system)"),
    # -- absurd sizes: the valid range is in the message
    ("replicas-as-float", toy("replicas: 2", "replicas: 1e3"), (3, 11), "replicas", "must be an integer (got 1000.0)"),
    ("replicas-10**12", toy("replicas: 2", "replicas: 1000000000000"), (3, 11), "replicas",
     "must be <= 100000 (got 1000000000000; valid range [1, 100000])"),
    ("replicas-as-power", toy("replicas: 2", "replicas: 10**12"), (3, 11), "replicas",
     "must be an integer (got '10**12')"),
    ("seed-above-uint32", toy("seed: 3", "seed: 4294967296"), (2, 7), "seed",
     "must be <= 4294967295 (got 4294967296; valid range [0, 4294967295])"),
    ("seed-above-int64", toy("seed: 3", "seed: 100000000000000000000"), (2, 7), "seed", "must be <= 4294967295"),
    ("epochs-10**12", toy("epochs: 20", "epochs: 1000000000000"), (5, 11), "engine.epochs",
     "must be <= 10000000 (got 1000000000000; valid range [1, 10000000])"),
    ("chunk-10**10", toy("chunk: 10", "chunk: 10000000000"), (6, 10), "engine.chunk",
     "must be <= 100000 (got 10000000000; valid range [1, 100000])"),
    ("block-size-10**9", toy("  chunk: 10\n", "  chunk: 10\n  block_size: 1000000000\n"), (7, 15),
     "engine.block_size", "must be <= 100000"),
    ("int-beyond-int64",
     toy("  chunk: 10\n", "  chunk: 10\n  stopping: {min_epochs: 100000000000000000000000000000}\n"),
     (7, 26), "engine.stopping.min_epochs", "must fit in a 64-bit integer"),
    ("hyperopt-trials-at-once", toy("description: toy", "hyperopt: {batch: 1000, replicas_per_trial: 1000}"),
     (12, 1), "hyperopt", "batch x replicas_per_trial = 1000000 replicas would train at once (at most 100000)"),
    # -- non-finite and non-positive floats
    ("learning-rate-inf", toy("learning_rate: 0.01", "learning_rate: .inf"), (7, 42),
     "engine.optimizer.learning_rate", "must be a finite number (got .inf)"),
    ("learning-rate-minus-inf", toy("learning_rate: 0.01", "learning_rate: -.inf"), (7, 42),
     "engine.optimizer.learning_rate", "must be a finite number (got -.inf)"),
    ("learning-rate-nan", toy("learning_rate: 0.01", "learning_rate: .NaN"), (7, 42),
     "engine.optimizer.learning_rate", "must be a finite number (got .nan)"),
    ("learning-rate-inf-string", toy("learning_rate: 0.01", "learning_rate: infinity"), (7, 42),
     "engine.optimizer.learning_rate", "must be a finite number (got 'infinity')"),
    ("learning-rate-zero", toy("learning_rate: 0.01", "learning_rate: 0"), (7, 42),
     "engine.optimizer.learning_rate", "must be > 0 (got 0)"),
    ("learning-rate-negative", toy("learning_rate: 0.01", "learning_rate: -1e-3"), (7, 42),
     "engine.optimizer.learning_rate", "must be > 0 (got -0.001)"),
    ("learning-rate-overflows", toy("learning_rate: 0.01", "learning_rate: 1e400"), (7, 42),
     "engine.optimizer.learning_rate", "must be a finite number (got .inf)"),
    ("learning-rate-underflows", toy("learning_rate: 0.01", "learning_rate: 1e-400"), (7, 42),
     "engine.optimizer.learning_rate", "must be > 0 (got 0.0)"),
    ("clipnorm-inf", toy("learning_rate: 0.01}", "learning_rate: 0.01, clipnorm: .inf}"), (7, 58),
     "engine.optimizer.clipnorm", "must be a finite number (got .inf)"),
    ("decay-rate-nan", toy("learning_rate: 0.01}", "learning_rate: 0.01, schedule: {decay_rate: .nan}}"),
     (7, 71), "engine.optimizer.schedule.decay_rate", "must be a finite number (got .nan)"),
    ("min-delta-inf", toy("  chunk: 10\n", "  chunk: 10\n  stopping: {min_delta: .inf}\n"), (7, 25),
     "engine.stopping.min_delta", "must be a finite number (got .inf)"),
    ("checkpoint-seconds-nan", toy("  chunk: 10\n", "  chunk: 10\n  checkpoint_seconds: .nan\n"), (7, 23),
     "engine.checkpoint_seconds", "must be a finite number (got .nan)"),
    ("unbounded-float-inf", toy("x_min: -1.0", "x_min: -.inf"), (10, 10), "data.x_min",
     "must be a finite number (got -.inf)"),
    ("nan-inside-a-list", toy("truth: [0.2, 1.0]", "truth: [0.2, .nan]"), (11, 16), "data.truth[1]",
     "must be a finite number (got .nan)"),
    ("hyperopt-range-inf", toy("description: toy",
                               "hyperopt: {space: {engine.optimizer.learning_rate: {low: 1e-4, high: .inf}}}"),
     (12, 70), 'hyperopt.space["engine.optimizer.learning_rate"].high', "must be a finite number (got .inf)"),
]


@pytest.fixture(autouse=True)
def setup_is_never_reached(monkeypatch, tmp_path):
    """A runcard error must stop before the task's setup (pdf-fit's may build theory): fail loudly if not."""
    monkeypatch.chdir(tmp_path)                      # a fit that got through would write here, not in the repo
    for name, task in load_tasks().items():
        monkeypatch.setattr(task, "setup", lambda *args, _name=name: pytest.fail(f"{_name}: setup reached"))


def run_on(run_cli, command: str, card: Path):
    """Run ``mlhep COMMAND CARD`` (a fit's output in the test's folder); (exit code, stderr)."""
    args = (command, card, "-q", "-o", "out.h5") if command == "fit" else (command, card)
    code, out, err = run_cli(*args)
    assert "Traceback" not in out + err
    assert not Path("out.h5").exists()
    return code, err


def assert_located(code: int, err: str, card: Path, at: tuple[int, int], key: str, message: str) -> None:
    assert code == 2, err
    line, col = at
    assert f"{card}:{line}:{col}: {key + ': ' if key else ''}" in err, err
    assert message in err, err


@pytest.mark.timeout(60)                             # the alias bomb and deep nesting used to hang or overflow
@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("text, at, key, message", [pytest.param(*row[1:], id=row[0]) for row in TEXT_ROWS])
def test_bad_runcard_text(tmp_path, run_cli, command, text, at, key, message):
    card = tmp_path / "card.yaml"
    card.write_bytes(text)
    assert_located(*run_on(run_cli, command, card), card, at, key, message)


# Mistakes in the common keys are found before the task's own sections, for every task.
COMMON_ROWS = [
    ("replicas-10**12", "replicas: 1000000000000\n", (2, 11), "replicas", "must be <= 100000"),
    ("seed-2**64", "seed: 18446744073709551616\n", (2, 7), "seed", "valid range [0, 4294967295]"),
    ("learning-rate-inf", "engine: {optimizer: {learning_rate: .inf}}\n", (2, 37),
     "engine.optimizer.learning_rate", "must be a finite number (got .inf)"),
    ("nul-byte", "description: a\0b\n", (2, 15), "", "a NUL byte"),
    ("alias-bomb", ALIAS_BOMB.decode().split("description: toy\n")[1], (8, 9), "",
     "aliases expand the runcard to more than 100000 values"),
]


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("task", TASKS)
@pytest.mark.parametrize("extra, at, key, message", [pytest.param(*row[1:], id=row[0]) for row in COMMON_ROWS])
def test_common_mistake_for_every_task(tmp_path, run_cli, command, task, extra, at, key, message):
    card = tmp_path / "card.yaml"
    card.write_text(f"task: {task}\n{extra}")
    assert_located(*run_on(run_cli, command, card), card, at, key, message)


# Non-finite values in the tasks' own sections of the shipped example runcards: (runcard, old, new, key).
EXAMPLE_ROWS = [
    ("eft-binned-min-nan", "eft-fit-binned", "OtG: {min: -2,", "OtG: {min: .nan,", "binned.coefficients.OtG.min"),
    ("eft-binned-value-inf", "eft-fit-binned", "OpB: {value: 0.0}", "OpB: {value: .inf}",
     "binned.coefficients.OpB.value"),
    ("eft-unbinned-luminosity-inf", "eft-fit-unbinned", "luminosity: 1.0", "luminosity: .inf",
     "unbinned.collider.luminosity"),
    ("pdf-q2min-minus-inf", "pdf-fit-dis", "q2min: 3.49", "q2min: -.inf", "data.q2min"),
]


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("example, old, new, key", [pytest.param(*row[1:], id=row[0]) for row in EXAMPLE_ROWS])
def test_non_finite_value_in_a_task_section(tmp_path, run_cli, command, example, old, new, key):
    text = (REPO / "runcards" / f"{example}.yaml").read_text()
    assert text.count(old) == 1
    card = tmp_path / f"{example}.yaml"
    card.write_text(text.replace(old, new))
    start = text.index(old) + new.index(".")       # the poisoned value, e.g. `.nan`, or `-.inf` from its '-'
    start -= new[new.index(".") - 1] == "-"
    line = text.count("\n", 0, start) + 1
    col = start - text.rfind("\n", 0, start)
    assert_located(*run_on(run_cli, command, card), card, (line, col), key, "must be a finite number")


def missing(card: Path, monkeypatch) -> Path:
    return card


def directory(card: Path, monkeypatch) -> Path:
    card.mkdir()
    return card


def unreadable(card: Path, monkeypatch) -> Path:
    """Opening ``card`` fails as it does without permission (tests run as root, where chmod 000 does not)."""
    card.write_text(TOY)
    real = Path.open

    def open_(path: Path, *args, **kwargs):
        if Path(path) == card:
            raise PermissionError(13, "Permission denied", str(path))
        return real(path, *args, **kwargs)
    monkeypatch.setattr(Path, "open", open_)
    return card


def huge(card: Path, monkeypatch) -> Path:
    with card.open("wb") as file:         # sparse: 20 MB without writing them
        file.truncate(20 * 10**6)
    return card


def dev_zero(card: Path, monkeypatch) -> Path:
    return Path("/dev/zero")


def chmod_000(card: Path, monkeypatch) -> Path:
    card.write_text(TOY)
    card.chmod(0)
    return card


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("make, message", [
    pytest.param(missing, "file not found", id="missing-file"),
    pytest.param(directory, "is a directory", id="directory"),
    pytest.param(unreadable, "cannot read the file (Permission denied)", id="unreadable-simulated"),
    pytest.param(huge, "larger than 10 MB: not a runcard", id="20-MB-file"),
    pytest.param(dev_zero, "larger than 10 MB: not a runcard", id="dev-zero",
                 marks=pytest.mark.skipif(not Path("/dev/zero").exists(), reason="no /dev/zero")),
    pytest.param(chmod_000, "cannot read the file (Permission denied)", id="unreadable-chmod-000",
                 marks=pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")),
])
def test_runcard_file_that_cannot_be_read(tmp_path, run_cli, monkeypatch, command, make, message):
    card = make(tmp_path / "card.yaml", monkeypatch)
    code, err = run_on(run_cli, command, card)
    assert code == 2, err
    assert str(card) in err and message in err, err
