"""Pooling (sliding-window averaging) of a spectrum image, to tame the noise of single pixels.

EELSfitter 3.1 ``SpectralImage.pool_pixel`` / documentation "Pooling and clustering" (Brokkelkamp et al., J. Phys.
Chem. A 126 (2022) 1255): each pixel's spectrum is replaced by the weighted mean over a square window of
``area`` x ``area`` pixels around it, with separable weights w(i') w(j'), a Gaussian exp(-d^2 / 2 sigma^2)
(EELSfitter's default, sigma = 2 pixels) or uniform. At the border the window is shifted inside the image and
the Gaussian keeps its centre on the pixel. Computed as W_y . data . W_x^T with two small (n, n) weight
matrices, vectorised over all pixels.
"""
from __future__ import annotations

import numpy as np


def pooling_weights(size: int, area: int = 9, sigma: float | None = 2.0) -> np.ndarray:
    """(size, size) row-normalised weights: row i averages the ``area`` pixels of the window of pixel i
    (``area`` odd, <= size); Gaussian of ``sigma`` pixels about i, or uniform when sigma is None."""
    if area % 2 == 0 or not 1 <= area <= size:
        raise ValueError(f"pooling area {area} must be odd and at most the image size {size}")
    half = area // 2
    weights = np.zeros((size, size))
    for i in range(size):
        start = min(max(i - half, 0), size - area)              # the window shifted inside the image
        cols = np.arange(start, start + area)
        w = np.ones(area) if sigma is None else np.exp(-0.5 * ((cols - i) / sigma) ** 2)
        weights[i, cols] = w / w.sum()
    return weights


def pool_image(counts: np.ndarray, area: int = 9, sigma: float | None = 2.0) -> np.ndarray:
    """Pooled spectrum image, (ny, nx, n) -> (ny, nx, n) (module docstring)."""
    counts = np.asarray(counts, dtype=np.float64)
    if counts.ndim != 3:
        raise ValueError(f"pooling needs a spectrum image (ny, nx, n), got shape {counts.shape}")
    wy = pooling_weights(counts.shape[0], area, sigma)
    wx = pooling_weights(counts.shape[1], area, sigma)
    return np.einsum("ij,jkn,lk->iln", wy, counts, wx, optimize=True)
