"""dE1/dE2 by EELSfitter's recipe: the Kneedle knee (against the kneed package when installed, and on a curve
with a known corner), the smoothing, the order of the landmarks on a synthetic spectrum, and on the real WS2
spectra the hand-set values of Roest et al. 2021."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

from mlhep.tasks.eels import synthetic as syn
from mlhep.tasks.eels.regions import find_de1_de2, hann_smooth, knee


def test_knee_of_a_curve_with_a_corner():
    x = np.linspace(0, 5, 501)
    y = np.where(x < 1, 1 - 0.9 * x, 0.1 - 0.02 * (x - 1))        # steep, then nearly flat: the corner at 1
    assert knee(x, y) == pytest.approx(1.0, abs=0.011)
    assert knee(x, 2 - x) is None                                  # a straight line has no knee


def test_knee_agrees_with_the_kneed_package():
    kneed = pytest.importorskip("kneed", reason="kneed (EELSfitter's knee finder) is not installed")
    rng = np.random.default_rng(0)
    for _ in range(300):
        x = np.sort(rng.uniform(0, 5, rng.integers(3, 80)))
        y = np.exp(-x * rng.uniform(0.3, 3)) + rng.normal(0, rng.choice([0, 0.01, 0.05, 0.3]), x.size)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")                        # kneed warns when there is no knee
            theirs = kneed.KneeLocator(x, y, curve="convex", direction="decreasing").knee
        ours = knee(x, y)
        assert (theirs is None and ours is None) or np.isclose(theirs, ours)


def test_hann_smoothing_keeps_length_and_constants():
    assert np.allclose(hann_smooth(np.full(50, 3.0), 11), 3.0)
    line = np.arange(100.0)
    smooth = hann_smooth(line, 31)
    assert smooth.shape == (100,)
    np.testing.assert_allclose(smooth[15:-15], line[15:-15])       # a symmetric window keeps lines
    assert hann_smooth(line, 10).shape == (100,)                   # an even window is made odd


def test_landmarks_on_a_synthetic_spectrum_are_in_order():
    energy = np.arange(-2.0, 30.0, 0.01)
    s = syn.simulate(energy, syn.Sample(bandgap=2.5), np.full(20, 0.6), electrons=1e7, read_noise=3.0, seed=2,
                     zlp=syn.ZLPShape(fwhm=0.2))
    r = find_de1_de2(energy, s.spectra.counts)
    assert r.fwhm == pytest.approx(0.2, abs=0.03)                  # channels just outside half maximum
    assert 0 < r.steepest < r.knee < r.first_minimum
    assert r.de1 == pytest.approx(energy[np.nonzero(energy > r.knee)[0][0]])
    assert r.de1 < r.de2 <= energy[-2]
    # near the first minimum the ZLP tail meets the onset; the fit region stays below the 2.5 eV gap
    assert r.first_minimum < 3.0 and r.de1 < 2.5
    shifted = find_de1_de2(energy, s.spectra.counts, shift_de1=1.2, shift_de2=0.5)
    assert shifted.de1 == pytest.approx(1.2 * r.de1) and shifted.de2 == pytest.approx(0.5 * r.de2)


@pytest.mark.shared_data
def test_ws2_specimen_4_regions_near_the_hand_set_values(shared_data):
    """Roest et al. 2021 set dE1 = 1.8 eV and dE2 = 12 eV by hand for these spectra (EELSfitter v1 notebook);
    the automatic recipe of EELSfitter 3.1 lands within 25% of both."""
    from mlhep.tasks.eels.io import read_roest_folder
    from mlhep.tasks.eels.spectra import centred_on_zero_loss
    folder = shared_data / "eels_roest2021" / "Specimen_4"
    if not folder.is_dir():
        pytest.skip(f"{folder} is absent")
    specimen = centred_on_zero_loss(read_roest_folder(folder)["specimen"])
    r = find_de1_de2(specimen.energy, specimen.counts)
    assert r.de1 == pytest.approx(1.8, rel=0.25) and r.de2 == pytest.approx(12.0, rel=0.25)
