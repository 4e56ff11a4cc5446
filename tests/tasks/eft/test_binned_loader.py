"""eft-fit binned: the SMEFiT-format readers, the covariance conventions and the theory predictions,
checked against numbers computed by hand."""
from __future__ import annotations

import json

import numpy as np
import pytest
from fixtures.smefit_toy import write_dataset

from mlhep.stats.covariance import covariance
from mlhep.tasks.eft.binned.config import CoefficientConfig
from mlhep.tasks.eft.binned.loader import load_dataset, read_commondata, read_theory
from mlhep.tasks.eft.binned.problem import build_problem
from mlhep.tasks.eft.binned.theory import CoefficientError, build_coefficient_map, predict


def _two_point_dataset(root):
    # central (10, 20); stat (1, 2); sys rows (systematic-major as in SMEFiT):
    #   ADD  UNCORR (0.5, 1.0); MULT CORR (1.0, 2.0) [10% of central]; MULT LUMI (0.2, 0.4) [2% of central]
    write_dataset(root, "HAND", [10.0, 20.0], [1.0, 2.0],
                  [[0.5, 1.0], [1.0, 2.0], [0.2, 0.4]], ["ADD", "MULT", "MULT"], ["UNCORR", "CORR", "LUMI"],
                  best_sm=[20.0, 10.0], linear={"Oa": [1.0, -2.0], "Ob": [0.5, 0.0]},
                  quadratic={("Oa", "Oa"): [0.1, 0.2], ("Ob", "Oa"): [0.3, 0.0]},
                  theory_cov=[[0.25, 0.0], [0.0, 0.25]], lo_only=True)


def test_commondata_reader_matches_hand_values(tmp_path):
    _two_point_dataset(tmp_path)
    u = read_commondata(tmp_path / "commondata" / "HAND.yaml")
    np.testing.assert_array_equal(u.central, [10.0, 20.0])
    np.testing.assert_array_equal(u.stat, [1.0, 2.0])
    # stored systematic-major -> (n points, k systematics)
    np.testing.assert_array_equal(u.sys, [[0.5, 1.0, 0.2], [1.0, 2.0, 0.4]])
    assert u.treatment == ("ADD", "MULT", "MULT") and u.names == ("UNCORR", "CORR", "LUMI")


def test_covariance_by_hand_experimental_and_t0(tmp_path):
    _two_point_dataset(tmp_path)
    table = load_dataset(tmp_path, "HAND", "NLO")
    # Experimental: diag(stat^2 + uncorr^2) + corr corr^T + lumi lumi^T (SMEFiT's sys are absolute).
    expected = np.array([[1 + 0.25 + 1.0 + 0.04, 2.0 + 0.08],
                         [2.0 + 0.08, 4 + 1.0 + 4.0 + 0.16]])
    np.testing.assert_allclose(covariance([table.uncertainties]), expected)
    # t0 (SMEFiT: MULT sys / central * best_sm): best_sm = (20, 10) doubles point 1's and halves point 2's
    # MULT shifts: corr -> (2, 1), lumi -> (0.4, 0.2); ADD unchanged.
    t0 = np.array([[1 + 0.25 + 4.0 + 0.16, 2.0 + 0.08],
                   [2.0 + 0.08, 4 + 1.0 + 1.0 + 0.04]])
    np.testing.assert_allclose(covariance([table.uncertainties], t0=[table.best_sm]), t0)


