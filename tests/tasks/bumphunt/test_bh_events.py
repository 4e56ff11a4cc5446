"""The event container, the m_jj regions and signal injection."""
from __future__ import annotations

import numpy as np
import pytest

from mlhep.tasks.bumphunt import surrogate
from mlhep.tasks.bumphunt.events import FEATURES, Events, inject, sideband_mask, signal_region_mask


def test_jets_are_ordered_by_mass():
    ev = Events.from_masses(mjj=[3.0, 3.5], mj_a=[0.5, 0.1], mj_b=[0.1, 0.3], tau21_a=[0.2, 0.7],
                            tau21_b=[0.9, 0.4], label=[1, 0])
    np.testing.assert_allclose(ev.mj1, [0.1, 0.1])
    np.testing.assert_allclose(ev.dmj, [0.4, 0.2])
    np.testing.assert_allclose(ev.tau21_1, [0.9, 0.7])      # tau21 travels with its jet
    np.testing.assert_allclose(ev.tau21_2, [0.2, 0.4])
    np.testing.assert_allclose(ev.mj2, [0.5, 0.3])
    assert ev.features().shape == (2, len(FEATURES)) and ev.label.dtype == np.int8
    with pytest.raises(ValueError, match="Events.mj1 has shape"):
        Events(mjj=np.zeros(3), mj1=np.zeros(2), dmj=np.zeros(3), tau21_1=np.zeros(3), tau21_2=np.zeros(3),
               label=np.zeros(3))


def test_regions_partition():
    ev = surrogate.generate(5000, 0, seed=1)
    sr = signal_region_mask(ev, (3.3, 3.7))
    sb = sideband_mask(ev, (3.3, 3.7))
    assert not np.any(sr & sb) and np.all(sr | sb)
    near = sideband_mask(ev, (3.3, 3.7), (3.1, 3.9))
    assert np.all(near <= sb)
    np.testing.assert_array_equal(near, ((ev.mjj >= 3.1) & (ev.mjj < 3.3)) | ((ev.mjj >= 3.7) & (ev.mjj < 3.9)))
    with pytest.raises(ValueError, match="must enclose"):
        sideband_mask(ev, (3.3, 3.7), (3.4, 3.9))
    with pytest.raises(ValueError, match="lo < hi"):
        signal_region_mask(ev, (3.7, 3.3))


def test_concatenate_and_weights():
    a = surrogate.generate(10, 0, seed=1)
    b = surrogate.generate(5, 0, seed=2)
    b = Events(**{n: getattr(b, n) for n in ("mjj", "mj1", "dmj", "tau21_1", "tau21_2", "label")},
               weight=np.full(5, 2.0))
    c = Events.concatenate([a, b])
    np.testing.assert_array_equal(c.weights, [1.0] * 10 + [2.0] * 5)
    assert Events.concatenate([a, a]).weight is None
    assert len(c.select(c.mjj > 3)) == int((c.mjj > 3).sum())


def test_inject_by_number_and_by_s_over_b():
    bkg = surrogate.background(np.random.default_rng(1), 50_000)
    sig = surrogate.signal(np.random.default_rng(2), 5_000)
    data = inject(bkg, sig, n_signal=300, seed=3)
    assert len(data) == 50_300 and data.label.sum() == 300
    again = inject(bkg, sig, n_signal=300, seed=3)
    np.testing.assert_array_equal(data.mjj, again.mjj)
    sr = (3.3, 3.7)
    b_sr = signal_region_mask(bkg, sr).sum()
    eff = signal_region_mask(sig, sr).mean()
    # S/B = 1% in the SR: the expected number injected in the SR is 0.01 * B_SR (binomial around it)
    in_sr = []
    for seed in range(5):
        d = inject(bkg, sig, s_over_b_in_sr=0.01, signal_region=sr, seed=seed)
        assert d.label.sum() == round(0.01 * b_sr / eff)
        in_sr.append((signal_region_mask(d, sr) & (d.label == 1)).sum())
    n = round(0.01 * b_sr / eff)
    assert abs(np.mean(in_sr) - 0.01 * b_sr) < 4 * np.sqrt(n * eff * (1 - eff) / 5) + 1
    assert inject(bkg, sig, s_over_b_in_sr=0.0).label.sum() == 0
    with pytest.raises(ValueError, match="exactly one"):
        inject(bkg, sig)
    with pytest.raises(ValueError, match="the pool has 5000"):
        inject(bkg, sig, n_signal=6000)
