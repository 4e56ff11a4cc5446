"""The pieces of eels-fit without training: the batched bandgap fit against scipy's, a replica's data (one member
per cluster, the split within each cluster), and the pixel processing (chunks, the ln N interpolation)."""
from __future__ import annotations

from pathlib import Path

import jax
import numpy as np
import pytest

from mlhep.task import RunContext
from mlhep.tasks.eels.bandgap import fit_bandgap
from mlhep.tasks.eels.config import Analysis, Clustering, EelsData, EelsFitConfig, Images, SyntheticImage
from mlhep.tasks.eels.inputs import load_problem
from mlhep.tasks.eels.onset_fit import fit_onsets
from mlhep.tasks.eels.trainable import ZLPTrainable
from mlhep.tasks.eels.zlp_model import ZLPNet


def test_onset_fit_matches_scipy_least_squares():
    """Noiseless onsets are recovered to the grid's resolution; on noisy ones the zoomed grid finds scipy's optimum
    (``bandgap.fit_bandgap``, several starts) to within 0.005 eV and 0.02 in b, with the same chi2 to 1e-4."""
    energy = np.arange(0.0, 4.0, 0.025)
    rng = np.random.default_rng(1)
    gap, b = rng.uniform(1.2, 2.0, 40), rng.uniform(0.4, 2.0, 40)
    clean = 1000 * np.clip(energy - gap[:, None], 0, None) ** b[:, None]
    fits = fit_onsets(energy, clean, (1.0, 3.0), (0.0, 3.0))
    assert np.max(np.abs(fits["bandgap"] - gap)) < 0.005 and np.max(np.abs(fits["exponent"] - b)) < 0.015
    noisy = clean + rng.normal(0, 30, clean.shape)
    fits = fit_onsets(energy, noisy, (1.0, 3.0), (0.0, 3.0))
    for i in range(8):
        ref = fit_bandgap(energy, noisy[i], (1.0, 3.0))
        assert fits["bandgap"][i] == pytest.approx(ref.bandgap, abs=0.005)
        assert fits["exponent"][i] == pytest.approx(ref.exponent, abs=0.02)
        assert fits["chi2"][i] == pytest.approx(ref.chi2, rel=1e-4)
    fixed = fit_onsets(energy, noisy[:8], (1.0, 3.0), (0.0, 3.0), exponent=1.5)
    assert np.all(fixed["exponent"] == 1.5)
    for i in range(8):
        assert fixed["bandgap"][i] == pytest.approx(fit_bandgap(energy, noisy[i], (1.0, 3.0), exponent=1.5).bandgap,
                                                    abs=0.005)


def _problem(k=2, **synthetic):
    ctx = RunContext(runcard_path=Path("card.yaml"), seed=0, replica_ids=np.arange(1),
                     fail=lambda key, why: AssertionError(f"{key}: {why}"), train=None)
    settings = {"pixels": [5, 5], "energy": [-0.6, 3.0, 0.05]} | synthetic
    config = EelsFitConfig(data=EelsData(synthetic=SyntheticImage(**settings)), clustering=Clustering(k=k))
    return config, load_problem(config, ctx)


def test_replica_data_draws_one_member_per_cluster_and_splits_every_cluster():
    config, problem = _problem(k=3)
    t = ZLPTrainable.from_problem(problem, ZLPNet(activations=("tanh",) * 3), 10.0, 0.25)
    shared = t.shared()
    keys = jax.random.split(jax.random.PRNGKey(3), 20)
    data = jax.vmap(t.replica_data, in_axes=(0, None))(keys, shared)
    draws = np.asarray(data["draw"])
    sizes = np.array([len(m) for m in problem.members])
    assert np.all(draws >= 0) and np.all(draws < sizes) and len(np.unique(draws[:, 0])) > 3
    for r in (0, 7):
        for c in range(3):
            member = np.log(np.clip(problem.members[c][draws[r, c]], 1, None))
            np.testing.assert_allclose(np.asarray(data["log_counts"][r, c]), member, rtol=1e-6)
    train = np.asarray(data["train"])
    for c in range(3):
        points = t.regions.fit_cluster == c
        np.testing.assert_array_equal(train[:, points].sum(1), np.round(0.75 * points.sum()))
    assert len({tuple(row) for row in train}) == 20                 # every replica its own split


