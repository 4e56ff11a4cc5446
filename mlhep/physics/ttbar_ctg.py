"""LO top-pair production with the chromomagnetic operator O_tG, in closed form.

Partonic cross sections are quadratic in the Wilson coefficient c = c_tG (scale ``Lambda``):

    sigma_ij(s, c) = sigma_SM(s) + c kappa_1(s) + c^2 kappa_11(s),

with beta = sqrt(1 - 4 m_t^2 / s), L = ln[(1 + beta)/(1 - beta)], rho = 4 m_t^2 / s. The formulas are those of
/work/shared/physics/ttbar_ctg.md (the analytic benchmark of the unbinned likelihood-ratio method of
Ambrosio et al., arXiv:2211.02058); the SM parts are the textbook LO results (Combridge, Nucl. Phys. B151 (1979)
429; Glück, Owens, Reya, Phys. Rev. D17 (1978) 2324). Sign convention: c_tG(SMEFiT) = -c_tG(here) / g_s.

The hadronic double-differential distribution (x_{1,2} = m_tt e^{+-y_tt} / sqrt(S)):

    d sigma / d m_tt d y_tt = (2 m_tt / S) sum_ij f_i(x1, mu) f_j(x2, mu) sigma_ij(m_tt^2, c).

All functions are pure ``jnp`` and broadcast over their array arguments. Energies in GeV, partonic cross
sections in GeV^-2; multiply by ``GEV2_TO_PB`` for pb.
"""
from __future__ import annotations

from typing import Callable, NamedTuple

import jax.numpy as jnp

GEV2_TO_PB = 0.3893794e9          # (hbar c)^2 in GeV^2 pb
VEV = 246.22                      # Higgs vacuum expectation value v in GeV
M_TOP = 172.76                    # top-quark pole mass in GeV (benchmark value)
ALPHA_S = 0.1179                  # fixed strong coupling of the benchmark
LAMBDA_NP = 1000.0                # EFT scale Lambda in GeV

# Index of each parton in the PDF flavour axis, order (-6..-1, 21, 1..6) = (tbar..dbar, g, d..t).
GLUON = 6
QUARKS = (7, 8, 9, 10, 11)        # d, u, s, c, b
ANTIQUARKS = (5, 4, 3, 2, 1)      # dbar, ubar, sbar, cbar, bbar (same order as QUARKS)


class Coefficients(NamedTuple):
    """The three coefficients of sigma(c) = sm + c lin + c^2 quad (any common shape and unit)."""

    sm: jnp.ndarray
    lin: jnp.ndarray
    quad: jnp.ndarray

    def at(self, c):
        """sigma at Wilson coefficient ``c`` (broadcast against the coefficient arrays)."""
        return self.sm + c * self.lin + c * c * self.quad


def _kinematics(s, m_t):
    """(beta, L, rho) of the note; zero below threshold (s < 4 m_t^2)."""
    rho = 4.0 * m_t ** 2 / s
    beta2 = jnp.clip(1.0 - rho, 0.0, 1.0)
    beta = jnp.sqrt(beta2)
    log_term = jnp.log1p(beta) - jnp.log1p(-jnp.minimum(beta, 1.0 - 1e-15))
    return beta, log_term, rho


def sigma_gg(s, m_t=M_TOP, alpha_s=ALPHA_S, v=VEV, lam=LAMBDA_NP) -> Coefficients:
    """gg -> tt̄ partonic cross section coefficients (GeV^-2) at partonic s (GeV^2).

    sigma_SM = (pi a^2 / (48 s)) [(rho^2 + 16 rho + 16) L - (28 + 31 rho) beta]
    kappa_1  = sqrt(pi) a^(3/2) v m_t (9 beta - 8 L) / (6 sqrt(2) Lambda^2 s)
    kappa_11 = (a v^2 / (24 Lambda^4)) [6 beta + (m_t^2 / s)(8 L - 3 beta)]
    """
    beta, log_term, rho = _kinematics(s, m_t)
    sm = jnp.pi * alpha_s ** 2 / (48.0 * s) * ((rho ** 2 + 16.0 * rho + 16.0) * log_term - (28.0 + 31.0 * rho) * beta)
    lin = (jnp.sqrt(jnp.pi) * alpha_s ** 1.5 * v * m_t * (9.0 * beta - 8.0 * log_term)
           / (6.0 * jnp.sqrt(2.0) * lam ** 2 * s))
    quad = alpha_s * v ** 2 / (24.0 * lam ** 4) * (6.0 * beta + m_t ** 2 / s * (8.0 * log_term - 3.0 * beta))
    return Coefficients(sm, lin, quad)


