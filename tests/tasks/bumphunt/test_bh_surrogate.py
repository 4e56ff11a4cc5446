"""The surrogate generator against the distributions its docstring states (closure), with the m_jj correlation."""
from __future__ import annotations

import numpy as np
import pytest
from scipy import integrate, stats

from mlhep.tasks.bumphunt import surrogate
from mlhep.tasks.bumphunt.dijet_fit import dijet_function
from mlhep.tasks.bumphunt.events import signal_region_mask
from mlhep.tasks.bumphunt.surrogate import SurrogateConfig

CFG = SurrogateConfig()
SR = (3.3, 3.7)


@pytest.fixture(scope="module")
def bkg():
    return surrogate.background(np.random.default_rng(11), 40_000)


@pytest.fixture(scope="module")
def sig():
    return surrogate.signal(np.random.default_rng(12), 20_000)


def dijet_cdf(m):
    lo, hi = CFG.mjj_range
    norm = integrate.quad(lambda x: dijet_function(x, (1, *CFG.dijet_params)), lo, hi)[0]
    return np.array([integrate.quad(lambda x: dijet_function(x, (1, *CFG.dijet_params)), lo, v)[0] / norm
                     for v in np.atleast_1d(m)])


def test_background_mjj_follows_the_dijet_function(bkg):
    """KS test of the sampled m_jj against the truncated dijet function's cumulative (quad), and the SR fraction."""
    grid = np.linspace(*CFG.mjj_range, 400)
    cdf = dijet_cdf(grid)
    assert stats.kstest(bkg.mjj, lambda m: np.interp(m, grid, cdf)).pvalue > 1e-3
    p_sr = np.diff(dijet_cdf(SR))[0]
    assert 0.09 < p_sr < 0.12
    n = len(bkg)
    assert abs(signal_region_mask(bkg, SR).sum() - n * p_sr) < 4 * np.sqrt(n * p_sr * (1 - p_sr))


def test_background_jet_masses_scale_with_mjj(bkg):
    """ln(m / p_T) of both jets (p_T = m_jj / 2) is N(ln 0.08, 0.55^2); ln m_J1 rises with slope 1 in ln m_jj:
    the correlation that sculpts naive CWoLa. The lighter jet is J1."""
    assert np.all(bkg.dmj >= 0) and np.all(bkg.mj1 > 0)
    r = np.log(np.concatenate([bkg.mj1, bkg.mj2]) / np.tile(bkg.mjj / 2, 2))
    n = len(r)
    assert abs(r.mean() - np.log(CFG.mass_over_pt_median)) < 5 * CFG.mass_over_pt_sigma / np.sqrt(n / 2)
    assert abs(r.std() - CFG.mass_over_pt_sigma) < 0.01
    fit = stats.linregress(np.log(bkg.mjj), np.log(bkg.mj1))
    assert abs(fit.slope - 1) < 5 * fit.stderr
    low, sr = (bkg.mjj < 3.1), signal_region_mask(bkg, SR)
    ratio = bkg.mj1[sr].mean() / bkg.mj1[low].mean()
    assert ratio > bkg.mjj[sr].mean() / bkg.mjj[low].mean() - 0.05      # masses follow m_jj


def test_background_tau21_follows_rho(bkg):
    """E[tau21 | m, p_T] is the stated linear function of rho' = ln(m^2 / p_T / 1 GeV): residuals average 0, and a
    regression of tau21 on rho' recovers the slope 0.06 (away from the clip at 0.1 / 0.9)."""
    pt = np.tile(bkg.mjj / 2, 2)
    m = np.concatenate([bkg.mj1, bkg.mj2])
    tau = np.concatenate([bkg.tau21_1, bkg.tau21_2])
    mu = surrogate.background_tau21_mean(m, pt)
    assert abs((tau - mu).mean()) < 5 * tau.std() / np.sqrt(len(tau))
    rho = np.log((m * 1e3) ** 2 / (pt * 1e3))
    inside = (mu > 0.15) & (mu < 0.85)
    fit = stats.linregress(rho[inside], tau[inside])
    assert abs(fit.slope - CFG.tau21_slope) < 5 * fit.stderr
    # Beta(mu kappa, (1 - mu) kappa): variance mu (1 - mu) / (kappa + 1)
    assert abs(np.var(tau - mu) - np.mean(mu * (1 - mu)) / (CFG.tau21_concentration + 1)) < 0.002


def test_signal_peaks(sig):
    """Jet masses at 100 and 500 GeV with 8% resolution, tau21 mean 0.3, and the m_jj fraction in the SR from the
    truncated core + tail mixture computed analytically."""
    n = len(sig)
    assert abs(sig.mj1.mean() - CFG.y_mass) < 5 * CFG.mass_resolution * CFG.y_mass / np.sqrt(n)
    assert abs(sig.mj2.std() / CFG.x_mass - CFG.mass_resolution) < 0.003
    assert abs(sig.mj2.mean() - CFG.x_mass) < 5 * CFG.mass_resolution * CFG.x_mass / np.sqrt(n)
    tau = np.concatenate([sig.tau21_1, sig.tau21_2])
    assert abs(tau.mean() - CFG.signal_tau21) < 5 * tau.std() / np.sqrt(2 * n)
    core = stats.norm(CFG.w_mass, CFG.w_resolution)
    tail_cdf = lambda m: stats.expon(scale=CFG.tail_scale).sf(CFG.w_mass - np.asarray(m))  # noqa: E731
    f = CFG.tail_fraction

    def cdf(m):
        return (1 - f) * core.cdf(m) + f * tail_cdf(m)
    lo, hi = CFG.mjj_range
    p_sr = (cdf(SR[1]) - cdf(SR[0])) / (cdf(hi) - cdf(lo))
    assert abs(signal_region_mask(sig, SR).mean() - p_sr) < 5 * np.sqrt(p_sr * (1 - p_sr) / n)
    assert 0.7 < p_sr < 0.85
    assert np.all(sig.label == 1) and np.all((sig.mjj >= lo) & (sig.mjj <= hi))


def test_reproducible_by_seed():
    a, b = surrogate.generate(2000, 100, seed=5), surrogate.generate(2000, 100, seed=5)
    for name in ("mjj", "mj1", "dmj", "tau21_1", "tau21_2", "label"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    assert a.label.sum() == 100 and len(a) == 2100
    assert not np.array_equal(a.mjj, surrogate.generate(2000, 100, seed=6).mjj)
    # the background of a seed does not depend on how much signal is generated with it
    c = surrogate.generate(2000, 700, seed=5)
    np.testing.assert_array_equal(np.sort(a.mjj[a.label == 0]), np.sort(c.mjj[c.label == 0]))
