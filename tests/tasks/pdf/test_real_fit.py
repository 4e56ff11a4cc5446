"""pdf-fit end to end on real data through the ``mlhep`` command: a short LO fit of BCDMS + SLAC, its report and
LHAPDF export, then a second fit whose t0 PDF is the first fit's central PDF (NNPDF's t0 iteration).

Needs the LO FK tables of the two datasets in the theory cache (``make fktables`` builds them; so does CI).
"""
from __future__ import annotations


import numpy as np
import pytest

from mlhep.io.results import Results
from mlhep.tasks.pdf import fktable

DATASETS = ("BCDMS_NC_NOTFIXED_P_EM-F2", "SLAC_NC_NOTFIXED_P_EM-F2")
CARD = """\
task: pdf-fit
seed: 7
replicas: 3
engine:
  epochs: 1500
  chunk: 250
  optimizer: {{name: nadam, learning_rate: 0.01}}
  stopping: {{patience: 500, min_epochs: 500}}
data:
  datasets:
    - {{name: BCDMS_NC_NOTFIXED_P_EM-F2, variant: legacy}}
    - {{name: SLAC_NC_NOTFIXED_P_EM-F2, variant: legacy}}
theory:
  order: LO
positivity: {{multiplier: 1000.0, growth: 1.5}}
output_grid: {{q_values: [1.65, 100.0]}}
lhapdf: {{name: tiny_lo, q_points: 8, x_points: 30}}
{t0}
"""

pytestmark = pytest.mark.skipif(
    not all(fktable.available(d, "LO") for d in DATASETS),
    reason="LO FK tables not built (run `make fktables`)")


@pytest.fixture(scope="module")
def first_fit(tmp_path_factory):
    from mlhep.cli import main

    folder = tmp_path_factory.mktemp("real")
    card = folder / "fit.yaml"
    card.write_text(CARD.format(t0="t0: {source: lh_toy}"))
    assert main(["fit", str(card), "-o", str(folder / "fit.h5"), "--quiet"]) == 0
    return folder, Results.read(folder / "fit.h5")


def test_fit_to_real_data_has_sane_chi2_sum_rules_and_export(first_fit, run_cli):
    folder, res = first_fit
    rep = res.replicas
    ndata = int(np.sum(res.summary["ndata"]))
    assert ndata == 333 + 33                                   # NNPDF4.0 cuts
    chi2 = sum(rep[f"chi2_exp/{name}"] for name in DATASETS) / ndata
    assert np.all(chi2 < 3.0), chi2                            # a short fit, but it does fit the data
    np.testing.assert_allclose(rep["sumrules/momentum"], 1.0, atol=1e-4)
    np.testing.assert_allclose(rep["sumrules/uv"], 2.0, atol=1e-4)
    np.testing.assert_allclose(rep["sumrules/dv"], 1.0, atol=1e-4)
    assert rep["pdf/fk/basis"].shape == (3, 7, len(res.summary["fk_xgrid"]))
    members = sorted((folder / "tiny_lo").glob("tiny_lo_*.dat"))
    assert len(members) == 4                                   # central + 3 replicas
    # the grid starts where the FK tables (and so the evolution) start, not in a region of zeros; alpha_s is
    # tabulated on the same Q grid (LHAPDF's ipol, which pdfflow and validphys need), 0.118 at M_Z
    info = dict(line.split(": ", 1) for line in (folder / "tiny_lo" / "tiny_lo.info").read_text().splitlines())
    assert float(info["XMin"]) == pytest.approx(res.summary["fk_xgrid"].min(), rel=1e-8)
    first_block = members[1].read_text().split("---")[1].split("\n")
    at_xmin = dict(zip(map(int, first_block[3].split()), np.array(first_block[4].split(), float)))
    assert all(at_xmin[pid] > 0 for pid in (-3, -2, -1, 1, 2, 3, 21))       # light partons at XMin and Q0
    qs, alphas = (np.array(info[k].strip("[]").split(","), float) for k in ("AlphaS_Qs", "AlphaS_Vals"))
    assert info["AlphaS_Type"] == "ipol" and len(qs) == len(alphas) and np.all(np.diff(alphas) <= 0)
    # at LO (this fit's order) 1 / alpha_s is linear in ln Q between thresholds
    assert 1 / np.interp(np.log(91.1876), np.log(qs), 1 / alphas) == pytest.approx(0.118, rel=1e-3)
    code, out, _ = run_cli("report", folder / "fit.h5")
    assert code == 0 and "BCDMS_NC_NOTFIXED_P_EM-F2" in out and "total" in out


def _setup(tmp_path, section: str):
    """The problem pdf-fit sets up for CARD with ``section`` added (no training)."""
    from mlhep.fit import load
    from mlhep.task import RunContext

    card = tmp_path / "card.yaml"
    card.write_text(CARD.format(t0=section))
    runcard, task = load(card)
    ctx = RunContext(runcard_path=card, seed=7, replica_ids=np.arange(1), fail=runcard.fail, train=None, quiet=True)
    return task.setup(runcard.config, ctx)


def _central_pdf(res) -> np.ndarray:
    """Mean x f on the FK grid of the postfit-accepted replicas of a results file."""
    from mlhep.tasks.pdf import postfit
    return res.replicas["pdf/fk/basis"][postfit.accepted(res, res.config)].mean(axis=0)


def test_t0_from_an_earlier_fit(first_fit, tmp_path):
    from mlhep.stats.covariance import covariance

    folder, res = first_fit
    problem = _setup(tmp_path, f"t0: {{source: fit, fit: {folder / 'fit.h5'}}}")
    t0_pred = problem.predictions(_central_pdf(res))
    from mlhep.tasks.pdf import commondata
    blocks = [commondata.load_dataset(d, "legacy").uncertainties for d in DATASETS]
    expected = covariance(blocks, t0=[t0_pred[problem.groups == i] for i in range(2)])
    np.testing.assert_allclose(problem.cov_t0, expected, rtol=1e-12)
    assert problem.t0_source == "fit" and not np.allclose(problem.cov_t0, problem.cov_exp)


def test_closure_truth_from_an_earlier_fit(first_fit, tmp_path):
    """closure: {truth: fit}: the truth is the mean PDF of the earlier fit's accepted replicas (NNPDF's way), and
    level-0 data are exactly its predictions through the same FK tables."""
    folder, res = first_fit
    problem = _setup(tmp_path, f"closure: {{truth: fit, fit: {folder / 'fit.h5'}, level: 0}}")
    truth = _central_pdf(res)
    np.testing.assert_array_equal(problem.closure_truth, truth)
    np.testing.assert_allclose(problem.central, problem.predictions(truth), rtol=1e-12)


@pytest.mark.parametrize("t0, key, line", [("t0: {source: fit}", "t0.source", 18),
                                           ("t0: {source: fit, fit: nowhere.h5}", "t0.fit", 18)])
def test_bad_t0_file_points_at_the_key(tmp_path, run_cli, t0, key, line):
    card = tmp_path / "bad.yaml"
    card.write_text(CARD.format(t0=t0))
    code, _, err = run_cli("check", card)
    assert code == 2 and key in err and f"bad.yaml:{line}:" in err, err
