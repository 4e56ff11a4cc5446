"""Window scans: the vectorised window sums, BumpHunter's null distribution (global p-values uniform when the
reference is the truth), an injected bump found at its mass, and the sliding sideband-fit scan."""
from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from mlhep.tasks.bumphunt.dijet_fit import expected_counts, fit_dijet, histogram
from mlhep.tasks.bumphunt.scan import (bumphunter, excess_p_values, global_p_value, null_distribution,
                                       sliding_window_scan, statistic, window_sums, windows)

EDGES = np.round(np.arange(2.6, 6.001, 0.1), 10)
WIDTHS = (2, 3, 4)


def background(total=2e5):
    mu = expected_counts(EDGES, (1.0, 10.0, 5.0, 0.0))
    return mu * total / mu.sum()


def test_window_sums_and_p_values_match_loops():
    rng = np.random.default_rng(0)
    counts = rng.poisson(20, size=(3, 12)).astype(float)
    ranges = windows(12, (2, 5), step=2)
    assert len(ranges) == 6 + 4 and np.all(ranges[:, 1] - ranges[:, 0] >= 2)
    brute = np.array([[c[a:b].sum() for a, b in ranges] for c in counts])
    np.testing.assert_array_equal(window_sums(counts, ranges), brute)
    b = np.full(len(ranges), 50.0)
    p = excess_p_values(brute, b)
    np.testing.assert_allclose(p, np.where(brute > b, stats.poisson.sf(brute - 1, b), 1.0), rtol=1e-10)
    with pytest.raises(ValueError, match="no window"):
        windows(3, (4,))


def test_null_global_p_values_are_uniform():
    """With the true background as the reference, the global p-values of 300 background-only histograms against
    one null distribution (4000 pseudo-experiments) are uniform (KS test); the local p-value of the most
    significant window is not (the look-elsewhere effect it corrects)."""
    b = background()
    ranges = windows(len(b), WIDTHS)
    t_null = null_distribution(b, ranges, 4000, seed=1)
    rng = np.random.default_rng(2)
    t_obs, _, p = statistic(rng.poisson(b, size=(300, len(b))), b, ranges)
    global_p = global_p_value(t_obs, t_null)
    assert stats.kstest(global_p, "uniform").pvalue > 0.01
    assert np.median(np.exp(-t_obs)) < 0.1                 # min local p: far from uniform
    assert p.shape == (300, len(ranges))


def test_bump_is_found_at_its_mass():
    """1000 events N(3.5, 0.08) TeV on 2e5 background; reference = a 4-parameter dijet fit to the whole spectrum
    (signal included, as on data): the most significant window contains 3.5 TeV and the global Z > 3; the same
    histogram without the bump gives a global p above 0.01."""
    rng = np.random.default_rng(3)
    n_b = rng.poisson(background()).astype(float)
    bump = histogram(rng.normal(3.5, 0.08, 1000), EDGES)
    data = n_b + bump
    reference = fit_dijet(EDGES, data).expected()[0]
    result = bumphunter(EDGES, data, reference, widths=WIDTHS, n_pseudo=2000, seed=4)
    assert result.window[0] <= 3.5 <= result.window[1] and result.window[1] - result.window[0] <= 0.4
    assert result.global_z > 3 and result.local_z > result.global_z
    inside = (EDGES[:-1] >= result.window[0] - 1e-9) & (EDGES[1:] <= result.window[1] + 1e-9)
    assert result.observed == data[inside].sum()
    null = bumphunter(EDGES, n_b, fit_dijet(EDGES, n_b).expected()[0], widths=WIDTHS, n_pseudo=2000, seed=4)
    assert null.global_p > 0.01
    assert result.t_null.shape == (2000,) and result.seconds > 0


def test_sliding_window_scan():
    """A 4-bin (400 GeV) window slid by one bin, each position with its own fit to the bins outside it: on a
    background-only histogram |Z| < 3.5 everywhere (30 windows); with 1200 events N(3.5, 0.08) TeV added, the
    window of largest Z contains 3.5 TeV and Z > 4. (Away from the bump Z is then distorted: the bump sits in
    those windows' sidebands.)"""
    rng = np.random.default_rng(5)
    null = rng.poisson(background()).astype(float)
    scan = sliding_window_scan(EDGES, null, width=4, step=1)
    assert np.all(scan["converged"]) and len(scan["z"]) == len(EDGES) - 4
    assert np.all(np.abs(scan["z"]) < 3.5) and np.all(scan["background_error"] > 0)
    scan = sliding_window_scan(EDGES, null + histogram(rng.normal(3.5, 0.08, 1200), EDGES), width=4, step=1)
    best = np.argmax(scan["z"])
    assert scan["lo"][best] <= 3.5 <= scan["hi"][best] and scan["z"][best] > 4


def test_same_result_as_pybumphunter():
    """Cross-check against pyBumpHunter (Vaslin et al.) on the same histogram and reference: the same most
    significant window, local p-value and t (exactly: the same statistic), and null distributions of t that agree
    (two-sample KS; different random streams)."""
    bh_module = pytest.importorskip("pyBumpHunter", reason="pyBumpHunter not installed (pip install "
                                    "pyBumpHunter==0.5.1): the BumpHunter tests above stand alone")
    import contextlib
    import io

    rng = np.random.default_rng(3)
    data = rng.poisson(background()).astype(float) + histogram(rng.normal(3.5, 0.08, 700), EDGES)
    reference = fit_dijet(EDGES, data).expected()[0]
    ours = bumphunter(EDGES, data, reference, widths=range(1, 18), n_pseudo=1000, seed=1)
    theirs = bh_module.BumpHunter1D(rang=(EDGES[0], EDGES[-1]), width_min=1, width_max=17, npe=1000, bins=EDGES,
                                    nworker=1, seed=2)
    with contextlib.redirect_stdout(io.StringIO()):
        theirs.bump_scan(data, reference, is_hist=True)
    lo, width = theirs.min_loc_ar[0], theirs.min_width_ar[0]
    assert ours.window == pytest.approx((EDGES[lo], EDGES[lo + width]))
    assert ours.local_p == pytest.approx(theirs.min_Pval_ar[0], rel=1e-12)
    assert ours.t == pytest.approx(theirs.t_ar[0], rel=1e-12)
    assert stats.ks_2samp(ours.t_null, theirs.t_ar[1:]).pvalue > 1e-3
