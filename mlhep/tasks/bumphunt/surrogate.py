"""A fast surrogate of the LHC Olympics 2020 R&D dijet sample, for tests and quick examples (no Pythia).

Every distribution is stated here, so tests can check closure against it. Units TeV.

Background (QCD dijets), per event:
- m_jj from the dijet function f(x) = p0 (1 - x)^p1 / x^(p2 + p3 ln x), x = m_jj / 13 TeV, with
  (p1, p2, p3) = ``dijet_params`` = (10, 5, 0), truncated to ``mjj_range`` = [2.6, 8] TeV (sampled by inverting
  its cumulative on a fine grid). This puts ~10.3% of the events in 3.3 <= m_jj < 3.7 TeV (the R&D set: 12%;
  our Pythia sample: 11 +- 2%, 300 events).
- each of the two jets has p_T = m_jj / 2 (back to back, central) and a mass m = r p_T with r log-normal:
  ln r ~ N(ln 0.08, 0.55^2), r capped at 0.5 (m <~ p_T R / 2 for R = 1). So the jet masses scale linearly with
  m_jj: this is the correlation that sculpts a naive CWoLa classifier (signal region vs sidebands) into an
  m_jj tagger.
- tau21 of each jet ~ Beta with mean mu = clip(0.62 + 0.06 (rho' - 2.5), 0.1, 0.9) and concentration
  kappa = a + b = 10 (standard deviation ~0.14), where rho' = ln(m^2 / (p_T * 1 GeV)) is the DDT variable
  (CMS, JHEP 12 (2016) 083 / Dolen et al., JHEP 05 (2016) 156): tau21 of QCD jets rises linearly with rho', so it
  depends on the jet mass and, through p_T, on m_jj (d mu / d ln m_jj = 0.06 at fixed m / p_T).
- the two jets are then ordered by mass: J1 the lighter (``Events.from_masses``).

Signal W' (3.5 TeV) -> X (500 GeV) Y (100 GeV), X, Y -> qq:
- m_jj: with probability 1 - ``tail_fraction`` (0.75) N(3.5, 0.12^2) (resolution), else 3.5 - Exp(scale 0.4)
  (final-state radiation out of the jets: a low tail), redrawn outside ``mjj_range``; the fraction in
  [3.3, 3.7) is ~79% (772 of 1000 in the CATHODE paper, Hallin et al. 2022, with their detector simulation).
- jet masses N(0.5, (0.08 * 0.5)^2) and N(0.1, (0.08 * 0.1)^2): 8% mass resolution, redrawn if <= 0.
- tau21 of both jets ~ Beta with mean 0.3 and kappa 10: two-prong jets.

Random streams: ``generate(.., seed)`` spawns independent streams for background, signal and the shuffle
(``np.random.SeedSequence(seed).spawn(3)``), so the background of a seed does not depend on ``n_signal``.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mlhep.tasks.bumphunt.dijet_fit import SQRT_S, dijet_function
from mlhep.tasks.bumphunt.events import Events

_GEV = 1e-3     # TeV


@dataclass(frozen=True)
class SurrogateConfig:
    """The surrogate's parameters (module docstring); masses in TeV."""

    mjj_range: tuple[float, float] = (2.6, 8.0)
    dijet_params: tuple[float, float, float] = (10.0, 5.0, 0.0)
    mass_over_pt_median: float = 0.08
    mass_over_pt_sigma: float = 0.55        # of ln(m / p_T)
    mass_over_pt_max: float = 0.5
    tau21_intercept: float = 0.62
    tau21_slope: float = 0.06               # per unit of rho'
    rho_ref: float = 2.5
    tau21_concentration: float = 10.0
    w_mass: float = 3.5
    w_resolution: float = 0.12
    tail_fraction: float = 0.25
    tail_scale: float = 0.4
    x_mass: float = 0.5
    y_mass: float = 0.1
    mass_resolution: float = 0.08           # relative
    signal_tau21: float = 0.3


