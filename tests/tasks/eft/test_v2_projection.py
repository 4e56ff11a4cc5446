"""eft-fit binned, projections: pseudo-data for a future luminosity from the commondata (SMEFiT's PROJ).

Truths compared with: the luminosity scaling of a statistics-only toy (the Fisher information grows exactly as
L_new / L_old, bounds shrink as sqrt(L_old / L_new)); the covariance written out by hand with the systematics
floor (fred_sys x systematics) that bounds reach at infinite luminosity; SMEFiT's own HL-LHC projections in the
database (commondata_projections_L0/*_proj.yaml: 3000 fb^-1, fred_sys = 1/2), reproduced dataset by dataset.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from fixtures.smefit_toy import prediction, toy_truth_tables, write_dataset

from mlhep.errors import DataError, RunCardError
from mlhep.stats.covariance import covariance
from mlhep.task import RunContext
from mlhep.tasks.eft.binned.config import BinnedConfig, CoefficientConfig, ProjectionConfig
from mlhep.tasks.eft.binned.fits import analytic_fit
from mlhep.tasks.eft.binned.setup import setup_problem

L0 = 140.0


def make_ctx(tmp_path: Path, seed: int = 3) -> RunContext:
    return RunContext(runcard_path=tmp_path / "runcard.yaml", seed=seed, replica_ids=np.arange(1),
                      fail=lambda key, why: RunCardError(why, key=key), train=None, quiet=True)


def write_lumi_database(root: Path, sys_fraction: float, luminosity: float | None = L0) -> Path:
    """TOY_A and TOY_B of the toy database, data at the SM, 5% statistical errors and one correlated additive
    systematic of ``sys_fraction`` (0: statistics only), with a luminosity in the commondata."""
    tables = toy_truth_tables()
    for name in ("TOY_A", "TOY_B"):
        sm, linear, _ = tables[name]
        central = prediction(sm, linear, {}, {})
        write_dataset(root, name, central, 0.05 * central, [sys_fraction * central], ["ADD"], ["CORR"], sm, linear)
        if luminosity is not None:
            path = root / "commondata" / f"{name}.yaml"
            path.write_text(path.read_text() + f"luminosity: {luminosity}\n")
    return root


def config(db, projection: ProjectionConfig | None, **options) -> BinnedConfig:
    return BinnedConfig(database=str(db), datasets=["TOY_A", "TOY_B"], projection=projection, fit="analytic",
                        coefficients={c: CoefficientConfig() for c in ("Oa", "Ob", "Oc")}, **options)


def test_statistics_only_bounds_shrink_as_sqrt_luminosity(tmp_path):
    db = write_lumi_database(tmp_path / "db", sys_fraction=0.0)
    base = analytic_fit(setup_problem(config(db, None), make_ctx(tmp_path)))
    for luminosity in (4 * L0, 3000.0):
        problem = setup_problem(config(db, ProjectionConfig(luminosity=luminosity)), make_ctx(tmp_path))
        fit = analytic_fit(problem)
        np.testing.assert_allclose(fit.fisher, base.fisher * luminosity / L0, rtol=1e-12)
        np.testing.assert_allclose(np.sqrt(np.diag(fit.covariance)),
                                   np.sqrt(np.diag(base.covariance) * L0 / luminosity), rtol=1e-10)
        np.testing.assert_allclose(problem.central, problem.sm, rtol=1e-15)       # level 0 at the SM


def test_systematics_are_reduced_and_set_the_floor(tmp_path):
    """stat^2 L0/L + (fred_sys sys)^2 per dataset: the covariance by hand; at L -> infinity the bounds reach
    those of the reduced systematics alone."""
    db = write_lumi_database(tmp_path / "db", sys_fraction=0.03)
    problem = setup_problem(config(db, ProjectionConfig(luminosity=3000.0, fred_sys=0.5), use_t0=False),
                            make_ctx(tmp_path))
    blocks = []
    for name in ("TOY_A", "TOY_B"):
        sm, _, _ = toy_truth_tables()[name]
        blocks.append(np.diag((0.05 * sm) ** 2 * L0 / 3000.0) + np.outer(0.015 * sm, 0.015 * sm))
    expected = np.zeros((11, 11))
    expected[:6, :6], expected[6:, 6:] = blocks
    np.testing.assert_allclose(problem.fit_covariance, expected, rtol=1e-12)
    floor = np.sqrt(np.diag(analytic_fit(setup_problem(
        config(db, ProjectionConfig(luminosity=1e12, fred_sys=0.5)), make_ctx(tmp_path))).covariance))
    widths = [np.sqrt(np.diag(analytic_fit(setup_problem(config(db, ProjectionConfig(luminosity=lumi)),
                                                         make_ctx(tmp_path))).covariance)) for lumi in (300, 3000)]
    assert np.all(widths[0] > widths[1]) and np.all(widths[1] > floor)


def test_level1_noise_and_truth(tmp_path):
    """L0 central values are the theory at the truth; L1 fluctuates them, reproducibly for a seed; a dataset
    without a luminosity cannot be projected to one."""
    db = write_lumi_database(tmp_path / "db", sys_fraction=0.02)
    truth = {"Oa": 0.5, "Ob": -0.2}
    l0 = setup_problem(config(db, ProjectionConfig(luminosity=3000.0, truth=truth)), make_ctx(tmp_path))
    tables = toy_truth_tables()
    theory = np.concatenate([prediction(*tables[n], truth) for n in ("TOY_A", "TOY_B")])
    np.testing.assert_allclose(l0.central, theory, rtol=1e-14)
    np.testing.assert_allclose(analytic_fit(l0).best, [0.5, -0.2, 0.0], atol=1e-10)    # closure at level 0
    l1 = [setup_problem(config(db, ProjectionConfig(luminosity=3000.0, truth=truth, noise="L1")),
                        make_ctx(tmp_path, seed)).central for seed in (1, 1, 2)]
    np.testing.assert_array_equal(l1[0], l1[1])
    assert not np.allclose(l1[0], l1[2]) and not np.allclose(l1[0], theory)
    pulls = np.linalg.solve(np.linalg.cholesky(l0.sample_covariance), l1[0] - theory)
    assert abs(pulls @ pulls - 11) < 6 * np.sqrt(22)
    nolumi = write_lumi_database(tmp_path / "nolumi", sys_fraction=0.0, luminosity=None)
    with pytest.raises(DataError, match=r"TOY_A.yaml: no 'luminosity'"):
        setup_problem(config(nolumi, ProjectionConfig(luminosity=3000.0)), make_ctx(tmp_path))
    with pytest.raises(RunCardError, match="has no correction") as error:
        setup_problem(config(db, ProjectionConfig(truth={"Oz": 1.0})), make_ctx(tmp_path))
    assert error.value.key == "binned.projection.truth.Oz"


@pytest.mark.shared_data
def test_reproduces_smefit_hllhc_projections(shared_data):
    """Every LHC dataset that SMEFiT's database projects to HL-LHC (commondata_projections_L0/<name>_proj.yaml,
    3000 fb^-1, systematics halved) is reproduced from commondata/<name>.yaml: central values (the SM), statistical
    errors and the systematics' covariance, to 1e-6."""
    from mlhep.tasks.eft.binned.loader import load_dataset, read_commondata
    from mlhep.tasks.eft.binned.projection import project_dataset
    db = shared_data / "smefit_database"
    names = sorted(p.stem[:-len("_proj")] for p in (db / "commondata_projections_L0").glob("*_proj.yaml"))
    assert len(names) >= 40
    for name in names:
        ours = project_dataset(load_dataset(db, name, "NLO"), ProjectionConfig(luminosity=3000.0), False, True,
                               np.random.default_rng(0), name).uncertainties
        theirs = read_commondata(db / "commondata_projections_L0" / f"{name}_proj.yaml")
        np.testing.assert_allclose(ours.central, theirs.central, rtol=1e-6, err_msg=name)
        np.testing.assert_allclose(ours.stat, theirs.stat, rtol=1e-6, err_msg=name)
        scale = np.outer(ours.central, ours.central)
        np.testing.assert_allclose(covariance([ours]) / scale, covariance([theirs]) / scale, atol=1e-9, err_msg=name)
