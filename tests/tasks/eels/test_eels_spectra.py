"""The Spectra container and the low-loss checks: what a ZLP fit refuses, with the file named."""
from __future__ import annotations

import numpy as np
import pytest

from mlhep.errors import DataError
from mlhep.tasks.eels.spectra import Spectra, centred_on_zero_loss, check_low_loss, stack

ENERGY = np.linspace(-2.0, 10.0, 241)


def _spectrum(energy=ENERGY, peak_at=0.0, background=50.0):
    return 1e6 * np.exp(-0.5 * ((energy - peak_at) / 0.1) ** 2) + background


def test_a_low_loss_spectrum_passes():
    s = Spectra(ENERGY, _spectrum(), source="a.txt")
    assert check_low_loss(s) is s


@pytest.mark.parametrize("energy, counts, message", [
    (ENERGY + 300, _spectrum(), "core-loss"),
    (ENERGY, _spectrum(peak_at=8.0), "most intense channel is at 8"),
    (ENERGY, np.full(ENERGY.size, 7.0), "no zero-loss peak"),
    (ENERGY, _spectrum() - 2e5 * (ENERGY > 5), "negative counts"),
    (ENERGY, -_spectrum(), "no zero-loss peak"),
])
def test_spectra_unfit_for_zlp_fitting_are_refused(energy, counts, message):
    with pytest.raises(DataError, match=message) as err:
        check_low_loss(Spectra(energy, counts, source="bad.dm4"))
    assert "bad.dm4" in str(err.value)


def test_noise_level_negative_counts_are_allowed():
    counts = _spectrum(background=0.0)
    counts[-5:] = -300.0                          # dark-subtraction noise, as in the real vacuum spectra
    check_low_loss(Spectra(ENERGY, counts, source="vacuum.txt"))


@pytest.mark.parametrize("energy, counts, message", [
    (ENERGY, np.ones(10), "do not end in the 241 channels"),
    (ENERGY[::-1], np.ones(241), "strictly increasing"),
    (ENERGY, np.full(241, np.nan), "NaN or infinite"),
])
def test_malformed_spectra_are_refused(energy, counts, message):
    with pytest.raises(DataError, match=message):
        Spectra(energy, counts, source="x")


def test_wrong_kind_and_non_uniform_axis():
    with pytest.raises(DataError, match="kind"):
        Spectra(ENERGY, _spectrum(), source="x", kind="core")
    s = Spectra(ENERGY ** 3, _spectrum(), source="x")
    with pytest.raises(DataError, match="not uniform"):
        s.dispersion


def test_stack_and_centre():
    a = Spectra(ENERGY, _spectrum(peak_at=0.05), source="a.txt")
    b = Spectra(ENERGY, 2 * _spectrum(peak_at=0.05), source="b.txt")
    s = stack([a, b])
    assert s.counts.shape == (2, 241) and s.labels == ("a.txt", "b.txt")
    assert centred_on_zero_loss(s).energy[np.argmax(s.counts[0])] == 0.0
    with pytest.raises(DataError, match="energy axis differs"):
        stack([a, Spectra(ENERGY + 0.01, _spectrum(), source="c.txt")])
    with pytest.raises(DataError, match="cannot be stacked"):
        stack([a, a.replace(kind="vacuum", source="v.txt")])
