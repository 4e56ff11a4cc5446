"""eft-fit binned, UV models: coefficients as SMEFiT's non-linear constraints of UV couplings and masses
(``constrain: [{g: [factor, power], M: [factor, power]}]``), fitted in the coupling space.

Truths compared with: a UV point (g, M) whose coefficients make noise-free toy data (closure: the fit in (g, M)
returns it, chi2 = 0); the map's value and derivatives written out by hand; the runcard checks.
"""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
from fixtures.smefit_toy import write_toy_database
from fixtures.run_context import make_ctx

from mlhep.errors import RunCardError
from mlhep.tasks.eft.binned.config import BinnedConfig, CoefficientConfig
from mlhep.tasks.eft.binned.setup import setup_problem
from mlhep.tasks.eft.binned.theory import CoefficientError, build_coefficient_map

G, M = 1.2, 1.5
# Oa = g^2 / M^2, Ob = -0.5 g / M^2, Oc = 0.3 g^2: |g| from Oc, its sign from Ob, M from Oa
UV = {"Oa": CoefficientConfig(constrain=[{"g": [1.0, 2], "M": [1.0, -2]}]),
      "Ob": CoefficientConfig(constrain=[{"g": [-0.5, 1], "M": [1.0, -2]}]),
      "Oc": CoefficientConfig(constrain=[{"g": [0.3, 2]}]),
      "g": CoefficientConfig(min=-3.0, max=3.0),
      "M": CoefficientConfig(min=0.5, max=3.0, is_mass=True)}
TRUTH = {"Oa": G ** 2 / M ** 2, "Ob": -0.5 * G / M ** 2, "Oc": 0.3 * G ** 2}




def uv_config(db, fit="replicas", **changed) -> BinnedConfig:
    return BinnedConfig(database=str(db), datasets=["TOY_A", "TOY_B", "TOY_C"], coefficients={**UV, **changed},
                        fit=fit, use_quadratic=True)


def test_uv_map_values_and_derivatives():
    cmap = build_coefficient_map(UV)
    assert cmap.free == ("g", "M") and cmap.masses == ("M",) and not cmap.is_linear
    x = np.array([G, M])
    np.testing.assert_allclose(cmap.full(x), [*TRUTH.values(), G, M], rtol=1e-14)
    expected = np.array([[2 * G / M ** 2, -2 * G ** 2 / M ** 3], [-0.5 / M ** 2, G / M ** 3], [0.6 * G, 0.0],
                         [1.0, 0.0], [0.0, 1.0]])
    np.testing.assert_allclose(cmap.jacobian(x), expected, rtol=1e-13)
    np.testing.assert_allclose(cmap.full(np.array([[G, M], [-G, M]]))[:, 1], [TRUTH["Ob"], -TRUTH["Ob"]])
    # a linear SMEFiT term [a, 1] is the plain linear constraint
    linear = build_coefficient_map({"Oa": CoefficientConfig(), "Ob": CoefficientConfig(constrain=[{"Oa": [2.0, 1]}])})
    assert linear.is_linear and linear.matrix[1, 0] == 2.0


def test_uv_closure_recovers_the_couplings(tmp_path):
    """Noise-free data made by (g, M) = (1.2, 1.5) with quadratic EFT: the batched multi-start Newton fit in (g, M)
    (the replica solver: central data and 4 pseudo-data replicas in one program) returns them with chi2 = 0, the
    coefficients follow g and M exactly in every replica, and the report names the UV model."""
    import jax.numpy as jnp

    from mlhep.tasks.eft import TASK
    from mlhep.tasks.eft.binned.fits import (analytic_fit, make_replica_solver, replica_data, replica_keys,
                                             start_points)
    from mlhep.tasks.eft.binned.summary import summarise
    db = write_toy_database(tmp_path / "db", TRUTH, quadratic=True)
    cfg = uv_config(db)
    problem = setup_problem(cfg, make_ctx(tmp_path))
    data = jnp.concatenate([jnp.asarray(problem.central)[None], replica_data(problem, replica_keys(3, np.arange(4)))])
    result = make_replica_solver(problem, 100, 1e-12)(data, jnp.asarray(start_points(problem, 8, seed=3)))
    assert np.all(result.converged)
    best = np.asarray(result.x[0])
    np.testing.assert_allclose(best, [G, M], rtol=1e-6)
    assert float(result.value[0]) < 1e-12
    reps = problem.coefficients.full(np.asarray(result.x[1:]))
    g, mass = reps[:, 3], reps[:, 4]
    np.testing.assert_allclose(reps[:, 0], g ** 2 / mass ** 2, rtol=1e-12)
    np.testing.assert_allclose(reps[:, 2], 0.3 * g ** 2, rtol=1e-12)
    # the Gaussian (Laplace) approximation at the best fit, where the couplings are constrained
    analytic = analytic_fit(problem, at=best)
    s = summarise(problem, cfg, best, analytic, np.asarray(result.x[1:]), {})
    np.testing.assert_allclose(s["best_fit"][:3], list(TRUTH.values()), rtol=1e-6)
    assert np.all(np.diag(analytic.covariance) > 0) and not s["pca/flat"].any()
    text = TASK.report(SimpleNamespace(summary=s, replicas={}))
    assert "UV model: Oa, Ob, Oc set by the fitted couplings and masses (M)" in text


@pytest.mark.parametrize("changed, fit, key, why", [
    ({"M": CoefficientConfig(min=-1.0, max=3.0)}, "replicas", "binned.coefficients.M.min", "needs M > 0"),
    ({"M": CoefficientConfig(min=0.0, max=3.0, is_mass=True)}, "replicas", "binned.coefficients.M", "0 < min"),
    ({"g": CoefficientConfig()}, "replicas", "binned.coefficients.g", "needs min and max"),
    ({"Oc": CoefficientConfig(constrain=[{"g": [0.3, 2, 1]}])}, "replicas", "binned.coefficients.Oc.constrain[0].g",
     "[factor, power]"),
    ({}, "analytic", "binned.fit", "non-linear"),
    ({"h": CoefficientConfig(min=-1, max=1)}, "replicas", "binned.coefficients.h", "unconstrained"),
], ids=["negative-power-of-a-sign-changing-parameter", "mass-at-zero", "coupling-unbounded", "three-numbers",
        "analytic", "coupling-that-sets-nothing"])
def test_uv_runcard_mistakes_name_their_key(tmp_path, changed, fit, key, why):
    db = write_toy_database(tmp_path / "db", TRUTH, quadratic=True)
    with pytest.raises(RunCardError, match=why) as error:
        setup_problem(uv_config(db, fit=fit, **changed), make_ctx(tmp_path))
    assert error.value.key == key


def test_individual_fits_refuse_a_uv_model(tmp_path):
    db = write_toy_database(tmp_path / "db", TRUTH, quadratic=True)
    cfg = uv_config(db)
    cfg.individual = True
    with pytest.raises(RunCardError, match="one-at-a-time fits need linear constraints") as error:
        setup_problem(cfg, make_ctx(tmp_path))
    assert error.value.key == "binned.individual"
    with pytest.raises(CoefficientError, match="an empty term"):
        build_coefficient_map({"Oa": CoefficientConfig(), "Ob": CoefficientConfig(constrain=[{}])})
