"""Bandgap fits: exact on a noiseless onset, unbiased with calibrated errors on noisy ones (pulls), the grid
fit agrees with least squares, and the onset of a synthetic spectrum (broadened by its ZLP, with plural
scattering and plasmons) gives back E_bg and b."""
from __future__ import annotations

import numpy as np
import pytest

from mlhep.tasks.eels import synthetic as syn
from mlhep.tasks.eels.bandgap import fit_bandgap, fit_bandgap_grid, onset

ENERGY = np.arange(0.0, 4.0, 0.01)


@pytest.mark.parametrize("bandgap, exponent", [(1.6, 1.5), (1.2, 0.5), (2.1, 1.0)])
def test_noiseless_onset_is_recovered_exactly(bandgap, exponent):
    y = onset(ENERGY, 800.0, bandgap, exponent)
    fit = fit_bandgap(ENERGY, y, (bandgap - 0.4, bandgap + 1.0))
    assert fit.bandgap == pytest.approx(bandgap, abs=1e-6)
    assert fit.exponent == pytest.approx(exponent, abs=1e-5)
    assert fit.amplitude == pytest.approx(800.0, rel=1e-5)


@pytest.mark.parametrize("bandgap, exponent", [(1.6, 1.5), (1.2, 0.5)])
def test_noisy_onsets_pulls_are_unbiased_and_unit_width(bandgap, exponent):
    """40 Poisson-noise replicas of A (E - E_bg)^b on a flat background of 300 counts (subtracted): the pulls
    (fit - truth) / error have |mean| < 0.5 and a width in [0.6, 1.4] (the sampling spread of a 40-sample
    mean and width is 0.16 and ~0.11)."""
    truth = onset(ENERGY, 2000.0, bandgap, exponent) + 300.0
    pulls = []
    for seed in range(40):
        y = np.random.default_rng(seed).poisson(truth) - 300.0
        fit = fit_bandgap(ENERGY, y, (bandgap - 0.3, bandgap + 1.0), sigma=np.sqrt(truth))
        pulls.append([(fit.bandgap - bandgap) / fit.errors[1], (fit.exponent - exponent) / fit.errors[2]])
    pulls = np.array(pulls)
    assert np.all(np.abs(pulls.mean(axis=0)) < 0.5)
    assert np.all((pulls.std(axis=0) > 0.6) & (pulls.std(axis=0) < 1.4))


def test_fixed_exponent_and_unweighted_errors():
    rng = np.random.default_rng(1)
    y = onset(ENERGY, 500.0, 1.6, 1.5) + rng.normal(0, 5.0, ENERGY.size)
    fit = fit_bandgap(ENERGY, y, (1.2, 2.6), exponent=1.5)
    assert fit.exponent == 1.5 and fit.errors[2] == 0.0 and fit.ndof == fit_bandgap(ENERGY, y, (1.2, 2.6)).ndof + 1
    assert abs(fit.bandgap - 1.6) < 3 * fit.errors[1] and fit.errors[1] < 0.02
    assert fit.chi2 / fit.ndof == pytest.approx(25.0, rel=0.3)     # unweighted: chi2 is in counts^2


def test_grid_fit_matches_least_squares_on_many_spectra():
    rng = np.random.default_rng(4)
    truth = onset(ENERGY, 1500.0, 1.6, 1.5) + 200.0
    spectra = rng.poisson(truth, size=(3, 5, ENERGY.size)) - 200.0
    gaps, exps = np.arange(1.3, 1.9, 0.002), np.arange(1.0, 2.0, 0.01)
    amp, gap, exp, chi2 = fit_bandgap_grid(ENERGY, spectra, (1.3, 2.6), gaps, exps, sigma=np.sqrt(truth))
    assert gap.shape == (3, 5) == chi2.shape
    for i, j in [(0, 0), (1, 3), (2, 4)]:
        ls = fit_bandgap(ENERGY, spectra[i, j], (1.3, 2.6), sigma=np.sqrt(truth))
        assert gap[i, j] == pytest.approx(ls.bandgap, abs=0.004)       # two grid steps
        assert exp[i, j] == pytest.approx(ls.exponent, abs=0.03)
        assert chi2[i, j] >= ls.chi2 - 1e-6                             # least squares is the optimum


@pytest.mark.parametrize("bandgap, exponent", [(1.6, 1.5), (1.2, 0.5)])
def test_bandgap_of_a_synthetic_spectrum_with_the_true_zlp_subtracted(bandgap, exponent):
    """Inelastic = spectrum - true ZLP, t/lambda = 0.5, plasmons at 22 eV: within 1 eV of the gap the signal is
    the onset broadened by the ZLP (FWHM 0.1 eV), which shifts E_bg by less than a tenth of the FWHM."""
    energy = np.arange(-1.0, 10.0, 0.01)
    s = syn.simulate(energy, syn.Sample(bandgap=bandgap, exponent=exponent), 0.5, electrons=1e7,
                     zlp=syn.ZLPShape(fwhm=0.1, tail_fraction=0.02))
    fit = fit_bandgap(energy, s.inelastic, (bandgap - 0.3, bandgap + 1.0))
    assert fit.bandgap == pytest.approx(bandgap, abs=0.015)
    assert fit.exponent == pytest.approx(exponent, abs=0.05)
