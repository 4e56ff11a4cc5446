"""Where a result came from: versions, machine, device, seeds, command, times."""
from __future__ import annotations

import datetime as _dt
import platform
import socket
import subprocess
import sys
from importlib import metadata
from pathlib import Path

# Distributions whose versions can change the numbers; those not installed are recorded as absent.
TRACKED = ("mlhep", "jax", "jaxlib", "flax", "optax", "numpy", "scipy", "h5py", "ruamel.yaml", "blackjax",
           "eko", "yadism", "pineappl", "nnpdf-data", "optuna")


def versions() -> dict[str, str]:
    found = {}
    for name in TRACKED:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "not installed"
    found["python"] = platform.python_version()
    return found


def device() -> dict[str, str]:
    import jax
    devices = jax.devices()
    return {"backend": jax.default_backend(), "count": str(len(devices)),
            "kind": devices[0].device_kind, "platform": platform.platform(), "machine": platform.machine(),
            "hostname": socket.gethostname()}


def git_commit(path: Path) -> str:
    """The commit of the mlhep checkout (``+dirty`` when modified), or "" for an installed package."""
    try:
        run = lambda *a: subprocess.run(["git", *a], cwd=path, capture_output=True, text=True, timeout=5)  # noqa
        commit = run("rev-parse", "HEAD").stdout.strip()
        dirty = run("status", "--porcelain", "--untracked-files=no").stdout.strip()
        return commit + ("+dirty" if commit and dirty else "")
    except (OSError, subprocess.SubprocessError):
        return ""


def now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def collect() -> dict:
    return {"versions": versions(), "device": device(), "command": " ".join(sys.argv),
            "mlhep_git": git_commit(Path(__file__).resolve().parents[2])}
