"""eft-fit binned, one-at-a-time (individual) fits: every free coefficient alone, the others at zero, all at once.

Truths compared with: 1/sqrt(F_kk) of the Fisher matrix (linear analytic); the closed-form evidence and quantiles
of a Gaussian (the exact 1D posterior by quadrature); the engine's Newton fit of a one-coefficient runcard on the
same pseudo-data replicas (replicas); a quartic chi2 with two equal minima, symmetric about their midpoint
(posterior mass 1/2 each, mean at the midpoint, evidence against scipy's adaptive quadrature).
"""
from __future__ import annotations


import numpy as np
import pytest
from fixtures.smefit_toy import write_dataset, write_toy_database
from fixtures.run_context import make_ctx
from scipy import integrate

from mlhep.io.results import Results
from mlhep.tasks.eft.binned.config import BinnedConfig, CoefficientConfig, NestedConfig
from mlhep.tasks.eft.binned.fits import analytic_fit
from mlhep.tasks.eft.binned.individual import OneAtATime, evaluate, minimise
from mlhep.tasks.eft.binned.run import run_binned
from mlhep.tasks.eft.binned.setup import setup_problem

TRUTH = {"Oa": 0.3, "Ob": -0.5, "Oc": 0.8}
DATASETS = ["TOY_A", "TOY_B", "TOY_C"]




def config(db, fit="analytic", quadratic=False, individual=True, bound=20.0, **changed) -> BinnedConfig:
    specs = {c: CoefficientConfig(min=-bound, max=bound) for c in TRUTH}
    specs.update(changed)
    return BinnedConfig(database=str(db), datasets=list(DATASETS), coefficients=specs, fit=fit,
                        use_quadratic=quadratic, individual=individual, nested=NestedConfig(samples=20000))


def test_individual_linear_bounds_are_inverse_sqrt_fisher_diagonal(tmp_path):
    """Analytic one-at-a-time fit: sigma_k = 1/sqrt(F_kk) and t_k = (A^T C^-1 r)_k / F_kk, also through a linear
    constraint (Oc = -Oa: the free Oa moves both, as SMEFiT's individual fits keep the addends of the fitted one);
    the global analytic bounds are reported beside them."""
    db = write_toy_database(tmp_path / "db", TRUTH, noise_seed=1)
    for extra in ({}, {"Oc": CoefficientConfig(constrain=[{"Oa": -1.0}])}):
        cfg = config(db, **extra)
        problem = setup_problem(cfg, make_ctx(tmp_path))
        fisher = analytic_fit(problem).fisher
        A, base = problem.linearised()
        r_w, A_w = problem.fit_whitening.whiten(problem.central - base), problem.fit_whitening.whiten(A)
        s = run_binned(cfg, make_ctx(tmp_path)).summary
        free = [list(TRUTH).index(f) for f in problem.coefficients.free]
        sigma = 1.0 / np.sqrt(np.diag(fisher))
        np.testing.assert_allclose(s["std"][free], sigma, rtol=1e-12)
        np.testing.assert_allclose(s["best_fit"][free], (A_w.T @ r_w) / np.diag(fisher), rtol=1e-12)
        np.testing.assert_allclose(s["bounds95"][free, 1] - s["bounds95"][free, 0], 2 * 1.95996 * sigma, rtol=1e-12)
        global_sigma = np.sqrt(np.diag(analytic_fit(problem).covariance))
        np.testing.assert_allclose(s["global/bounds68"][free, 1] - s["analytic/best"][free], global_sigma, rtol=1e-10)
        assert np.all(global_sigma >= sigma * (1 - 1e-12))     # marginalising over the others never tightens
        np.testing.assert_array_equal(s["correlation"], np.eye(len(free)))
    assert np.isnan(s["bounds95"][2]).all()                    # the constrained Oc has no one-at-a-time bound


def test_individual_posterior_of_a_linear_fit_is_the_exact_gaussian(tmp_path):
    """nested (and nuts) one at a time on linear EFT with a wide prior: the quadrature gives the Gaussian
    N(t_k, 1/F_kk): mean, std, the 95% quantiles +-1.95996 sigma and the evidence
    log Z = -chi2_min/2 + log(sqrt(2 pi) sigma) - log(width) to 1e-6; the samples follow it."""
    db = write_toy_database(tmp_path / "db", TRUTH, noise_seed=2)
    analytic = run_binned(config(db, bound=5.0), make_ctx(tmp_path)).summary
    for fit in ("nested", "nuts"):
        s = run_binned(config(db, fit=fit, bound=5.0), make_ctx(tmp_path)).summary
        mean, sigma = analytic["best_fit"], analytic["std"]
        np.testing.assert_allclose(s["mean"], mean, atol=1e-6 * sigma.max())
        np.testing.assert_allclose(s["std"], sigma, rtol=1e-6)
        np.testing.assert_allclose(s["bounds95"], analytic["bounds95"], atol=1e-5 * sigma.max())
        log_z = -0.5 * s["individual/chi2_min"] + np.log(np.sqrt(2 * np.pi) * sigma) - np.log(10.0)
        np.testing.assert_allclose(s["individual/log_evidence"], log_z, atol=1e-6)
        samples = s["posterior/samples"]
        assert samples.shape[1] == 3 and len(samples) >= 4000
        np.testing.assert_array_less(np.abs(samples.mean(0) - mean), 5 * sigma / np.sqrt(len(samples)))


