"""Build the DIS FK tables of pdf-fit (yadism coefficient functions x eko evolution) into a cache folder.

    python scripts/build_fk_tables.py --all-dis --order NLO [--cache DIR] [--max-points N]
    python scripts/build_fk_tables.py --datasets BCDMS_NC_NOTFIXED_P_EM-F2 HERA_CC_318GEV_EP-SIGMARED --order LO

Prints the time per dataset. The first run of an order also runs eko for the evolution nodes (cached under
$MLHEP_CACHE/eko). A dataset whose theory fails is reported by name and the script exits with status 1.
"""
from __future__ import annotations

import argparse
import logging
import sys
import time
import traceback
from pathlib import Path

from mlhep.tasks.pdf import commondata, fktable
from mlhep.runtime import use_precision

use_precision("float64")   # what mlhep fit sets for these tasks (import mlhep sets nothing)


def build(datasets: list[str], order: str, cache: Path | None = None, max_points: int | None = None,
          force: bool = False, xgrid=None, nodes=None, eko_cache: Path | None = None) -> dict[str, str]:
    """Build and save the FK tables; returns per dataset 'built', 'cached' or the error message.

    All yadism runs come first, then the eko node operators (computed once per order, or read from the cache)
    are contracted with them. ``xgrid``, ``nodes`` and ``eko_cache`` override the fit x-grid, the eko scales
    and the eko cache (tests).
    """
    status, coefficients = {}, {}
    for name in datasets:
        path = fktable.fktable_path(name, order, cache)
        if path.is_file() and not force and max_points is None:
            print(f"{name} {order}: already built ({path})", flush=True)
            status[name] = "cached"
            continue
        try:
            coefficients[name] = fktable.dis_coefficients(name, order, max_points, xgrid)
        except Exception as err:  # noqa: BLE001 - report any failure by dataset name, never fake a table
            traceback.print_exc()
            status[name] = f"FAILED (yadism): {type(err).__name__}: {err}"
            print(f"{name} {order}: {status[name]}", flush=True)
            continue
        c = coefficients[name]
        print(f"{name} {order}: yadism {c.index.size}/{c.n_all} points in {c.seconds:.1f} s", flush=True)
    for name, c in coefficients.items():
        start = time.perf_counter()
        try:
            fk = fktable.combine(c, nodes, eko_cache)
            path = fktable.save_fktable(fk, cache)
        except Exception as err:  # noqa: BLE001
            traceback.print_exc()
            status[name] = f"FAILED (evolution): {type(err).__name__}: {err}"
            print(f"{name} {order}: {status[name]}", flush=True)
            continue
        status[name] = f"built (yadism {c.seconds:.1f} s, evolution {time.perf_counter() - start:.1f} s)"
        print(f"{name} {order}: {status[name]} -> {path}", flush=True)
    return status


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", nargs="*", default=[], help="dataset names (NNPDF spelling)")
    parser.add_argument("--all-dis", action="store_true", help="all supported DIS datasets")
    parser.add_argument("--order", default="NLO", choices=fktable.ORDERS[:2])
    parser.add_argument("--cache", type=Path, default=None, help="output folder (default $MLHEP_CACHE/fktables)")
    parser.add_argument("--max-points", type=int, default=None, help="only the first N points (tests)")
    parser.add_argument("--force", action="store_true", help="rebuild tables that exist")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    for noisy in ("eko", "yadism"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    names = list(args.datasets) + (commondata.available_datasets() if args.all_dis else [])
    unknown = [n for n in names if n not in commondata.available_datasets()]
    if not names or unknown:
        print(f"unknown or no datasets {unknown} (valid: {', '.join(commondata.available_datasets())})")
        return 2
    start = time.perf_counter()
    status = build(names, args.order, args.cache, args.max_points, args.force)
    print(f"\n{'dataset':40s} status   ({args.order}, total {time.perf_counter() - start:.0f} s)")
    for name, what in status.items():
        print(f"{name:40s} {what}")
    return 0 if all(not s.startswith("FAILED") for s in status.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
