"""eft-fit binned: closure and consistency of the fits on a toy SMEFiT database with a known truth.

Truths compared with: the injected coefficients (noise-free closure, exact to rounding); the analytic linear
Gaussian fit (replicas and NUTS must reproduce its mean and covariance within Monte Carlo error; a profile
scan of a Gaussian chi2 must give best +- sigma); scipy's L-BFGS-B minimum (the batched Newton solver).
"""
from __future__ import annotations

import dataclasses

from types import SimpleNamespace

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from fixtures.smefit_toy import write_toy_database
from fixtures.run_context import make_ctx
from scipy.optimize import minimize

from mlhep.errors import RunCardError
from mlhep.tasks.eft import TASK
from mlhep.tasks.eft.binned.config import BinnedConfig, CoefficientConfig, NutsConfig, ScanConfig
from mlhep.tasks.eft.binned.fits import (analytic_fit, make_replica_solver, replica_data, replica_keys,
                                         start_points)
from mlhep.tasks.eft.binned.run import run_binned
from mlhep.tasks.eft.binned.setup import setup_problem

TRUTH = {"Oa": 0.3, "Ob": -0.5, "Oc": 0.8}
DATASETS = ["TOY_A", "TOY_B", "TOY_C"]




def config(db, fit="analytic", bound=20.0, quadratic=False, **coefficients) -> BinnedConfig:
    specs = {c: CoefficientConfig(min=-bound, max=bound) for c in TRUTH}
    specs.update(coefficients)
    return BinnedConfig(database=str(db), datasets=list(DATASETS), coefficients=specs, fit=fit,
                        use_quadratic=quadratic, nuts=NutsConfig(chains=4, warmup=200, samples=400),
                        scan=ScanConfig(points=61))


def test_noise_free_closure_recovers_truth(tmp_path):
    db = write_toy_database(tmp_path / "db", TRUTH)
    problem = setup_problem(config(db), make_ctx(tmp_path))
    fit = analytic_fit(problem)
    np.testing.assert_allclose(fit.best, [TRUTH[c] for c in problem.coefficients.free], atol=1e-9)
    assert fit.chi2 < 1e-16
    # and with quadratic corrections (quartic chi2), the batched Newton minimum is the truth too
    dbq = write_toy_database(tmp_path / "dbq", TRUTH, quadratic=True)
    out = run_binned(config(dbq, fit="replicas", quadratic=True), make_ctx(tmp_path))
    np.testing.assert_allclose(out.summary["best_fit"], [TRUTH[c] for c in TRUTH], atol=1e-6)


def test_replicas_agree_with_analytic_fit(tmp_path):
    db = write_toy_database(tmp_path / "db", TRUTH, noise_seed=1)
    R = 400
    out = run_binned(config(db, fit="replicas"), make_ctx(tmp_path, replicas=R))
    s = out.summary
    mean_a = s["analytic/best"]
    std_a = np.sqrt(np.diag(s["analytic/covariance"]))
    coefficients = out.replicas["coefficients"]
    assert out.replicas["converged"].all()
    # mean within 4 MC standard errors; std within 4 x its MC error sigma/sqrt(2R)
    np.testing.assert_array_less(np.abs(coefficients.mean(0) - mean_a), 4 * std_a / np.sqrt(R))
    np.testing.assert_array_less(np.abs(coefficients.std(0, ddof=1) / std_a - 1), 4 / np.sqrt(2 * R))
    np.testing.assert_allclose(np.corrcoef(coefficients.T), s["correlation"], atol=1e-12)
    np.testing.assert_allclose(s["correlation"], _corr(s["analytic/covariance"]), atol=0.15)
    # the best fit of a linear, unbounded fit is the analytic solution
    np.testing.assert_allclose(s["best_fit"], mean_a, atol=1e-8)
    assert s["chi2/per_dataset_best"].shape == (3,) and s["chi2/pulls_best"].shape == (12,)


def _corr(cov):
    d = np.sqrt(np.diag(cov))
    return cov / np.outer(d, d)


def test_constraint_is_imposed(tmp_path):
    # data made with Oc = 2 Oa; fit with that constraint: Oc follows Oa exactly and the truth is recovered
    truth = {"Oa": 0.3, "Ob": -0.5, "Oc": 0.6}
    db = write_toy_database(tmp_path / "db", truth)
    cfg = config(db, fit="replicas", Oc=CoefficientConfig(constrain=[{"Oa": 2.0}]))
    out = run_binned(cfg, make_ctx(tmp_path, replicas=20))
    assert list(out.summary["coefficients/free"]) == ["Oa", "Ob"]
    np.testing.assert_allclose(out.summary["best_fit"], [0.3, -0.5, 0.6], atol=1e-8)
    reps = out.replicas["coefficients"]
    np.testing.assert_allclose(reps[:, 2], 2 * reps[:, 0], rtol=1e-12)
    # a fixed coefficient stays at its value in every replica
    out = run_binned(config(db, fit="replicas", Ob=CoefficientConfig(value=-0.5)), make_ctx(tmp_path, 10))
    np.testing.assert_array_equal(out.replicas["coefficients"][:, 1], -0.5)


