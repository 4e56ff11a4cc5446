"""The dijet-function fit: closure on pseudo-data drawn from the function itself (parameters, the signal-region
interpolation and its uncertainty, goodness of fit), and a clearly injected bump."""
from __future__ import annotations

import numpy as np
import pytest
from scipy import integrate, stats

from mlhep.tasks.bumphunt.dijet_fit import (dijet_function, expected_counts, fit_dijet, histogram,
                                            sideband_bins)
from mlhep.tasks.bumphunt.significance import signal_region_significance

EDGES = np.round(np.arange(2.6, 6.001, 0.1), 10)
TRUE = (1.0, 10.0, 5.0, 0.1)
SR = (3.3, 3.7)
IN_SR = ~sideband_bins(EDGES, SR)


def truth(total=1e6):
    mu = expected_counts(EDGES, TRUE)
    return mu * total / mu.sum()


def test_bin_integrals_match_quad():
    mu = expected_counts(EDGES, TRUE)
    quad = [integrate.quad(lambda m: dijet_function(m, TRUE), a, b, epsrel=1e-12)[0]
            for a, b in zip(EDGES[:-1], EDGES[1:])]
    np.testing.assert_allclose(mu, quad, rtol=1e-10)
    assert IN_SR.sum() == 4


@pytest.fixture(scope="module")
def null_fits():
    """200 pseudo-data histograms (1M events over 2.6-6 TeV, ~10^5 in the SR) fitted in the sidebands."""
    mu = truth()
    rng = np.random.default_rng(20)
    out = []
    for _ in range(200):
        n = rng.poisson(mu).astype(float)
        out.append(fit_dijet(EDGES, n, signal_region=SR))
    return mu, out


def test_parameters_cover_the_truth(null_fits):
    """(theta - theta_true)^T C^-1 (theta - theta_true) ~ chi2(4) when C is the right covariance."""
    mu, fits = null_fits
    assert all(f.converged for f in fits)
    scale = mu.sum() / expected_counts(EDGES, TRUE).sum()          # p0 of the truth for this normalisation
    theta_true = np.array([np.log(TRUE[0] * scale), *TRUE[1:]])
    d2 = [(f.theta - theta_true) @ np.linalg.solve(f.covariance, f.theta - theta_true) for f in fits]
    assert stats.kstest(d2, stats.chi2(4).cdf).pvalue > 0.01
    # goodness of fit: the deviance of the fitted bins ~ chi2(ndf)
    dev, ndf = zip(*(f.chi2() for f in fits))
    assert abs(np.mean(dev) - ndf[0]) < 4 * np.sqrt(2 * ndf[0] / len(fits))


def test_signal_region_pulls_and_p_values(null_fits):
    """The SR count against the interpolated fit: pulls (n - b) / sqrt(b + sigma_b^2) ~ N(0, 1) and the local
    p-values (signed profile likelihood, with the fit uncertainty) uniform on [0, 1] (KS test)."""
    mu, fits = null_fits
    results = [signal_region_significance(f, SR) for f in fits]
    n = np.array([r["observed"] for r in results])
    b = np.array([r["background"] for r in results])
    sb = np.array([r["background_error"] for r in results])
    pulls = (n - b) / np.sqrt(b + sb ** 2)
    assert abs(pulls.mean()) < 4 / np.sqrt(len(pulls)) and abs(pulls.std() - 1) < 0.2
    assert stats.kstest([r["p"] for r in results], "uniform").pvalue > 0.01
    assert stats.kstest([r["z"] for r in results], "norm").pvalue > 0.01
    assert 0.3 < np.mean(sb / np.sqrt(b)) < 2       # the fit uncertainty matters, as in the real analysis


def test_injected_bump_is_significant():
    """2000 signal events N(3.5, 0.1) TeV on 1M background (S/sqrt(B) ~ 6 in the SR): Z > 4 with the fit
    uncertainty included; the same without the bump: |Z| < 3."""
    rng = np.random.default_rng(5)
    edges = EDGES
    n_b = rng.poisson(truth()).astype(float)
    bump = histogram(rng.normal(3.5, 0.1, 2000), edges)
    with_bump = signal_region_significance(fit_dijet(edges, n_b + bump, signal_region=SR), SR)
    without = signal_region_significance(fit_dijet(edges, n_b, signal_region=SR), SR)
    assert with_bump["z"] > 4 and abs(without["z"]) < 3
    assert abs(with_bump["observed"] - without["observed"] - bump[IN_SR].sum()) < 1e-9


def test_bad_input():
    with pytest.raises(ValueError, match="increasing edges"):
        fit_dijet(EDGES[:-1], np.ones(len(EDGES) - 1))
    with pytest.raises(ValueError, match="n_params must be 3 or 4"):
        fit_dijet(EDGES, np.ones(len(EDGES) - 1), n_params=5)
    fit = fit_dijet(EDGES, truth().round(), signal_region=SR, n_params=3)
    assert fit.params[3] == 0 and fit.covariance.shape == (3, 3)
    with pytest.raises(ValueError, match="do not tile the signal region"):
        signal_region_significance(fit, (3.35, 3.7))
