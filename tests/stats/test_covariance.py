"""Covariance matrices from commondata-style uncertainties, checked against hand-built matrices."""
import numpy as np
import pytest

from mlhep.stats.covariance import Uncertainties, covariance


def block(name, central, stat, sys, treatment, names):
    return Uncertainties(name, np.array(central, float), np.array(stat, float), np.array(sys, float),
                         tuple(treatment), tuple(names))


def test_uncorrelated_correlated_and_skipped_columns():
    a = block("A", [10, 20], [1, 2], [[0.5, 1.0, 9.0], [0.3, 2.0, 9.0]], ["ADD", "MULT", "ADD"],
              ["UNCORR", "CORR", "SKIP"])
    expected = np.diag([1 + 0.25, 4 + 0.09]) + np.outer([1.0, 2.0], [1.0, 2.0])
    np.testing.assert_allclose(covariance([a]), expected)


def test_named_sources_correlate_across_datasets_but_corr_does_not():
    a = block("A", [1, 1], [0.1, 0.1], [[0.2, 0.3], [0.2, 0.3]], ["MULT", "ADD"], ["LUMI", "CORR"])
    b = block("B", [1], [0.1], [[0.4, 0.5]], ["MULT", "ADD"], ["LUMI", "CORR"])
    cov = covariance([a, b])
    lumi = np.array([0.2, 0.2, 0.4])
    corr_a, corr_b = np.array([0.3, 0.3, 0]), np.array([0, 0, 0.5])
    expected = np.diag([0.01] * 3) + np.outer(lumi, lumi) + np.outer(corr_a, corr_a) + np.outer(corr_b, corr_b)
    np.testing.assert_allclose(cov, expected)
    assert cov[0, 2] == pytest.approx(0.08)             # only the shared luminosity links A and B


def test_t0_rescales_only_multiplicative_systematics():
    a = block("A", [10.0, 20.0], [1, 1], [[1.0, 0.5], [2.0, 0.5]], ["MULT", "ADD"], ["CORR", "CORR"])
    t0 = covariance([a], t0=[np.array([5.0, 40.0])])
    mult, add = np.array([0.5, 4.0]), np.array([0.5, 0.5])
    np.testing.assert_allclose(t0, np.eye(2) + np.outer(mult, mult) + np.outer(add, add))


def test_result_is_symmetric_positive_definite():
    rng = np.random.default_rng(0)
    blocks = [block(f"D{i}", rng.uniform(1, 2, 5), rng.uniform(0.05, 0.1, 5), rng.normal(0, 0.05, (5, 3)),
                    ["ADD", "MULT", "MULT"], ["CORR", "UNCORR", "NORM"]) for i in range(3)]
    cov = covariance(blocks)
    np.testing.assert_allclose(cov, cov.T)
    assert np.linalg.eigvalsh(cov).min() > 0


def test_bad_shapes_and_treatments_are_reported():
    with pytest.raises(ValueError, match="inconsistent shapes"):
        block("X", [1, 2], [1], [[0], [0]], ["ADD"], ["CORR"])
    with pytest.raises(ValueError, match="unknown systematic treatment"):
        block("X", [1], [1], [[0]], ["FOO"], ["CORR"])

