"""The output of a run: checked before any work, locked while written, cleared of killed runs' temporary files.

``check_output`` refuses an output that could not be written (so no fit is lost at its end) or that is not a
regular file (renaming onto a device node would replace it: as root, /dev/null itself); ``OutputLock`` keeps two
runs from writing one output; ``remove_stale_temporaries`` clears the temporary files of runs that were killed.
"""
from __future__ import annotations

import datetime as _dt
import fcntl
import os
import re
import stat
import sys
from pathlib import Path

from mlhep.errors import ResultsError


_KINDS = ((stat.S_ISDIR, "directory"), (stat.S_ISCHR, "character device"), (stat.S_ISBLK, "block device"),
          (stat.S_ISFIFO, "FIFO (named pipe)"), (stat.S_ISSOCK, "socket"))


def refuse_non_regular(path: Path, role: str, missing: str = "") -> None:
    """Refuse an existing ``path`` that is not a regular file: renaming onto a device node would replace it
    (as root, /dev/null itself), and reading a FIFO would hang. ``missing``: the error for an absent path."""
    try:
        mode = os.stat(path).st_mode
    except (FileNotFoundError, NotADirectoryError):
        if missing:
            raise ResultsError(f"{path}: {missing}") from None
        return
    except OSError as exc:
        raise ResultsError(f"{path}: cannot inspect the {role} ({exc.strerror})") from None
    kind = next((name for test, name in _KINDS if test(mode)), None if stat.S_ISREG(mode) else "special file")
    if kind:
        raise ResultsError(f"{path}: is a {kind}, not a regular file; the {role} must be a file path (.h5)")


def check_output(path: Path, *companions: Path) -> None:
    """Before any work: ``path`` (and ``companions``, e.g. its checkpoint) can be written as regular files,
    and their folder exists (created if needed) and accepts new files."""
    for target in (path, *companions):
        refuse_non_regular(Path(target), "output")
    folder = Path(path).parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ResultsError(f"cannot create the output folder {folder}: {err.strerror}") from None
    probe = folder / f".{Path(path).name}.tmp{os.getpid()}"   # a name remove_stale_temporaries knows
    try:
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as err:
        raise ResultsError(f"cannot write in the output folder {folder}: {err.strerror}") from None


def remove_stale_temporaries(path: Path) -> list[Path]:
    """Delete temporary files of ``path`` (results ``.NAME.tmpPID``/``NAME.tmpPID``, checkpoints
    ``NAME[.STAGE].ckpt.npz.tmpPID``) whose process is gone, e.g. after a kill -9; call it holding the OutputLock."""
    path = Path(path)
    pattern = re.compile(rf"\.?{re.escape(path.name)}(?:(?:\.[a-z][a-z0-9_-]*)?\.ckpt\.npz)?\.tmp(\d+)")
    removed = []
    for entry in os.scandir(path.parent if str(path.parent) else "."):
        match = pattern.fullmatch(entry.name)
        if match and entry.is_file(follow_symlinks=False) and not _process_alive(int(match.group(1))):
            Path(entry.path).unlink(missing_ok=True)
            removed.append(Path(entry.path))
    return removed


def _process_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, OverflowError):
        return False
    except PermissionError:   # another user's process
        return True
    return True


class OutputLock:
    """``<output>.lock`` held with ``flock`` while a run writes ``output``; it names the holder (PID, start).

    The kernel releases the lock when the holder dies (even by kill -9), so a stale lock file is simply taken
    over. On filesystems without ``flock`` the run goes on unlocked, with a note.
    """

    def __init__(self, output: Path):
        self.output = Path(output)
        self.path = self.output.with_name(self.output.name + ".lock")
        self._file = None

    def __enter__(self) -> "OutputLock":
        while self._file is None:
            try:
                handle = open(self.path, "a+")
            except OSError as err:
                raise ResultsError(f"cannot create the lock file {self.path}: {err.strerror}") from None
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.seek(0)
                holder = handle.read().split(maxsplit=1)
                handle.close()
                who = f"process {holder[0]} (started {holder[1]})" if len(holder) == 2 else "another process"
                raise ResultsError(f"{self.output} is being written by {who}: wait for that run to finish or "
                                   "stop it, or choose another output") from None
            except OSError as err:
                print(f"mlhep: note: cannot lock {self.path} ({err.strerror}); not protected against a second "
                      "run on the same output", file=sys.stderr)
                handle.close()
                return self
            if _same_file(handle, self.path):   # else the previous holder removed it meanwhile: lock anew
                self._file = handle
            else:
                handle.close()
        started = _dt.datetime.now().astimezone().isoformat(timespec="seconds")
        self._file.seek(0), self._file.truncate()
        self._file.write(f"{os.getpid()} {started}\n")
        self._file.flush()
        return self

    def __exit__(self, *exc_info) -> None:
        if self._file is not None:
            self.path.unlink(missing_ok=True)   # before unlocking: a waiter then sees another file and retries
            self._file.close()
            self._file = None


def _same_file(handle, path: Path) -> bool:
    try:
        return os.path.samestat(os.fstat(handle.fileno()), os.stat(path))
    except FileNotFoundError:
        return False
