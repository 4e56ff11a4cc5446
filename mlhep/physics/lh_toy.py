"""The Les Houches benchmark toy PDF (Giele et al., hep-ph/0204316, sec. 1.3; Dittmar et al., hep-ph/0511119).

At mu_0^2 = 2 GeV^2:
    x u_v = 5.1072 x^0.8 (1-x)^3,       x d_v = 3.06432 x^0.8 (1-x)^4,     x g = 1.7 x^-0.1 (1-x)^5,
    x dbar = 0.1939875 x^-0.1 (1-x)^6,  x ubar = (1-x) x dbar,            x s = x sbar = 0.2 x (ubar + dbar),
no charm or bottom, alpha_s(mu_0^2 = 2 GeV^2) = 0.35. The normalisations give N(u_v) = 2, N(d_v) = 1 and a
momentum fraction of 1. Benchmark settings of the variable-flavour-number (ZM-VFNS) tables: m_c = mu_0 = sqrt 2,
m_b = 4.5, m_t = 175 GeV, mu_R = mu_F, the "exact" (iterated) solution, the tables at mu_F^2 = 10^4 GeV^2.

Evolution uses :mod:`mlhep.physics.evolution` with the card :func:`lh_theory` on the grid :func:`lh_xgrid`
(down to x = 1e-7, where the evolved gluon still carries momentum at the 1e-4 level).
"""
from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

from mlhep.physics.evolution import PIDS, evolution_operator, flavours_to_fit_basis

Q0 = math.sqrt(2.0)


def lh_theory(order: str = "NLO") -> dict:
    """NNPDF-style theory card of the LH ZM-VFNS benchmark at ``order`` (LO or NLO)."""
    pto = {"LO": 0, "NLO": 1}[order]
    return {
        "ID": f"LH-benchmark-ZMVFNS-{order}", "PTO": pto, "FNS": "ZM-VFNS", "ModEv": "EXA", "Q0": Q0, "nf0": 4,
        "alphas": 0.35, "Qref": Q0, "nfref": 4, "QED": 0, "alphaqed": 0.007496252, "HQ": "POLE",
        "mc": Q0, "kcThr": 1.0, "mb": 4.5, "kbThr": 1.0, "mt": 175.0, "ktThr": 1.0, "MaxNfPdf": 6, "MaxNfAs": 6,
        "XIF": 1.0, "XIR": 1.0, "IC": 0,
    }


def lh_xgrid() -> np.ndarray:
    """35 points log-spaced in [1e-7, 0.1) and 15 linear in [0.1, 1]."""
    return np.concatenate([np.geomspace(1e-7, 0.1, 35, endpoint=False), np.linspace(0.1, 1.0, 15)])


def lh_nodes(order: str = "NLO") -> list[tuple[float, int]]:
    """eko scales for the toy: 5 per flavour patch between Q0 and 10 TeV."""
    from mlhep.physics.evolution import node_grid

    return node_grid(lh_theory(order), q_max=1.0e4, per_patch=5)


def lh_toy(x) -> np.ndarray:
    """x f per pid (PIDS order) at mu_0^2 = 2 GeV^2; shape (13, len(x))."""
    x = np.asarray(x, dtype=float)
    xuv = 5.1072 * x**0.8 * (1 - x) ** 3
    xdv = 3.06432 * x**0.8 * (1 - x) ** 4
    xg = 1.7 * x**-0.1 * (1 - x) ** 5
    xdbar = 0.1939875 * x**-0.1 * (1 - x) ** 6
    xubar = (1 - x) * xdbar
    xs = 0.2 * (xubar + xdbar)
    out = np.zeros((13,) + x.shape)
    for pid, values in {-3: xs, -2: xubar, -1: xdbar, 21: xg, 1: xdv + xdbar, 2: xuv + xubar, 3: xs}.items():
        out[PIDS.index(pid)] = values
    return out


def lh_cache_ready(order: str = "NLO") -> bool:
    """True if the eko node operators of the toy at ``order`` are in the theory bundle or the cache (else the
    first call runs eko)."""
    from mlhep.physics.evolution import stored_node_operators

    return stored_node_operators(lh_theory(order), lh_xgrid(), lh_nodes(order)).is_file()


@lru_cache(maxsize=8)
def _operator(q_values: tuple[float, ...], xgrid_out: tuple[float, ...], order: str) -> np.ndarray:
    return evolution_operator(lh_xgrid(), q_values, lh_theory(order), xgrid_out=np.array(xgrid_out),
                              nodes=lh_nodes(order))


def lh_toy_at(q, xgrid, order: str = "NLO") -> np.ndarray:
    """x f per pid of the toy evolved to scale(s) ``q`` (GeV) on ``xgrid``: (13, nx), or (nq, 13, nx) for a list.

    The first call runs eko for the node scales (tens of minutes at NLO on one core); later calls read the
    cache (see :mod:`mlhep.physics.evolution`).
    """
    scalar = np.ndim(q) == 0
    qs = tuple(float(v) for v in np.atleast_1d(q))
    op = _operator(qs, tuple(float(v) for v in np.asarray(xgrid, dtype=float)), order)
    xf0 = flavours_to_fit_basis(lh_toy(lh_xgrid()))
    out = np.einsum("qfoak,ak->qfo", op, xf0)
    return out[0] if scalar else out
