"""ZLP subtraction with EELSfitter's matching of a model ZLP to the recorded spectrum.

Roest et al., Ultramicroscopy 222 (2021) 113202, Section 3 ("matching"); EELSfitter 3.1
``SpectralImage.match_zlp_to_signal``. Close to the peak the recorded spectrum is the ZLP, far from it the model
is; in between the two are blended:

    |E| < dE0 = (FWHM + dE1)/2           the spectrum itself
    dE0 <= |E| < dE1                      f(E) model + (1 - f(E)) spectrum, f a logistic step centred at
                                          (dE0 + dE1)/2 of width (dE1 - dE0)/10 (mirrored on the gain side)
    dE1 <= E <= dE2, and E <= -dE1        the model
    E > dE2                               0

and finally the matched ZLP is capped by the spectrum (min of the two), so the inelastic remainder
spectrum - ZLP is never negative. The FWHM is that of the spectrum (channels just outside half maximum).
EELSfitter's gain side uses the width (dE1 + dE0)/10 (a sign slip); the mirror image (dE1 - dE0)/10 is used here.
Written with an ``xp`` argument so the same function runs in numpy and, vmapped over replicas and pixels, in JAX.
"""
from __future__ import annotations

import numpy as np


def spectrum_fwhm(energy, spectrum, xp=np):
    """FWHM (eV) of the peak of ``spectrum`` (n,): from the channel before the first above half maximum to the
    channel after the last (EELSfitter's convention)."""
    above = spectrum > 0.5 * xp.max(spectrum)
    index = xp.arange(spectrum.shape[-1])
    first = xp.min(xp.where(above, index, spectrum.shape[-1]))
    last = xp.max(xp.where(above, index, -1))
    n = spectrum.shape[-1]
    return energy[xp.clip(last + 1, 0, n - 1)] - energy[xp.clip(first - 1, 0, n - 1)]


def match_zlp(energy, spectrum, zlp, de1, de2, xp=np):
    """The model ``zlp`` (n,) matched to ``spectrum`` (n,) (module docstring); ``de1``, ``de2`` in eV."""
    fwhm = spectrum_fwhm(energy, spectrum, xp)
    de0 = (fwhm + de1) / 2
    width = (de1 - de0) / 10
    mid = (de0 + de1) / 2
    a = xp.abs(energy)
    blend = 1 / (1 + xp.exp(-(a - mid) / width))                    # the model's share in dE0 <= |E| < dE1
    matched = xp.where(a < de0, spectrum, xp.where(a < de1, blend * zlp + (1 - blend) * spectrum, zlp))
    matched = xp.where(energy > de2, 0.0, matched)
    return xp.minimum(matched, spectrum)


def subtract_zlp(energy, spectrum, zlp, de1, de2, xp=np):
    """The inelastic signal: spectrum - matched ZLP, (n,)."""
    return spectrum - match_zlp(energy, spectrum, zlp, de1, de2, xp)
