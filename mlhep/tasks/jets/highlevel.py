"""High-level jet observables for the dense network and for the mass-sculpting study, vectorised over jets.

    mass             invariant mass of the sum of the constituents (GeV)
    pt               transverse momentum of that sum (GeV)
    n_constituents   number of constituents present
    tau1, tau2, tau3 N-subjettiness, beta = 1, R0 = 0.8, exclusive-kT axes (``nsubjettiness``)
    tau21, tau32     tau2 / tau1 and tau3 / tau2 (0 where the denominator is 0)

Computed from the stored constituents (at most 200), so the same function serves generated files and the
reference sample.
"""
from __future__ import annotations

import numpy as np

from mlhep.tasks.jets.kinematics import constituent_mask, mass, pt
from mlhep.tasks.jets.nsubjettiness import nsubjettiness, ratio

HIGH_LEVEL_FEATURES = ("mass", "pt", "n_constituents", "tau1", "tau2", "tau3", "tau21", "tau32")


def high_level_features(constituents: np.ndarray, r0: float = 0.8, batch: int = 20_000) -> np.ndarray:
    """(n_jets, 8) float32 in the order of ``HIGH_LEVEL_FEATURES``.

    ``constituents`` (n_jets, C, 4) (E, px, py, pz) in GeV, zero-padded; ``batch`` jets at a time."""
    out = np.zeros((constituents.shape[0], len(HIGH_LEVEL_FEATURES)), dtype=np.float32)
    for a in range(0, constituents.shape[0], batch):
        p4 = np.asarray(constituents[a:a + batch], dtype=np.float64)
        jet = p4.sum(axis=1)
        taus = nsubjettiness(p4, (1, 2, 3), beta=1.0, r0=r0)
        out[a:a + batch] = np.stack([mass(jet), pt(jet), constituent_mask(p4).sum(axis=1), taus[:, 0], taus[:, 1],
                                     taus[:, 2], ratio(taus[:, 1], taus[:, 0]), ratio(taus[:, 2], taus[:, 1])],
                                    axis=-1)
    return out
