"""Jet images: pT-weighted 2D histograms of the constituents in a frame fixed by the jet itself.

The preprocessing of the DeepTop CNN (Kasieczka, Plehn, Russell, Schell, JHEP 05 (2017) 006, arXiv:1701.08784;
Macaluso, Shih, JHEP 10 (2018) 121), vectorised over jets:

1. coordinates (y, phi) relative to the jet axis (rapidity: differences are boost invariant);
2. centring on the pT-weighted centroid;
3. rotation so that the principal axis of the pT-weighted (y, phi) distribution (eigenvector of the larger
   eigenvalue of its second-moment matrix) points along +v, the vertical image axis;
4. flips: u -> -u if the half u < 0 carries more pT than u > 0, v -> -v likewise, so the harder halves lie at
   u > 0 and v > 0 (the upper right quadrant);
5. pixels: ``n_pixels`` x ``n_pixels`` over u, v in [-half_width, half_width] (default 40 x 40 over [-0.8, 0.8]:
   pixels of 0.04 x 0.04); intensity = pT_i / sum_j pT_j (constituents outside the window are dropped, so an
   image sums to at most 1). ``image[:, row, col]``: row = v bin from -half_width upwards, col = u bin.

Every step uses only differences of rapidity and azimuth and the pT, so an image is invariant under boosts along
z and rotations about z of the whole jet.
"""
from __future__ import annotations

import numpy as np

from mlhep.tasks.jets.kinematics import jet_axis_coordinates, pt


def image_coordinates(constituents: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(u, v, weight), each (n_jets, C): constituent positions after centring, rotation and flips, and their pT
    fractions (0 for padding). ``constituents`` (n_jets, C, 4) (E, px, py, pz), zero-padded."""
    p4 = np.asarray(constituents, dtype=np.float64)
    dy, dphi, mask = jet_axis_coordinates(p4)
    w = np.where(mask, pt(p4), 0.0)
    total = w.sum(axis=1, keepdims=True)
    w = w / np.where(total > 0, total, 1.0)
    x = dy - (w * dy).sum(axis=1, keepdims=True)
    y = dphi - (w * dphi).sum(axis=1, keepdims=True)
    cxx, cyy, cxy = (w * x * x).sum(axis=1), (w * y * y).sum(axis=1), (w * x * y).sum(axis=1)
    theta = 0.5 * np.arctan2(2 * cxy, cxx - cyy)[:, None]     # angle of the major axis from the +y (rapidity) axis
    v = np.cos(theta) * x + np.sin(theta) * y                  # along the major axis
    u = -np.sin(theta) * x + np.cos(theta) * y
    u = np.where((w * (u > 0)).sum(axis=1, keepdims=True) < (w * (u < 0)).sum(axis=1, keepdims=True), -u, u)
    v = np.where((w * (v > 0)).sum(axis=1, keepdims=True) < (w * (v < 0)).sum(axis=1, keepdims=True), -v, v)
    return np.where(mask, u, 0.0), np.where(mask, v, 0.0), w


def jet_images(constituents: np.ndarray, n_pixels: int = 40, half_width: float = 0.8, batch: int = 10_000
               ) -> np.ndarray:
    """Jet images (n_jets, n_pixels, n_pixels) float32 (module docstring for the frame and the axes); computed
    ``batch`` jets at a time to bound the float64 temporaries."""
    out = np.zeros((constituents.shape[0], n_pixels, n_pixels), dtype=np.float32)
    scale = n_pixels / (2 * half_width)
    for a in range(0, constituents.shape[0], batch):
        u, v, w = image_coordinates(constituents[a:a + batch])
        n_jets = u.shape[0]
        col = np.floor((u + half_width) * scale).astype(np.int64)
        row = np.floor((v + half_width) * scale).astype(np.int64)
        inside = (w > 0) & (col >= 0) & (col < n_pixels) & (row >= 0) & (row < n_pixels)
        jet = np.broadcast_to(np.arange(n_jets)[:, None], u.shape)
        flat = (jet[inside] * n_pixels + row[inside]) * n_pixels + col[inside]
        image = np.bincount(flat, weights=w[inside], minlength=n_jets * n_pixels * n_pixels)
        out[a:a + n_jets] = image.reshape(n_jets, n_pixels, n_pixels)
    return out
