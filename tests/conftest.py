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
