"""Where mlhep finds things outside a runcard: the shared real-data folder, the cache, embedded runcards."""
from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
RUNCARDS_DIR = PACKAGE_DIR / "runcards"
DEFAULT_RUNCARD = "pdf-fit-dis"


def shared_data_dir() -> Path:
    """``$MLHEP_SHARED_DATA``, else ``../shared/data`` beside the mlhep checkout, else beside the cwd."""
    if os.environ.get("MLHEP_SHARED_DATA"):
        return Path(os.environ["MLHEP_SHARED_DATA"])
    for base in (PACKAGE_DIR.parent, Path.cwd()):
        candidate = base.parent / "shared" / "data"
        if candidate.is_dir():
            return candidate
    return PACKAGE_DIR.parent.parent / "shared" / "data"


def cache_dir() -> Path:
    """``$MLHEP_CACHE``, else ``~/.cache/mlhep``: FK tables and evolution operators built once."""
    return Path(os.environ.get("MLHEP_CACHE") or Path.home() / ".cache" / "mlhep").expanduser()


def expand(value: str) -> str:
    """Expand ``~`` and ``$VARS`` in a runcard path; ``$MLHEP_SHARED_DATA`` has the default above."""
    os.environ.setdefault("MLHEP_SHARED_DATA", str(shared_data_dir()))
    return os.path.expanduser(os.path.expandvars(value))


def embedded_runcards() -> dict[str, Path]:
    """The example runcards shipped inside the package, by name (file stem)."""
    return {p.stem: p for p in sorted(RUNCARDS_DIR.glob("*.yaml"))}
