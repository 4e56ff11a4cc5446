"""Run pyBumpHunter 0.5.1 (Vaslin et al., arXiv:2208.14760) on a given histogram and background reference: the
reference side of the BumpHunter timing in ``scripts/bench_bumphunt.py``. Runs in pyBumpHunter's own environment
(``make pybumphunter-venv``), never in mlhep's:

    <pybumphunter-venv>/bin/python scripts/pybumphunter_reference.py input.npz output.npz

input.npz: ``edges`` (n + 1,) bin edges; ``counts`` (n,) the observed histogram; ``background`` (n,) the
reference; scalars ``width_min``, ``width_max`` (window widths in bins, every width in between, windows sliding by
one bin), ``npe`` (pseudo-experiments), ``seed``, ``nworker`` (pyBumpHunter's threads).
output.npz: ``t`` (npe + 1,) the test statistic of the data (first) and of each pseudo-experiment; ``loc``,
``width`` (bins) and ``p_local`` of the data's most significant window; ``global_p``; ``seconds`` (wall time of
``bump_scan`` alone: the pseudo-experiments' Poisson draws and every window's p-value); ``version``.
"""
from __future__ import annotations

import contextlib
import io
import sys
import time

import numpy as np
import pyBumpHunter
from pyBumpHunter.version import __version__


def main(source: str, target: str) -> None:
    given = np.load(source)
    edges = given["edges"]
    hunter = pyBumpHunter.BumpHunter1D(rang=(float(edges[0]), float(edges[-1])), bins=edges, mode="excess",
                                       width_min=int(given["width_min"]), width_max=int(given["width_max"]),
                                       width_step=1, scan_step=1, npe=int(given["npe"]), nworker=int(given["nworker"]),
                                       seed=int(given["seed"]))
    with contextlib.redirect_stdout(io.StringIO()):     # it prints its progress
        start = time.perf_counter()
        hunter.bump_scan(given["counts"], given["background"], is_hist=True)
        seconds = time.perf_counter() - start
    np.savez(target, t=np.asarray(hunter.t_ar, dtype=np.float64), loc=int(hunter.min_loc_ar[0]),
             width=int(hunter.min_width_ar[0]), p_local=float(hunter.min_Pval_ar[0]),
             global_p=float(hunter.global_Pval), seconds=seconds, version=__version__)


if __name__ == "__main__":
    main(*sys.argv[1:3])
