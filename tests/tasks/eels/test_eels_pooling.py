"""Pooling of a spectrum image: weights as EELSfitter's pool_pixel (Gaussian about the pixel, window shifted
inside at the border), constants unchanged, noise reduced by the effective number of pixels."""
from __future__ import annotations

import numpy as np
import pytest

from mlhep.tasks.eels.pooling import pool_image, pooling_weights


def test_weights_interior_and_border():
    w = pooling_weights(20, area=5, sigma=2.0)
    np.testing.assert_allclose(w.sum(axis=1), 1.0)
    g = np.exp(-0.5 * (np.arange(-2, 3) / 2.0) ** 2)
    np.testing.assert_allclose(w[10, 8:13], g / g.sum())                   # centred window in the interior
    edge = np.exp(-0.5 * (np.arange(0, 5) / 2.0) ** 2)
    np.testing.assert_allclose(w[0, :5], edge / edge.sum())                 # shifted window, Gaussian on pixel 0
    np.testing.assert_allclose(w[19, 15:], edge[::-1] / edge.sum())
    np.testing.assert_allclose(pooling_weights(6, 3, None)[2, 1:4], 1 / 3)
    with pytest.raises(ValueError, match="odd"):
        pooling_weights(10, 4)


def test_pooling_keeps_constants_and_averages_noise():
    rng = np.random.default_rng(0)
    image = 100.0 + rng.normal(0, 1.0, (30, 40, 50))
    pooled = pool_image(image, area=9, sigma=None)
    assert pooled.shape == image.shape
    np.testing.assert_allclose(pool_image(np.full((10, 12, 3), 7.0)), 7.0)
    # uniform 9 x 9 windows: the noise drops by sqrt(81) = 9 in the interior
    assert pooled[8:-8, 8:-8].std() == pytest.approx(1 / 9, rel=0.1)
    by_loop = np.mean(image[2:11, 3:12], axis=(0, 1))                     # pixel (6, 7): rows 2..10, cols 3..11
    np.testing.assert_allclose(pooled[6, 7], by_loop)
