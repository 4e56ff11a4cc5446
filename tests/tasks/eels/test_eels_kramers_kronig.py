"""Kramers-Kronig analysis against dielectric functions known in closed form: a Lorentz oscillator (an
insulator, eps(0) = n^2) and a Drude metal (n -> infinity); and end to end, spectrum -> Fourier-log -> KK
thickness."""
from __future__ import annotations

import numpy as np
import pytest

from mlhep.tasks.eels import kinematics as kin
from mlhep.tasks.eels import synthetic as syn
from mlhep.tasks.eels.deconvolution import fourier_log_deconvolution
from mlhep.tasks.eels.kramers_kronig import kramers_kronig, odd_hilbert
from mlhep.tasks.eels.thickness import log_ratio_thickness

BEAM, BETA = 200.0, 10.0            # keV, mrad


def lorentz(e, ep=15.0, e0=5.0, width=3.0):
    """eps(E) = 1 + Ep^2 / (E0^2 - E^2 - i E Gamma): eps(0) = 1 + Ep^2/E0^2 (= 10 here)."""
    return 1 + ep ** 2 / (e0 ** 2 - e ** 2 - 1j * e * width)


def drude(e, ep=16.0, width=4.0):
    return 1 - ep ** 2 / (e ** 2 + 1j * e * width)


def ssd_of(eps_fn, energy, thickness_nm, i0):
    elf = (-1 / eps_fn(energy)).imag
    step = energy[1] - energy[0]
    return kin.single_scattering_from_elf(energy, elf, thickness_nm, BEAM, BETA, i0) * step


@pytest.mark.parametrize("offset", [0.0, 0.013])          # channels on multiples of the step, or offset
def test_insulator_thickness_and_dielectric_function(offset):
    energy = offset + 0.02 * np.arange(1, 15000)             # to 300 eV: the ELF ~ E^-3 tail is negligible
    ssd = ssd_of(lorentz, energy, 50.0, 1e6)
    r = kramers_kronig(energy, ssd, BEAM, BETA, zlp_counts=1e6, refractive_index=np.sqrt(10.0))
    assert r.thickness == pytest.approx(50.0, rel=1e-3)
    truth = lorentz(r.energy)
    near = r.energy < 40
    # the FFT Hilbert transform is accurate to ~1% of |eps| on this grid
    np.testing.assert_allclose(r.eps[near], truth[near], atol=0.01 * np.abs(truth[near]).max())
    np.testing.assert_allclose(r.elf, (-1 / truth).imag, rtol=1e-3)     # K from the truncated sum rule


def test_metal_sum_rule_with_infinite_index_and_thickness_normalisation():
    energy = 0.02 * np.arange(1, 20000)
    ssd = ssd_of(drude, energy, 30.0, 5e5)
    r = kramers_kronig(energy, ssd, BEAM, BETA, zlp_counts=5e5, refractive_index=np.inf)
    assert r.thickness == pytest.approx(30.0, rel=5e-3)
    by_t = kramers_kronig(energy, ssd, BEAM, BETA, zlp_counts=5e5, thickness_nm=30.0)
    truth = drude(by_t.energy)
    band = (by_t.energy > 5) & (by_t.energy < 40)
    np.testing.assert_allclose(by_t.eps[band], truth[band], atol=0.02 * np.abs(truth[band]).max())


def test_batched_spectra_give_batched_results():
    energy = 0.05 * np.arange(1, 6000)
    ssd = np.stack([ssd_of(lorentz, energy, t, 1e6) for t in (20.0, 40.0, 80.0)])
    r = kramers_kronig(energy, ssd, BEAM, BETA, zlp_counts=np.full(3, 1e6), refractive_index=np.sqrt(10.0))
    np.testing.assert_allclose(r.thickness, [20.0, 40.0, 80.0], rtol=3e-3)
    assert r.eps.shape == (3, energy.size)
    np.testing.assert_allclose(r.eps[0], r.eps[2], rtol=1e-9)


def test_hilbert_transform_of_a_known_pair():
    """For f(E) = E / (E^2 + a^2) (odd), (2/pi) P int_0^inf f(E') E' dE' / (E^2 - E'^2) = -a / (E^2 + a^2)."""
    a = 2.0
    energy = 0.01 * np.arange(1, 100000)
    h = odd_hilbert(energy, energy / (energy ** 2 + a ** 2))
    near = energy < 20
    # the slowly decaying 1/E tail is cut at 1000 eV: an error ~ 1e-3 of the peak
    np.testing.assert_allclose(h[near], -a / (energy[near] ** 2 + a ** 2), atol=2e-3 / a)


def test_end_to_end_kk_thickness_from_a_synthetic_spectrum():
    """Spectrum with plural scattering -> Fourier-log with the true ZLP -> KK sum rule: the absolute thickness
    agrees with the truth; and t/lambda from the log-ratio gives lambda = t / (t/lambda)."""
    t_nm = 60.0
    lags = 0.02 * np.arange(30000)

    def shape(e):
        out = np.zeros_like(e)
        positive = e > 0
        out[positive] = kin.single_scattering_from_elf(e[positive], (-1 / lorentz(e[positive])).imag, t_nm,
                                                       BEAM, BETA)
        return out

    tau = np.sum(shape(lags)) * 0.02                          # t/lambda implied by the ELF
    energy = -2.0 + 0.02 * np.arange(15000)                   # to 298 eV
    s = syn.simulate(energy, shape, tau, zlp=syn.ZLPShape(fwhm=0.1, tail_fraction=0.0), electrons=1e7)
    ssd = fourier_log_deconvolution(energy, s.expected, s.zlp)
    r = kramers_kronig(energy, ssd, BEAM, BETA, zlp_counts=s.zlp.sum(), refractive_index=np.sqrt(10.0))
    # the ZLP broadening moves counts across E = 0 where the 1/E weights are large: 2% on the thickness
    assert r.thickness == pytest.approx(t_nm, rel=0.02)
    assert log_ratio_thickness(s.expected, s.zlp) == pytest.approx(tau, rel=2e-3)
