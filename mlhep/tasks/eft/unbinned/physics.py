"""The exact tt̄ + c_tG spectrum of one run: d sigma / d m_tt d y_tt on grids, rates, exact ratios.

Coordinates: an event is x = (m_tt, y_tt) with 2 m_t < m_tt < m_tt_max and |y_tt| < Y(m) = ln(sqrt(S)/m_tt).
Integration and sampling use t = ln m_tt and u = y_tt / Y(m) in [-1, 1], where
d sigma / dt du = m_tt Y(m_tt) d sigma / d m_tt d y_tt. The per-event ratio is exact:

    r(x, c) = d sigma(x, c) / d sigma_SM(x) = 1 + c alpha(x) + c^2 beta(x),
    alpha = d sigma_lin / d sigma_SM,  beta = d sigma_quad / d sigma_SM.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from mlhep.physics import ttbar_ctg
from mlhep.physics.ttbar_ctg import Coefficients
from mlhep.tasks.eft.unbinned.config import UnbinnedConfig
from mlhep.tasks.eft.unbinned.pdf_table import PdfTable, build_pdf_table

PB_PER_INVERSE_FB = 1000.0        # 1 fb^-1 = 1000 pb^-1
CHUNK = 16384                     # points per call of the jitted density kernel


@dataclass(frozen=True)
class Spectrum:
    """Everything exact about one run's tt̄ distribution.

    ``pdf``: the PDF table; ``sqrts``, ``m_t``, ``m_max`` (GeV); ``mu_f`` choice; ``rate_per_pb``: events per pb
    (luminosity x efficiency); ``t_edges`` (n_m+1,), ``u_edges`` (n_y+1,) the integration cells; ``cell_sigma``
    (3, n_m, n_y): sm/lin/quad cross sections of each cell (pb, midpoint rule); ``sigma`` (3,): totals (pb).
    """

    pdf: PdfTable
    sqrts: float
    m_t: float
    alpha_s: float
    vev: float
    lambda_np: float
    mu_f: str
    mu_f_fixed: float
    m_max: float
    rate_per_pb: float
    t_edges: np.ndarray
    u_edges: np.ndarray
    cell_sigma: np.ndarray
    sigma: np.ndarray

    def density(self, m_tt, y_tt) -> Coefficients:
        """d sigma / d m_tt d y_tt (pb/GeV) coefficients at events (m_tt, y_tt) of any common shape.

        Evaluated by one jitted kernel on padded chunks of ``CHUNK`` points (one compilation per run)."""
        m_tt, y_tt = np.broadcast_arrays(np.asarray(m_tt, dtype=float), np.asarray(y_tt, dtype=float))
        shape, m_flat, y_flat = m_tt.shape, m_tt.ravel(), y_tt.ravel()
        n_pad = -len(m_flat) % CHUNK
        m_flat = np.concatenate([m_flat, np.full(n_pad, 2.0 * self.m_max)])
        y_flat = np.concatenate([y_flat, np.zeros(n_pad)])
        parts = [_density(self.pdf, self.sqrts, self.m_t, self.alpha_s, self.vev, self.lambda_np, self.mu_f,
                          self.mu_f_fixed, m_flat[i:i + CHUNK], y_flat[i:i + CHUNK])
                 for i in range(0, len(m_flat), CHUNK)]
        return Coefficients(*(jnp.concatenate([p[k] for p in parts])[:m_tt.size].reshape(shape)
                              for k in range(3)))

    def density_tu(self, t, u) -> Coefficients:
        """d sigma / dt du (pb) coefficients at (t = ln m_tt, u = y_tt / Y)."""
        m = jnp.exp(t)
        y_max = jnp.log(self.sqrts / m)
        return Coefficients(*(d * m * y_max for d in self.density(m, u * y_max)))

    def expected_events(self, c) -> np.ndarray:
        """nu(c) = L eff sigma(c) for an array of c values."""
        c = np.asarray(c, dtype=float)
        return self.rate_per_pb * (self.sigma[0] + c * self.sigma[1] + c * c * self.sigma[2])

    def cell_centres(self) -> tuple[np.ndarray, np.ndarray]:
        """(m_tt, y_tt) at the centres of the integration cells, each (n_m, n_y)."""
        t = 0.5 * (self.t_edges[1:] + self.t_edges[:-1])
        u = 0.5 * (self.u_edges[1:] + self.u_edges[:-1])
        m = np.exp(t)[:, None] * np.ones_like(u)[None, :]
        return m, u[None, :] * np.log(self.sqrts / m)


def exact_alpha_beta(spectrum: Spectrum, m_tt, y_tt) -> tuple[jnp.ndarray, jnp.ndarray]:
    """Exact alpha(x), beta(x) of r = 1 + c alpha + c^2 beta at events (m_tt, y_tt)."""
    d = spectrum.density(m_tt, y_tt)
    safe = jnp.where(d.sm > 0, d.sm, 1.0)
    return jnp.where(d.sm > 0, d.lin / safe, 0.0), jnp.where(d.sm > 0, d.quad / safe, 0.0)


@partial(jax.jit, static_argnums=(6, ))
def _density(pdf, sqrts, m_t, alpha_s, vev, lambda_np, mu_f, mu_f_fixed, m_tt, y_tt):
    m_tt = jnp.asarray(m_tt, dtype=float)
    scale = {"half_mtt": 0.5 * m_tt, "mtt": m_tt}.get(mu_f, jnp.full_like(m_tt, mu_f_fixed))
    return ttbar_ctg.dsigma_dm_dy(m_tt, y_tt, pdf, scale, sqrts, m_t, alpha_s, vev, lambda_np)


def pdf_scales(config: UnbinnedConfig) -> np.ndarray:
    """Factorisation scales (GeV) at which the PDF is tabulated: one fixed scale, or 24 log-spaced nodes."""
    th = config.theory
    if th.mu_f == "fixed":
        return np.array([th.mu_f_fixed])
    factor = 0.5 if th.mu_f == "half_mtt" else 1.0
    return np.geomspace(factor * 2.0 * th.m_t, factor * th.m_tt_max, 24)


def build_spectrum(config: UnbinnedConfig) -> Spectrum:
    """Tabulate the PDF and integrate the spectrum on the (t, u) cells of ``config.grid``."""
    th, col, grid = config.theory, config.collider, config.grid
    x_min = 0.5 * (2.0 * th.m_t / col.sqrts) ** 2
    pdf = build_pdf_table(th.pdf, pdf_scales(config), x_min, th.pdf_order)
    t_edges = np.linspace(np.log(2.0 * th.m_t), np.log(th.m_tt_max), grid.n_m + 1)
    u_edges = np.linspace(-1.0, 1.0, grid.n_y + 1)
    spectrum = Spectrum(pdf, col.sqrts, th.m_t, th.alpha_s, th.vev, th.lambda_np, th.mu_f, th.mu_f_fixed,
                        th.m_tt_max, col.luminosity * col.efficiency * PB_PER_INVERSE_FB, t_edges, u_edges,
                        np.zeros((3, grid.n_m, grid.n_y)), np.zeros(3))
    t = 0.5 * (t_edges[1:] + t_edges[:-1])
    u = 0.5 * (u_edges[1:] + u_edges[:-1])
    d = spectrum.density_tu(t[:, None], u[None, :])
    area = np.diff(t_edges)[:, None] * np.diff(u_edges)[None, :]
    cells = np.stack([np.asarray(a) for a in d]) * area
    return Spectrum(**{**spectrum.__dict__, "cell_sigma": cells, "sigma": cells.sum(axis=(1, 2))})


def total_sigma(spectrum: Spectrum, n_t: int = 400, n_u: int = 64) -> np.ndarray:
    """(sm, lin, quad) total cross sections (pb) by Gauss-Legendre quadrature in (t, u); a check of the
    midpoint-rule ``spectrum.sigma``."""
    xt, wt = np.polynomial.legendre.leggauss(n_t)
    xu, wu = np.polynomial.legendre.leggauss(n_u)
    t0, t1 = spectrum.t_edges[0], spectrum.t_edges[-1]
    t = 0.5 * (t1 - t0) * (xt + 1) + t0
    d = spectrum.density_tu(t[:, None], xu[None, :])
    weights = 0.5 * (t1 - t0) * wt[:, None] * wu[None, :]
    return np.array([float(jnp.sum(a * weights)) for a in d])
