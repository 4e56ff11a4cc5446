"""Vectorised four-vector kinematics for jets and their constituents (numpy).

Every four-vector array has its components on the last axis in the order (E, px, py, pz), in GeV: the layout of
the generated files and of the top-tagging reference sample (Kasieczka et al., SciPost Phys. 7 (2019) 014).
Padded (absent) constituents are all-zero four-vectors; functions return 0 for them instead of NaN.
"""
from __future__ import annotations

import numpy as np

E, PX, PY, PZ = 0, 1, 2, 3


def pt(p4: np.ndarray) -> np.ndarray:
    """Transverse momentum sqrt(px^2 + py^2), shape p4.shape[:-1]."""
    return np.hypot(p4[..., PX], p4[..., PY])


def phi(p4: np.ndarray) -> np.ndarray:
    """Azimuth atan2(py, px) in (-pi, pi]; 0 for a zero vector."""
    return np.arctan2(p4[..., PY], p4[..., PX])


def rapidity(p4: np.ndarray) -> np.ndarray:
    """Rapidity y = 1/2 ln((E + pz) / (E - pz)); 0 for padded entries (E = 0).

    Differences of y are exactly invariant under boosts along z, which is why the preprocessing works in y."""
    e, pz = p4[..., E], p4[..., PZ]
    valid = e > 0
    # E > |pz| for any physical vector; the clip only guards massless vectors along the beam from rounding.
    num = np.where(valid, e + pz, 1.0)
    den = np.where(valid, e - pz, 1.0)
    tiny = np.finfo(np.float64).tiny
    return np.where(valid, 0.5 * np.log(np.maximum(num, tiny) / np.maximum(den, tiny)), 0.0)


def pseudorapidity(p4: np.ndarray) -> np.ndarray:
    """Pseudorapidity eta = asinh(pz / pT); 0 for vectors with pT = 0."""
    transverse = pt(p4)
    return np.where(transverse > 0, np.arcsinh(p4[..., PZ] / np.where(transverse > 0, transverse, 1.0)), 0.0)


def mass(p4: np.ndarray) -> np.ndarray:
    """Invariant mass sqrt(max(E^2 - |p|^2, 0))."""
    m2 = p4[..., E] ** 2 - p4[..., PX] ** 2 - p4[..., PY] ** 2 - p4[..., PZ] ** 2
    return np.sqrt(np.maximum(m2, 0.0))


def delta_phi(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a - b wrapped into [-pi, pi)."""
    return np.mod(a - b + np.pi, 2 * np.pi) - np.pi


def delta_r_eta_phi(p4a: np.ndarray, p4b: np.ndarray) -> np.ndarray:
    """Distance sqrt(d_eta^2 + d_phi^2) in pseudorapidity and azimuth (the convention of the truth matching)."""
    return np.hypot(pseudorapidity(p4a) - pseudorapidity(p4b), delta_phi(phi(p4a), phi(p4b)))


def from_pt_eta_phi_m(pt_: np.ndarray, eta: np.ndarray, phi_: np.ndarray, m: np.ndarray | float = 0.0) -> np.ndarray:
    """(..., 4) four-vectors (E, px, py, pz) from pT, pseudorapidity, azimuth and mass."""
    pt_, eta, phi_, m = np.broadcast_arrays(*(np.asarray(x, dtype=np.float64) for x in (pt_, eta, phi_, m)))
    px, py, pz = pt_ * np.cos(phi_), pt_ * np.sin(phi_), pt_ * np.sinh(eta)
    e = np.sqrt(px ** 2 + py ** 2 + pz ** 2 + m ** 2)
    return np.stack([e, px, py, pz], axis=-1)


def boost_z(p4: np.ndarray, rapidity_shift: float) -> np.ndarray:
    """Boost along z shifting every rapidity by ``rapidity_shift``; zero vectors stay zero."""
    ch, sh = np.cosh(rapidity_shift), np.sinh(rapidity_shift)
    out = np.array(p4, dtype=np.float64, copy=True)
    out[..., E] = ch * p4[..., E] + sh * p4[..., PZ]
    out[..., PZ] = sh * p4[..., E] + ch * p4[..., PZ]
    return out


def rotate_z(p4: np.ndarray, angle: float) -> np.ndarray:
    """Rotation about the beam axis by ``angle`` (every azimuth shifted by it)."""
    c, s = np.cos(angle), np.sin(angle)
    out = np.array(p4, dtype=np.float64, copy=True)
    out[..., PX] = c * p4[..., PX] - s * p4[..., PY]
    out[..., PY] = s * p4[..., PX] + c * p4[..., PY]
    return out


def constituent_mask(constituents: np.ndarray) -> np.ndarray:
    """(n_jets, C) bool: the constituents that are present (E > 0; padding is all zeros)."""
    return constituents[..., E] > 0


def jet_axis_coordinates(constituents: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rapidity and azimuth of each constituent relative to its jet's axis, and the mask.

    ``constituents`` (n_jets, C, 4); the axis is the direction of the sum of the constituents (E-scheme).
    Returns (dy, dphi, mask), each (n_jets, C); dy and dphi are 0 for padded entries. Both are exactly invariant
    under boosts along z and rotations about z of the whole jet."""
    p4 = np.asarray(constituents, dtype=np.float64)
    mask = constituent_mask(p4)
    jet = p4.sum(axis=1)
    dy = np.where(mask, rapidity(p4) - rapidity(jet)[:, None], 0.0)
    dphi = np.where(mask, delta_phi(phi(p4), phi(jet)[:, None]), 0.0)
    return dy, dphi, mask
