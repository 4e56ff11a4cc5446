"""The arrays of one PDF fit: data, covariances, FK matrix, shared by every replica (float64, numpy)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from mlhep.errors import DataError
from mlhep.stats import checks
from mlhep.stats.chi2 import precision
from mlhep.stats.covariance import Uncertainties, covariance
from mlhep.tasks.pdf.model import FIT_BASIS


@dataclass(frozen=True)
class DatasetArrays:
    """One dataset after kinematic cuts: ``fktable`` (n, 7, nx) contracts with x f_a(x_k, Q0) on ``xgrid``."""

    name: str
    uncertainties: Uncertainties          # central (n,), stat, sys, treatments (mlhep.stats.covariance)
    fktable: np.ndarray                   # (n, 7, nx)
    xgrid: np.ndarray                     # (nx,)
    frac: float = 0.75
    kinematics: dict[str, np.ndarray] = field(default_factory=dict)   # e.g. x, Q2, y: each (n,)


@dataclass(frozen=True)
class PdfProblem:
    """Everything the replicas share. n = data points after cuts, k = active FK columns of (7, nx)."""

    names: tuple[str, ...]
    ndata: np.ndarray                     # (n_datasets,)
    groups: np.ndarray                    # (n,) dataset index of each point
    frac: np.ndarray                      # (n_datasets,) training fractions
    n_valid: int                          # validation points per replica (fixed by the fractions)
    central: np.ndarray                   # (n,) measured values
    cov_exp: np.ndarray                   # (n, n) experimental covariance (pseudo-data sampling, reporting)
    cov_t0: np.ndarray                    # (n, n) t0 covariance (training and validation loss)
    chol_exp: np.ndarray                  # (n, n) lower Cholesky factor of cov_exp
    precision_t0: np.ndarray              # (n, n) cov_t0^-1
    xgrid: np.ndarray                     # (nx,) FK x grid
    active: np.ndarray                    # (7 * nx,) bool: FK columns that are not all zero
    fk: np.ndarray                        # (n, k) FK matrix on the active columns
    fk_precision: np.ndarray              # (n, k) precision_t0 @ fk
    fk_gram: np.ndarray                   # (k, k) fk^T precision_t0 fk
    corr_groups: tuple[np.ndarray, ...]   # dataset indices of each block of mutually correlated datasets
    kinematics: dict[str, dict[str, np.ndarray]]
    t0_source: str = "lh_toy"
    q0: float = 1.65
    theory: Any = None                    # FK-table theory card (for evolution / LHAPDF metadata)
    seed: int = 0
    closure_truth: np.ndarray | None = None   # (7, nx) x f of the closure test's known PDF on xgrid, if any

    def predictions(self, xf: np.ndarray) -> np.ndarray:
        """Predictions (..., n) from x f (..., 7, nx) on ``xgrid``."""
        flat = np.asarray(xf).reshape(*np.shape(xf)[:-2], -1)[..., self.active]
        return flat @ self.fk.T

    def slices(self) -> list[slice]:
        edges = np.concatenate([[0], np.cumsum(self.ndata)])
        return [slice(int(a), int(b)) for a, b in zip(edges[:-1], edges[1:])]


def lh_toy_basis(x: np.ndarray) -> np.ndarray:
    """The Les Houches toy PDF (``mlhep.physics.lh_toy``) in FIT_BASIS, (7, nx): the t0 PDF, taken at Q0."""
    from mlhep.physics.evolution import flavours_to_fit_basis
    from mlhep.physics.lh_toy import lh_toy

    return flavours_to_fit_basis(lh_toy(x))


def common_xgrid(datasets: Sequence[DatasetArrays]) -> tuple[np.ndarray, list[np.ndarray]]:
    """The union of the datasets' x grids and, per dataset, the column of each of its x points in it."""
    union = np.unique(np.concatenate([d.xgrid for d in datasets]))
    return union, [np.searchsorted(union, d.xgrid) for d in datasets]


