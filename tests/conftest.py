"""Shared fixtures: where the real data live, and small helpers to run the CLI in-process."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("MLHEP_CPU_DEVICES", "1")   # tests compare numbers across modes: one device unless told

from mlhep.paths import shared_data_dir  # noqa: E402
from mlhep.runtime import configure_process, use_precision  # noqa: E402

configure_process()          # what the mlhep command does first: the compilation cache, the device count
use_precision("float64")     # the tasks' precision, set before any test builds arrays

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def shared_data() -> Path:
    """../shared/data (real data sets kept outside the project); skips the test when it is not there."""
    path = shared_data_dir()
    if not path.is_dir():
        pytest.skip(f"real data not found at {path} (set MLHEP_SHARED_DATA)")
    return path


@pytest.fixture
def run_cli(capsys):
    """Run ``mlhep ARGS...`` in-process; returns (exit code, stdout, stderr)."""
    from mlhep.cli import main

    def run(*args: str):
        code = main([str(a) for a in args])
        out, err = capsys.readouterr()
        return code, out, err
    return run


@pytest.fixture(autouse=True)
def _float64_between_tests():
    """An in-process fit sets its task's precision (mlhep.runtime.use_precision): put float64 back after it."""
    yield
    use_precision("float64")


def mlhep_from_a_terminal(*args) -> list[str]:
    """The command line of ``python -m mlhep.cli ARGS`` for a subprocess that a test interrupts with SIGINT, with
    Ctrl-C's default action as in a terminal. A shell runs background jobs (``.ci/run &``) with SIGINT ignored,
    and children inherit that; mlhep rightly respects it, so without this the test would measure how it was
    launched, not mlhep. (A ``preexec_fn`` would fork the multithreaded test process.)"""
    import sys
    code = ("import runpy, signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
            "sys.argv = ['mlhep'] + sys.argv[1:]; runpy.run_module('mlhep.cli', run_name='__main__')")
    return [sys.executable, "-c", code, *map(str, args)]
