"""Replica selection after the fit, as NNPDF's ``postfit`` (validphys; Ball et al., arXiv:2109.02653, sec. 3.3.2).

A replica is discarded if (1) its PDFs fail positivity, (2) its chi2 per point to the (real) data exceeds
``chi2_threshold``, or (3) its arc-length in any fit-basis flavour lies more than ``arclength_sigma`` standard
deviations above the mean of the replicas that pass (1) and (2). Applied when reporting or exporting, over the
full (possibly merged) ensemble; nothing is stored.
"""
from __future__ import annotations

import numpy as np


def arc_lengths(x: np.ndarray, xf: np.ndarray) -> np.ndarray:
    """Arc-length of the curves x f(x): sum over segments of sqrt(dx^2 + d(xf)^2); x (n,), xf (..., n) -> (...)."""
    return np.sum(np.sqrt(np.diff(x) ** 2 + np.diff(xf, axis=-1) ** 2), axis=-1)


def select(chi2_per_point: np.ndarray, positive: np.ndarray, arclengths: np.ndarray, chi2_threshold: float,
           arclength_sigma: float) -> np.ndarray:
    """(R,) bool: accepted replicas. ``chi2_per_point`` (R,), ``positive`` (R,) bool, ``arclengths`` (R, 7)."""
    good = np.asarray(positive, dtype=bool) & (np.asarray(chi2_per_point) <= chi2_threshold)
    if good.sum() >= 2:
        mean, std = arclengths[good].mean(axis=0), arclengths[good].std(axis=0)
        outlier = np.any(arclengths > mean + arclength_sigma * np.maximum(std, 1e-300), axis=1)
        good &= ~outlier
    return good


def accepted(results, config) -> np.ndarray:
    """Accepted replicas of a pdf-fit results file (``mlhep.io.results.Results``) under its postfit settings."""
    rep = results.replicas
    ndata = float(np.sum(results.summary["ndata"]))
    chi2 = np.sum([rep[f"chi2_exp/{name}"] for name in _names(results)], axis=0) / ndata
    return select(chi2, rep["positivity/ok"].astype(bool), rep["arclength"], config.postfit.chi2_threshold,
                  config.postfit.arclength_sigma)


def _names(results) -> list[str]:
    return [str(n.decode() if isinstance(n, bytes) else n) for n in np.atleast_1d(results.summary["datasets"])]
