"""Learned ratios of the trained replicas on grids and events, and their accuracy against the exact ratio."""
from __future__ import annotations

from typing import Any

import jax
import numpy as np

from mlhep.tasks.eft.unbinned.model import RatioModel
from mlhep.tasks.eft.unbinned.physics import Spectrum, exact_alpha_beta


def learned_alpha_beta(model: RatioModel, params: Any, events: np.ndarray, chunk: int = 200_000
                       ) -> tuple[np.ndarray, np.ndarray]:
    """(alpha, beta), each (R, n), of the R stacked replica ``params`` at events (n, 2) (m_tt, y_tt)."""
    apply = jax.jit(jax.vmap(model.alpha_beta, in_axes=(0, None)))
    alphas, betas = [], []
    for start in range(0, max(len(events), 1), chunk):
        a, b = apply(params, model.standardise(events[start:start + chunk]))
        alphas.append(np.asarray(a, dtype=float))
        betas.append(np.asarray(b, dtype=float))
    return np.concatenate(alphas, axis=1), np.concatenate(betas, axis=1)


def on_cells(model: RatioModel, params: Any, spectrum: Spectrum) -> tuple[np.ndarray, np.ndarray]:
    """Learned (alpha, beta), each (R, n_m, n_y), at the centres of the integration cells."""
    m, y = spectrum.cell_centres()
    a, b = learned_alpha_beta(model, params, np.stack([m.ravel(), y.ravel()], axis=1))
    return a.reshape(-1, *m.shape), b.reshape(-1, *m.shape)


def exact_on_cells(spectrum: Spectrum) -> tuple[np.ndarray, np.ndarray]:
    """Exact (alpha, beta), each (n_m, n_y), at the cell centres (= ratios of the midpoint cell sigmas)."""
    sm = spectrum.cell_sigma[0]
    return spectrum.cell_sigma[1] / sm, spectrum.cell_sigma[2] / sm


def ratio_test_grid(spectrum: Spectrum, n_m: int, n_y: int) -> tuple[np.ndarray, np.ndarray]:
    """(m_tt, y_tt), each (n_m, n_y): m_tt log-spaced over the range, y_tt = u Y(m_tt) with u in [-0.9, 0.9]."""
    m = np.geomspace(2.0 * spectrum.m_t * 1.002, spectrum.m_max, n_m)
    u = np.linspace(-0.9, 0.9, n_y)
    return m[:, None] * np.ones(n_y), u[None, :] * np.log(spectrum.sqrts / m)[:, None]


def exact_on_points(spectrum: Spectrum, m: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    a, b = exact_alpha_beta(spectrum, m, y)
    return np.asarray(a), np.asarray(b)


def bulk_mask(sm_cells: np.ndarray, fraction: float) -> np.ndarray:
    """The highest-density cells holding ``fraction`` of the SM cross section (bool, shape of ``sm_cells``)."""
    density = sm_cells.ravel()
    order = np.argsort(density)[::-1]
    cumulative = np.cumsum(density[order]) / density.sum()
    mask = np.zeros(density.size, dtype=bool)
    mask[order[:np.searchsorted(cumulative, fraction) + 1]] = True
    return mask.reshape(sm_cells.shape)


def ratio_accuracy(spectrum: Spectrum, alpha: np.ndarray, beta: np.ndarray, c_values, bulk: np.ndarray
                   ) -> dict[str, np.ndarray]:
    """Accuracy of learned ratios (R, n_m, n_y) on the cells, at each c in ``c_values`` (K,).

    Returns per replica (R, K): ``mean`` the SM-weighted mean of |r_learned / r_exact - 1| over the bulk,
    ``q90`` its 90% quantile over the bulk cells, ``max`` its maximum over the bulk; and (R,) ``alpha``: the
    SM-weighted mean of |alpha_learned - alpha_exact| over the bulk relative to that of |alpha_exact|.
    """
    a_x, b_x = exact_on_cells(spectrum)
    w = np.where(bulk, spectrum.cell_sigma[0], 0.0)
    w = w / w.sum()
    w_tail = np.where(bulk, 0.0, spectrum.cell_sigma[0])
    w_tail = w_tail / max(w_tail.sum(), 1e-300)
    out = {"mean": [], "q90": [], "max": [], "tail_mean": []}
    for c in np.asarray(c_values, dtype=float):
        dev = np.abs((1 + c * alpha + c * c * beta) / (1 + c * a_x + c * c * b_x) - 1.0)
        out["mean"].append(np.sum(dev * w, axis=(1, 2)))
        out["q90"].append(np.quantile(dev[:, bulk], 0.9, axis=1))
        out["max"].append(np.max(dev[:, bulk], axis=1))
        out["tail_mean"].append(np.sum(dev * w_tail, axis=(1, 2)))
    result = {k: np.stack(v, axis=1) for k, v in out.items()}
    result["alpha"] = np.sum(np.abs(alpha - a_x) * w, axis=(1, 2)) / np.sum(np.abs(a_x) * w)
    return result


def y_averaged(spectrum: Spectrum, alpha: np.ndarray, beta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """SM-weighted averages over y_tt at each m_tt cell: (..., n_m, n_y) -> (..., n_m)."""
    w = spectrum.cell_sigma[0] / spectrum.cell_sigma[0].sum(axis=1, keepdims=True)
    return np.sum(alpha * w, axis=-1), np.sum(beta * w, axis=-1)
