"""eft-fit binned end to end through the ``mlhep`` command on a toy SMEFiT database made by the test."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from fixtures.smefit_toy import write_toy_database

from mlhep.io.results import Results

CARD = """\
task: eft-fit
seed: 11
replicas: 12
mode: binned
binned:
  database: {db}
  datasets: [TOY_A, TOY_B, TOY_C]
  fit: {fit}
  use_quadratic: {quadratic}
  coefficients:
    Oa: {{min: -5, max: 5}}
    Ob: {{min: -5, max: 5}}
    Oc: {{constrain: [{{Oa: -1.0}}]}}
  scan: {{points: 11, pairs: [[Oa, Ob]]}}
"""


def write_card(tmp_path: Path, fit="replicas", quadratic="false", db="db") -> Path:
    write_toy_database(tmp_path / "db", {"Oa": 0.4, "Ob": -0.3, "Oc": -0.4}, quadratic=True, noise_seed=0)
    card = tmp_path / f"eft-{fit}.yaml"
    card.write_text(CARD.format(db=db, fit=fit, quadratic=quadratic))
    return card


def test_replica_fit_report_and_plots(tmp_path, run_cli):
    card = write_card(tmp_path, quadratic="true")
    code, out, err = run_cli("fit", card, "-o", tmp_path / "fit.h5", "--quiet")
    assert code == 0, err
    res = Results.read(tmp_path / "fit.h5")
    assert res.task == "eft-fit" and res.summary["mode"] == "binned"
    np.testing.assert_array_equal(res.replicas["replica_id"], np.arange(12))
    coefficients = res.replicas["coefficients"]
    assert coefficients.shape == (12, 3)
    np.testing.assert_allclose(coefficients[:, 2], -coefficients[:, 0])      # the constraint Oc = -Oa
    code, out, err = run_cli("report", tmp_path / "fit.h5", "--plot", tmp_path / "plots")
    assert code == 0, err
    assert "Monte Carlo replicas" in out and "TOY_A" in out and "(fixed/constrained)" in out
    assert "Fisher information" in out and "converged: 12/12" in out
    for name in ("eft_binned_1d.png", "eft_binned_2d.png"):
        assert (tmp_path / "plots" / name).stat().st_size > 5000


def test_replica_blocks_merge_to_the_full_fit(tmp_path, run_cli):
    card = write_card(tmp_path)
    assert run_cli("fit", card, "-o", tmp_path / "all.h5", "--quiet")[0] == 0
    assert run_cli("fit", card, "-o", tmp_path / "a.h5", "--replicas", "0:5", "--quiet")[0] == 0
    assert run_cli("fit", card, "-o", tmp_path / "b.h5", "--replicas", "5:12", "--quiet")[0] == 0
    blocks = np.concatenate([Results.read(tmp_path / f"{b}.h5").replicas["coefficients"] for b in "ab"])
    np.testing.assert_allclose(blocks, Results.read(tmp_path / "all.h5").replicas["coefficients"], rtol=1e-9)


def test_scan_mode_report(tmp_path, run_cli):
    for fit, expected in (("scan", "profile chi2 scans"),):
        card = write_card(tmp_path, fit=fit)
        code, _, err = run_cli("fit", card, "-o", tmp_path / f"{fit}.h5", "--quiet")
        assert code == 0, err
        code, out, err = run_cli("report", tmp_path / f"{fit}.h5", "--plot", tmp_path / fit)
        assert code == 0 and expected in out, err
        assert (tmp_path / fit / "eft_binned_2d.png").exists()


def test_bad_dataset_is_reported_with_its_line(tmp_path, run_cli):
    card = write_card(tmp_path)
    card.write_text(card.read_text().replace("TOY_C]", "TOY_Z]"))
    code, _, err = run_cli("fit", card, "-o", tmp_path / "x.h5", "--quiet")
    assert code == 2
    assert f"{card}:7:" in err and "binned.datasets[2]" in err and "unknown dataset 'TOY_Z'" in err


ONE_COEFFICIENT = """\
task: eft-fit
seed: 3
replicas: 1
mode: binned
binned:
  database: db
  datasets: [TOY_A, TOY_B, TOY_C]
  fit: {fit}
  nuts: {{chains: 2, warmup: 100, samples: 400}}
  coefficients:
    Oa: {{min: -5, max: 5}}
    Ob: {{value: 0.0}}
    Oc: {{value: 0.0}}
"""


def test_one_coefficient_posterior_is_the_analytic_gaussian(tmp_path, run_cli):
    """A one-coefficient NUTS fit (it crashed in the summary: np.cov of one variable is 0-d). Linear EFT with a flat
    prior far wider than the posterior: the posterior is the analytic fit's Gaussian, so the NUTS mean and
    standard deviation agree with it within their Monte Carlo errors."""
    write_toy_database(tmp_path / "db", {"Oa": 0.4, "Ob": -0.3, "Oc": -0.4}, quadratic=True, noise_seed=0)
    fits = {}
    for fit in ("analytic", "nuts"):
        (tmp_path / f"{fit}.yaml").write_text(ONE_COEFFICIENT.format(fit=fit))
        code, _, err = run_cli("fit", tmp_path / f"{fit}.yaml", "-o", tmp_path / f"{fit}.h5", "--quiet")
        assert code == 0, err
        fits[fit] = Results.read(tmp_path / f"{fit}.h5").summary
    mean, std = fits["analytic"]["mean"][0], fits["analytic"]["std"][0]
    samples = fits["nuts"]["posterior/samples"][:, 0]
    assert samples.size == 800 and std < 1.0
    assert abs(samples.mean() - mean) < 4 * std / np.sqrt(samples.size / 4)   # ESS >= N/4 for this Gaussian
    assert abs(samples.std(ddof=1) / std - 1) < 0.15
    np.testing.assert_array_equal(fits["nuts"]["correlation"], [[1.0]])   # of the one fitted coefficient
    code, out, err = run_cli("report", tmp_path / "nuts.h5")
    assert code == 0 and "R-hat" in out, err


def test_replicas_that_do_not_converge_are_reported_not_waited_for(tmp_path, run_cli):
    """Quadratic MC replicas with an iteration cap too low to converge: the fit ends, says which replicas did not
    converge on stderr, and flags them in the results and the report."""
    card = write_card(tmp_path, quadratic="true")
    card.write_text(card.read_text().replace("  fit: replicas\n", "  fit: replicas\n  replica: {max_iterations: 2}\n"))
    code, out, err = run_cli("fit", card, "-o", tmp_path / "fit.h5", "--quiet")
    assert code == 0, err
    converged = Results.read(tmp_path / "fit.h5").replicas["converged"]
    assert converged.size == 12 and not converged.all()
    assert f"{np.sum(~converged)} of 12 replicas reached binned.replica.max_iterations = 2" in err
    code, out, _ = run_cli("report", tmp_path / "fit.h5")
    assert f"converged: {np.sum(converged)}/12" in out
