"""The networks' inputs (``mlhep.tasks.jets.models``' batch keys) computed from stored constituents, numpy.

Only the keys a model reads (its ``inputs``) are computed. Everything relative to the jet (its axis, pT, E) is
taken from all stored constituents (up to 200), before the ``n_keep`` hardest are kept:

    particles  (N, n_keep, 7) float32  ``particles.CONSTITUENT_FEATURES`` (dy, dphi, ln pT, ln E, ...)
    points     (N, n_keep, 2) float32  (dy, dphi) to the jet axis
    p4         (N, n_keep, 4) float32  (E, px, py, pz) in GeV
    mask       (N, n_keep)    bool     real constituents
    features   (N, 8)         float32  ``highlevel.HIGH_LEVEL_FEATURES`` (mass, pT, multiplicity, tau_N, ratios)
    image      (N, pixels, pixels) float32  ``images.jet_images`` (pT fractions, centred, rotated, flipped)

A file with fewer than ``n_keep`` constituent slots is zero-padded (padding is what the mask says it is).
"""
from __future__ import annotations

import numpy as np

from mlhep.tasks.jets.highlevel import HIGH_LEVEL_FEATURES, high_level_features
from mlhep.tasks.jets.images import jet_images
from mlhep.tasks.jets.kinematics import constituent_mask
from mlhep.tasks.jets.particles import CONSTITUENT_FEATURES, constituent_features

INPUT_KEYS = ("particles", "points", "p4", "mask", "features", "image")


def _kept(a: np.ndarray, n_keep: int) -> np.ndarray:
    """The first ``n_keep`` slots (axis 1) of ``a``, zero-padded if it has fewer."""
    if a.shape[1] >= n_keep:
        return np.ascontiguousarray(a[:, :n_keep])
    return np.pad(a, [(0, 0), (0, n_keep - a.shape[1])] + [(0, 0)] * (a.ndim - 2))


def model_inputs(constituents: np.ndarray, needed, n_keep: int, pixels: int = 40, half_width: float = 0.8
                 ) -> dict[str, np.ndarray]:
    """The inputs ``needed`` (a subset of ``INPUT_KEYS``) of jets ``constituents`` (N, C, 4) (E, px, py, pz),
    pT-ordered and zero-padded; shapes and meaning in the module docstring."""
    unknown = set(needed) - set(INPUT_KEYS)
    if unknown:
        raise ValueError(f"unknown model input(s) {sorted(unknown)} (known: {', '.join(INPUT_KEYS)})")
    out: dict[str, np.ndarray] = {}
    if {"particles", "points"} & set(needed):
        features, _ = constituent_features(constituents)
        features = _kept(features, n_keep)
        if "particles" in needed:
            out["particles"] = features
        if "points" in needed:
            out["points"] = np.ascontiguousarray(features[..., :2])
    if "p4" in needed:
        out["p4"] = _kept(np.asarray(constituents, dtype=np.float32), n_keep)
    if "mask" in needed:
        out["mask"] = _kept(constituent_mask(constituents), n_keep)
    if "features" in needed:
        out["features"] = high_level_features(constituents)
    if "image" in needed:
        out["image"] = jet_images(constituents, pixels, half_width)
    return out


def input_shapes(needed, n_keep: int, pixels: int) -> dict[str, tuple[tuple[int, ...], np.dtype]]:
    """Per-jet (shape, dtype) of each input in ``needed``: to check a model before any jet is read."""
    shapes = {"particles": ((n_keep, len(CONSTITUENT_FEATURES)), np.float32),
              "points": ((n_keep, 2), np.float32), "p4": ((n_keep, 4), np.float32), "mask": ((n_keep,), np.bool_),
              "features": ((len(HIGH_LEVEL_FEATURES),), np.float32), "image": ((pixels, pixels), np.float32)}
    return {name: shapes[name] for name in needed}