def test_batched_newton_reaches_scipy_minimum_quadratic(tmp_path):
    truth = {"Oa": 1.5, "Ob": -2.0, "Oc": 1.0}
    db = write_toy_database(tmp_path / "db", truth, quadratic=True, noise_seed=4, relative_error=0.2)
    problem = setup_problem(config(db, quadratic=True, bound=10.0), make_ctx(tmp_path))
    data = replica_data(problem, replica_keys(0, np.arange(3)))
    starts = start_points(problem, 8, seed=0)
    result = make_replica_solver(problem, 100, 1e-12)(data, jnp.asarray(starts))
    f = jax.jit(problem.objective())
    g = jax.jit(jax.grad(problem.objective()))
    bounds = list(zip(problem.coefficients.lower, problem.coefficients.upper))
    for r in range(data.shape[0]):
        best = min((minimize(lambda x: float(f(x, data[r])), s, jac=lambda x: np.asarray(g(x, data[r])),
                             method="L-BFGS-B", bounds=bounds, options={"ftol": 1e-15, "gtol": 1e-10})
                    for s in starts), key=lambda res: res.fun)
        assert float(result.value[r]) <= best.fun + 1e-6 * (1 + best.fun)
        assert bool(result.converged[r])


def test_newton_through_the_engine_reaches_the_same_minima_and_resumes(tmp_path):
    """The engine's Newton step (one iteration per epoch, every start at once) against the one-loop solver on a
    quartic (quadratic-EFT) chi2 with 8 starts: the same minimum per replica to 2e-14 relative, and a kill
    after a checkpoint mid-way, resumed, gives the uninterrupted result bit for bit."""
    from mlhep.engine import EngineConfig, train
    from mlhep.engine.checkpoint import Checkpoint
    from mlhep.tasks.eft.binned.fits import NewtonTrainable

    truth = {"Oa": 1.5, "Ob": -2.0, "Oc": 1.0}
    db = write_toy_database(tmp_path / "db", truth, quadratic=True, noise_seed=4, relative_error=0.2)
    problem = setup_problem(config(db, quadratic=True, bound=10.0), make_ctx(tmp_path))
    ids, starts = np.arange(5), start_points(problem, 8, seed=0)
    loop = make_replica_solver(problem, 100, 1e-12)(replica_data(problem, replica_keys(0, ids)), jnp.asarray(starts))
    trainable = NewtonTrainable(problem, starts, 100, 1e-12)
    cfg = dataclasses.replace(trainable.engine(EngineConfig(), 100), chunk=2, checkpoint_seconds=0.0)
    result = train(trainable, ids, 0, cfg)
    outcome = trainable.outcome(result)
    np.testing.assert_allclose(outcome["chi2"], np.asarray(loop.value), rtol=2e-14)
    np.testing.assert_allclose(outcome["free"], np.asarray(loop.x), rtol=2e-14, atol=1e-14)
    np.testing.assert_array_equal(outcome["iterations"], np.asarray(loop.iterations))
    # The engine's best parameters (chosen by the chi2) may be the Newton iterate before the last: near the minimum
    # convergence is quadratic, so 1e-8 in x is 1e-16 in chi2, a tie decided by rounding (which differs between
    # CPUs). Its chi2 is the minimum to rounding; the final iterate is ``outcome["free"]`` above.
    np.testing.assert_allclose(result.params, np.asarray(loop.x), rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(result.best_valid, np.asarray(loop.value), rtol=1e-14)
    assert result.stopped.all() and result.epochs_run < cfg.epochs    # finished on convergence, not the limit

    checkpoint, save = Checkpoint(tmp_path / "fit.ckpt.npz", "newton"), Checkpoint.save

    def save_then_die(self, arrays, meta):
        save(self, arrays, meta)
        if meta["epoch"] == 2:         # chunks run (4 Newton iterations)
            raise KeyboardInterrupt     # as if killed right after this checkpoint
    Checkpoint.save = save_then_die
    try:
        with pytest.raises(KeyboardInterrupt):
            train(trainable, ids, 0, cfg, checkpoint=checkpoint)
    finally:
        Checkpoint.save = save
    resumed = train(trainable, ids, 0, cfg, checkpoint=checkpoint)
    np.testing.assert_array_equal(resumed.params, result.params)
    np.testing.assert_array_equal(trainable.outcome(resumed)["chi2"], outcome["chi2"])


def test_nuts_recovers_analytic_gaussian_posterior(tmp_path):
    db = write_toy_database(tmp_path / "db", TRUTH, noise_seed=2)
    cfg = config(db, fit="nuts", bound=50.0)
    cfg.nuts = NutsConfig(chains=4, warmup=200, samples=300)
    out = run_binned(cfg, make_ctx(tmp_path))
    s = out.summary
    best, cov = s["analytic/best"], s["analytic/covariance"]
    sigma = np.sqrt(np.diag(cov))
    samples = s["posterior/samples"]
    assert samples.shape == (1200, 3)
    assert np.all(s["posterior/rhat"] < 1.05) and np.all(s["posterior/ess"] > 200)
    # ESS >= 200: the mean is known to sigma/sqrt(200) ~ 0.07 sigma; allow 0.25 sigma, std within 15%
    np.testing.assert_array_less(np.abs(samples.mean(0) - best), 0.25 * sigma)
    np.testing.assert_array_less(np.abs(samples.std(0) / sigma - 1), 0.15)
    np.testing.assert_allclose(np.corrcoef(samples.T), _corr(cov), atol=0.1)
    # the report and plots read the same summary back (as from a results file)
    results = SimpleNamespace(summary=s, replicas=out.replicas)
    text = TASK.report(results)
    assert "NUTS: 4 chains" in text and "R-hat" in text
    paths = TASK.plot(results, tmp_path / "plots")
    assert [p.name for p in paths] == ["eft_binned_1d.png", "eft_binned_2d.png"]


def test_profile_scan_of_gaussian_gives_one_sigma(tmp_path):
    db = write_toy_database(tmp_path / "db", TRUTH, noise_seed=5)
    cfg = config(db, fit="scan")
    cfg.scan.pairs = [["Oa", "Oc"]]
    out = run_binned(cfg, make_ctx(tmp_path))
    s = out.summary
    best, sigma = s["analytic/best"], np.sqrt(np.diag(s["analytic/covariance"]))
    # profile likelihood of a Gaussian: Delta chi2 = 1 at best +- marginal sigma (grid interpolation error only)
    np.testing.assert_allclose(s["bounds68"][:, 0], best - sigma, atol=0.02 * sigma.max())
    np.testing.assert_allclose(s["bounds68"][:, 1], best + sigma, atol=0.02 * sigma.max())
    np.testing.assert_allclose(s["bounds95"][:, 1], best + 1.95996 * sigma, atol=0.03 * sigma.max())
    assert s["scan2d/chi2"].shape == (1, 61, 61)
    np.testing.assert_allclose(s["scan2d/chi2"].min(), s["chi2/total_best"], rtol=1e-3)


def test_semantic_errors_name_the_runcard_key(tmp_path):
    db = write_toy_database(tmp_path / "db", TRUTH)
    bad = config(db)
    bad.datasets = ["TOY_A", "TOY_X"]
    with pytest.raises(RunCardError, match=r"binned.datasets\[1\].*unknown dataset 'TOY_X'.*TOY_A"):
        setup_problem(bad, make_ctx(tmp_path))
    bad = config(db, Od=CoefficientConfig(min=-1, max=1))
    with pytest.raises(RunCardError, match="binned.coefficients.Od.*no linear correction"):
        setup_problem(bad, make_ctx(tmp_path))
    with pytest.raises(RunCardError, match="binned.use_quadratic"):
        run_binned(config(db, quadratic=True), make_ctx(tmp_path))
    bad = config(db, fit="nuts", Oa=CoefficientConfig())
    with pytest.raises(RunCardError, match="binned.coefficients.Oa.*needs min and max"):
        run_binned(bad, make_ctx(tmp_path))
    bad = config(tmp_path / "nowhere")
    with pytest.raises(RunCardError, match="binned.database.*not a SMEFiT database"):
        setup_problem(bad, make_ctx(tmp_path))


def test_engine_solver_reaches_the_newton_minimum(tmp_path):
    # The same replicas through the mlhep gradient-descent engine (Adam) and the batched Newton solver.
    from mlhep.engine import EngineConfig, train
    from mlhep.engine.config import OptimizerConfig, StoppingConfig

    db = write_toy_database(tmp_path / "db", TRUTH, noise_seed=3)
    ids = np.arange(6)
    engine = EngineConfig(epochs=3000, chunk=500, optimizer=OptimizerConfig(name="adam", learning_rate=0.02),
                          stopping=StoppingConfig(patience=3000))
    ctx = make_ctx(tmp_path, replicas=6)
    newton_train = ctx.train
    ctx.train = lambda trainable: train(trainable, ids, ctx.seed, engine)
    cfg = config(db, fit="replicas")
    cfg.replica.solver = "engine"
    by_engine = run_binned(cfg, ctx)
    ctx.train = newton_train
    cfg.replica.solver = "newton"
    by_newton = run_binned(cfg, make_ctx(tmp_path, replicas=6))
    assert by_engine.train is not None and by_engine.train.params.shape == (6, 3)
    np.testing.assert_allclose(by_engine.replicas["chi2"], by_newton.replicas["chi2"], atol=1e-4)
    np.testing.assert_allclose(by_engine.replicas["coefficients"], by_newton.replicas["coefficients"], atol=1e-2)
