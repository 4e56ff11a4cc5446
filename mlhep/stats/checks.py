"""Checks of what enters a covariance or a chi2: a :class:`DataError` naming the dataset and its points,
instead of NaN results or a ``LinAlgError`` from deep inside numpy."""
from __future__ import annotations

from typing import Sequence

import numpy as np

from mlhep.errors import DataError


class InvalidData(DataError, ValueError):
    """Data that cannot enter a covariance or chi2. Also a ValueError, which callers of
    :class:`~mlhep.stats.covariance.Uncertainties` caught before it became a DataError."""


def point_list(indices: Sequence[int], limit: int = 5) -> str:
    """'0, 3, 7' or '0, 3, 7, 9, 12 and 40 more' for 0-based point indices."""
    shown = ", ".join(str(int(i)) for i in indices[:limit])
    return shown + (f" and {len(indices) - limit} more" if len(indices) > limit else "")


def require_finite(dataset: str, what: str, values) -> None:
    """:class:`InvalidData` if ``values`` (n, ...) holds NaN or infinity, naming ``dataset`` and the points."""
    error = _not_finite(dataset, what, values)
    if error:
        raise error


def cholesky(cov: np.ndarray, names: Sequence[str], sizes: Sequence[int]) -> np.ndarray:
    """Lower Cholesky factor of ``cov`` (n, n), the covariance of consecutive datasets ``names`` of ``sizes``
    points; :class:`InvalidData` naming the dataset whose block is not finite or not positive definite."""
    if np.isfinite(cov).all():
        try:
            return np.linalg.cholesky(cov)
        except np.linalg.LinAlgError:
            pass
    raise singular(cov, names, sizes)


def singular(cov: np.ndarray, names: Sequence[str], sizes: Sequence[int]) -> InvalidData:
    """The error to raise when ``cov`` could not be factorised: it names the first dataset whose block is not
    finite or not positive definite, else the correlations between the datasets."""
    edges = np.concatenate([[0], np.cumsum(np.asarray(sizes, dtype=int))])
    blocks = [(name, cov[a:b, a:b], cov[a:b]) for name, a, b in zip(names, edges[:-1], edges[1:])]
    for name, block, rows in blocks:
        error = _not_finite(name, "its covariance", rows) or _not_positive_definite(name, block)
        if error:
            return error
    return InvalidData(f"the covariance of {', '.join(names)} is not positive definite although each dataset's "
                       "own block is: the systematics they share make it singular")


def _not_finite(dataset: str, what: str, values) -> InvalidData | None:
    values = np.asarray(values, dtype=float)
    if not values.size or np.isfinite(values).all():
        return None
    bad = np.flatnonzero(~np.isfinite(values.reshape(len(values), -1)).all(axis=1))
    return InvalidData(f"{dataset}: {what} is not finite (NaN or infinite) at point(s) {point_list(bad)} "
                       "(0-based, after cuts)")


def _not_positive_definite(name: str, block: np.ndarray) -> InvalidData | None:
    zero = np.flatnonzero(np.diag(block) <= 0)
    if zero.size:
        return InvalidData(f"{name}: zero uncertainty at point(s) {point_list(zero)} (0-based, after cuts), so "
                           "its covariance is singular: every point needs a non-zero statistical or systematic "
                           "error")
    try:
        np.linalg.cholesky(block)
    except np.linalg.LinAlgError:
        return InvalidData(f"{name}: covariance is singular (rank {np.linalg.matrix_rank(block)} for "
                           f"{len(block)} points): correlated errors alone cannot be inverted, every point needs "
                           "an uncorrelated (statistical or UNCORR) error")
    return None
