"""The tagger metrics against hand computations, the pairwise Mann-Whitney count, and Gaussian closed forms."""
from __future__ import annotations

import math

import numpy as np
import pytest

from mlhep.tasks.jets import metrics


def pairwise_auc(score, label) -> float:
    """P(s_sig > s_bkg) + P(s_sig = s_bkg) / 2 over all (signal, background) pairs: the U statistic's definition."""
    sig, bkg = score[label == 1][:, None], score[label == 0][None, :]
    return float(np.mean((sig > bkg) + 0.5 * (sig == bkg)))


def test_auc_of_a_hand_case_with_a_tie():
    """Signal (0.9, 0.8, 0.4) against background (0.7, 0.3, 0.4): 3 + 3 + (1 + 1/2) wins of 9 pairs."""
    score = np.array([0.9, 0.8, 0.4, 0.7, 0.3, 0.4])
    label = np.array([1, 1, 1, 0, 0, 0])
    assert metrics.auc(score, label) == pytest.approx(7.5 / 9, abs=1e-15)
    assert metrics.auc(-score, label) == pytest.approx(1.5 / 9, abs=1e-15)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_auc_is_the_mann_whitney_statistic_and_the_area_under_the_roc_curve(seed):
    """Integer scores (many ties): the rank formula equals the pairwise count exactly, and the trapezoid area
    under the ROC polyline (ties are its sloped segments)."""
    rng = np.random.default_rng(seed)
    label = rng.integers(0, 2, 500)
    score = rng.integers(0, 20, 500) + 3 * label
    auc = metrics.auc(score, label)
    assert auc == pytest.approx(pairwise_auc(score, label), abs=1e-12)
    eps_s, eps_b = metrics.roc(score, label)
    assert auc == pytest.approx(np.trapezoid(eps_s, eps_b), abs=1e-12)
    assert eps_s[0] == eps_b[0] == 0 and eps_s[-1] == eps_b[-1] == 1
    assert np.all(np.diff(eps_s) >= 0) and np.all(np.diff(eps_b) >= 0)


def test_perfect_and_inverted_taggers():
    label = np.array([0, 0, 1, 1])
    assert metrics.auc(np.array([0.1, 0.2, 0.8, 0.9]), label) == 1.0
    assert metrics.auc(np.array([0.9, 0.8, 0.2, 0.1]), label) == 0.0
    assert metrics.accuracy(np.array([0.1, 0.2, 0.8, 0.9]), label) == 1.0
    assert np.all(np.isinf(metrics.rejection(np.array([0.1, 0.2, 0.8, 0.9]), label, [0.3, 0.5, 1.0])))


def test_rejection_interpolates_the_roc_polyline():
    """Signal (0.9, 0.5), background (0.5, 0.1): vertices (0, 0), (1/2, 0) [cut 0.9], (1, 1/2) [cut 0.5, the tie],
    (1, 1). At eps_S = 0.3 no background passes (inf); at 0.75 halfway up the tie's segment, eps_B = 1/4."""
    score, label = np.array([0.9, 0.5, 0.5, 0.1]), np.array([1, 1, 0, 0])
    np.testing.assert_allclose(metrics.background_at(score, label, [0.0, 0.3, 0.5, 0.75, 1.0]),
                               [0.0, 0.0, 0.0, 0.25, 0.5], atol=1e-15)
    r = metrics.rejection(score, label, [0.3, 0.75])
    assert np.isinf(r[0]) and r[1] == pytest.approx(4.0)


def test_vertical_roc_segments_take_their_lowest_point():
    """Signal (0.9, 0.2), background (0.7, 0.6): at eps_S = 1/2 the cuts 0.9, 0.7 and 0.6 all keep half of the
    signal; the best of them keeps no background."""
    score, label = np.array([0.9, 0.2, 0.7, 0.6]), np.array([1, 1, 0, 0])
    np.testing.assert_allclose(metrics.background_at(score, label, [0.5, 0.75]), [0.0, 1.0], atol=1e-15)


