"""Closure tests: fit fake data made from a known PDF through the same FK tables, and measure the result.

As in NNPDF's closure tests (Del Debbio et al., arXiv:2111.05787; NNPDF4.0, arXiv:2109.02653, sec. 6):

* level 0: the central values are the predictions of the truth, T = FK f_truth;
* level 1: plus ONE fluctuation drawn from the experimental covariance (NNPDF's ``filterseed``), the same for
  every replica; the Monte Carlo replicas then fluctuate around these level-1 data as around real data.

Multiplicative systematics keep their relative size (they follow the new central values, as in validphys);
additive and statistical uncertainties keep their absolute size.

Estimators, in data space with the experimental covariance C of N points and replica predictions T_r:

    bias     = (<T> - T_truth)^T C^-1 (<T> - T_truth) / N
    variance = < (T_r - <T>)^T C^-1 (T_r - <T>) >_r / N,       R_bv = sqrt(bias / variance)

A faithful uncertainty gives R_bv ~ 1 (the truth is as far from the central fit as the replicas are from it);
R_bv > 1 means underestimated uncertainties.
"""
from __future__ import annotations

import dataclasses
from typing import Sequence

import numpy as np

from mlhep.stats import checks
from mlhep.stats.chi2 import Whitening
from mlhep.stats.covariance import covariance
from mlhep.tasks.pdf.problem import DatasetArrays, common_xgrid


def truth_predictions(datasets: Sequence[DatasetArrays], truth: np.ndarray) -> list[np.ndarray]:
    """Per dataset, (n_d,) predictions FK x truth; ``truth`` x f (7, nx) on the common x grid of the datasets."""
    _, columns = common_xgrid(datasets)
    return [np.einsum("nak,ak->n", d.fktable, truth[:, cols]) for d, cols in zip(datasets, columns)]


def fake_datasets(datasets: Sequence[DatasetArrays], truth: np.ndarray, level: int,
                  seed: int) -> list[DatasetArrays]:
    """The datasets with their central values replaced by level-0 or level-1 closure data of ``truth``."""
    fake = []
    for d, prediction in zip(datasets, truth_predictions(datasets, truth)):
        checks.require_finite(d.name, "closure truth prediction (FK table x truth PDF)", prediction)
        u = d.uncertainties
        mult = np.array([t == "MULT" for t in u.treatment], dtype=bool)
        sys = u.sys.copy()
        ratio = np.divide(prediction, u.central, out=np.ones_like(prediction), where=u.central != 0)
        sys[:, mult] *= ratio[:, None]
        fake.append(dataclasses.replace(d, uncertainties=dataclasses.replace(u, central=prediction, sys=sys)))
    if level == 1:
        blocks = [d.uncertainties for d in fake]
        sizes = [len(b.central) for b in blocks]
        lower = checks.cholesky(covariance(blocks), [d.name for d in fake], sizes)
        noise = lower @ np.random.default_rng(seed).standard_normal(sum(sizes))
        edges = np.cumsum([0] + sizes)
        fake = [dataclasses.replace(d, uncertainties=dataclasses.replace(
                    d.uncertainties, central=d.uncertainties.central + noise[a:b]))
                for d, a, b in zip(fake, edges[:-1], edges[1:])]
    return fake


def bias_variance(predictions: np.ndarray, truth: np.ndarray, cov: np.ndarray) -> tuple[float, float]:
    """(bias, variance) per point of replica predictions (R, n) around the truth (n,) with covariance (n, n)."""
    whitening = Whitening.of(cov)
    mean = predictions.mean(axis=0)
    n = len(truth)
    bias = float(whitening.chi2(mean - truth)) / n
    variance = float(np.sum(whitening.chi2(predictions - mean))) / len(predictions) / n
    return bias, variance