def correlated_groups(cov: np.ndarray, groups: np.ndarray, n_datasets: int) -> tuple[np.ndarray, ...]:
    """Connected components of datasets linked by non-zero covariance entries (e.g. the HERA sets)."""
    link = np.zeros((n_datasets, n_datasets), dtype=bool)
    rows, cols = np.nonzero(cov)
    link[groups[rows], groups[cols]] = True
    label = np.arange(n_datasets)
    for _ in range(n_datasets):   # label propagation to the smallest connected index
        label = np.array([label[link[i]].min() for i in range(n_datasets)])
    return tuple(np.flatnonzero(label == value) for value in np.unique(label))


def build_problem(datasets: Sequence[DatasetArrays], t0: str | np.ndarray = "lh_toy", q0: float = 1.65,
                  theory: Any = None, seed: int = 0) -> PdfProblem:
    """Stack datasets, put their FK tables on one x grid, build covariances and the FK projections.

    ``t0``: "lh_toy", "experimental" (no t0), or the t0 PDF itself, x f (7, nx) on the common x grid of the FK
    tables (e.g. the central PDF of an earlier fit).
    """
    xgrid, columns = common_xgrid(datasets)
    n_basis = len(FIT_BASIS)
    tables = []
    for d, cols in zip(datasets, columns):
        checks.require_finite(d.name, "FK table", d.fktable)    # NaN/inf from a broken table would reach chi2
        table = np.zeros((len(d.uncertainties.central), n_basis, len(xgrid)))
        table[:, :, cols] = d.fktable
        tables.append(table)
    full = np.concatenate(tables).reshape(-1, n_basis * len(xgrid))
    active = np.any(full != 0, axis=0)
    names = tuple(d.name for d in datasets)
    ndata = np.array([len(d.uncertainties.central) for d in datasets])
    groups = np.repeat(np.arange(len(datasets)), ndata)
    frac = np.array([d.frac for d in datasets], dtype=float)
    n_valid = int(np.sum(ndata - np.round(frac * ndata)))
    central = np.concatenate([d.uncertainties.central for d in datasets]).astype(float)
    blocks = [d.uncertainties for d in datasets]
    cov_exp = covariance(blocks)
    chol_exp = checks.cholesky(cov_exp, names, ndata)
    if isinstance(t0, str):
        t0_source, t0_pdf = t0, (lh_toy_basis(xgrid) if t0 == "lh_toy" else None)
    else:
        t0_source, t0_pdf = "fit", t0
    if t0_pdf is None:
        cov_t0 = cov_exp
    else:
        if np.shape(t0_pdf) != (n_basis, len(xgrid)):
            raise DataError(f"t0 PDF has shape {np.shape(t0_pdf)}, the FK tables need ({n_basis}, {len(xgrid)})")
        t0_pred = full @ np.asarray(t0_pdf, dtype=float).reshape(-1)
        cov_t0 = covariance(blocks, t0=[t0_pred[groups == i] for i in range(len(datasets))])
    try:
        precision_t0 = precision(cov_t0)
    except (np.linalg.LinAlgError, ValueError):     # ValueError: scipy refuses a non-finite matrix
        raise checks.singular(cov_t0, names, ndata) from None
    fk = full[:, active]
    fk_precision = precision_t0 @ fk
    return PdfProblem(
        names=names, ndata=ndata, groups=groups, frac=frac, n_valid=n_valid,
        central=central, cov_exp=cov_exp, cov_t0=cov_t0, chol_exp=chol_exp,
        precision_t0=precision_t0, xgrid=xgrid, active=active, fk=fk, fk_precision=fk_precision,
        fk_gram=fk.T @ fk_precision, corr_groups=correlated_groups(cov_exp, groups, len(datasets)),
        kinematics={d.name: dict(d.kinematics) for d in datasets}, t0_source=t0_source, q0=q0, theory=theory,
        seed=seed)
