"""eft-fit binned on the real SMEFiT database (../shared/data; skipped when absent)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mlhep.errors import RunCardError
from mlhep.task import RunContext
from mlhep.tasks.eft.binned.config import BinnedConfig, CoefficientConfig
from mlhep.tasks.eft.binned.fits import analytic_fit
from mlhep.tasks.eft.binned.loader import available_datasets, read_commondata
from mlhep.tasks.eft.binned.setup import setup_problem

REPO = Path(__file__).resolve().parents[3]
TOP = ["ATLAS_tt_8TeV_ljets_Mtt", "CMS_tt_13TeV_ljets_2016_Mtt", "ATLAS_ttZ_13TeV_pTZ", "CMS_ttW_13TeV",
       "CMS_t_tch_13TeV_inc", "ATLAS_Whel_13TeV"]


@pytest.mark.shared_data
def test_real_top_datasets_load_and_sm_chi2_is_sensible(shared_data):
    database = shared_data / "smefit_database"
    if not database.is_dir():
        pytest.skip(f"no SMEFiT database in {shared_data}")
    assert len(available_datasets(database)) >= 80
    # ATLAS 8 TeV l+jets m_tt: 7 points, 136 systematics stored systematic-major, absolute (pb/GeV)
    u = read_commondata(database / "commondata" / "ATLAS_tt_8TeV_ljets_Mtt.yaml")
    assert u.sys.shape == (7, 136) and u.names[110] == "ATLASLUMI12"
    assert abs(u.sys[0, 0] - 0.001465676652486) < 1e-15
    ctx = RunContext(runcard_path=REPO / "runcards" / "x.yaml", seed=0, replica_ids=np.arange(1),
                     fail=lambda key, why: RunCardError(why, key=key), train=None, quiet=True)
    coefficients = {c: CoefficientConfig(min=-10, max=10) for c in ("OtG", "OtW", "OtZ", "OpQM", "O3pQ3")}
    config = BinnedConfig(database="${MLHEP_SHARED_DATA}/smefit_database", datasets=TOP,
                          coefficients=coefficients, fit="analytic")
    problem = setup_problem(config, ctx)
    n = problem.central.size
    assert n == sum(problem.sizes) == 7 + 10 + 7 + 1 + 2 + 2
    residual = problem.central - problem.sm
    chi2_sm = residual @ np.linalg.solve(problem.fit_covariance, residual)
    # The SM describes these data: chi2/N of order one (SMEFiT 2.0 finds 0.5-3.5 per dataset here).
    assert 0.5 < chi2_sm / n < 2.5
    fit = analytic_fit(problem)
    assert fit.chi2 < chi2_sm                              # fitting 5 coefficients can only lower chi2
    # OtG is the best-constrained top coefficient: |OtG| < 1 TeV^-2 at 1 sigma with tt data
    assert np.sqrt(fit.covariance[0, 0]) < 1.0 and abs(fit.best[0]) < 1.0
