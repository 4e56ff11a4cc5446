"""eft-fit binned, export in SMEFiT's result layout (fit_results.json, posterior.json, the runcard, bounds.json):
the round trip, read back as SMEFiT's ``FitManager.load_results`` reads it, gives the fit's samples, best fit
and bounds; one-at-a-time fits use SMEFiT's ``single_parameter_fits`` form."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from fixtures.smefit_toy import write_toy_database
from ruamel.yaml import YAML

from mlhep.io.results import Results
from mlhep.tasks.eft.binned.export import read_smefit_results

CARD = """\
task: eft-fit
seed: 5
replicas: {replicas}
mode: binned
binned:
  database: db
  datasets: [TOY_A, TOY_B, TOY_C]
  fit: {fit}
  individual: {individual}
  export: exported
  nested: {{samples: 3000}}
  coefficients:
    Oa: {{min: -5, max: 5}}
    Ob: {{min: -5, max: 5}}
    Oc: {{constrain: [{{Oa: -1.0}}]}}
"""


def fit(tmp_path, run_cli, name, fit, individual=False, replicas=12) -> Results:
    card = tmp_path / f"{name}.yaml"
    card.write_text(CARD.format(fit=fit, individual=str(individual).lower(), replicas=replicas))
    code, _, err = run_cli("fit", card, "-o", tmp_path / f"{name}.h5", "--quiet")
    assert code == 0, err
    return Results.read(tmp_path / f"{name}.h5")


def test_replica_fit_round_trip(tmp_path, run_cli):
    write_toy_database(tmp_path / "db", {"Oa": 0.4, "Ob": -0.3, "Oc": -0.4}, noise_seed=0)
    res = fit(tmp_path, run_cli, "mc", "replicas")
    folder = tmp_path / "exported" / "mc"                      # written at fit time (binned.export)
    assert {p.name for p in folder.iterdir()} == {"fit_results.json", "posterior.json", "bounds.json", "mc.yaml"}
    back = read_smefit_results(folder)
    s, names = res.summary, list(res.summary["coefficients/names"])
    assert back["free_parameters"] == ["Oa", "Ob"] and back["logz"] is None
    for i, name in enumerate(names):
        np.testing.assert_array_equal(back["samples"][name], res.replicas["coefficients"][:, i])
        np.testing.assert_array_equal(np.percentile(back["samples"][name], [2.5, 97.5]), s["bounds95"][i])
        assert back["best_fit_point"][name] == s["best_fit"][i]
    np.testing.assert_allclose(back["samples"]["Oc"], -back["samples"]["Oa"])     # constrained: evaluated
    assert back["max_loglikelihood"] == -0.5 * s["chi2/total_best"]
    assert json.loads((folder / "posterior.json").read_text()).keys() == back["samples"].keys()
    runcard = YAML(typ="safe").load(folder / "mc.yaml")
    assert runcard["coefficients"]["Oc"] == {"constrain": [{"Oa": -1.0}]}
    assert runcard["coefficients"]["Oa"] == {"min": -5.0, "max": 5.0}
    assert runcard["datasets"][0] == {"name": "TOY_A", "order": "NLO_QCD"} and runcard["use_quad"] is False
    assert runcard["data_path"] == str(tmp_path / "db" / "commondata")
    table = json.loads((folder / "bounds.json").read_text())
    assert [row["coefficient"] for row in table["coefficients"]] == names
    assert table["coefficients"][1]["cl68"] == list(s["bounds68"][1])
    # the same export from the results file, by `mlhep report --export DIR`
    code, out, err = run_cli("report", tmp_path / "mc.h5", "--export", tmp_path / "again")
    assert code == 0, err
    written = [line.split()[-1] for line in out.splitlines() if line.startswith("wrote ")]
    assert sorted(Path(p).name for p in written) == ["bounds.json", "fit_results.json", "mc.yaml", "posterior.json"]
    assert (tmp_path / "again" / "mc" / "fit_results.json").read_text() == (folder / "fit_results.json").read_text()
    again = YAML(typ="safe").load(tmp_path / "again" / "mc" / "mc.yaml")
    assert again.pop("result_path") == str(tmp_path / "again") and runcard.pop("result_path") == str(folder.parent)
    assert again == runcard


def test_individual_and_analytic_exports(tmp_path, run_cli):
    write_toy_database(tmp_path / "db", {"Oa": 0.4, "Ob": -0.3, "Oc": -0.4}, noise_seed=0)
    res = fit(tmp_path, run_cli, "ind", "nested", individual=True, replicas=1)
    back = read_smefit_results(tmp_path / "exported" / "ind")
    s = res.summary
    assert back["single_parameter_fits"] is True and back["free_parameters"] == ["Oa", "Ob"]
    assert set(back["samples"]) == {"Oa", "Ob"} and len(back["samples"]["Oa"]) == 3000
    for k, name in enumerate(["Oa", "Ob"]):
        assert back["logz"][name] == s["individual/log_evidence"][k]
        assert back["max_loglikelihood"][name] == -0.5 * s["individual/chi2_min"][k]
        np.testing.assert_array_equal(back["samples"][name], s["posterior/samples"][:, k])
    assert YAML(typ="safe").load(tmp_path / "exported" / "ind" / "ind.yaml")["single_parameter_fits"] is True
    # analytic: SMEFiT draws samples from the Gaussian; their mean and covariance are the fit's, within MC error
    res = fit(tmp_path, run_cli, "gauss", "analytic", replicas=1)
    samples = read_smefit_results(tmp_path / "exported" / "gauss")["samples"]
    x = np.stack([samples["Oa"], samples["Ob"]], axis=1)
    cov = res.summary["analytic/covariance"]
    np.testing.assert_array_less(np.abs(x.mean(0) - res.summary["best_fit"][:2]), 5 * np.sqrt(np.diag(cov) / len(x)))
    scale = np.sqrt(np.outer(np.diag(cov), np.diag(cov)))
    np.testing.assert_array_less(np.abs(np.cov(x.T) - cov) / scale, 0.05)       # 10^4 draws: ~1% errors
    np.testing.assert_allclose(samples["Oc"], -samples["Oa"])


def test_export_of_a_task_without_one_is_refused(tmp_path, run_cli):
    card = tmp_path / "toy.yaml"
    card.write_text("task: toy-regression\nreplicas: 1\nengine: {epochs: 5, chunk: 5}\n")
    assert run_cli("fit", card, "-o", tmp_path / "toy.h5", "--quiet")[0] == 0
    code, _, err = run_cli("report", tmp_path / "toy.h5", "--export", tmp_path / "out")
    assert code == 3 and "toy-regression' has no export format" in err