def sigma_qqbar(s, m_t=M_TOP, alpha_s=ALPHA_S, v=VEV, lam=LAMBDA_NP) -> Coefficients:
    """q q̄ -> tt̄ partonic cross section coefficients (GeV^-2) for one light flavour, at partonic s (GeV^2).

    sigma_SM = (8 pi a^2 / (27 s)) beta (1 + 2 m_t^2 / s)
    kappa_1  = -8 sqrt(2 pi) a^(3/2) v m_t beta / (9 Lambda^2 s)
    kappa_11 = (2 a v^2 beta / (27 Lambda^4)) (1 + 8 m_t^2 / s)
    """
    beta, _, _ = _kinematics(s, m_t)
    sm = 8.0 * jnp.pi * alpha_s ** 2 / (27.0 * s) * beta * (1.0 + 2.0 * m_t ** 2 / s)
    lin = -8.0 * jnp.sqrt(2.0 * jnp.pi) * alpha_s ** 1.5 * v * m_t * beta / (9.0 * lam ** 2 * s)
    quad = 2.0 * alpha_s * v ** 2 * beta / (27.0 * lam ** 4) * (1.0 + 8.0 * m_t ** 2 / s)
    return Coefficients(sm, lin, quad)


def parton_luminosities(f1, f2):
    """(gg, q q̄ + q̄ q summed over light flavours) products of number densities.

    ``f1``, ``f2``: (13, ...) PDFs f_i(x) (number densities, not x f) in the flavour order (-6..-1, 21, 1..6)
    at x1 and x2. Returns two arrays of shape (...).
    """
    gg = f1[GLUON] * f2[GLUON]
    q, qb = jnp.array(QUARKS), jnp.array(ANTIQUARKS)
    qq = jnp.sum(f1[q] * f2[qb] + f1[qb] * f2[q], axis=0)
    return gg, qq


def momentum_fractions(m_tt, y_tt, sqrts):
    """x1, x2 = (m_tt / sqrt(S)) exp(+-y_tt)."""
    tau_sqrt = m_tt / sqrts
    return tau_sqrt * jnp.exp(y_tt), tau_sqrt * jnp.exp(-y_tt)


def dsigma_dm_dy(m_tt, y_tt, pdf: Callable, mu_f, sqrts, m_t=M_TOP, alpha_s=ALPHA_S, v=VEV,
                 lam=LAMBDA_NP) -> Coefficients:
    """Hadronic d sigma / d m_tt d y_tt coefficients in pb / GeV (sm, lin, quad) at (m_tt, y_tt) in (GeV, 1).

    ``pdf(x, mu)`` returns (13, ...) number densities at momentum fraction x (shape ...) and scale mu (GeV,
    broadcastable to x); ``mu_f`` is the factorisation scale at each point (GeV). Points outside the
    kinematic range (x >= 1 or m_tt < 2 m_t) give 0.
    """
    x1, x2 = momentum_fractions(m_tt, y_tt, sqrts)
    inside = (x1 < 1.0) & (x2 < 1.0) & (m_tt > 2.0 * m_t)
    x1c, x2c = jnp.where(inside, x1, 0.5), jnp.where(inside, x2, 0.5)
    lum_gg, lum_qq = parton_luminosities(pdf(x1c, mu_f), pdf(x2c, mu_f))
    s = jnp.maximum(m_tt, 2.0 * m_t) ** 2
    gg = sigma_gg(s, m_t, alpha_s, v, lam)
    qq = sigma_qqbar(s, m_t, alpha_s, v, lam)
    jac = jnp.where(inside, 2.0 * m_tt / sqrts ** 2 * GEV2_TO_PB, 0.0)
    return Coefficients(*(jac * (lum_gg * a + lum_qq * b) for a, b in zip(gg, qq)))


def to_smefit_convention(c, alpha_s=ALPHA_S):
    """c_tG in SMEFiT's convention, -c / g_s with g_s = sqrt(4 pi alpha_s)."""
    return -c / jnp.sqrt(4.0 * jnp.pi * alpha_s)