def test_theory_reader_and_prediction_by_hand(tmp_path):
    _two_point_dataset(tmp_path)
    best_sm, theory_cov, order, linear, quadratic = read_theory(tmp_path / "theory" / "HAND.json", "NLO")
    assert order == "LO"                        # no NLO_QCD table: falls back to LO, as the LEP datasets
    np.testing.assert_array_equal(theory_cov, 0.25 * np.eye(2))
    assert set(linear) == {"Oa", "Ob"} and set(quadratic) == {("Oa", "Oa"), ("Ob", "Oa")}
    cmap = build_coefficient_map({"Oa": CoefficientConfig(), "Ob": CoefficientConfig()})
    problem = build_problem([load_dataset(tmp_path, "HAND", "NLO")], cmap, use_quadratic=True,
                            use_theory_covmat=True, use_t0=False)
    c = np.array([2.0, -1.0])                   # Oa = 2, Ob = -1
    # point 1: 20 + 1*2 + 0.5*(-1) + 0.1*4 + 0.3*(-1)(2) = 21.3 ; point 2: 10 - 4 + 0 + 0.2*4 = 6.8
    np.testing.assert_allclose(predict(c, problem.sm, problem.linear, problem.quadratic), [21.3, 6.8])
    np.testing.assert_allclose(problem.theory(c), [21.3, 6.8])
    # the theory covariance is added to both the fit and the sampling covariance
    np.testing.assert_allclose(problem.fit_covariance - covariance([problem_uncertainties(tmp_path)]),
                               0.25 * np.eye(2))


def problem_uncertainties(root):
    return read_commondata(root / "commondata" / "HAND.yaml")


def test_single_point_single_systematic_format(tmp_path):
    # n = 1: systematics is a flat list over systematics; k = 1: sys_type and sys_names are bare strings.
    write_dataset(tmp_path, "ONE", 5.0, 0.5, [[0.3]], ["MULT"], ["UNCORR"], best_sm=4.0, linear={"Oa": 1.0})
    u = read_commondata(tmp_path / "commondata" / "ONE.yaml")
    assert u.sys.shape == (1, 1) and u.names == ("UNCORR",) and u.treatment == ("MULT",)
    np.testing.assert_allclose(covariance([u]), [[0.25 + 0.09]])
    raw = json.loads((tmp_path / "theory" / "ONE.json").read_text())
    assert "NLO_QCD" in raw and load_dataset(tmp_path, "ONE", "NLO").order == "NLO_QCD"


def test_coefficient_map_fixed_and_constrained():
    specs = {"Oa": CoefficientConfig(min=-1, max=1), "Ob": CoefficientConfig(value=0.5),
             "Oc": CoefficientConfig(constrain=[{"Oa": 2.0}]), "Od": CoefficientConfig(),
             "Oe": CoefficientConfig(constrain=[{"Oa": 1.0}, {"Od": -3.0}])}
    cmap = build_coefficient_map(specs)
    assert cmap.free == ("Oa", "Od")
    np.testing.assert_allclose(cmap.full(np.array([0.2, 1.0])), [0.2, 0.5, 0.4, 1.0, 0.2 - 3.0])
    np.testing.assert_allclose(cmap.lower, [-1, -np.inf])
    with pytest.raises(CoefficientError, match="'Ob' cannot appear"):
        build_coefficient_map({"Oa": CoefficientConfig(), "Ob": CoefficientConfig(value=1.0),
                               "Oc": CoefficientConfig(constrain=[{"Ob": 1.0}])})
    with pytest.raises(CoefficientError, match="min = 2.0 must be below"):
        build_coefficient_map({"Oa": CoefficientConfig(min=2.0, max=1.0)})


def test_prewhitened_chi2_equals_direct_chi2(tmp_path):
    # The minimisers use tables pre-multiplied by L^-1; the chi2 must equal (d - t)^T C^-1 (d - t).
    from mlhep.tasks.eft.binned.chi2 import chi2

    _two_point_dataset(tmp_path)
    for second in (CoefficientConfig(constrain=[{"Oa": 0.5}]), CoefficientConfig(value=0.7)):
        cmap = build_coefficient_map({"Oa": CoefficientConfig(), "Ob": second})
        problem = build_problem([load_dataset(tmp_path, "HAND", "NLO")], cmap, use_quadratic=True,
                                use_theory_covmat=True, use_t0=True)
        x, data = np.array([1.3]), np.array([11.0, 18.0])
        residual = data - problem.theory(x)
        direct = residual @ np.linalg.solve(problem.fit_covariance, residual)
        np.testing.assert_allclose(problem.objective()(x, data), direct, rtol=1e-12)
        np.testing.assert_allclose(chi2(problem.theory(x), data, problem.fit_cholesky), direct, rtol=1e-12)
