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
