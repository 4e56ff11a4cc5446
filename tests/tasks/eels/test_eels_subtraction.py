"""Matching a model ZLP to a spectrum (EELSfitter's procedure): with the true ZLP the inelastic signal comes
back exactly between dE1 and dE2; the remainder is never negative; numpy and vmapped JAX agree."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mlhep.tasks.eels import synthetic as syn
from mlhep.tasks.eels.subtraction import match_zlp, spectrum_fwhm, subtract_zlp

ENERGY = np.arange(-2.0, 10.0, 0.01)


@pytest.fixture(scope="module")
def spectrum():
    return syn.simulate(ENERGY, syn.Sample(), np.array([0.3, 0.8]), electrons=1e7, zlp=syn.ZLPShape(fwhm=0.2))


def test_true_zlp_gives_back_the_inelastic_signal(spectrum):
    de1, de2 = 1.2, 6.0
    for i in range(2):
        s, z = spectrum.expected[i], spectrum.zlp[i]
        assert spectrum_fwhm(ENERGY, s) == pytest.approx(0.2, abs=0.011)
        inelastic = subtract_zlp(ENERGY, s, z, de1, de2)
        between = (ENERGY >= de1) & (ENERGY <= de2)
        np.testing.assert_allclose(inelastic[between], spectrum.inelastic[i][between], rtol=1e-12)
        assert np.all(inelastic >= 0)
        de0 = (0.2 + de1) / 2
        assert np.all(inelastic[np.abs(ENERGY) < de0 - 0.01] == 0)       # the peak is all ZLP
        np.testing.assert_array_equal(inelastic[ENERGY > de2], s[ENERGY > de2])


def test_a_too_high_model_is_capped_by_the_spectrum(spectrum):
    s = spectrum.expected[0]
    matched = match_zlp(ENERGY, s, 10 * spectrum.zlp[0], 1.2, 6.0)
    assert np.all(matched <= s)


def test_jax_vmap_over_replicas_matches_numpy(spectrum):
    s = spectrum.expected[1]
    models = np.stack([spectrum.zlp[1] * f for f in (0.8, 1.0, 1.3)])
    batched = jax.vmap(lambda z: subtract_zlp(jnp.asarray(ENERGY), jnp.asarray(s), z, 1.2, 6.0, xp=jnp))(
        jnp.asarray(models))
    for k in range(3):
        np.testing.assert_allclose(np.asarray(batched[k]), subtract_zlp(ENERGY, s, models[k], 1.2, 6.0),
                                   rtol=1e-10, atol=1e-8)
