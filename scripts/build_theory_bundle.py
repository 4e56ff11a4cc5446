"""Copy the theory that the embedded runcards and the default tests read from the cache into the shipped bundle.

    MLHEP_THEORY_BUNDLE=0 python scripts/build_fk_tables.py --all-dis --order LO   # and NLO, and the LH toy:
    make theory                                                                    # (all of it, 40-60 min)
    python scripts/build_theory_bundle.py [--out mlhep/theory_bundle]              # = make bundle

The bundle (see :mod:`mlhep.theory_bundle`) holds the 12 DIS FK tables at LO and NLO, the eko node operators of
the fit theory at LO and NLO (what the LHAPDF export evolves with), and those of the Les Houches toy at LO (the
unbinned eft-fit PDF, the LO LH benchmark test). Every file is rewritten as a compressed npz with
the same arrays (checked bit for bit), and ``manifest.json`` records SHA-256, sizes, the theory cards and the
versions of yadism, eko, pineappl and nnpdf-data that built them. A file missing from the cache is an error
naming the command that builds it.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from importlib import metadata
from pathlib import Path

import numpy as np

from mlhep.paths import PACKAGE_DIR
from mlhep.physics import evolution, lh_toy
from mlhep.tasks.pdf import commondata, fktable
from mlhep.physics.theorycard import theory_card
from mlhep.theory_bundle import MANIFEST, sha256_of
from mlhep.runtime import use_precision

use_precision("float64")   # what mlhep fit sets for these tasks (import mlhep sets nothing)

ORDERS = ("LO", "NLO")
VERSION = "2026.12.1"  # bump whenever the bundle's content changes


def wanted_files() -> dict[str, tuple[Path, str]]:
    """Bundle-relative name -> (cache file, what it is)."""
    files = {}
    for order in ORDERS:
        for name in commondata.available_datasets():
            path = fktable.fktable_path(name, order)
            files[f"fktables/{path.name}"] = (path, f"FK table {name} {order}")
        card = theory_card(order)
        path = evolution.node_cache_path(card, evolution.fit_xgrid(), evolution.node_grid(card))
        files[f"eko/{path.name}"] = (path, f"eko node operators of the fit theory at {order}")
    # the LO toy is what fits read (unbinned eft-fit PDF); its NLO operators serve only the slow-tier LH tests
    path = evolution.node_cache_path(lh_toy.lh_theory("LO"), lh_toy.lh_xgrid(), lh_toy.lh_nodes("LO"))
    files[f"eko/{path.name}"] = (path, "eko node operators of the Les Houches toy at LO")
    return files


def copy_compressed(source: Path, target: Path) -> None:
    """Rewrite ``source`` as a compressed npz at ``target`` and check that every array is identical."""
    with np.load(source, allow_pickle=False) as stored:
        arrays = {k: stored[k] for k in stored.files}
    target.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(target, **arrays)
    with np.load(target, allow_pickle=False) as back:
        for key, value in arrays.items():
            if not np.array_equal(back[key], value, equal_nan=value.dtype.kind == "f"):
                raise SystemExit(f"{target}: array {key} changed on rewriting")


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=PACKAGE_DIR / "theory_bundle")
    args = parser.parse_args(argv)
    files = wanted_files()
    missing = [str(src) for src, _ in files.values() if not src.is_file()]
    if missing:
        print("not built yet (run `make theory`):\n  " + "\n  ".join(missing))
        return 1
    entries = {}
    for relative, (source, what) in sorted(files.items()):
        target = args.out / relative
        copy_compressed(source, target)
        entries[relative] = {"sha256": sha256_of(target), "bytes": target.stat().st_size, "what": what}
        print(f"{relative}: {target.stat().st_size / 1e6:.1f} MB")
    for stale in args.out.glob("*/*.npz"):        # files of an earlier bundle that this one no longer lists
        if f"{stale.parent.name}/{stale.name}" not in entries:
            stale.unlink()
    manifest = {
        "name": "mlhep theory bundle", "version": VERSION, "created": time.strftime("%Y-%m-%d"),
        "built_with": {d: _version(d) for d in ("yadism", "eko", "pineappl", "nnpdf-data", "numpy")},
        "theory_cards": {**{order: theory_card(order) for order in ORDERS},
                         "LH-toy-LO": lh_toy.lh_theory("LO")},
        "rebuild": "make theory bundle",
        "files": entries,
    }
    (args.out / MANIFEST).write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    total = sum(e["bytes"] for e in entries.values())
    print(f"{len(entries)} files, {total / 1e6:.1f} MB -> {args.out / MANIFEST}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
