"""The event container of bump-hunt, its signal region and sidebands in m_jj, and signal injection.

One event = one dijet event with the LHC Olympics 2020 R&D features (Kasieczka et al., Rep. Prog. Phys. 84
(2021) 124201, arXiv:2101.08320), the inputs of CWoLa hunting / ANODE / CATHODE (Hallin et al., PRD 106 (2022)
055006, arXiv:2109.00546):

    mjj      dijet invariant mass of the two leading (anti-kT R = 1.0) jets              [TeV]
    mj1      mass of the lighter of the two jets                                       [TeV]
    dmj      mj2 - mj1 >= 0, mj2 the heavier jet's mass                                 [TeV]
    tau21_1  N-subjettiness ratio tau2/tau1 of the lighter jet (J1)                     in [0, 1]
    tau21_2  tau2/tau1 of the heavier jet (J2)                                          in [0, 1]
    label    1 signal, 0 background: truth, for evaluation only (weakly supervised methods never read it)
    weight   optional per-event weight (None means 1 for every event)

All arrays are numpy, shape (n,). m_jj is the conditioning/resonant variable; ``FEATURES`` are the auxiliary
features x of p(x | m_jj).
"""
from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

FEATURES = ("mj1", "dmj", "tau21_1", "tau21_2")
COLUMNS = ("mjj",) + FEATURES + ("label",)


@dataclass(frozen=True)
class Events:
    """n dijet events as numpy arrays of shape (n,); see the module docstring for the units."""

    mjj: np.ndarray
    mj1: np.ndarray
    dmj: np.ndarray
    tau21_1: np.ndarray
    tau21_2: np.ndarray
    label: np.ndarray
    weight: np.ndarray | None = None

    def __post_init__(self):
        n = len(self.mjj)
        for f in fields(self):
            value = getattr(self, f.name)
            if value is None:
                continue
            value = np.asarray(value, dtype=np.int8 if f.name == "label" else np.float64)
            if value.shape != (n,):
                raise ValueError(f"Events.{f.name} has shape {value.shape}, expected ({n},) like mjj")
            object.__setattr__(self, f.name, value)

    def __len__(self) -> int:
        return len(self.mjj)

    @property
    def mj2(self) -> np.ndarray:
        """The heavier jet's mass [TeV], (n,)."""
        return self.mj1 + self.dmj

    @property
    def weights(self) -> np.ndarray:
        """The weights, ones when none are stored; (n,)."""
        return np.ones(len(self)) if self.weight is None else self.weight

    def features(self, names=FEATURES) -> np.ndarray:
        """The auxiliary features as one (n, len(names)) float64 array (default order ``FEATURES``)."""
        return np.stack([getattr(self, name) for name in names], axis=1) if len(self) else np.zeros((0, len(names)))

    def select(self, index) -> "Events":
        """The events picked by a boolean mask or an integer index array."""
        return Events(**{f.name: None if getattr(self, f.name) is None else getattr(self, f.name)[index]
                         for f in fields(self)})

    def shuffled(self, seed) -> "Events":
        """The same events in a random order (``seed`` an int or a ``np.random.Generator``)."""
        return self.select(np.random.default_rng(seed).permutation(len(self)))

    @staticmethod
    def concatenate(parts) -> "Events":
        """One container of all events of ``parts`` in order; weights become ones where a part has none."""
        parts = list(parts)
        weighted = any(p.weight is not None for p in parts)
        out = {name: np.concatenate([getattr(p, name) for p in parts]) for name in COLUMNS}
        return Events(**out, weight=np.concatenate([p.weights for p in parts]) if weighted else None)

    @staticmethod
    def from_masses(mjj, mj_a, mj_b, tau21_a, tau21_b, label, weight=None) -> "Events":
        """Events from two jets in any order: they are ordered by mass, J1 the lighter (as in the R&D set)."""
        mj_a, mj_b, tau21_a, tau21_b = map(np.asarray, (mj_a, mj_b, tau21_a, tau21_b))
        swap = mj_a > mj_b
        mj1, mj2 = np.where(swap, mj_b, mj_a), np.where(swap, mj_a, mj_b)
        return Events(mjj=mjj, mj1=mj1, dmj=mj2 - mj1, tau21_1=np.where(swap, tau21_b, tau21_a),
                      tau21_2=np.where(swap, tau21_a, tau21_b), label=label, weight=weight)


