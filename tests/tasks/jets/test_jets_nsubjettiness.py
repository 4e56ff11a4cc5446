"""N-subjettiness on configurations whose tau_N is known, and against its definition with explicit kT axes."""
from __future__ import annotations

import numpy as np
import pytest
from jet_fixtures import random_jets

from mlhep.tasks.jets.clustering import cluster_sequence
from mlhep.tasks.jets.kinematics import delta_phi, from_pt_eta_phi_m, phi, pt, rapidity
from mlhep.tasks.jets.nsubjettiness import nsubjettiness


def tau_by_definition(constituents: np.ndarray, axes: np.ndarray, r0: float = 0.8, beta: float = 1.0) -> float:
    """sum_i pT_i min_k dR_ik^beta / (sum_i pT_i r0^beta), dR in (y, phi): Thaler, Van Tilburg (2011) eq. 2-3."""
    c = constituents[constituents[:, 0] > 0]
    dr = np.hypot(rapidity(c)[:, None] - rapidity(axes)[None, :], delta_phi(phi(c)[:, None], phi(axes)[None, :]))
    return float((pt(c) * dr.min(axis=1) ** beta).sum() / (pt(c).sum() * r0 ** beta))


def jet_of(pts, etas, phis, n_max=10):
    p4 = np.zeros((1, n_max, 4))
    p4[0, :len(pts)] = from_pt_eta_phi_m(np.array(pts, float), np.array(etas, float), np.array(phis, float))
    return p4


def test_prongs_without_radiation():
    """N single-particle prongs: tau_M = 0 for M >= N (each axis sits on a particle), tau_M > 0 below."""
    one = jet_of([500], [0.3], [1.0])
    two = jet_of([300, 200], [0.3, 0.6], [1.0, 1.3])
    three = jet_of([250, 150, 100], [0.3, 0.6, 0.1], [1.0, 1.3, 1.5])
    taus = nsubjettiness(np.concatenate([one, two, three]), (1, 2, 3))
    np.testing.assert_array_equal(taus[0], [0, 0, 0])
    assert taus[1, 0] > 0.1 and taus[1, 1] == 0 and taus[1, 2] == 0
    assert taus[2, 0] > taus[2, 1] > 0.05 and taus[2, 2] == 0


def test_two_particles_analytic():
    """Two massless particles: the one exclusive-kT axis is their sum (E scheme), so
    tau_1 = (pT1 dR1 + pT2 dR2) / ((pT1 + pT2) R0) with dR measured from the sum's (y, phi)."""
    p4 = jet_of([400, 100], [0.2, 0.5], [0.0, 0.4])
    axis = p4[0].sum(axis=0)[None, :]
    c = p4[0, :2]
    dr = np.hypot(rapidity(c) - rapidity(axis), delta_phi(phi(c), phi(axis)))
    want = (pt(c) * dr).sum() / (pt(c).sum() * 0.8)
    assert nsubjettiness(p4, (1,))[0, 0] == pytest.approx(want, rel=1e-10)
    assert nsubjettiness(p4, (1,), beta=2.0)[0, 0] == pytest.approx((pt(c) * dr ** 2).sum() / (pt(c).sum() * 0.64),
                                                                    rel=1e-10)


def test_three_prongs_with_collinear_radiation():
    """Three hard prongs, each split into a collinear pair (angle 0.01): tau_3 is tiny compared with tau_2, and
    a two-prong jet likewise has tau_2 << tau_1; the ratios tau32, tau21 separate 3- from 2-prong jets."""
    def split(pt_, eta, phi_):
        return [0.7 * pt_, 0.3 * pt_], [eta, eta + 0.01], [phi_, phi_]
    three = [split(250, 0.0, 0.0), split(200, 0.4, 0.3), split(150, -0.2, 0.45)]
    two = [split(350, 0.0, 0.0), split(250, 0.5, 0.2)]

    def build(prongs):
        pts, etas, phis = (sum((p[i] for p in prongs), []) for i in range(3))
        return jet_of(pts, etas, phis)
    taus = nsubjettiness(np.concatenate([build(three), build(two)]), (1, 2, 3))
    tau32_three, tau21_two = taus[0, 2] / taus[0, 1], taus[1, 1] / taus[1, 0]
    assert tau32_three < 0.05 and tau21_two < 0.05
    assert taus[1, 2] / taus[1, 1] > 0.1    # a third axis resolves only one of the two collinear splittings
    assert taus[0, 1] / taus[0, 0] > 0.2    # a three-prong jet is not two-pronged


@pytest.mark.filterwarnings("ignore:dcut and exclusive jets")   # fastjet warns for kt too (its check is loose)
def test_random_jets_match_definition_with_kt_axes():
    """For random jets, tau_N equals the definition evaluated on the exclusive-kT subjets (kT clustering of the
    constituents down to N objects, R large enough that no beam distance intervenes)."""
    jets = random_jets(np.random.default_rng(3), n_jets=25, n_max=40)
    taus = nsubjettiness(jets, (1, 2, 3))
    valid = jets[..., 0] > 0
    cs = cluster_sequence(jets[valid], valid.sum(axis=1), "kt", 1000.0)
    for k, n in enumerate((1, 2, 3)):
        subjets = cs.exclusive_jets(n_jets=n, dcut=-1)
        for j in range(jets.shape[0]):
            axes = np.stack([np.asarray(subjets[j][c], dtype=float) for c in ("E", "px", "py", "pz")], axis=-1)
            assert taus[j, k] == pytest.approx(tau_by_definition(jets[j], axes), rel=1e-8, abs=1e-12)
    assert np.all(taus[:, 0] >= taus[:, 1]) and np.all(taus[:, 1] >= taus[:, 2]) and np.all(taus >= 0)


def test_padding_and_small_jets():
    """Padding is ignored; a jet with at most N constituents has tau_N = 0; an empty jet gives zeros."""
    jets = random_jets(np.random.default_rng(4), n_jets=3, n_max=20)
    padded = np.concatenate([jets, np.zeros((3, 15, 4))], axis=1)
    np.testing.assert_allclose(nsubjettiness(padded), nsubjettiness(jets), rtol=1e-12)
    two = jet_of([300, 200], [0.3, 0.6], [1.0, 1.3])
    empty = np.zeros((1, 10, 4))
    taus = nsubjettiness(np.concatenate([two, empty]), (1, 2, 3))
    assert taus[0, 0] > 0 and taus[0, 1] == 0 and taus[0, 2] == 0
    np.testing.assert_array_equal(taus[1], 0)


def test_agrees_with_fjcontrib_nsubjettiness():
    """fjcontrib's Nsubjettiness (KT_Axes, NormalizedMeasure(beta, R0)), exposed by the fastjet wheel as
    ``ClusterSequence.njettiness``, is the field's reference implementation: same numbers."""
    jets = random_jets(np.random.default_rng(8), n_jets=40, n_max=70)
    valid = jets[..., 0] > 0
    cs = cluster_sequence(jets[valid], valid.sum(axis=1), "kt", 0.8)
    for beta in (1.0, 2.0):
        contrib = np.asarray(cs.njettiness(measure_definition="NormalizedMeasure", axes_definition="KT_Axes",
                                           njets=[1, 2, 3, 4], beta=beta, R0=0.8)).reshape(40, 4)
        np.testing.assert_allclose(nsubjettiness(jets, (1, 2, 3, 4), beta=beta), contrib, rtol=1e-8, atol=1e-12)
