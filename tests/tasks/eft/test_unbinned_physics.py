"""eft-fit unbinned: exact spectrum, event sampler, likelihoods and intervals (no training)."""
from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import minimize_scalar

import mlhep  # noqa: F401
from mlhep.tasks.eft.unbinned import bounds as B
from mlhep.tasks.eft.unbinned import evaluate as E
from mlhep.tasks.eft.unbinned.config import UnbinnedConfig
from mlhep.tasks.eft.unbinned.events import sample_events
from mlhep.tasks.eft.unbinned.physics import build_spectrum, total_sigma


def small_config() -> UnbinnedConfig:
    config = UnbinnedConfig()
    config.theory.pdf = "lh_toy_q0"
    config.theory.m_tt_max = 2000.0
    config.binning.m_tt_edges = [345.52, 400.0, 500.0, 700.0, 1000.0, 2000.0]
    config.grid.n_m, config.grid.n_y = 80, 24
    config.collider.efficiency = 0.05
    return config


@pytest.fixture(scope="module")
def spectrum():
    return build_spectrum(small_config())


def test_cell_integration_matches_gauss_legendre(spectrum):
    """Midpoint cells (80 x 24) against 400 x 64 Gauss-Legendre: sm, lin, quad within 0.2%."""
    np.testing.assert_allclose(spectrum.sigma, total_sigma(spectrum), rtol=2e-3)
    assert spectrum.sigma[1] < 0 < spectrum.sigma[2]


@pytest.mark.parametrize("c", [0.0, 3.0])
def test_sampler_reproduces_the_exact_distribution(spectrum, c):
    """20k accept-reject events: chi2 of the (m_tt, |y_tt|) histogram against the exact bin integrals is
    compatible with its degrees of freedom (chi2/ndf < 1.6, p ~ 1e-3 for ndf = 24), no envelope violations."""
    sample = sample_events(spectrum, c, 20000, np.random.default_rng(3))
    assert sample.violations == 0 and 0.3 < sample.acceptance <= 1
    m_edges, y_edges = [345.52, 370, 400, 450, 500, 600, 800, 1200, 2000], [0.0, 0.6, 1.2, 10.0]
    counts = B.histogram(sample.events, m_edges, y_edges)
    sig = B.bin_sigma(spectrum, m_edges, y_edges)
    expected = (sig[0] + c * sig[1] + c * c * sig[2]) / spectrum.expected_events(c) * spectrum.rate_per_pb * 20000
    assert expected.sum() == pytest.approx(20000, rel=1e-3)
    chi2 = np.sum((counts - expected) ** 2 / expected)
    assert chi2 / (len(counts) - 1) < 1.6


def test_exact_ratio_is_linear_plus_quadratic(spectrum):
    """r(x, c) from the density at c equals 1 + c alpha + c^2 beta at random points."""
    rng = np.random.default_rng(0)
    m = rng.uniform(360, 1900, 50)
    y = rng.uniform(-0.8, 0.8, 50) * np.log(spectrum.sqrts / m)
    alpha, beta = E.exact_on_points(spectrum, m, y)
    d = spectrum.density(m, y)
    for c in (-2.0, 0.7):
        np.testing.assert_allclose(np.asarray(d.at(c) / d.sm), 1 + c * alpha + c * c * beta, rtol=1e-12)


def test_asimov_curvature_is_the_fisher_information(spectrum):
    """Near c = 0, q(c) = nu_SM E_SM[alpha^2] c^2 (fixed normalisation) and nu_SM Var_SM[alpha] c^2 (free)."""
    a, b = E.exact_on_cells(spectrum)
    p = spectrum.cell_sigma[0] / spectrum.sigma[0]
    nu = spectrum.expected_events(0.0)
    c = np.array([-1e-3, 0.0, 1e-3])
    for norm, info in (("fixed", np.sum(p * a * a)), ("free", np.sum(p * a * a) - np.sum(p * a) ** 2)):
        q = B.asimov_unbinned(spectrum, c, a, b, rate="exact", normalisation=norm)
        curvature = (q[0] + q[2] - 2 * q[1]) / (2 * 1e-3 ** 2)
        assert curvature == pytest.approx(nu * info, rel=1e-3)


def test_binned_bounds_are_weaker_and_approach_unbinned_with_more_bins(spectrum):
    """Shape-only (free normalisation) Asimov 95% intervals: binned widths >= unbinned, decreasing toward it
    as bins are refined."""
    a, b = E.exact_on_cells(spectrum)
    grid = np.linspace(-3, 3, 1201)
    exact = B.intervals(grid, B.profile(B.asimov_unbinned(spectrum, grid, a, b, "exact", "free")))[1]
    widths = []
    for m_edges, y_edges in (([345.52, 600, 2000], [0, 10]), ([345.52, 400, 500, 700, 1000, 2000], [0, 10]),
                             (list(np.geomspace(345.52, 2000, 21)), [0, 0.5, 1, 1.5, 10])):
        sig = B.bin_sigma(spectrum, m_edges, y_edges)
        binned = B.intervals(grid, B.profile(B.binned(grid, sig, spectrum.rate_per_pb, normalisation="free")))[1]
        widths.append(binned[1] - binned[0])
    exact_width = exact[1] - exact[0]
    assert widths[0] > widths[1] > widths[2] >= exact_width * (1 - 1e-3)
    assert widths[2] < 1.1 * exact_width


def test_profiled_normalisation_matches_numerical_minimisation():
    nu, n_obs, delta = 1234.0, 1300.0, 0.03
    numeric = minimize_scalar(lambda t: 2 * (t * nu - n_obs * np.log(t)) + (t - 1) ** 2 / delta ** 2,
                              bounds=(0.5, 2), method="bounded", options={"xatol": 1e-12}).fun
    assert B.rate_term(nu, n_obs, "constrained", delta) == pytest.approx(numeric, rel=1e-9)
    # delta -> 0 recovers the fixed normalisation, delta -> infinity the free one (up to constants)
    nus = np.array([1000.0, 1100.0])
    tight = B.rate_term(nus, n_obs, "constrained", 1e-7)
    assert tight[1] - tight[0] == pytest.approx(2 * (nus[1] - nus[0]), rel=1e-4)
    loose = B.rate_term(nus, n_obs, "constrained", 1e4)
    free = B.rate_term(nus, n_obs, "free")
    assert loose[1] - loose[0] == pytest.approx(free[1] - free[0], rel=1e-4)


def test_interval_of_a_parabola():
    grid = np.linspace(-1, 1, 2001)
    q = (grid - 0.1) ** 2 / 0.2 ** 2
    lo, hi = B.interval(grid, q, 3.841)
    assert lo == pytest.approx(0.1 - 0.2 * np.sqrt(3.841), abs=1e-5)
    assert hi == pytest.approx(0.1 + 0.2 * np.sqrt(3.841), abs=1e-5)
    assert np.isnan(B.interval(grid, q / 100, 3.841)[0])   # leaves the scan: NaN, not a wrong number
