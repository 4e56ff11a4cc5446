"""K-means of pixels: separated groups are found, the result is seeded and ordered thinnest first; the cluster
median and ln-spread are EELSfitter's targets and uncertainties."""
from __future__ import annotations

import numpy as np
import pytest

from mlhep.tasks.eels import synthetic as syn
from mlhep.tasks.eels.clustering import cluster_pixels, cluster_spectra, kmeans, pixel_features


def _blobs(seed=0):
    rng = np.random.default_rng(seed)
    centres = np.array([[0.0, 0.0], [5.0, 0.0], [0.0, 5.0]])
    truth = rng.integers(0, 3, 600)
    return centres[truth] + rng.normal(0, 0.5, (600, 2)), truth


def test_kmeans_finds_separated_groups_and_is_seeded():
    points, truth = _blobs()
    labels, centroids, inertia = kmeans(points, 3, seed=1)
    # the same partition up to a relabelling
    pairs = {(a, b) for a, b in zip(truth, labels)}
    assert len(pairs) == 3
    again = kmeans(points, 3, seed=1)
    np.testing.assert_array_equal(again[0], labels)
    assert inertia <= kmeans(points, 3, seed=2, n_init=1)[2] + 1e-9
    assert inertia == pytest.approx(np.sum((points - centroids[labels]) ** 2))
    with pytest.raises(ValueError, match="cannot make"):
        kmeans(points[:2], 3)


def test_image_clusters_follow_thickness_plateaus_thinnest_first():
    tmap = np.zeros((12, 12))
    tmap[:, 4:8] = 0.5
    tmap[:, 8:] = 1.2
    energy = np.arange(-2.0, 40.0, 0.05)
    s = syn.simulate(energy, syn.Sample(), tmap, electrons=1e5, read_noise=2.0, seed=5)
    clusters = cluster_pixels(energy, s.spectra.counts, 3, seed=0)
    assert clusters.names == ("log_intensity", "thickness")
    expected = np.digitize(tmap.ravel(), [0.25, 0.85])              # 0 vacuum, 1 thin, 2 thick
    np.testing.assert_array_equal(clusters.labels, expected)
    assert np.all(np.diff(clusters.centroids[:, 1]) > 0)
    np.testing.assert_array_equal(clusters.sizes, [48, 48, 48])
    subset = cluster_pixels(energy, s.spectra.counts, 3, seed=0, max_points=60)   # centroids from 60 pixels
    np.testing.assert_array_equal(subset.labels, expected)
    one_feature = cluster_pixels(energy, s.spectra.counts, 3, names=("log_zlp",), seed=0)
    # EELSfitter's order: decreasing ln(ZLP peak), i.e. thinnest first again
    np.testing.assert_array_equal(one_feature.labels, expected)


def test_log_zlp_feature_is_the_three_channels_around_the_peak():
    counts = np.array([[1.0, 2.0, 10.0, 3.0, 1.0], [5.0, 1.0, 1.0, 1.0, 1.0]])
    f = pixel_features(np.arange(5.0), counts, ("log_zlp",))
    np.testing.assert_allclose(f[:, 0], np.log([15.0, 7.0]))       # a peak at the edge takes its neighbours


def test_cluster_median_and_log_spread():
    """Spectra base x exp(sigma z), z ~ N(0, 1): the median is the base and |p84 - p16| of ln counts is
    2 sigma (2000 members: the sampling error of the percentiles is ~3% of sigma)."""
    rng = np.random.default_rng(3)
    base = np.linspace(100, 1000, 30)
    sigma = np.linspace(0.05, 0.4, 30)
    spectra = base * np.exp(sigma * rng.standard_normal((2000, 30)))
    labels = np.r_[np.zeros(1999, dtype=int), 1]
    stats = cluster_spectra(spectra, labels, 2)
    np.testing.assert_allclose(stats.median[0], base, rtol=0.03)
    np.testing.assert_allclose(stats.sigma_log[0], 2 * sigma, rtol=0.1)
    assert np.all(stats.sigma_log[1] == 0) and list(stats.sizes) == [1999, 1]
    sub = cluster_spectra(spectra, labels, 2, max_members=500, seed=1)
    assert list(sub.sizes) == [500, 1]
    np.testing.assert_allclose(sub.sigma_log[0], 2 * sigma, rtol=0.2)
    clipped = cluster_spectra(np.full((3, 4), -5.0), np.zeros(3, dtype=int), 1)
    assert np.all(clipped.median == 1.0)                             # counts below 1 count as 1
    with pytest.raises(ValueError, match="empty"):
        cluster_spectra(spectra, labels, 3)
