"""The synthetic generator against its own physics: the Poisson series conserves electrons and gives
total/ZLP = exp(t/lambda), the pieces add up, the onset is A (E - E_bg)^b, the noise is Poisson and seeded."""
from __future__ import annotations

import numpy as np
import pytest
from scipy.integrate import trapezoid

from mlhep.tasks.eels import synthetic as syn

LONG = -3.0 + 0.05 * np.arange(12000)            # to 597 eV: nearly all plural scattering is on the axis


@pytest.mark.parametrize("tau", [0.0, 0.3, 1.0, 2.5])
def test_poisson_series_total_over_zlp_is_exp_tau(tau):
    s = syn.simulate(LONG, syn.Sample(), tau, electrons=1e6)
    assert s.zlp_total == pytest.approx(1e6 * np.exp(-tau), rel=1e-12)
    # the ZLP's gain tail below -3 eV (from -5 eV on, where the generator starts it) is off the axis
    assert s.zlp.sum() == pytest.approx(s.zlp_total, rel=1e-4)
    # the losses beyond 597 eV (E^-2 tails) are what is missing: < 1e-3 of the electrons
    assert s.expected.sum() == pytest.approx(1e6, rel=1e-3)
    assert s.expected.sum() / s.zlp.sum() == pytest.approx(np.exp(tau), rel=2e-3)
    # single scattering carries I0 tau, as the first term of the series
    assert s.single_scattering.sum() == pytest.approx(s.zlp_total * tau, rel=1e-3, abs=1e-6)


def test_thin_specimen_is_zlp_plus_single_scattering():
    """For tau -> 0 the series is I0 (Z + Z (x) s) + O(tau^2)."""
    tau = 1e-3
    s = syn.simulate(LONG[:3000], syn.Sample(), tau, electrons=1e8)
    second_order = s.expected - s.zlp - s.single_scattering
    assert np.max(np.abs(second_order)) < 2 * tau * np.max(s.single_scattering)


def test_onset_is_the_stated_power_law():
    energy = np.arange(-1.0, 6.0, 0.002)
    sample = syn.Sample(bandgap=1.8, exponent=0.5, onset_weight=0.3)
    s = syn.simulate(energy, sample, 0.5, zlp=syn.ZLPShape(fwhm=0.02, tail_fraction=0.0))
    # a few ZLP widths above the gap; the onset's cut-off factor differs from 1 by (0.6/5)^2.5 = 0.5% at 2.4 eV
    near = (energy > 2.0) & (energy < 2.4)
    expected = s.onset_amplitude * (energy[near] - 1.8) ** 0.5
    np.testing.assert_allclose(s.onset[near], expected, rtol=0.01)
    assert np.all(s.onset[energy < 1.7] < 1e-6 * s.onset.max())


def test_zlp_shape_has_unit_area_fwhm_and_asymmetric_tails():
    z = syn.ZLPShape(fwhm=0.2, tail_fraction=0.05, tail_gain=0.05, tail_loss=0.2)
    e = np.linspace(-400, 400, 2_000_001)
    density = z.density(e)
    assert trapezoid(density, e) == pytest.approx(1.0, abs=2e-3)       # Lorentzian tails beyond +-400 eV
    core = syn.ZLPShape(fwhm=0.2, tail_fraction=0.0).density(e)
    above = e[core >= core.max() / 2]
    assert above[-1] - above[0] == pytest.approx(0.2, abs=1e-3)
    assert z.density(np.array([1.0])) > 10 * z.density(np.array([-1.0]))  # the loss side tail is heavier


def test_noise_is_poisson_plus_read_noise_and_seeded():
    energy = np.linspace(-1, 10, 200)
    a = syn.simulate(energy, syn.Sample(), np.full(4000, 0.5), electrons=1e4, read_noise=3.0, seed=7)
    b = syn.simulate(energy, syn.Sample(), np.full(4000, 0.5), electrons=1e4, read_noise=3.0, seed=7)
    c = syn.simulate(energy, syn.Sample(), np.full(4000, 0.5), electrons=1e4, read_noise=3.0, seed=8)
    np.testing.assert_array_equal(a.spectra.counts, b.spectra.counts)
    assert not np.array_equal(a.spectra.counts, c.spectra.counts)
    residual = a.spectra.counts - a.expected
    variance = residual.var(axis=0)
    expected_var = a.expected[0] + 9.0
    mask = a.expected[0] > 20
    # 4000 samples per channel: the sample variance is within ~3 x sqrt(2/4000) ~ 7% of the truth
    np.testing.assert_allclose(variance[mask], expected_var[mask], rtol=0.1)
    assert abs(residual.mean()) < 0.05


def test_spectrum_image_follows_the_thickness_map():
    tmap = syn.thickness_map((12, 16), t_max=1.5, substrate=0.2)
    assert tmap.shape == (12, 16) and tmap.min() == pytest.approx(0.2) and tmap.max() < 1.7
    s = syn.simulate(LONG[:4000], syn.Sample(), tmap, electrons=1e5, chunk=50)
    assert s.spectra.counts.shape == (12, 16, 4000) and s.spectra.pixel_shape == (12, 16)
    np.testing.assert_allclose(s.zlp.sum(axis=-1), 1e5 * np.exp(-tmap), rtol=1e-4)
    assert np.array_equal(s.thickness, tmap)


def test_vacuum_is_the_zlp_alone():
    v = syn.vacuum(LONG[:2000], electrons=1e5, n_spectra=3, seed=1)
    assert v.spectra.kind == "vacuum" and v.spectra.counts.shape == (3, 2000)
    np.testing.assert_allclose(v.expected, v.zlp, atol=1e-6 * v.zlp.max())
