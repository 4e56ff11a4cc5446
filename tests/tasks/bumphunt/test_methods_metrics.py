"""SIC curves, max SIC and rejection (mlhep.tasks.bumphunt.metrics) against closed forms: background scores
N(0, 1), signal scores N(mu, 1), so eps_B(t) = Q(t), eps_S(t) = Q(t - mu), Q the normal survival function."""
from __future__ import annotations

import numpy as np
import pytest
from scipy import optimize, stats

from mlhep.tasks.bumphunt.metrics import efficiency_curve, max_sic, rejection_at, sic_curve

MU = 2.0
N = 400_000


@pytest.fixture(scope="module")
def gaussians():
    rng = np.random.default_rng(11)
    scores = np.concatenate([rng.normal(MU, 1.0, N), rng.normal(0.0, 1.0, N)])
    labels = np.r_[np.ones(N, int), np.zeros(N, int)]
    return scores, labels


def _sic(t):
    return stats.norm.sf(t - MU) / np.sqrt(stats.norm.sf(t))


def test_the_curve_follows_the_closed_form(gaussians):
    """At every cut with 1e-3 <= eps_B < 0.99 the empirical eps_S equals Q(Q^-1(eps_B) - mu) within 4 binomial
    standard deviations of both efficiencies (propagated through the slope d eps_S / d eps_B); measured at most
    2.5 over the 740000 cuts."""
    curve = sic_curve(*gaussians, min_background=int(1e-3 * N))
    curve = type(curve)(*(a[curve.eps_b < 0.99] for a in curve))
    t = stats.norm.isf(curve.eps_b)
    expected = stats.norm.sf(t - MU)
    slope = stats.norm.pdf(t - MU) / stats.norm.pdf(t)
    sigma = np.sqrt(expected * (1 - expected) / N + slope ** 2 * curve.eps_b * (1 - curve.eps_b) / N)
    assert len(curve.eps_b) > 1000 and np.all(np.abs(curve.eps_s - expected) < 4 * sigma + 1e-12)
    np.testing.assert_allclose(curve.sic, curve.eps_s / np.sqrt(curve.eps_b))


def test_max_sic_and_rejection_match_the_closed_form(gaussians):
    """Max SIC with at least 25 background events passing (eps_B >= 6.25e-5): the closed form's maximum over
    that range, 4.40 at eps_B = 4.3e-4, within 5% (measured 4.34); rejection at eps_S = 0.5 is 1 / Q(mu) = 43.96
    within 3% (measured 44.29)."""
    floor = stats.norm.isf(25 / N)                       # the tightest allowed cut
    best = optimize.minimize_scalar(lambda t: -_sic(t), bounds=(-5, floor), method="bounded")
    assert max_sic(*gaussians) == pytest.approx(_sic(best.x), rel=0.05)
    assert rejection_at(*gaussians, 0.5) == pytest.approx(1 / stats.norm.sf(MU), rel=0.03)


def test_ties_weights_and_bad_input():
    """Tied scores are one cut; an integer weight counts an event that many times; bad input is refused."""
    scores, labels = np.array([3.0, 2.0, 2.0, 1.0, 0.0]), np.array([1, 1, 0, 0, 0])
    curve = efficiency_curve(scores, labels)
    np.testing.assert_allclose(curve.threshold, [3, 2, 1, 0])
    np.testing.assert_allclose(curve.eps_s, [0.5, 1, 1, 1])
    np.testing.assert_allclose(curve.eps_b, [0, 1 / 3, 2 / 3, 1])
    weighted = efficiency_curve(scores, labels, weights=np.array([2, 1, 1, 1, 3]))
    repeated = efficiency_curve(np.repeat(scores, [2, 1, 1, 1, 3]), np.repeat(labels, [2, 1, 1, 1, 3]))
    for a, b in zip(weighted[:3], repeated[:3]):
        np.testing.assert_allclose(a, b)
    assert rejection_at(scores, labels, 0.5) == np.inf and rejection_at(scores, labels, 1.0) == 3.0
    with pytest.raises(ValueError, match="both signal"):
        efficiency_curve(scores, np.zeros(5))
    with pytest.raises(ValueError, match="not finite"):
        efficiency_curve(np.r_[scores[:4], np.nan], labels)
    with pytest.raises(ValueError, match="fewer than 25"):
        max_sic(scores, labels)
    with pytest.raises(ValueError, match="in \\(0, 1\\]"):
        rejection_at(scores, labels, 0.0)
