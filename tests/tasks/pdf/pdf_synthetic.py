"""Synthetic DIS-like FK tables made by the tests themselves (no external data): shapes as the real ones,
(n, 7 fit-basis flavours, nx), contracting with x f_a(x_k, Q0).

Observables (at Q0, leading-order parton model, plus one gluon-driven scaling-violation observable):
  F2p = 2/9 Sigma + 1/6 T3 + 1/18 T8,  F2d = 2/9 Sigma + 1/18 T8,  xF3 ~ V + 1/3 V3 (nu - nubar like),
  dF2/dlnQ2 ~ a_s/(2 pi) * 2/9 * int_x^1 dz/z P_qg(x/z) (x/z) ... g  (gluon sensitivity).
Interpolation of x f between grid nodes is piecewise linear in ln x.
"""
from __future__ import annotations

import numpy as np

from mlhep.stats.covariance import Uncertainties
from mlhep.tasks.pdf.model import BASIS_INDEX
from mlhep.tasks.pdf.problem import DatasetArrays
from mlhep.tasks.pdf.problem import lh_toy_basis

XGRID = np.concatenate([np.logspace(-5, -1, 20, endpoint=False), np.linspace(0.1, 0.95, 18)])


def interpolation(xgrid: np.ndarray, x: np.ndarray) -> np.ndarray:
    """(len(x), nx) weights: x f(x) = W @ x f(xgrid), linear in ln x."""
    w = np.zeros((len(x), len(xgrid)))
    lg = np.log(xgrid)
    for i, xi in enumerate(np.log(x)):
        j = np.clip(np.searchsorted(lg, xi) - 1, 0, len(xgrid) - 2)
        t = (xi - lg[j]) / (lg[j + 1] - lg[j])
        w[i, j], w[i, j + 1] = 1 - t, t
    return w


def _gluon_kernel(xgrid: np.ndarray, x: np.ndarray) -> np.ndarray:
    """(len(x), nx): int_x^1 dz/z P_qg(x/z) * (x/z)... acting on z g(z): 0.1 * sum_z w (x/z) P(x/z) zg(z)/z."""
    rows = []
    for xi in x:
        t, wt = np.polynomial.legendre.leggauss(40)
        lz = 0.5 * (np.log(xi) * (1 - t))          # ln z from ln x to 0
        z = np.exp(lz)
        wz = 0.5 * (-np.log(xi)) * wt              # d ln z
        y = xi / z
        p_qg = y ** 2 + (1 - y) ** 2
        rows.append(0.1 * (wz * y * p_qg) @ interpolation(xgrid, np.minimum(z, xgrid[-1])))
    return np.array(rows)


def fktable(kind: str, x: np.ndarray, xgrid: np.ndarray = XGRID) -> np.ndarray:
    """(n, 7, nx) synthetic FK table of observable ``kind`` at the points x."""
    i = BASIS_INDEX
    coeff = {"F2p": {"Sigma": 2 / 9, "T3": 1 / 6, "T8": 1 / 18}, "F2d": {"Sigma": 2 / 9, "T8": 1 / 18},
             "xF3": {"V": 1.0, "V3": 1 / 3}, "dF2": {}}[kind]
    table = np.zeros((len(x), 7, len(xgrid)))
    w = interpolation(xgrid, x)
    for name, c in coeff.items():
        table[:, i[name], :] = c * w
    if kind in ("F2p", "dF2"):
        table[:, i["g"], :] = _gluon_kernel(xgrid, x) * (1.0 if kind == "dF2" else 0.3)
    return table


def dataset(kind: str, x: np.ndarray, rng: np.random.Generator, stat: float = 0.02, norm: float = 0.015,
            truth: np.ndarray | None = None, fluctuate: bool = True, frac: float = 0.75) -> DatasetArrays:
    """A synthetic dataset: central = FK @ truth (LH toy by default), optionally fluctuated (level-1 closure),
    with ``stat`` relative uncorrelated and ``norm`` relative fully correlated (MULT) uncertainties."""
    table = fktable(kind, x)
    truth = lh_toy_basis(XGRID) if truth is None else truth
    theory = np.einsum("nak,ak->n", table, truth)
    stat_abs = stat * np.abs(theory)
    sys = (norm * theory)[:, None]
    central = theory
    if fluctuate:
        central = theory + rng.normal(size=len(x)) * stat_abs + rng.normal() * sys[:, 0]
    unc = Uncertainties(kind, central, stat_abs, sys, ("MULT",), ("CORR",))
    return DatasetArrays(kind, unc, table, XGRID, frac, {"x": x})


def closure_datasets(seed: int = 0, fluctuate: bool = True, stat_scale: float = 1.0) -> list[DatasetArrays]:
    """F2p, F2d, xF3 and dF2 pseudo-measurements of the LH toy (level 1 if ``fluctuate``)."""
    rng = np.random.default_rng(seed)
    s = stat_scale
    return [dataset("F2p", np.logspace(-4, np.log10(0.7), 60), rng, stat=0.02 * s, fluctuate=fluctuate),
            dataset("F2d", np.logspace(-2, np.log10(0.7), 40), rng, stat=0.02 * s, fluctuate=fluctuate),
            dataset("xF3", np.logspace(-2, np.log10(0.7), 40), rng, stat=0.05 * s, fluctuate=fluctuate),
            dataset("dF2", np.logspace(-4, -1, 30), rng, stat=0.03 * s, fluctuate=fluctuate)]


def fake_fktable_loader(kind: str = "F2p", xgrid: np.ndarray = XGRID, poison: dict[str, float] | None = None):
    """A stand-in for ``mlhep.tasks.pdf.fktable.load_fktable`` (monkeypatch it) that needs no theory build: a
    synthetic FK table of ``kind`` at the real x of every point of the dataset, Q0 = 1.65 GeV, the theory card
    of the order. ``poison`` {dataset: value} fills that dataset's table with the value (e.g. NaN, inf), as a
    broken table would."""
    from mlhep.tasks.pdf import commondata
    from mlhep.tasks.pdf.fktable import FKTable
    from mlhep.physics.theorycard import theory_card

    def load(dataset: str, order: str, cache=None) -> FKTable:
        x = commondata.load_dataset(dataset, q2min=0.0, w2min=0.0).kinematics["x"]
        table = fktable(kind, np.clip(x, xgrid[0], xgrid[-1]), xgrid)
        if poison and dataset in poison:
            table[:] = poison[dataset]
        return FKTable(dataset, order, xgrid, table, 1.65, theory_card(order))
    return load
