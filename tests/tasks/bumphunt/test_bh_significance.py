"""Local significance formulas against their analytic limits and exact Poisson tails."""
from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from mlhep.tasks.bumphunt.significance import convolved_p, local_significance, profile_z, z_from_p


def test_profile_without_uncertainty_is_the_poisson_likelihood_ratio():
    """sigma_b = 0: Z = sqrt(2 [n ln(n / b) - (n - b)]) (Cowan et al. 2011, eq. 97 with s = n - b)."""
    n, b = np.array([5.0, 120.0, 1000.0, 80.0]), np.array([1.0, 100.0, 900.0, 100.0])
    expected = np.sign(n - b) * np.sqrt(2 * (n * np.log(n / b) - (n - b)))
    np.testing.assert_allclose(profile_z(n, b), expected, rtol=1e-12)
    # continuity as sigma_b -> 0, and a larger uncertainty always lowers an excess' significance
    np.testing.assert_allclose(profile_z(n, b, 1e-3 * np.sqrt(b)), expected, rtol=1e-5)
    z = profile_z(150.0, 100.0, np.array([0.0, 5.0, 10.0, 20.0, 40.0]))
    assert np.all(np.diff(z) < 0) and z[-1] > 0
    assert profile_z(0.0, 3.0) == pytest.approx(-np.sqrt(6.0))           # n = 0: Z^2 = 2 b


def test_large_counts_reduce_to_the_gaussian_pull():
    """For b >> 1 and a small excess both methods give Z ~ (n - b) / sqrt(b + sigma_b^2)."""
    b, sigma_b = 1e5, 300.0
    pull = 2.0
    n = b + pull * np.sqrt(b + sigma_b ** 2)
    z_profile, _ = local_significance(n, b, sigma_b, "profile")
    z_conv, _ = local_significance(np.round(n), b, sigma_b, "convolved")
    assert z_profile == pytest.approx(pull, abs=0.02)
    assert z_conv == pytest.approx(pull, abs=0.02)


def test_convolved_is_the_poisson_tail_without_uncertainty():
    n, b = np.array([0, 1, 3, 10, 40]), 4.2
    np.testing.assert_allclose(convolved_p(n, b), stats.poisson.sf(n - 1, b), rtol=1e-10)
    # with an uncertainty: the same integral done by brute-force sampling of lambda
    rng = np.random.default_rng(0)
    lam = rng.normal(20.0, 4.0, 400_000)
    lam = lam[lam > 0]
    mc = stats.poisson.sf(29, lam).mean()
    assert convolved_p(30, 20.0, 4.0) == pytest.approx(mc, rel=0.01)


def test_z_p_round_trip_and_bad_method():
    z, p = local_significance(130.0, 100.0, 0.0, "convolved")
    assert z_from_p(p) == pytest.approx(z)
    with pytest.raises(ValueError, match="valid: profile, convolved"):
        local_significance(1.0, 1.0, method="bayes")
