"""Experimental covariance matrices from statistical and systematic uncertainties.

The convention is the one of NNPDF commondata and of the SMEFiT database (both use it):
every systematic column has a *treatment* (``ADD`` or ``MULT``) and a *name*:

- ``UNCORR`` / ``THEORYUNCORR``: uncorrelated between points (adds to the diagonal);
- ``CORR`` / ``THEORYCORR``: fully correlated between the points of its own dataset;
- ``SKIP``: ignored;
- any other name (e.g. ``ATLASLUMI12``): one source shared by every column of that name, in every dataset.

The t0 prescription (Ball et al., JHEP 05 (2010) 075, arXiv:0912.2276) rescales the multiplicative
systematics from the measured central value to a theory prediction, which removes the d'Agostini bias
of a chi2 that uses data-driven multiplicative errors.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from mlhep.stats.checks import InvalidData, point_list, require_finite

UNCORRELATED = frozenset({"UNCORR", "THEORYUNCORR"})
DATASET_CORRELATED = frozenset({"CORR", "THEORYCORR"})
IGNORED = frozenset({"SKIP"})


@dataclass(frozen=True)
class Uncertainties:
    """The uncertainties of one dataset.

    ``central`` (n,) measured values; ``stat`` (n,) absolute statistical errors; ``sys`` (n, k) absolute
    systematic shifts (signed); ``treatment`` and ``names`` (k,) as described in the module docstring.
    """

    dataset: str
    central: np.ndarray
    stat: np.ndarray
    sys: np.ndarray
    treatment: tuple[str, ...]
    names: tuple[str, ...]

    def __post_init__(self):
        n, k = len(self.central), len(self.treatment)
        sys = np.asarray(self.sys, dtype=float)
        if sys.size == n * k:            # also (n,) for one column, and (0, k) when cuts leave no point
            sys = sys.reshape(n, k)
        object.__setattr__(self, "sys", sys)
        if self.stat.shape != (n,) or sys.shape != (n, k) or len(self.names) != k:
            raise InvalidData(
                f"{self.dataset}: inconsistent shapes: central {self.central.shape}, stat {self.stat.shape}, "
                f"sys {sys.shape}, {k} treatments, {len(self.names)} names"
            )
        bad = set(self.treatment) - {"ADD", "MULT"}
        if bad:
            raise InvalidData(f"{self.dataset}: unknown systematic treatment {sorted(bad)} (valid: ADD, MULT)")
        require_finite(self.dataset, "central value", self.central)
        require_finite(self.dataset, "statistical error", self.stat)
        require_finite(self.dataset, "systematic error", sys)


def covariance(blocks: Sequence[Uncertainties], t0: Sequence[np.ndarray] | None = None) -> np.ndarray:
    """Full (n_total, n_total) covariance of the concatenated datasets, in float64.

    ``t0`` optionally holds one prediction array per block; multiplicative systematics are then rescaled
    by ``t0 / central`` point by point (the t0 covariance).
    """
    diagonal, columns, sources = [], [], []
    offset, n_total = 0, sum(len(b.central) for b in blocks)
    for index, block in enumerate(blocks):
        n = len(block.central)
        sys = block.sys.copy()
        if t0 is not None:
            sys = _rescaled_to_t0(block, np.asarray(t0[index], dtype=float))
        diag = block.stat.astype(float) ** 2
        for k, name in enumerate(block.names):
            if name in IGNORED:
                continue
            if name in UNCORRELATED:
                diag = diag + sys[:, k] ** 2
                continue
            column = np.zeros(n_total)
            column[offset:offset + n] = sys[:, k]
            columns.append(column)
            sources.append(f"{block.dataset}/{k}" if name in DATASET_CORRELATED else name)
        diagonal.append(diag)
        offset += n
    cov = np.diag(np.concatenate(diagonal)) if diagonal else np.zeros((0, 0))
    if columns:
        # Columns with the same source name are one nuisance parameter: sum them before the outer product.
        names, inverse = np.unique(np.array(sources), return_inverse=True)
        shifts = np.zeros((n_total, len(names)))
        np.add.at(shifts.T, inverse, np.array(columns))
        cov = cov + shifts @ shifts.T
    return cov


def _rescaled_to_t0(block: Uncertainties, t0: np.ndarray) -> np.ndarray:
    """The systematics (n, k) of ``block`` with the MULT columns scaled by ``t0 / central`` point by point."""
    require_finite(block.dataset, "t0 prediction", t0)
    if t0.shape != block.central.shape:
        raise InvalidData(f"{block.dataset}: {t0.shape[0] if t0.ndim else 0} t0 predictions for "
                          f"{len(block.central)} points")
    mult = np.array([t == "MULT" for t in block.treatment], dtype=bool)
    undefined = np.flatnonzero((block.central == 0) & np.any(block.sys[:, mult] != 0, axis=1))
    if undefined.size:
        raise InvalidData(f"{block.dataset}: central value 0 at point(s) {point_list(undefined)} with "
                          "multiplicative errors, which cannot be rescaled to the t0 predictions (use the "
                          "experimental covariance, or give those errors as ADD)")
    scale = np.divide(t0, block.central, out=np.ones_like(t0), where=block.central != 0)
    sys = block.sys.copy()
    sys[:, mult] *= scale[:, None]
    return sys
