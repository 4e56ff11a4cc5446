"""Closure test (level 1): pseudo-data made from a known PDF (the Les Houches toy in the fit basis at Q0) through
synthetic DIS-like FK tables (``pdf_synthetic``), fitted by a few replicas with the engine. The truth must lie
within 2 sigma of the replica ensemble for most x in the data region, for the flavours the data constrain
(V8 enters no synthetic observable, only the sum rules, so it is not checked), and sum rules hold to 1e-4."""
import numpy as np

import mlhep  # noqa: F401
from mlhep.engine import EngineConfig, train
from mlhep.engine.config import OptimizerConfig, StoppingConfig
from mlhep.tasks.pdf import TASK
from mlhep.tasks.pdf.config import DataConfig, PdfFitConfig, PositivityConfig
from mlhep.tasks.pdf.model import BASIS_INDEX
from mlhep.tasks.pdf.problem import build_problem, lh_toy_basis
from pdf_synthetic import closure_datasets

CHECKED = ("Sigma", "g", "V", "V3", "T3", "T8")


def test_closure_fit_recovers_lh_toy():
    problem = build_problem(closure_datasets(stat_scale=2.5), seed=1)
    config = PdfFitConfig(data=DataConfig(datasets=[]),
                          positivity=PositivityConfig(multiplier=1e3, growth=1.1, threshold=1e-3))
    config.output_grid.xmin, config.output_grid.points, config.output_grid.q_values = 1e-3, 40, []
    engine = EngineConfig(epochs=3000, chunk=250, optimizer=OptimizerConfig(name="nadam", learning_rate=0.02),
                          stopping=StoppingConfig(patience=600))
    result = train(TASK.trainable(problem, config), np.arange(5), 1, engine)
    outputs = TASK.evaluate(problem, config, result)
    rep = outputs.replicas

    x = outputs.summary["pdf/x"]
    region = (x > 1e-3) & (x < 0.6)
    xf = rep["pdf/q0/basis"][:, :, region]                          # (R, 7, nx)
    truth = lh_toy_basis(x[region])
    rows = [BASIS_INDEX[k] for k in CHECKED]
    pull = (xf.mean(axis=0) - truth)[rows] / xf.std(axis=0)[rows]
    assert np.mean(np.abs(pull) < 2) > 0.65, np.round(pull, 1)

    chi2_per_point = sum(rep[f"chi2_exp/{n}"] for n in problem.names) / problem.ndata.sum()
    assert np.median(chi2_per_point) < 2.0
    np.testing.assert_allclose(rep["sumrules/momentum"], 1.0, atol=1e-4)
    np.testing.assert_allclose(rep["sumrules/uv"], 2.0, atol=1e-4)
    np.testing.assert_allclose(rep["sumrules/dv"], 1.0, atol=1e-4)
    np.testing.assert_allclose(rep["sumrules/sv"], 0.0, atol=1e-4)
    # the evaluate step re-derives each replica's split: its validation chi2 is the one the engine kept
    np.testing.assert_allclose(rep["chi2_valid"], result.best_valid, rtol=1e-6)


def test_fake_data_level0_is_the_truth_and_level1_one_covariance_draw():
    """Level 0: central = FK x truth exactly, MULT systematics keep their relative size; level 1: the shift is
    one draw of the experimental covariance (whitened chi2/N within 5 sigma of 1), fixed by the seed."""
    from mlhep.stats.covariance import covariance
    from mlhep.tasks.pdf import closure
    from pdf_synthetic import XGRID

    real = closure_datasets(seed=3)
    truth = 1.1 * lh_toy_basis(XGRID)                      # not the PDF the synthetic data were made from
    level0 = closure.fake_datasets(real, truth, level=0, seed=5)
    for r, f in zip(real, level0):
        expected = np.einsum("nak,ak->n", r.fktable, truth)
        np.testing.assert_allclose(f.uncertainties.central, expected, rtol=1e-13)
        np.testing.assert_allclose(f.uncertainties.sys / f.uncertainties.central[:, None],
                                   r.uncertainties.sys / r.uncertainties.central[:, None], rtol=1e-12)
        np.testing.assert_array_equal(f.uncertainties.stat, r.uncertainties.stat)
    level1 = closure.fake_datasets(real, truth, level=1, seed=5)
    shift = np.concatenate([b.uncertainties.central - a.uncertainties.central for a, b in zip(level0, level1)])
    cov = covariance([d.uncertainties for d in level0])
    n = len(shift)
    assert abs(shift @ np.linalg.solve(cov, shift) / n - 1) < 5 * np.sqrt(2 / n)
    again = closure.fake_datasets(real, truth, level=1, seed=5)
    other = closure.fake_datasets(real, truth, level=1, seed=6)
    assert all(np.array_equal(a.uncertainties.central, b.uncertainties.central) for a, b in zip(level1, again))
    assert not np.allclose(level1[0].uncertainties.central, other[0].uncertainties.central)


def test_bias_variance_of_known_shifts():
    """Unit covariance: bias = |<T> - truth|^2 / n, variance = mean |T_r - <T>|^2 / n; a scaled covariance scales
    both by its inverse and leaves R_bv unchanged."""
    from mlhep.tasks.pdf import closure

    truth = np.array([1.0, 2.0, 3.0, 4.0])
    spread = np.array([[0.1, -0.2, 0.0, 0.3], [-0.1, 0.2, 0.0, -0.3]])      # mean zero over the replicas
    predictions = truth + np.array([0.5, 0.0, -0.5, 1.0]) + spread
    bias, variance = closure.bias_variance(predictions, truth, np.eye(4))
    assert np.isclose(bias, (0.25 + 0.25 + 1.0) / 4) and np.isclose(variance, (0.01 + 0.04 + 0.09) / 4)
    bias4, variance4 = closure.bias_variance(predictions, truth, 4 * np.eye(4))
    assert np.isclose(bias4, bias / 4) and np.isclose(variance4, variance / 4)
