"""Exceptions that mlhep reports to the user without a traceback."""
from __future__ import annotations


class MlhepError(Exception):
    """Base class: the CLI prints the message and exits with ``exit_code``."""

    exit_code = 1


class RunCardError(MlhepError):
    """A mistake in a runcard: ``file:line:col: key.path: what is wrong (what is valid)``."""

    exit_code = 2

    def __init__(self, message: str, file: str = "<runcard>", line: int | None = None, col: int | None = None,
                 key: str = ""):
        self.file, self.line, self.col, self.key, self.reason = file, line, col, key, message
        where = file if line is None else f"{file}:{line}:{col or 1}"
        super().__init__(f"{where}: {key + ': ' if key else ''}{message}")


class UsageError(MlhepError):
    """A command-line value that is not valid (e.g. ``--replicas``): exit 2, like click's own usage errors."""

    exit_code = 2


class ResultsError(MlhepError):
    """A results file that cannot be read, merged or resumed from."""

    exit_code = 3


class DataError(MlhepError):
    """Input data or theory (FK tables, commondata, spectra) that is missing or inconsistent."""

    exit_code = 4


class TrainingFailed(MlhepError):
    """Every replica of a fit failed (non-finite losses, or none improved on its initial parameters): there is
    nothing to keep. ``result`` holds the engine's ``TrainResult`` for callers that want to inspect it."""

    exit_code = 4
    result = None


class Interrupted(MlhepError):
    """Training stopped by SIGINT/SIGTERM, after a checkpoint was written if training had begun: the same
    command with ``--resume`` continues it."""

    exit_code = 130


class CheckpointError(ResultsError):
    """A checkpoint that cannot be resumed from (damaged, truncated, foreign, of another runcard)."""