def test_constant_intensity_input():
    """intensity_input false: every spectrum and member gets the input 0.5 (a ZLP of E alone)."""
    _, problem = _problem(k=1)
    t = ZLPTrainable.from_problem(problem, ZLPNet(), 10.0, 0.25, intensity_input=False)
    assert np.all(t.intensity == 0.5) and np.all(t.intensity_of(problem.pixels) == 0.5)
    scaled = ZLPTrainable.from_problem(problem, ZLPNet(), 10.0, 0.25).intensity
    assert scaled.min() == pytest.approx(0.1) and scaled.max() == pytest.approx(0.9)


def _evaluator(config, problem, images: Images):
    from mlhep.tasks.eels.analysis import Evaluator
    config = EelsFitConfig(data=config.data, clustering=config.clustering, analysis=Analysis(images=images))
    t = ZLPTrainable.from_problem(problem, ZLPNet(activations=("tanh",) * 3), 10.0, 0.25)
    params = jax.vmap(t.init, in_axes=(0, None))(jax.random.split(jax.random.PRNGKey(0), 3), t.shared())
    return Evaluator(t, problem, config, params)


def test_pixel_chunks_do_not_change_the_maps():
    """Maps made 7 pixels at a time (the last chunk padded) equal those made all at once (any replicas' ZLPs:
    here untrained ones)."""
    config, problem = _problem()
    whole = _evaluator(config, problem, Images(pixel_chunk=64, keep_pixel_replicas=64)).pixels()
    chunked = _evaluator(config, problem, Images(pixel_chunk=7, keep_pixel_replicas=0)).pixels()
    assert set(whole[1]) > set(chunked[1]) and "pixel/bandgap" in whole[0] and not chunked[0]
    for key in chunked[1]:
        np.testing.assert_allclose(chunked[1][key], whole[1][key], rtol=1e-5, atol=1e-6, err_msg=key)


def test_intensity_interpolation_agrees_with_the_network():
    """The ZLP on a grid of 256 ln N values, interpolated linearly, against the network at every pixel's ln N: the
    matched ZLP's integral I0 within 1e-4 relative (a smooth network: the error is O(h^2))."""
    config, problem = _problem()
    exact = _evaluator(config, problem, Images(pixel_chunk=64))
    grid = _evaluator(config, problem, Images(pixel_chunk=64, zlp_interpolation=256))
    rows = np.arange(len(problem.pixels))
    args = (problem.pixels, exact.trainable.intensity_of(problem.pixels), problem.de1[problem.pixel_cluster],
            problem.de2[problem.pixel_cluster])
    window_a, i0_a = (np.asarray(v) for v in exact._reduced(exact.params, *args))
    window_b, i0_b = (np.asarray(v) for v in grid._reduced(grid.params, *args))
    assert len(rows) == i0_a.shape[1]
    np.testing.assert_allclose(i0_b, i0_a, rtol=1e-4)
    np.testing.assert_allclose(window_b, window_a, rtol=1e-3, atol=1e-3)


def test_band_is_numpys_nanpercentile():
    from mlhep.tasks.eels.analysis import band
    rng = np.random.default_rng(0)
    values = rng.normal(size=(17, 40, 3))
    values[rng.uniform(size=values.shape) < 0.3] = np.nan
    values[:, 0, 0] = np.nan                          # a column without any value
    values[:-1, 1, 1] = np.nan                        # one with a single value
    with pytest.warns(RuntimeWarning):
        reference = np.nanpercentile(values, [16, 50, 84], axis=0)
    result = band(values)
    for name, ref in zip(("low", "median", "high"), reference):
        np.testing.assert_allclose(result[name], ref, rtol=1e-12, atol=1e-14, equal_nan=True)