def _beta(rng: np.random.Generator, mean, concentration: float) -> np.ndarray:
    return rng.beta(mean * concentration, (1.0 - mean) * concentration)


def background_tau21_mean(mass, pt, config: SurrogateConfig = SurrogateConfig()) -> np.ndarray:
    """Mean tau21 of a QCD jet of ``mass`` and ``pt`` (TeV, any shape): linear in rho' = ln(m^2 / (p_T 1 GeV))."""
    rho = np.log((np.asarray(mass) / _GEV) ** 2 / (np.asarray(pt) / _GEV))
    return np.clip(config.tau21_intercept + config.tau21_slope * (rho - config.rho_ref), 0.1, 0.9)


def sample_dijet_mjj(rng: np.random.Generator, n: int, config: SurrogateConfig = SurrogateConfig()) -> np.ndarray:
    """(n,) m_jj [TeV] from the truncated dijet function (inverse cumulative on a 20001-point grid)."""
    grid = np.linspace(*config.mjj_range, 20001)
    density = dijet_function(grid, (1.0, *config.dijet_params), SQRT_S)
    cumulative = np.concatenate([[0.0], np.cumsum(0.5 * (density[1:] + density[:-1]) * np.diff(grid))])
    return np.interp(rng.random(n), cumulative / cumulative[-1], grid)


def background(rng: np.random.Generator, n: int, config: SurrogateConfig = SurrogateConfig()) -> Events:
    """n QCD-like events (label 0)."""
    mjj = sample_dijet_mjj(rng, n, config)
    pt = mjj / 2
    r = np.minimum(config.mass_over_pt_median * np.exp(config.mass_over_pt_sigma * rng.standard_normal((2, n))),
                   config.mass_over_pt_max)
    mass = r * pt
    tau21 = _beta(rng, background_tau21_mean(mass, pt, config), config.tau21_concentration)
    return Events.from_masses(mjj, mass[0], mass[1], tau21[0], tau21[1], np.zeros(n, np.int8))


def _redraw(rng, draw, keep, n):
    """(n,) values of ``draw(rng, m)`` that pass ``keep``, redrawing the rejected ones (truncation)."""
    out = draw(rng, n)
    bad = ~keep(out)
    while bad.any():
        out[bad] = draw(rng, int(bad.sum()))
        bad = ~keep(out)
    return out


def signal(rng: np.random.Generator, n: int, config: SurrogateConfig = SurrogateConfig()) -> Events:
    """n W' -> X Y events (label 1)."""
    c = config

    def mjj_draw(g, m):
        core = c.w_mass + c.w_resolution * g.standard_normal(m)
        tail = c.w_mass - g.exponential(c.tail_scale, m)
        return np.where(g.random(m) < c.tail_fraction, tail, core)

    lo, hi = c.mjj_range
    mjj = _redraw(rng, mjj_draw, lambda m: (m >= lo) & (m <= hi), n)

    def mass(peak):
        return _redraw(rng, lambda g, m: peak * (1 + c.mass_resolution * g.standard_normal(m)), lambda m: m > 0, n)

    mx, my = mass(c.x_mass), mass(c.y_mass)
    tau21 = _beta(rng, np.full((2, n), c.signal_tau21), c.tau21_concentration)
    return Events.from_masses(mjj, mx, my, tau21[0], tau21[1], np.ones(n, np.int8))


def generate(n_background: int, n_signal: int = 0, seed: int = 0,
             config: SurrogateConfig = SurrogateConfig()) -> Events:
    """``n_background`` QCD-like and ``n_signal`` W' events in a random order, reproducible by ``seed``;
    ``label`` tells them apart (truth)."""
    streams = [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(3)]
    parts = [background(streams[0], n_background, config), signal(streams[1], n_signal, config)]
    return Events.concatenate(parts).shuffled(streams[2])
