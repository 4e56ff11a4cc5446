"""The preprocessing (jet images, constituent features, high-level features) is invariant under rotations about
the beam and boosts along it of the whole jet: the transformations are applied to the four-vectors."""
from __future__ import annotations

import numpy as np
import pytest
from jet_fixtures import random_jets

from mlhep.tasks.jets.highlevel import HIGH_LEVEL_FEATURES, high_level_features
from mlhep.tasks.jets.images import image_coordinates, jet_images
from mlhep.tasks.jets.kinematics import boost_z, from_pt_eta_phi_m, rotate_z
from mlhep.tasks.jets.particles import BOOST_INVARIANT_FEATURES, CONSTITUENT_FEATURES, constituent_features

TRANSFORMS = {
    "rotation": lambda p4: rotate_z(p4, 2.3),
    "rotation across phi = pi": lambda p4: rotate_z(p4, np.pi - 0.01),
    "boost": lambda p4: boost_z(p4, 1.7),
    "boost and rotation": lambda p4: rotate_z(boost_z(p4, -2.2), -1.1),
}


@pytest.fixture(scope="module")
def jets():
    return random_jets(np.random.default_rng(7), n_jets=40, n_max=80, massive=True)


@pytest.mark.parametrize("name", TRANSFORMS)
def test_image_invariance(jets, name):
    moved = TRANSFORMS[name](jets)
    for a, b in zip(image_coordinates(jets), image_coordinates(moved)):
        np.testing.assert_allclose(a, b, atol=1e-9)
    np.testing.assert_allclose(jet_images(jets), jet_images(moved), atol=1e-6)


@pytest.mark.parametrize("name", TRANSFORMS)
def test_constituent_feature_invariance(jets, name):
    features, mask = constituent_features(jets)
    moved, moved_mask = constituent_features(TRANSFORMS[name](jets))
    np.testing.assert_array_equal(mask, moved_mask)
    invariant = list(CONSTITUENT_FEATURES) if name.startswith("rotation") else list(BOOST_INVARIANT_FEATURES)
    columns = [CONSTITUENT_FEATURES.index(f) for f in invariant]
    np.testing.assert_allclose(features[..., columns], moved[..., columns], atol=2e-5)
    if "boost" in name:     # the energy features are not boost invariant, and the module says so
        e = CONSTITUENT_FEATURES.index("log_e")
        assert np.max(np.abs(features[..., e] - moved[..., e])) > 0.1


@pytest.mark.parametrize("name", TRANSFORMS)
def test_high_level_invariance(jets, name):
    a, b = high_level_features(jets), high_level_features(TRANSFORMS[name](jets))
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_constituent_features_by_hand():
    """Two massless constituents at known (pT, eta, phi): every feature against its formula."""
    pts, etas, phis = np.array([300.0, 100.0]), np.array([0.5, 0.7]), np.array([3.1, -3.1])  # across phi = pi
    p4 = np.zeros((1, 4, 4))
    p4[0, :2] = from_pt_eta_phi_m(pts, etas, phis)
    features, mask = constituent_features(p4)
    assert mask.tolist() == [[True, True, False, False]]
    jet = p4[0].sum(axis=0)
    y_jet = 0.5 * np.log((jet[0] + jet[3]) / (jet[0] - jet[3]))
    phi_jet = np.arctan2(jet[2], jet[1])
    dphi = np.mod(phis - phi_jet + np.pi, 2 * np.pi) - np.pi
    assert np.all(np.abs(dphi) < 0.1)           # wrapped, not 6.2
    want = np.stack([etas - y_jet, dphi, np.log(pts), np.log(pts * np.cosh(etas)),
                     np.log(pts / np.hypot(jet[1], jet[2])), np.log(pts * np.cosh(etas) / jet[0]),
                     np.hypot(etas - y_jet, dphi)], axis=-1)
    np.testing.assert_allclose(features[0, :2], want, rtol=1e-5, atol=1e-6)
    assert np.all(features[0, 2:] == 0)


def test_image_frame():
    """After the preprocessing the pT-weighted centroid is at the origin, the major axis is vertical and the
    harder halves are at u > 0 and v > 0; the image holds the pT fractions of the constituents inside it."""
    jets = random_jets(np.random.default_rng(11), n_jets=30, n_max=50)
    u, v, w = image_coordinates(jets)
    np.testing.assert_allclose((w * u).sum(axis=1), 0, atol=1e-12)
    np.testing.assert_allclose((w * v).sum(axis=1), 0, atol=1e-12)
    np.testing.assert_allclose((w * u * v).sum(axis=1), 0, atol=1e-12)
    assert np.all((w * v * v).sum(axis=1) >= (w * u * u).sum(axis=1))
    assert np.all((w * (u > 0)).sum(axis=1) >= (w * (u < 0)).sum(axis=1))
    assert np.all((w * (v > 0)).sum(axis=1) >= (w * (v < 0)).sum(axis=1))
    images = jet_images(jets, n_pixels=40, half_width=0.8)
    assert images.shape == (30, 40, 40) and images.dtype == np.float32
    inside = (np.abs(u) < 0.8) & (np.abs(v) < 0.8)
    np.testing.assert_allclose(images.sum(axis=(1, 2)), (w * inside).sum(axis=1), rtol=1e-5)


def test_single_constituent_image():
    """One constituent: the centroid is the constituent itself, so it lands in the pixel at the origin."""
    p4 = np.zeros((1, 3, 4))
    p4[0, 0] = from_pt_eta_phi_m(500.0, 1.0, 0.3)
    image = jet_images(p4, n_pixels=4, half_width=0.8)
    assert image[0, 2, 2] == pytest.approx(1.0) and image.sum() == pytest.approx(1.0)


def test_high_level_names_and_values():
    """Mass and pT of the constituent sum; multiplicity; tau ratios."""
    jets = random_jets(np.random.default_rng(5), n_jets=10, n_max=30)
    hl = high_level_features(jets)
    assert hl.shape == (10, len(HIGH_LEVEL_FEATURES))
    jet = jets.sum(axis=1)
    col = {name: hl[:, i] for i, name in enumerate(HIGH_LEVEL_FEATURES)}
    np.testing.assert_allclose(col["mass"], np.sqrt(jet[:, 0] ** 2 - (jet[:, 1:] ** 2).sum(axis=1)), rtol=1e-5)
    np.testing.assert_allclose(col["pt"], np.hypot(jet[:, 1], jet[:, 2]), rtol=1e-6)
    np.testing.assert_array_equal(col["n_constituents"], (jets[..., 0] > 0).sum(axis=1))
    np.testing.assert_allclose(col["tau21"], col["tau2"] / col["tau1"], rtol=1e-5)
    np.testing.assert_allclose(col["tau32"], col["tau3"] / col["tau2"], rtol=1e-5)


def test_batching_does_not_change_results(jets):
    """The feature functions work through the jets in batches: any batch size gives the same arrays."""
    np.testing.assert_array_equal(jet_images(jets, batch=7), jet_images(jets))
    for a, b in zip(constituent_features(jets, batch=7), constituent_features(jets)):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(high_level_features(jets, batch=7), high_level_features(jets))