def test_gaussian_scores_close_on_the_analytic_roc():
    """Signal N(1, 1) against background N(0, 1): AUC = Phi(1 / sqrt 2) = 0.7602 and, at eps_S = 0.5 (cut at 1),
    eps_B = 1 - Phi(1) = 0.1587; at eps_S = 0.3 (cut at 1 + 0.5244) 1/eps_B = 15.7. 2 x 10^5 jets per class
    give them to ~1e-3 (the rejection to ~2%)."""
    rng = np.random.default_rng(5)
    n = 200_000
    score = np.concatenate([rng.normal(1, 1, n), rng.normal(0, 1, n)])
    label = np.concatenate([np.ones(n), np.zeros(n)])
    phi = lambda x: 0.5 * (1 + math.erf(x / math.sqrt(2)))   # noqa: E731
    assert metrics.auc(score, label) == pytest.approx(phi(1 / math.sqrt(2)), abs=3e-3)
    assert metrics.background_at(score, label, 0.5) == pytest.approx(1 - phi(1), abs=3e-3)
    assert metrics.rejection(score, label, 0.3) == pytest.approx(1 / (1 - phi(1.5244005)), rel=0.03)
    cut = metrics.threshold_at(score, label, 0.5)
    assert cut == pytest.approx(1.0, abs=0.01) and np.mean(score[:n] > cut) == pytest.approx(0.5, abs=1e-4)


def test_jensen_shannon_divergence():
    """0 for equal shapes (any normalisation), 1 bit for disjoint ones; (1, 0) vs (1/2, 1/2): the closed form
    1/2 [log2(4/3)] + 1/4 [log2(2/3) + log2(2)] = 0.3113 bits."""
    assert metrics.jensen_shannon(np.array([1, 2, 3]), np.array([2, 4, 6])) == pytest.approx(0, abs=1e-15)
    assert metrics.jensen_shannon(np.array([1, 0]), np.array([0, 5])) == pytest.approx(1.0, abs=1e-15)
    expected = 0.5 * math.log2(4 / 3) + 0.25 * (math.log2(2 / 3) + 1)
    assert metrics.jensen_shannon(np.array([1, 0]), np.array([1, 1])) == pytest.approx(expected, abs=1e-12)
    assert math.isnan(metrics.jensen_shannon(np.array([1, 0]), np.array([0, 0])))


def test_summary_of_a_mass_blind_tagger_does_not_sculpt():
    """A score independent of the mass keeps the QCD mass shape after the cut (JSD ~ 0); a score that is the mass
    sculpts it (the cut keeps only the heavy end)."""
    rng = np.random.default_rng(3)
    n = 40_000
    label = np.repeat([0, 1], n)
    mass = rng.uniform(0, 300, 2 * n)
    edges = np.linspace(0, 300, 16)
    blind = metrics.summary(rng.normal(label, 1.0), label, mass, edges)
    assert blind["jsd_50"] < 2e-3
    sculpting = metrics.summary(mass + 300 * label * rng.uniform(size=2 * n), label, mass, edges)
    assert sculpting["jsd_50"] > 0.3
    assert set(blind) == {"auc", "accuracy", "rejection_30", "rejection_50", "roc_eps_b", "mass_after", "jsd_50"}
    assert blind["roc_eps_b"].shape == metrics.EPS_S_GRID.shape


def test_the_ensemble_is_the_mean_score_with_its_spread():
    """Two replicas: the mean of their scores, the per-jet sample standard deviation |a - b| / sqrt 2, and the
    metrics of the mean; one replica is its own ensemble with zero spread."""
    rng = np.random.default_rng(8)
    label = np.repeat([0, 1], 50)
    mass, edges = rng.uniform(0, 300, 100), np.linspace(0, 300, 11)
    a, b = rng.uniform(size=100) + 0.3 * label, rng.uniform(size=100) + 0.3 * label
    both = metrics.ensemble(np.stack([a, b]), label, mass, edges)
    np.testing.assert_allclose(both["score"], (a + b) / 2)
    np.testing.assert_allclose(both["spread"], np.abs(a - b) / np.sqrt(2))
    assert both["auc"] == metrics.auc((a + b) / 2, label)
    one = metrics.ensemble(a[None], label, mass, edges)
    assert one["auc"] == metrics.auc(a, label) and not one["spread"].any()