def _window(window) -> tuple[float, float]:
    lo, hi = (float(v) for v in window)
    if not lo < hi:
        raise ValueError(f"an m_jj window needs lo < hi, got ({lo}, {hi})")
    return lo, hi


def signal_region_mask(events: Events, signal_region) -> np.ndarray:
    """Boolean (n,): lo <= m_jj < hi for ``signal_region`` = (lo, hi) in TeV (e.g. (3.3, 3.7))."""
    lo, hi = _window(signal_region)
    return (events.mjj >= lo) & (events.mjj < hi)


def sideband_mask(events: Events, signal_region, sidebands=None) -> np.ndarray:
    """Boolean (n,): outside the signal region and inside ``sidebands`` = (outer lo, outer hi) in TeV, e.g.
    (3.1, 3.9) for two 200 GeV bands; ``None`` = every event outside the signal region (as in CATHODE)."""
    lo, hi = _window(signal_region)
    outer_lo, outer_hi = (-np.inf, np.inf) if sidebands is None else _window(sidebands)
    if not outer_lo <= lo < hi <= outer_hi:
        raise ValueError(f"sidebands {sidebands} must enclose the signal region {signal_region}")
    return ((events.mjj >= outer_lo) & (events.mjj < lo)) | ((events.mjj >= hi) & (events.mjj < outer_hi))


def inject(background: Events, signal: Events, *, n_signal: int | None = None,
           s_over_b_in_sr: float | None = None, signal_region=(3.3, 3.7), seed=0) -> Events:
    """Background plus a random subset of ``signal``, shuffled: the "data" of a weakly supervised search.

    Give exactly one of ``n_signal`` (number of signal events injected over the whole m_jj range) or
    ``s_over_b_in_sr`` (expected signal/background ratio inside ``signal_region``: the number injected is
    round(S/B * B_SR / eps_SR), eps_SR the fraction of the ``signal`` pool inside the region, so the number
    landing in the SR fluctuates binomially around S/B * B_SR, as when a cross section is fixed). The injected
    events are drawn without replacement; ``seed`` fixes the draw and the shuffle. Labels are kept (truth).
    """
    if (n_signal is None) == (s_over_b_in_sr is None):
        raise ValueError("inject: give exactly one of n_signal and s_over_b_in_sr")
    if s_over_b_in_sr is not None:
        if s_over_b_in_sr < 0:
            raise ValueError(f"inject: s_over_b_in_sr must be >= 0, got {s_over_b_in_sr}")
        eff = signal_region_mask(signal, signal_region).mean() if len(signal) else 0.0
        b_sr = signal_region_mask(background, signal_region).sum()
        if s_over_b_in_sr > 0 and eff == 0:
            raise ValueError(f"inject: no event of the signal pool is inside the signal region {signal_region}")
        n_signal = int(round(s_over_b_in_sr * b_sr / eff)) if s_over_b_in_sr > 0 else 0
    if n_signal < 0 or n_signal > len(signal):
        raise ValueError(f"inject: {n_signal} signal events requested, the pool has {len(signal)} (0 <= n <= pool)")
    rng = np.random.default_rng(seed)
    picked = signal.select(rng.choice(len(signal), size=n_signal, replace=False))
    return Events.concatenate([background, picked]).shuffled(rng)


def events_from_jets(p4, tau1, tau2, label, weight=None) -> Events:
    """Events from the two leading jets of each event: ``p4`` (n, 2, 4) (E, px, py, pz) in GeV, ``tau1``,
    ``tau2`` (n, 2) N-subjettiness; ``label`` (n,). m_jj is the mass of the sum of the two jets, the jet masses
    m = sqrt(max(E^2 - p^2, 0)); tau21 = tau2 / tau1 (0 where tau1 = 0, i.e. a jet of one constituent); the jets
    are then ordered by mass (J1 the lighter), as the CATHODE preparation of the R&D set does. Units -> TeV."""
    p4 = np.asarray(p4, dtype=np.float64) * 1e-3

    def mass(v):
        return np.sqrt(np.maximum(v[..., 0] ** 2 - (v[..., 1:] ** 2).sum(axis=-1), 0.0))
    tau1, tau2 = np.asarray(tau1, dtype=np.float64), np.asarray(tau2, dtype=np.float64)
    tau21 = np.where(tau1 > 0, tau2 / np.where(tau1 > 0, tau1, 1.0), 0.0)
    m = mass(p4)
    return Events.from_masses(mass(p4.sum(axis=1)), m[:, 0], m[:, 1], tau21[:, 0], tau21[:, 1], label, weight)
