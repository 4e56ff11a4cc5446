"""K-means clustering of spectrum-image pixels, and each cluster's median spectrum and spread.

Pixels of similar thickness share a ZLP shape, so the ZLP model is trained on clusters (Roest et al.,
Ultramicroscopy 222 (2021) 113202; EELSfitter 3.1 documentation, "Pooling and clustering"). EELSfitter clusters
on one feature, by default ``log_zlp`` = ln(sum of the 3 channels around each spectrum's maximum), with
scikit-learn's k-means (k-means++, 10 restarts) and orders the clusters by decreasing centroid, so that cluster
0 is the thinnest (vacuum-like). Here the features are a choice among

    "log_intensity": ln(total counts), the integrated intensity N_tot of the EELSfitter papers;
    "thickness":     t/lambda = ln(N_tot / I0) by the log-ratio method, I0 from ``thickness.zero_loss_intensity``;
    "log_zlp":       ln(sum of the 3 channels around the maximum), EELSfitter's default;

standardised (zero mean, unit variance) so each weighs alike, and clusters are ordered by increasing thickness
(thinnest first) when "thickness" is a feature, else by decreasing first feature (EELSfitter's order).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mlhep.tasks.eels.spectra import log_zlp_intensity
from mlhep.tasks.eels.thickness import zero_loss_intensity

FEATURES = ("log_intensity", "thickness", "log_zlp")


@dataclass(frozen=True)
class Clusters:
    """labels: (n_pixels,) cluster of each pixel, 0 the thinnest; centroids: (k, n_features) in feature units;
    features: (n_pixels, n_features); names: the feature names; inertia: the k-means objective on the
    standardised features."""

    labels: np.ndarray
    centroids: np.ndarray
    features: np.ndarray
    names: tuple[str, ...]
    inertia: float

    @property
    def sizes(self) -> np.ndarray:
        return np.bincount(self.labels, minlength=len(self.centroids))


def pixel_features(energy: np.ndarray, counts: np.ndarray, names: tuple[str, ...] = ("log_intensity", "thickness"),
                   zlp_threshold: float | None = None) -> np.ndarray:
    """(n_pixels, len(names)) features of spectra ``counts`` (..., n); see the module docstring.
    zlp_threshold: the energy (eV) below which counts make I0 for "thickness" (default: the first minimum after
    the ZLP of the summed spectrum)."""
    flat = np.asarray(counts, dtype=np.float64).reshape(-1, np.size(energy))
    total = np.clip(flat.sum(axis=-1), 1e-300, None)
    columns = []
    for name in names:
        if name == "log_intensity":
            columns.append(np.log(total))
        elif name == "thickness":
            i0 = np.clip(zero_loss_intensity(energy, flat, zlp_threshold), 1e-300, None)
            columns.append(np.log(total / i0))
        elif name == "log_zlp":
            columns.append(log_zlp_intensity(np.clip(flat, 1e-300, None)))
        else:
            raise ValueError(f"unknown feature {name!r}; valid: {', '.join(FEATURES)}")
    return np.stack(columns, axis=-1)


def kmeans(points: np.ndarray, k: int, seed: int = 0, n_init: int = 10, max_iter: int = 300,
           tol: float = 1e-8) -> tuple[np.ndarray, np.ndarray, float]:
    """Lloyd's k-means with k-means++ starts (Arthur and Vassilvitskii 2007), the best of ``n_init`` by
    inertia; deterministic for a given ``seed``. points (m, d) -> (labels (m,), centroids (k, d), inertia).
    An emptied cluster is restarted at the point farthest from its centroid."""
    points = np.asarray(points, dtype=np.float64)
    m, d = points.shape
    if not 1 <= k <= m:
        raise ValueError(f"cannot make {k} clusters of {m} points")
    rng = np.random.default_rng(seed)
    best = None
    for _ in range(n_init):
        centroids = _kmeans_pp(points, k, rng)
        for _ in range(max_iter):
            dist = _sq_dist(points, centroids)
            labels = np.argmin(dist, axis=1)
            sizes = np.bincount(labels, minlength=k)
            sums = np.stack([np.bincount(labels, weights=points[:, j], minlength=k) for j in range(d)], axis=1)
            new = np.where(sizes[:, None] > 0, sums / np.maximum(sizes, 1)[:, None], centroids)
            for c in np.nonzero(sizes == 0)[0]:
                new[c] = points[np.argmax(dist[np.arange(m), labels])]
            shift = np.max(np.sum((new - centroids) ** 2, axis=1))
            centroids = new
            if shift <= tol:
                break
        dist = _sq_dist(points, centroids)
        labels = np.argmin(dist, axis=1)
        inertia = float(dist[np.arange(m), labels].sum())
        if best is None or inertia < best[2]:
            best = (labels, centroids, inertia)
    return best


def _sq_dist(points: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    """(m, k) squared distances, as |p|^2 - 2 p.c + |c|^2 (no (m, k, d) temporary), clipped at 0."""
    d2 = np.sum(points ** 2, axis=1)[:, None] - 2 * points @ centroids.T + np.sum(centroids ** 2, axis=1)[None, :]
    return np.maximum(d2, 0.0)


def _kmeans_pp(points: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    centroids = [points[rng.integers(points.shape[0])]]
    for _ in range(1, k):
        d2 = np.min(_sq_dist(points, np.array(centroids)), axis=1)
        total = d2.sum()
        index = rng.integers(points.shape[0]) if total == 0 else rng.choice(points.shape[0], p=d2 / total)
        centroids.append(points[index])
    return np.array(centroids)


def cluster_pixels(energy: np.ndarray, counts: np.ndarray, k: int,
                   names: tuple[str, ...] = ("log_intensity", "thickness"), seed: int = 0, n_init: int = 10,
                   zlp_threshold: float | None = None, max_points: int = 100_000) -> Clusters:
    """K-means of the pixels of ``counts`` (..., n) on the standardised ``names`` features; clusters ordered
    thinnest first (module docstring). Images of more than ``max_points`` pixels: the centroids are found on a
    seeded random subset of that many, then every pixel joins its nearest centroid."""
    features = pixel_features(energy, counts, names, zlp_threshold)
    mean, std = features.mean(axis=0), features.std(axis=0)
    scaled = (features - mean) / np.where(std > 0, std, 1.0)
    subset = scaled
    if scaled.shape[0] > max_points:
        subset = scaled[np.random.default_rng(seed).choice(scaled.shape[0], max_points, replace=False)]
    _, centroids, _ = kmeans(subset, k, seed=seed, n_init=n_init)
    distance = _sq_dist(scaled, centroids)
    labels = np.argmin(distance, axis=1)
    inertia = float(distance[np.arange(scaled.shape[0]), labels].sum())
    centroids = centroids * np.where(std > 0, std, 1.0) + mean
    order = (np.argsort(centroids[:, names.index("thickness")]) if "thickness" in names
             else np.argsort(-centroids[:, 0]))
    relabel = np.empty(k, dtype=np.int64)
    relabel[order] = np.arange(k)
    return Clusters(labels=relabel[labels], centroids=centroids[order], features=features, names=tuple(names),
                    inertia=inertia)


@dataclass(frozen=True)
class ClusterSpectra:
    """Per-cluster training targets as EELSfitter builds them (``TrainZeroLossPeak.set_y_data``/``set_sigma``):
    median: (k, n) median spectrum of the cluster (counts below 1 set to 1 first); sigma_log: (k, n) the full
    width of the central 68% interval of ln(counts), |p84 - p16| (not half of it), the per-channel uncertainty
    of ln I in the chi2; sizes: (k,) members used."""

    median: np.ndarray
    sigma_log: np.ndarray
    sizes: np.ndarray


def cluster_spectra(counts: np.ndarray, labels: np.ndarray, k: int, max_members: int | None = None,
                    seed: int = 0) -> ClusterSpectra:
    """Median and ln-spread of the spectra (..., n) in each of ``k`` clusters (``labels`` over the pixels).
    max_members: use a random subset (seeded) of at most this many spectra per cluster, to bound the memory
    of the percentiles for large images. A cluster with one member gets sigma_log = 0 (as EELSfitter, which
    warns): the caller must supply an uncertainty for it (e.g. Poisson, 1/sqrt(counts))."""
    n = np.shape(counts)[-1]
    flat = np.clip(np.asarray(counts, dtype=np.float64).reshape(-1, n), 1.0, None)
    labels = np.asarray(labels).ravel()
    rng = np.random.default_rng(seed)
    median, sigma, sizes = np.zeros((k, n)), np.zeros((k, n)), np.zeros(k, dtype=np.int64)
    for c in range(k):
        members = np.nonzero(labels == c)[0]
        if members.size == 0:
            raise ValueError(f"cluster {c} is empty")
        if max_members is not None and members.size > max_members:
            members = np.sort(rng.choice(members, max_members, replace=False))
        spectra = flat[members]
        sizes[c] = members.size
        median[c] = np.percentile(spectra, 50, axis=0)
        if members.size > 1:
            low, high = np.percentile(np.log(spectra), [16, 84], axis=0)
            sigma[c] = np.abs(high - low)
    return ClusterSpectra(median=median, sigma_log=sigma, sizes=sizes)
