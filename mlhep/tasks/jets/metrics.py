"""Figures of merit of a binary tagger (top = signal = label 1), numpy, from scores and labels.

    auc                 area under the ROC curve = P(s_sig > s_bkg) + P(s_sig = s_bkg) / 2, the Mann-Whitney U
                        statistic divided by n_sig n_bkg (Hanley & McNeil, Radiology 143 (1982) 29), by ranks
    roc                 (eps_S, eps_B) for every distinct threshold, with (0, 0) first
    background_at       eps_B at given eps_S, linear interpolation of the ROC curve in eps_S
    rejection           1 / eps_B at given eps_S (inf where no background passes)
    accuracy            fraction of jets classified right with the cut score > 0.5
    threshold_at        the score cut that keeps a fraction eps_S of the signal
    mass_histogram, jensen_shannon    the background mass before/after a cut, and how much the cut sculpts it
    summary, ensemble   all of them for one score vector, or for the mean of replica scores

The working points of the top-tagging comparison (Kasieczka et al., SciPost Phys. 7 (2019) 014) are
eps_S = 0.3 and 0.5; DisCo (Kasieczka & Shih, PRL 125 (2020) 122001) measures sculpting by 1 / JSD of the
background mass distributions before and after the cut at eps_S = 0.5.
"""
from __future__ import annotations

import numpy as np

WORKING_POINTS = (0.3, 0.5)                  # eps_S of the reported background rejections
EPS_S_GRID = np.linspace(0.005, 1.0, 200)    # where the ROC curves are stored


