"""Positivity and integrability as Lagrange-multiplier penalties (NNPDF4.0, arXiv:2109.02653, sec. 3.1.3).

    L_pos = lambda_pos(epoch) * sum_{q, x} elu_1e-7(-x f_q(x, Q0)),   q in u, ubar, d, dbar, s, sbar, g
    L_int = lambda_int(epoch) * sum_{k, x} (x f_k(x, Q0))^2,            k in V, V3, V8, T3, T8

with n3fit's schedule lambda(epoch) = min(initial * growth^floor(epoch / every), maximum) (the schedule lives in
``trainable.PdfTrainable.multipliers``). The positivity x grid is that of NNPDF's
NNPDF_POS_2P24GEV_X* pseudo-datasets (10 log-spaced points in [5e-7, 0.1], 10 linear in [0.18, 0.9]); here the
PDFs are constrained at Q0 rather than at Q^2 = 5 GeV^2.
"""
from __future__ import annotations

from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from mlhep.tasks.pdf.model import BASIS_INDEX

POSITIVITY_X = np.concatenate([np.logspace(np.log10(5e-7), -1, 10), np.linspace(0.18, 0.9, 10)])
POSITIVE_FLAVOURS = ("u", "ubar", "d", "dbar", "s", "sbar", "g")
INTEGRABLE = ("V", "V3", "V8", "T3", "T8")
ELU_ALPHA = 1e-7


def evolution_to_flavour() -> np.ndarray:
    """(7, 7) matrix: (u, ubar, d, dbar, s, sbar, g) = M @ (Sigma, g, V, V3, V8, T3, T8) at Q0 (no heavy quarks)."""
    from mlhep.physics.evolution import PIDS, rotation_matrix

    return rotation_matrix()[[PIDS.index(pid) for pid in (2, -2, 1, -1, 3, -3, 21)]]


def positivity_penalty(xf_flavour: jax.Array) -> jax.Array:
    """sum elu(-x f) over flavours and x, ``xf_flavour`` (..., 7, n) -> (...); ~ -1e-7 * size when positive."""
    return jnp.sum(jax.nn.elu(-xf_flavour, alpha=ELU_ALPHA), axis=(-2, -1))


def integrability_penalty(xf_basis: jax.Array, flavours: Sequence[str] = INTEGRABLE) -> jax.Array:
    """sum (x f_k)^2 over k in ``flavours`` and the small-x points, ``xf_basis`` (..., 7, n) -> (...)."""
    rows = np.array([BASIS_INDEX[k] for k in flavours], dtype=int)
    return jnp.sum(xf_basis[..., rows, :] ** 2, axis=(-2, -1))


def is_positive(xf_flavour: jax.Array, threshold: float) -> jax.Array:
    """True where min over flavours and x of x f > -threshold; (..., 7, n) -> (...) bool."""
    return jnp.min(xf_flavour, axis=(-2, -1)) > -threshold
