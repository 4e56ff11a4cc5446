"""1D and 2D chi2 scans of the free coefficients, profiled (others minimised) or with the others at zero.

Intervals from a 1D profile: the set where Delta chi2 <= 1 (68.3% CL) or 3.84 (95% CL) for one parameter;
2D contours at Delta chi2 = 2.30 and 5.99 (Wilks' theorem, Gaussian limit; PDG Statistics review, table 40.2).
All grid points of all scans run as one vmapped Newton minimisation.
"""
from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np

from .newton import minimise

DELTA_CHI2_1D = {68: 1.0, 95: 3.841}
DELTA_CHI2_2D = {68: 2.296, 95: 5.991}


def scan_ranges(best: np.ndarray, sigma: np.ndarray, lower: np.ndarray, upper: np.ndarray,
                width: float = 4.0) -> tuple[np.ndarray, np.ndarray]:
    """Scan range per coefficient: best +- width * sigma, inside the bounds (sigma inf -> the bounds)."""
    lo = np.where(np.isfinite(sigma), best - width * sigma, lower)
    hi = np.where(np.isfinite(sigma), best + width * sigma, upper)
    lo, hi = np.maximum(lo, lower), np.minimum(hi, upper)
    if not (np.all(np.isfinite(lo)) and np.all(np.isfinite(hi))):
        raise ValueError("a flat direction without min/max bounds cannot be scanned: give min and max")
    return lo, hi


def profile(objective: Callable, start: np.ndarray, lower: np.ndarray, upper: np.ndarray,
            points: np.ndarray, frozen: np.ndarray, do_profile: bool, max_iterations: int = 100) -> np.ndarray:
    """chi2 at each point (P, F) whose ``frozen`` (F,) bool coordinates are set, the rest minimised from
    ``start`` (F,) (or set to zero when not ``do_profile``). Returns (P,) chi2."""
    frozen_j = jnp.asarray(frozen)
    lower_j, upper_j = jnp.asarray(lower), jnp.asarray(upper)

    def one(point):
        if not do_profile:
            return objective(jnp.where(frozen_j, point, 0.0))
        x0 = jnp.where(frozen_j, point, jnp.asarray(start))
        return minimise(objective, x0, lower_j, upper_j, frozen_j, max_iterations=max_iterations).value

    return np.asarray(jax.jit(jax.vmap(one))(jnp.asarray(points)))


def scan_1d(objective, start, lower, upper, ranges, n_points, do_profile) -> tuple[np.ndarray, np.ndarray]:
    """For every free coefficient j: grid (F, P) and chi2 (F, P) with coefficient j set and the others profiled."""
    lo, hi = ranges
    F = start.size
    grids = np.linspace(lo, hi, n_points).T                       # (F, P)
    chi2 = np.empty((F, n_points))
    for j in range(F):
        points = np.repeat(start[None, :], n_points, axis=0)
        points[:, j] = grids[j]
        frozen = np.zeros(F, bool)
        frozen[j] = True
        chi2[j] = profile(objective, start, lower, upper, points, frozen, do_profile)
    return grids, chi2


def scan_2d(objective, start, lower, upper, ranges, pair: tuple[int, int], n_points,
            do_profile) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Grid axes (P,), (P,) and chi2 (P, P) (first index: first coefficient) for one pair of free indices."""
    (lo, hi), (i, j) = ranges, pair
    axis_i, axis_j = np.linspace(lo[i], hi[i], n_points), np.linspace(lo[j], hi[j], n_points)
    mesh_i, mesh_j = np.meshgrid(axis_i, axis_j, indexing="ij")
    points = np.repeat(start[None, :], n_points * n_points, axis=0)
    points[:, i], points[:, j] = mesh_i.ravel(), mesh_j.ravel()
    frozen = np.zeros(start.size, bool)
    frozen[[i, j]] = True
    chi2 = profile(objective, start, lower, upper, points, frozen, do_profile)
    return axis_i, axis_j, chi2.reshape(n_points, n_points)


def interval_from_scan(grid: np.ndarray, chi2: np.ndarray, delta: float) -> tuple[float, float]:
    """[lo, hi] where chi2 - min(chi2) <= delta, edges linearly interpolated; nan when the grid is too short."""
    d = chi2 - np.min(chi2)
    inside = np.flatnonzero(d <= delta)
    first, last = inside[0], inside[-1]

    def crossing(a, b):
        return grid[a] + (delta - d[a]) * (grid[b] - grid[a]) / (d[b] - d[a])

    lo = crossing(first, first - 1) if first > 0 else np.nan
    hi = crossing(last, last + 1) if last < grid.size - 1 else np.nan
    return float(lo), float(hi)