def _split(score: np.ndarray, label: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    score, label = np.asarray(score, dtype=np.float64), np.asarray(label)
    if score.shape != label.shape or score.ndim != 1:
        raise ValueError(f"score {score.shape} and label {label.shape} must be equal 1-D shapes")
    sig, bkg = score[label == 1], score[label == 0]
    if sig.size == 0 or bkg.size == 0:
        raise ValueError("need at least one signal (label 1) and one background (label 0) jet")
    return sig, bkg


def average_ranks(x: np.ndarray) -> np.ndarray:
    """Ranks 1..n of ``x`` (n,), ties given the mean of the ranks they share."""
    values, inverse, counts = np.unique(x, return_inverse=True, return_counts=True)
    below = np.cumsum(counts) - counts              # how many values are smaller
    return (below + (counts + 1) / 2.0)[inverse]


def auc(score: np.ndarray, label: np.ndarray) -> float:
    """Area under the ROC curve of ``score`` (N,) for ``label`` (N,) in {0, 1}: U / (n_sig n_bkg) with the
    Mann-Whitney U = (sum of the signal's ranks among all jets) - n_sig (n_sig + 1) / 2, ties at half weight."""
    sig, bkg = _split(score, label)
    ranks = average_ranks(np.concatenate([sig, bkg]))
    u = ranks[:sig.size].sum() - sig.size * (sig.size + 1) / 2.0
    return float(u / (sig.size * bkg.size))


def roc(score: np.ndarray, label: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(eps_S, eps_B), each (T + 1,), of the cuts score >= t at every distinct score t, from the highest t down:
    both non-decreasing from (0, 0) to (1, 1)."""
    sig, bkg = _split(score, label)
    thresholds = np.unique(np.concatenate([sig, bkg]))[::-1]
    pass_sig = sig.size - np.searchsorted(np.sort(sig), thresholds, side="left")
    pass_bkg = bkg.size - np.searchsorted(np.sort(bkg), thresholds, side="left")
    return (np.concatenate([[0.0], pass_sig / sig.size]), np.concatenate([[0.0], pass_bkg / bkg.size]))


def background_at(score: np.ndarray, label: np.ndarray, eps_s) -> np.ndarray:
    """eps_B at signal efficiencies ``eps_s`` (scalar or array), interpolating the ROC curve linearly in eps_S
    between the cuts that bracket it (the ROC of randomly mixing the two cuts)."""
    es, eb = roc(score, label)
    e = np.clip(np.asarray(eps_s, dtype=np.float64), 0.0, 1.0)
    # the ROC polyline at e; where it is vertical (a cut adding only background: eps_S repeats) its lowest point
    j = np.searchsorted(es, e, side="left")           # first vertex with eps_S >= e
    lo = np.maximum(j - 1, 0)                         # the last vertex before it
    span = np.where(es[j] > es[lo], es[j] - es[lo], 1.0)
    between = eb[lo] + (e - es[lo]) / span * (eb[j] - eb[lo])
    return np.where(es[j] == e, eb[j], between)


def rejection(score: np.ndarray, label: np.ndarray, eps_s) -> np.ndarray:
    """1 / eps_B at ``eps_s`` (inf where the interpolated eps_B is 0)."""
    eb = np.asarray(background_at(score, label, eps_s), dtype=np.float64)
    with np.errstate(divide="ignore"):
        return np.where(eb > 0, 1.0 / np.where(eb > 0, eb, 1.0), np.inf)


def accuracy(score: np.ndarray, label: np.ndarray, cut: float = 0.5) -> float:
    """Fraction of jets with (score > cut) == label."""
    return float(np.mean((np.asarray(score) > cut) == (np.asarray(label) == 1)))


def threshold_at(score: np.ndarray, label: np.ndarray, eps_s: float) -> float:
    """The cut t such that the jets with score > t hold a fraction ``eps_s`` of the signal (the (1 - eps_s)
    quantile of the signal scores; ties may make the kept fraction slightly different)."""
    sig, _ = _split(score, label)
    return float(np.quantile(sig, 1.0 - eps_s))


def mass_histogram(mass: np.ndarray, edges: np.ndarray, keep: np.ndarray | None = None) -> np.ndarray:
    """Counts (bins,) of ``mass`` (N,) in ``edges`` (bins + 1,), over the jets where ``keep`` is True (all if None);
    masses outside the edges are not counted."""
    m = np.asarray(mass) if keep is None else np.asarray(mass)[np.asarray(keep)]
    return np.histogram(m, bins=edges)[0].astype(np.float64)


def jensen_shannon(p: np.ndarray, q: np.ndarray) -> float:
    """Jensen-Shannon divergence in bits, in [0, 1], of two histograms (normalised here); NaN if one is empty."""
    p, q = np.asarray(p, dtype=np.float64), np.asarray(q, dtype=np.float64)
    if p.sum() <= 0 or q.sum() <= 0:
        return float("nan")
    p, q = p / p.sum(), q / q.sum()
    m = 0.5 * (p + q)

    def kl(a):
        nz = a > 0
        return np.sum(a[nz] * np.log2(a[nz] / m[nz]))
    return float(0.5 * kl(p) + 0.5 * kl(q))


def summary(score: np.ndarray, label: np.ndarray, mass: np.ndarray, edges: np.ndarray) -> dict[str, np.ndarray]:
    """Every figure of merit of one score vector (N,): auc, accuracy, rejection at the ``WORKING_POINTS``
    (``rejection_30``, ``rejection_50``), eps_B on ``EPS_S_GRID`` (``roc_eps_b``), and the background mass
    histogram after the cut at eps_S = 0.5 (``mass_after``) with its JSD to the one before (``jsd_50``)."""
    label = np.asarray(label)
    out = {"auc": auc(score, label), "accuracy": accuracy(score, label)}
    for eps, r in zip(WORKING_POINTS, rejection(score, label, np.array(WORKING_POINTS))):
        out[f"rejection_{round(100 * eps)}"] = float(r)
    out["roc_eps_b"] = np.asarray(background_at(score, label, EPS_S_GRID))
    cut = threshold_at(score, label, 0.5)
    bkg = label == 0
    before = mass_histogram(mass[bkg], edges)
    out["mass_after"] = mass_histogram(mass[bkg], edges, np.asarray(score)[bkg] > cut)
    out["jsd_50"] = jensen_shannon(before, out["mass_after"])
    return out


def ensemble(scores: np.ndarray, label: np.ndarray, mass: np.ndarray, edges: np.ndarray) -> dict[str, np.ndarray]:
    """The ensemble of replica scores (R, N): its mean ``score`` (N,), the per-jet ``spread`` (N,) (standard
    deviation over replicas, 0 for one replica) and ``summary`` of the mean score."""
    mean = scores.mean(axis=0)
    out = summary(mean, label, mass, edges)
    out["score"] = mean
    out["spread"] = scores.std(axis=0, ddof=1) if scores.shape[0] > 1 else np.zeros_like(mean)
    return out
