"""Unweighted (m_tt, y_tt) events drawn from the exact d sigma(c) / d m_tt d y_tt by accept-reject.

Proposal: a piecewise-constant envelope on the (t = ln m_tt, u = y_tt / Y) integration cells, each cell's
height the maximum of d sigma / dt du over a 3 x 3 lattice of the cell times ``safety``; a cell is chosen with
probability proportional to its envelope volume, a point uniformly inside it, and kept with probability
density / envelope (von Neumann 1951). The kept events are exact samples of the density wherever the envelope
bounds it; points where it does not are counted and reported (``violations``; expected 0).
"""
from __future__ import annotations

from dataclasses import dataclass

import jax.numpy as jnp
import numpy as np

from mlhep.tasks.eft.unbinned.physics import Spectrum


@dataclass(frozen=True)
class EventSample:
    """``events`` (n, 2) columns (m_tt [GeV], y_tt); ``c``: the Wilson coefficient they were drawn at;
    ``acceptance`` of the accept-reject step; ``violations``: proposals where density > envelope."""

    events: np.ndarray
    c: float
    acceptance: float
    violations: int


def _density_tu(spectrum: Spectrum, c: float, t, u) -> np.ndarray:
    return np.asarray(spectrum.density_tu(jnp.asarray(t), jnp.asarray(u)).at(c))


def envelope(spectrum: Spectrum, c: float, safety: float = 1.25) -> np.ndarray:
    """Envelope heights (n_m, n_y) of d sigma(c) / dt du on the integration cells."""
    frac = np.array([0.0, 0.5, 1.0])
    t_lo, dt = spectrum.t_edges[:-1], np.diff(spectrum.t_edges)
    u_lo, du = spectrum.u_edges[:-1], np.diff(spectrum.u_edges)
    t = t_lo[:, None, None, None] + dt[:, None, None, None] * frac[None, None, :, None]
    u = u_lo[None, :, None, None] + du[None, :, None, None] * frac[None, None, None, :]
    t, u = np.broadcast_arrays(t, u)
    values = _density_tu(spectrum, c, t, u)
    return safety * values.max(axis=(2, 3))


def sample_events(spectrum: Spectrum, c: float, n: int, rng: np.random.Generator,
                  batch: int = 100_000) -> EventSample:
    """``n`` unweighted events of d sigma(c) / d m_tt d y_tt inside the spectrum's (m_tt, y_tt) range."""
    env = envelope(spectrum, c)
    dt, du = np.diff(spectrum.t_edges), np.diff(spectrum.u_edges)
    volume = (env * dt[:, None] * du[None, :]).ravel()
    prob = volume / volume.sum()
    kept, proposed, violations, n_kept = [], 0, 0, 0
    while n_kept < n:
        cells = rng.choice(prob.size, size=batch, p=prob)
        i, j = np.unravel_index(cells, env.shape)
        t = spectrum.t_edges[i] + dt[i] * rng.random(batch)
        u = spectrum.u_edges[j] + du[j] * rng.random(batch)
        ratio = _density_tu(spectrum, c, t, u) / env[i, j]
        violations += int(np.sum(ratio > 1.0))
        accept = rng.random(batch) < ratio
        m = np.exp(t[accept])
        kept.append(np.stack([m, u[accept] * np.log(spectrum.sqrts / m)], axis=1))
        n_kept += int(accept.sum())
        proposed += batch
    events = np.concatenate(kept)[:n] if kept else np.zeros((0, 2))
    return EventSample(events, float(c), n_kept / max(proposed, 1), violations)
