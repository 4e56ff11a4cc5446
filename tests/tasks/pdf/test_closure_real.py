"""Closure test on the REAL FK tables and uncertainties (``closure:`` in the runcard): level-1 fake data made
from the Les Houches toy PDF through the LO FK tables of fixed-target and HERA DIS data, with the measured
covariance, fitted by a few replicas through the ``mlhep`` command. The data-space bias/variance ratio must be
of order one (NNPDF4.0 closure tests: R_bv ~ 1.0; here only a few short replicas, so within [0.5, 2]), the
fit must describe its fake data with chi2/N ~ 1, and the report must show the estimators. The toy's T8 is not
integrable (x T8 ~ x^-0.1, like its sea), so T8 gets the singlet's small-x freedom: a truth the NNPDF4.0
parametrisation could not represent would bias the fit, not test it.

Needs the LO FK tables in the theory cache (``make fktables`` builds them; so does CI).
"""
from __future__ import annotations

import numpy as np
import pytest

from mlhep.io.results import Results
from mlhep.tasks.pdf import closure, commondata, fktable, postfit
from mlhep.tasks.pdf.report import correlated_groups

DATASETS = ("BCDMS_NC_NOTFIXED_P_EM-F2", "BCDMS_NC_NOTFIXED_D_EM-F2", "SLAC_NC_NOTFIXED_P_EM-F2",
            "NMC_NC_NOTFIXED_P_EM-SIGMARED", "HERA_NC_318GEV_EP-SIGMARED", "HERA_CC_318GEV_EP-SIGMARED")
CARD = """\
task: pdf-fit
seed: 11
replicas: 6
engine:
  epochs: 4000
  chunk: 250
  optimizer: {name: nadam, learning_rate: 0.005}
  stopping: {patience: 800, min_epochs: 1000}
data:
  datasets:
""" + "".join(f"    - {{name: {d}, variant: legacy}}\n" for d in DATASETS) + """\
theory: {order: LO}
positivity: {multiplier: 1000.0, growth: 1.5}
closure: {truth: lh_toy, level: 1, seed: 4}
integrability: {flavours: [V, V3, V8, T3]}     # the toy's x T8 ~ x^-0.1 at small x, as its singlet
model:
  preprocessing:
    T8: {alpha: [1.05, 1.15], beta: [1.5, 3.5]}
output_grid: {q_values: []}
"""

pytestmark = pytest.mark.skipif(not all(fktable.available(d, "LO") for d in DATASETS),
                                reason="LO FK tables not built (run `make fktables`)")


def test_level1_closure_on_real_fk_tables(tmp_path, run_cli):
    card = tmp_path / "closure.yaml"
    card.write_text(CARD)
    code, _, err = run_cli("fit", card, "-o", tmp_path / "closure.h5", "--quiet")
    assert code == 0, err
    res = Results.read(tmp_path / "closure.h5")
    rep, summ = res.replicas, res.summary
    keep = postfit.accepted(res, res.config)
    assert keep.sum() >= 4

    measured = np.concatenate([commondata.load_dataset(d, "legacy").central for d in DATASETS])
    fake = np.concatenate([summ[f"data/{d}"] for d in DATASETS])
    assert fake.shape == measured.shape and not np.allclose(fake, measured, rtol=1e-3)   # the fit saw fake data

    ndata = int(np.sum(summ["ndata"]))
    chi2 = sum(rep[f"chi2_exp/{d}"][keep] for d in DATASETS) / ndata
    assert np.median(chi2) < 1.5, chi2               # level 1: the truth itself has chi2/N ~ 1 to these data

    predictions = np.concatenate([rep[f"prediction/{d}"][keep] for d in DATASETS], axis=1)
    truth = np.concatenate([summ[f"closure/prediction/{d}"] for d in DATASETS])
    cov = np.zeros((ndata, ndata))
    edges = np.concatenate([[0], np.cumsum(summ["ndata"])])
    for members, group in correlated_groups(summ):
        rows = np.concatenate([np.arange(edges[i], edges[i + 1]) for i in members])
        cov[np.ix_(rows, rows)] = summ[f"{group}/cov_exp"]
    bias, variance = closure.bias_variance(predictions, truth, cov)
    assert 0.5 < np.sqrt(bias / variance) < 2.0, (bias, variance)
    np.testing.assert_allclose(rep["sumrules/momentum"], 1.0, atol=1e-4)

    code, out, _ = run_cli("report", tmp_path / "closure.h5")
    assert code == 0 and "closure test, level 1" in out and "R_bv" in out
