"""Parton densities at the factorisation scale, tabulated once and interpolated in jnp.

Two sources of the Les Houches benchmark toy PDF (Giele et al., hep-ph/0204316, sec. 1.3):

- ``lh_toy_evolved``: the toy evolved with eko to each scale (``mlhep.physics.lh_toy.lh_toy_at``);
- ``lh_toy_q0``: the unevolved toy at Q0^2 = 2 GeV^2 used at every scale (a scale-independent stand-in for
  development and tests; it gives a smaller tt̄ cross section than the evolved toy).

Tables hold x f(x, Q) of the 13 flavours (-6..-1, 21, 1..6) on a log-x grid and a log-Q grid; evaluation is
bilinear in (log x, log Q) of x f and returns number densities f = (x f) / x.
"""
from __future__ import annotations

from typing import NamedTuple

import jax.numpy as jnp
import numpy as np

PDF_SOURCES = ("lh_toy_evolved", "lh_toy_q0")


def lh_toy_unevolved_q0(x: np.ndarray) -> np.ndarray:
    """x f_i(x) of the Les Houches toy PDF at Q0^2 = 2 GeV^2; (n_x,) -> (13, n_x), order (-6..-1, 21, 1..6)."""
    from mlhep.physics.lh_toy import lh_toy
    return lh_toy(x)


class PdfTable(NamedTuple):
    """x f on a grid: ``log_x`` (n_x,), ``log_q`` (n_q,), ``xf`` (n_q, 13, n_x)."""

    log_x: jnp.ndarray
    log_q: jnp.ndarray
    xf: jnp.ndarray

    def __call__(self, x, mu):
        """Number densities f_i(x, mu), shape (13, *broadcast(x, mu).shape); mu in GeV, clamped to the grid."""
        x, mu = jnp.broadcast_arrays(jnp.asarray(x, dtype=float), jnp.asarray(mu, dtype=float))
        ix, wx = _bracket(self.log_x, jnp.log(x))
        if self.log_q.shape[0] == 1:
            rows = self.xf[0]
            values = rows[:, ix] * (1 - wx) + rows[:, ix + 1] * wx
        else:
            iq, wq = _bracket(self.log_q, jnp.log(mu))
            lo = self.xf[iq, :, ix] * (1 - wx)[..., None] + self.xf[iq, :, ix + 1] * wx[..., None]
            hi = self.xf[iq + 1, :, ix] * (1 - wx)[..., None] + self.xf[iq + 1, :, ix + 1] * wx[..., None]
            values = jnp.moveaxis(lo * (1 - wq)[..., None] + hi * wq[..., None], -1, 0)
        return jnp.maximum(values, 0.0) / x


def _bracket(grid, value):
    """Lower index i (0 <= i <= n-2) and weight w in [0, 1] of ``value`` between grid[i] and grid[i+1]."""
    i = jnp.clip(jnp.searchsorted(grid, value, side="right") - 1, 0, grid.shape[0] - 2)
    w = jnp.clip((value - grid[i]) / (grid[i + 1] - grid[i]), 0.0, 1.0)
    return i, w


def default_x_grid(x_min: float, n: int = 400) -> np.ndarray:
    """Log-spaced below x = 0.1, linear above, ending at x = 1 (where every toy density vanishes)."""
    n_log = n * 2 // 3
    low = np.geomspace(x_min, 0.1, n_log, endpoint=False)
    return np.concatenate([low, np.linspace(0.1, 1.0, n - n_log)])


def build_pdf_table(source: str, scales: np.ndarray, x_min: float, order: str = "LO") -> PdfTable:
    """Tabulate ``source`` (one of ``PDF_SOURCES``) at ``scales`` (GeV, ascending) on ``default_x_grid``;
    ``order`` of the DGLAP evolution for the evolved source."""
    x = default_x_grid(x_min)
    scales = np.atleast_1d(np.asarray(scales, dtype=float))
    if source == "lh_toy_q0":
        xf = lh_toy_unevolved_q0(x)[None]
        scales = scales[:1]
    elif source == "lh_toy_evolved":
        xf = _evolved_toy(scales, x, order)
    else:
        raise ValueError(f"unknown PDF source {source!r} (valid: {', '.join(PDF_SOURCES)})")
    return PdfTable(jnp.log(jnp.asarray(x)), jnp.log(jnp.asarray(scales)), jnp.asarray(xf))


def _evolved_toy(scales: np.ndarray, x: np.ndarray, order: str) -> np.ndarray:
    """x f of the eko-evolved toy (``mlhep.physics.lh_toy``, LO or NLO evolution) at each scale on grid ``x``:
    (n_q, 13, n_x). The evolution runs once per machine and is cached on disk by ``mlhep.physics.evolution``."""
    from mlhep.physics.lh_toy import lh_toy_at

    out = np.asarray(lh_toy_at([float(q) for q in scales], x, order=order), dtype=float)
    return out.reshape(len(scales), 13, len(x))
