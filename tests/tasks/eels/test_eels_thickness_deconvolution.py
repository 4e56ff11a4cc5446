"""Closure of the log-ratio thickness and of Fourier-log deconvolution on synthetic spectra of known t/lambda
and single-scattering distribution."""
from __future__ import annotations

import numpy as np
import pytest

from mlhep.tasks.eels import synthetic as syn
from mlhep.tasks.eels.deconvolution import fourier_log_deconvolution, power_law_extrapolation
from mlhep.tasks.eels.thickness import first_minimum_after_peak, log_ratio_thickness, zero_loss_intensity

LONG = -3.0 + 0.05 * np.arange(12000)            # -3 to 597 eV


@pytest.mark.parametrize("tau", [0.1, 0.7, 2.0])
def test_log_ratio_recovers_tau_with_the_true_zlp(tau):
    s = syn.simulate(LONG, syn.Sample(), tau, electrons=1e6)
    # noiseless: only the losses beyond the axis (< 1e-3 of the counts) are missing
    assert log_ratio_thickness(s.expected, s.zlp) == pytest.approx(tau, abs=2e-3)
    assert log_ratio_thickness(s.expected, s.zlp_total) == pytest.approx(tau, abs=2e-3)


def test_log_ratio_on_a_noisy_image_is_within_its_poisson_error():
    tmap = syn.thickness_map((8, 8), t_max=1.2, substrate=0.05)
    s = syn.simulate(LONG[:5000], syn.Sample(), tmap, electrons=1e6, read_noise=2.0, seed=11)
    t = log_ratio_thickness(s.spectra.counts, s.zlp)
    # the error of ln(N/I0) with N ~ Poisson is ~ 1/sqrt(N) = 1e-3; the truncated axis (to 247 eV) costs
    # the losses above it, < 1%.
    np.testing.assert_allclose(t, tmap, atol=0.01 * tmap.max() + 5e-3)


def test_zero_loss_estimates_without_a_model():
    energy = np.arange(-2.0, 60.0, 0.01)
    s = syn.simulate(energy, syn.Sample(), 0.4, zlp=syn.ZLPShape(fwhm=0.15, tail_fraction=0.0), electrons=1e6)
    threshold = first_minimum_after_peak(energy, s.expected)
    assert 0.15 < threshold < 1.6                            # after the ZLP, below the gap at 1.6 eV
    assert zero_loss_intensity(energy, s.expected) == pytest.approx(s.zlp_total, rel=2e-3)
    assert zero_loss_intensity(energy, s.expected, method="mirror") == pytest.approx(s.zlp_total, rel=2e-2)


@pytest.mark.parametrize("tau", [0.3, 1.0, 3.0])
def test_fourier_log_recovers_the_single_scattering(tau):
    """With the ZLP as reconvolution kernel the result is I0 (Z (x) s), the generator's single_scattering;
    tau = 3 needs the phase unwrapping (the phase of j/z passes pi)."""
    s = syn.simulate(LONG, syn.Sample(), tau, electrons=1e6)
    ssd = fourier_log_deconvolution(LONG, s.expected, s.zlp)
    region = (LONG > 0.5) & (LONG < 400)
    peak = s.single_scattering.max()
    np.testing.assert_allclose(ssd[region], s.single_scattering[region], atol=2e-3 * peak)
    assert ssd.sum() == pytest.approx(s.zlp_total * tau, rel=5e-3)


def test_fourier_log_without_reconvolution_and_with_a_gaussian():
    s = syn.simulate(LONG, syn.Sample(), 0.8, electrons=1e6)
    region = (LONG > 2.5) & (LONG < 300)           # away from the plasmon gate at the gap, a step
    sharp = fourier_log_deconvolution(LONG, s.expected, s.zlp, kernel="none")
    np.testing.assert_allclose(sharp[region], s.single_scattering_sharp[region],
                               atol=5e-3 * s.single_scattering_sharp.max())
    smooth = fourier_log_deconvolution(LONG, s.expected, s.zlp, kernel=0.5)
    assert smooth.sum() == pytest.approx(s.zlp_total * 0.8, rel=5e-3)


def test_fourier_log_on_noisy_image_batches_pixels():
    tmap = np.array([[0.2, 0.6], [1.0, 1.4]])
    energy = LONG[:6000]
    s = syn.simulate(energy, syn.Sample(), tmap, electrons=1e7, read_noise=1.0, seed=3)
    ssd = fourier_log_deconvolution(energy, s.spectra.counts, s.zlp)
    assert ssd.shape == (2, 2, 6000)
    region = (energy > 5) & (energy < 100)
    for i in range(2):
        for j in range(2):
            truth = s.single_scattering[i, j]
            np.testing.assert_allclose(ssd[i, j, region], truth[region], atol=0.03 * truth.max())


def test_power_law_extrapolation_continues_a_power_law():
    energy = np.arange(10.0, 50.0, 0.1)
    counts = 3e4 * energy ** -2.7
    e2, c2 = power_law_extrapolation(energy, np.stack([counts, 2 * counts]), 500)
    assert e2.size == 900 and c2.shape == (2, 900)
    np.testing.assert_allclose(c2[0, 400:], 3e4 * e2[400:] ** -2.7, rtol=1e-8)
    np.testing.assert_allclose(c2[1], 2 * c2[0], rtol=1e-8)
