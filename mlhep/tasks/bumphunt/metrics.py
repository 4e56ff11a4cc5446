"""Performance of an anomaly score on labelled events: the significance improvement characteristic (SIC),
eps_S / sqrt(eps_B), its maximum, and the background rejection 1 / eps_B at a fixed signal efficiency.

eps_S(t), eps_B(t) are the (weighted) fractions of signal and background events with score >= t. A cut that
keeps eps_S of the signal and eps_B of the background multiplies the significance S / sqrt(B) of a counting
experiment by SIC (Gallicchio et al., PRL 107 (2011) 172001). At small eps_B few background events pass and the
SIC is pure noise, so ``max_sic`` only considers cuts that keep at least ``min_background`` background events:
by default 25, a relative Poisson uncertainty of at most 1/sqrt(25) = 20% on eps_B (our choice; weakly
supervised searches cut their SIC curves where the statistical uncertainty of eps_B grows large, e.g. the CATHODE
paper, arXiv:2109.00546).
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

MIN_BACKGROUND = 25


class Curve(NamedTuple):
    """Efficiencies at every distinct score threshold, from the tightest cut to the loosest (arrays (T,))."""

    threshold: np.ndarray
    eps_s: np.ndarray
    eps_b: np.ndarray
    n_background: np.ndarray   # unweighted count of background events passing

    @property
    def sic(self) -> np.ndarray:
        """eps_S / sqrt(eps_B) (T,)."""
        return self.eps_s / np.sqrt(self.eps_b)


def efficiency_curve(scores, labels, weights=None) -> Curve:
    """eps_S, eps_B at every distinct value t of ``scores`` (n,) (cut: score >= t); ``labels`` (n,) 1 signal,
    0 background; ``weights`` (n,) optional. Ties are kept together (a cut cannot split them)."""
    scores, labels = np.asarray(scores, np.float64), np.asarray(labels)
    weights = np.ones(len(scores)) if weights is None else np.asarray(weights, np.float64)
    if scores.shape != labels.shape or scores.shape != weights.shape or scores.ndim != 1:
        raise ValueError(f"scores {scores.shape}, labels {labels.shape}, weights {weights.shape}: need (n,) each")
    if not np.all(np.isfinite(scores)):
        raise ValueError(f"{int(np.sum(~np.isfinite(scores)))} scores are not finite")
    signal, background = labels == 1, labels == 0
    if not signal.any() or not background.any():
        raise ValueError("efficiencies need both signal (label 1) and background (label 0) events")
    order = np.argsort(-scores, kind="stable")
    s, w, sig, bkg = scores[order], weights[order], signal[order], background[order]
    last = np.r_[s[1:] != s[:-1], True]         # the last event of each group of tied scores
    eps_s = np.cumsum(w * sig)[last] / np.sum(w * sig)
    eps_b = np.cumsum(w * bkg)[last] / np.sum(w * bkg)
    return Curve(s[last], eps_s, eps_b, np.cumsum(bkg)[last])


def sic_curve(scores, labels, weights=None, min_background: int = 1) -> Curve:
    """The efficiency curve restricted to cuts passing at least ``min_background`` background events (so
    eps_B > 0); ``.sic`` gives eps_S / sqrt(eps_B)."""
    curve = efficiency_curve(scores, labels, weights)
    keep = curve.n_background >= max(min_background, 1)
    return Curve(*(a[keep] for a in curve))


def max_sic(scores, labels, weights=None, min_background: int = MIN_BACKGROUND) -> float:
    """The largest eps_S / sqrt(eps_B) over cuts keeping at least ``min_background`` background events."""
    curve = sic_curve(scores, labels, weights, min_background)
    if not len(curve.threshold):
        raise ValueError(f"fewer than {min_background} background events: no SIC")
    return float(np.max(curve.sic))


def rejection_at(scores, labels, eps_s: float, weights=None) -> float:
    """1 / eps_B of the tightest cut whose signal efficiency reaches ``eps_s`` (0, 1]; inf if it passes no
    background."""
    if not 0 < eps_s <= 1:
        raise ValueError(f"signal efficiency {eps_s} is not in (0, 1]")
    curve = efficiency_curve(scores, labels, weights)
    eps_b = float(curve.eps_b[np.searchsorted(curve.eps_s, eps_s * (1 - 1e-12))])
    return np.inf if eps_b == 0 else 1.0 / eps_b