def test_individual_replicas_equal_one_coefficient_runcard_fits(tmp_path):
    """Quadratic EFT, MC replicas: coefficient Ob of the batched one-at-a-time fit equals, replica by replica, the
    engine's (multi-start Newton) fit of a runcard with only Ob free and the others fixed at zero, on the same
    pseudo-data (one coefficient: each engine fit costs a compilation)."""
    db = write_toy_database(tmp_path / "db", {"Oa": 1.5, "Ob": -2.0, "Oc": 1.0}, quadratic=True, noise_seed=4,
                            relative_error=0.2)
    R = 16
    together = run_binned(config(db, fit="replicas", quadratic=True, bound=10.0), make_ctx(tmp_path, R))
    assert together.replicas["coefficients"].shape == (R, 3) and together.train is None
    for k, name in [(1, "Ob")]:
        alone = {c: CoefficientConfig(value=0.0) for c in TRUTH if c != name}
        single = run_binned(config(db, fit="replicas", quadratic=True, individual=False, bound=10.0, **alone),
                            make_ctx(tmp_path, R))
        np.testing.assert_allclose(together.replicas["coefficients"][:, k], single.replicas["coefficients"][:, k],
                                   rtol=1e-7, atol=1e-9)
        np.testing.assert_allclose(together.replicas["chi2"][:, k], single.replicas["chi2"], rtol=1e-10)
    s = together.summary
    np.testing.assert_allclose(s["bounds95"], np.percentile(together.replicas["coefficients"], [2.5, 97.5], 0).T)


def test_two_equal_minima_are_both_found(tmp_path):
    """One point 10 +- 0.5 against 10 - 4c + 2c^2: chi2 = 16 c^2 (c - 2)^2, minima 0 and 2, symmetric about 1.
    The exact minimiser returns a global minimum; the one-coefficient posterior has half its mass below 1, its
    mean at 1, and the evidence of scipy's adaptive quadrature."""
    write_dataset(tmp_path / "db", "TWO", [10.0], [0.5], [[0.0]], ["ADD"], ["UNCORR"], [10.0],
                  {"Oq": [-4.0]}, {("Oq", "Oq"): [2.0]})
    cfg = BinnedConfig(database=str(tmp_path / "db"), datasets=["TWO"], use_quadratic=True, use_t0=False,
                       coefficients={"Oq": CoefficientConfig(min=-3, max=5)}, fit="nested", individual=True,
                       nested=NestedConfig(samples=40000))
    problem = setup_problem(cfg, make_ctx(tmp_path))
    poly = OneAtATime.of(problem).polynomials(problem.central)
    np.testing.assert_allclose(poly[0], [0, 0, 64, -64, 16], atol=1e-9)        # 16 c^2 (c - 2)^2
    t, chi2 = minimise(poly, np.array([-3.0]), np.array([5.0]))
    assert min(abs(t[0]), abs(t[0] - 2)) < 1e-9 and abs(chi2[0]) < 1e-12
    s = run_binned(cfg, make_ctx(tmp_path)).summary
    x = s["posterior/samples"][:, 0]
    assert abs(np.mean(x < 1.0) - 0.5) < 4 * 0.5 / np.sqrt(x.size)
    assert s["mean"][0] == pytest.approx(1.0, abs=1e-6)
    z, _ = integrate.quad(lambda c: np.exp(-0.5 * evaluate(poly, np.array([[c]]))[0, 0]), -3, 5, points=[0, 2],
                          epsabs=1e-13)
    assert s["individual/log_evidence"][0] == pytest.approx(np.log(z / 8.0), abs=1e-6)


def test_individual_cli_report_and_plots(tmp_path, run_cli):
    """Through mlhep fit / report: the report sets individual and global 95% intervals side by side, and the
    plots are the 1D ones only (no joint distribution exists)."""
    write_toy_database(tmp_path / "db", TRUTH, noise_seed=0)
    card = tmp_path / "individual.yaml"
    card.write_text("task: eft-fit\nseed: 1\nreplicas: 30\nmode: binned\nbinned:\n  database: db\n"
                    "  datasets: [TOY_A, TOY_B, TOY_C]\n  fit: replicas\n  individual: true\n  coefficients:\n"
                    "    Oa: {min: -5, max: 5}\n    Ob: {min: -5, max: 5}\n    Oc: {value: 0.8}\n")
    code, _, err = run_cli("fit", card, "-o", tmp_path / "fit.h5", "--quiet")
    assert code == 0, err
    res = Results.read(tmp_path / "fit.h5")
    np.testing.assert_array_equal(res.replicas["coefficients"][:, 2], 0.8)      # fixed: kept at its value
    code, out, err = run_cli("report", tmp_path / "fit.h5", "--plot", tmp_path / "plots")
    assert code == 0, err
    assert "one coefficient at a time" in out and "individual (one at a time) vs global 95%" in out
    assert sorted(p.name for p in (tmp_path / "plots").glob("eft_binned_*.png")) == ["eft_binned_1d.png"]
    card.write_text(card.read_text().replace("fit: replicas", "fit: scan"))
    code, _, err = run_cli("check", card)
    assert code == 2 and "binned.individual" in err and "scan.profile: false" in err
