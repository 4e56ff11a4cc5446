"""The theory bundle: theory files that ship with mlhep, so that the default fit and the tests need no theory build.

Building the DIS FK tables and eko operators takes 40-60 minutes on a 2-core machine (``make theory``). The files
that the embedded runcards and the default test tier read ship inside the package, in ``theory_bundle/``,
under the same relative names as in the cache (``fktables/<dataset>-<order>-<card hash>.npz``,
``eko/nodes-<theory>-<hash>.npz``). ``manifest.json`` records, per file, its SHA-256 and size, and for the whole
bundle the yadism, eko, pineappl and nnpdf-data versions and the theory cards it was built with
(``scripts/build_theory_bundle.py`` writes it). A file is checked against its checksum the first time a process
reads it; a mismatch is a :class:`DataError`, never a silently different theory.

Reading order: an explicit folder from a runcard is used alone; otherwise the bundle, then ``$MLHEP_CACHE``.
``MLHEP_THEORY_BUNDLE=0`` switches the bundle off (``make theory`` rebuilds from scratch that way, and the
slow tests compare a rebuild with the shipped files); ``MLHEP_THEORY_BUNDLE=/path`` reads another bundle.
"""
from __future__ import annotations

import functools
import hashlib
import json
import os
from pathlib import Path

from mlhep.errors import DataError
from mlhep.paths import PACKAGE_DIR, cache_dir

MANIFEST = "manifest.json"


def bundle_dir() -> Path | None:
    """The bundle folder in use, or None when ``MLHEP_THEORY_BUNDLE=0``."""
    setting = os.environ.get("MLHEP_THEORY_BUNDLE", "")
    if setting == "0":
        return None
    return Path(setting).expanduser() if setting else PACKAGE_DIR / "theory_bundle"


@functools.lru_cache(maxsize=4)
def _manifest(folder: Path) -> dict:
    path = folder / MANIFEST
    if not path.is_file():
        return {"files": {}}
    try:
        manifest = json.loads(path.read_text())
        manifest["files"]  # noqa: B018 - the one key every manifest has
    except (json.JSONDecodeError, KeyError, TypeError, UnicodeDecodeError) as err:
        raise DataError(f"{path}: not a theory-bundle manifest ({err}); reinstall mlhep or rebuild it with "
                        "`make bundle`") from None
    return manifest


def manifest() -> dict:
    """The manifest of the bundle in use (``{"files": {}}`` when there is none)."""
    folder = bundle_dir()
    return _manifest(folder) if folder is not None else {"files": {}}


def sha256_of(path: Path) -> str:
    """Hex SHA-256 of a file, read in 1 MB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@functools.lru_cache(maxsize=256)
def _verified(path: Path, sha256: str, size: int, mtime_ns: int) -> Path:
    if sha256_of(path) != sha256:
        raise DataError(f"{path}: checksum mismatch with the theory-bundle manifest (a damaged or edited file); "
                        "reinstall mlhep, or rebuild the bundle with `make theory bundle`")
    return path


def bundled(relative: str) -> Path | None:
    """The checked path of bundle file ``relative`` (e.g. ``fktables/X-NLO-abc.npz``), or None if not bundled."""
    folder = bundle_dir()
    if folder is None:
        return None
    entry = _manifest(folder)["files"].get(relative)
    if entry is None:
        return None
    path = folder / relative
    try:
        stat = path.stat()
    except OSError:
        raise DataError(f"{path}: listed in the theory-bundle manifest but missing; reinstall mlhep") from None
    if stat.st_size != entry["bytes"]:
        raise DataError(f"{path}: {stat.st_size} bytes, the theory-bundle manifest says {entry['bytes']} "
                        "(truncated or replaced); reinstall mlhep")
    return _verified(path, entry["sha256"], stat.st_size, stat.st_mtime_ns)


def theory_file(relative: str, folder: Path | None = None) -> Path:
    """Where to read theory file ``relative`` (``<kind>/<name>``): ``folder/<name>`` if a folder is given;
    else the bundle's copy if it has one, else ``$MLHEP_CACHE/<relative>`` (which may not exist yet)."""
    if folder is not None:
        return Path(folder) / Path(relative).name
    return bundled(relative) or cache_dir() / relative
