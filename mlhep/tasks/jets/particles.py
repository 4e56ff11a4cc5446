"""Per-constituent input features of the particle-based networks (EFN/PFN, ParticleNet, ParT, ...).

The seven features of ParticleNet on the top-tagging sample (Qu, Gouskos, Phys. Rev. D 101 (2020) 056019,
arXiv:1902.08570, Table 1), relative to the jet axis (the direction of the sum of the constituents):

    dy        rapidity difference y_i - y_jet   (ParticleNet uses eta; y and eta agree for massless
                                                  constituents, and only y differences are boost invariant)
    dphi      azimuth difference, wrapped into [-pi, pi)
    log_pt    log(pT_i / GeV)
    log_e     log(E_i / GeV)
    log_pt_rel  log(pT_i / pT_jet)
    log_e_rel   log(E_i / E_jet)
    dr        sqrt(dy^2 + dphi^2)

All are invariant under rotations of the whole jet about the beam; dy, dphi, log_pt, log_pt_rel and dr also
under boosts along it, while the two energy features are not (E changes under a longitudinal boost).
Padded constituents get all-zero features and mask False.
"""
from __future__ import annotations

import numpy as np

from mlhep.tasks.jets.kinematics import E, jet_axis_coordinates, pt

CONSTITUENT_FEATURES = ("dy", "dphi", "log_pt", "log_e", "log_pt_rel", "log_e_rel", "dr")
BOOST_INVARIANT_FEATURES = ("dy", "dphi", "log_pt", "log_pt_rel", "dr")


def constituent_features(constituents: np.ndarray, batch: int = 20_000) -> tuple[np.ndarray, np.ndarray]:
    """Features (n_jets, C, 7) float32 in the order of ``CONSTITUENT_FEATURES`` and mask (n_jets, C) bool.

    ``constituents`` (n_jets, C, 4) (E, px, py, pz) in GeV, zero-padded; ``batch`` jets at a time."""
    n, c = constituents.shape[:2]
    features = np.zeros((n, c, len(CONSTITUENT_FEATURES)), dtype=np.float32)
    mask = np.zeros((n, c), dtype=bool)
    for a in range(0, n, batch):
        features[a:a + batch], mask[a:a + batch] = _features(np.asarray(constituents[a:a + batch], np.float64))
    return features, mask


def _features(p4: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    dy, dphi, mask = jet_axis_coordinates(p4)
    jet = p4.sum(axis=1)
    pt_i, e_i = pt(p4), p4[..., E]
    pt_jet, e_jet = pt(jet)[:, None], jet[:, E][:, None]

    def safe_log(x):
        return np.where(mask, np.log(np.where(mask & (x > 0), x, 1.0)), 0.0)

    features = np.stack([dy, dphi, safe_log(pt_i), safe_log(e_i),
                         safe_log(pt_i / np.where(pt_jet > 0, pt_jet, 1.0)),
                         safe_log(e_i / np.where(e_jet > 0, e_jet, 1.0)),
                         np.where(mask, np.hypot(dy, dphi), 0.0)], axis=-1)
    return features, mask
