"""1D and 2D chi2 scans of the free coefficients, profiled (others minimised) or with the others at zero.

Intervals from a 1D profile: the set where Delta chi2 <= 1 (68.3% CL) or 3.84 (95% CL) for one parameter;
2D contours at Delta chi2 = 2.30 and 5.99 (Wilks' theorem, Gaussian limit; PDG Statistics review, table 40.2).
All grid points of all scans run as one vmapped Newton minimisation (one compilation).
"""
from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np

from mlhep.engine.newton import minimise

DELTA_CHI2_1D = {68: 1.0, 95: 3.841}
DELTA_CHI2_2D = {68: 2.296, 95: 5.991}


def scan_ranges(best: np.ndarray, sigma: np.ndarray, lower: np.ndarray, upper: np.ndarray,
                width: float = 4.0) -> tuple[np.ndarray, np.ndarray]:
    """Scan range per coefficient: best +- width * sigma, inside the bounds (sigma inf -> the bounds, so a flat
    direction without bounds gets an infinite range: the caller refuses it, naming the coefficient)."""
    lo = np.where(np.isfinite(sigma), best - width * sigma, lower)
    hi = np.where(np.isfinite(sigma), best + width * sigma, upper)
    return np.maximum(lo, lower), np.minimum(hi, upper)


def profile(objective: Callable, start: np.ndarray, lower: np.ndarray, upper: np.ndarray,
            points: np.ndarray, frozen: np.ndarray, do_profile: bool, max_iterations: int = 100) -> np.ndarray:
    """chi2 at each point (P, F) whose ``frozen`` (P, F) bool coordinates are set, the others minimised from
    ``start`` (F,) (or set to zero when not ``do_profile``). Returns (P,) chi2; one jitted, vmapped call."""
    lower_j, upper_j, start_j = jnp.asarray(lower), jnp.asarray(upper), jnp.asarray(start)

    def one(point, mask):
        if not do_profile:
            return objective(jnp.where(mask, point, 0.0))
        x0 = jnp.where(mask, point, start_j)
        return minimise(objective, x0, lower_j, upper_j, mask, max_iterations=max_iterations).value

    return np.asarray(jax.jit(jax.vmap(one))(jnp.asarray(points), jnp.asarray(frozen)))


def scan_grids(start: np.ndarray, ranges, n_points: int, pairs: list[tuple[int, int]]):
    """All scan points at once: 1D grids for every coefficient, then P x P grids for every pair.

    Returns points (M, F), frozen masks (M, F), the 1D grids (F, P) and the 2D axes [(P,), (P,)] per pair.
    """
    lo, hi = ranges
    F = start.size
    grids = np.linspace(lo, hi, n_points).T                           # (F, P)
    points, frozen, axes = [], [], []
    for j in range(F):
        block = np.repeat(start[None, :], n_points, axis=0)
        block[:, j] = grids[j]
        mask = np.zeros((n_points, F), bool)
        mask[:, j] = True
        points.append(block)
        frozen.append(mask)
    for i, j in pairs:
        axis_i, axis_j = grids[i], grids[j]
        mesh_i, mesh_j = np.meshgrid(axis_i, axis_j, indexing="ij")
        block = np.repeat(start[None, :], n_points * n_points, axis=0)
        block[:, i], block[:, j] = mesh_i.ravel(), mesh_j.ravel()
        mask = np.zeros((n_points * n_points, F), bool)
        mask[:, [i, j]] = True
        points.append(block)
        frozen.append(mask)
        axes.append((axis_i, axis_j))
    return np.concatenate(points), np.concatenate(frozen), grids, axes


def run_scans(objective, start, lower, upper, ranges, n_points, pairs, do_profile):
    """1D profiles (F, P) of every coefficient and 2D profiles (K, P, P) of ``pairs``, as one batch."""
    points, frozen, grids, axes = scan_grids(start, ranges, n_points, pairs)
    chi2 = profile(objective, start, lower, upper, points, frozen, do_profile)
    F = start.size
    chi2_1d = chi2[:F * n_points].reshape(F, n_points)
    chi2_2d = chi2[F * n_points:].reshape(len(pairs), n_points, n_points)
    return grids, chi2_1d, axes, chi2_2d


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
