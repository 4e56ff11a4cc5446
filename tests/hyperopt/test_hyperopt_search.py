"""``mlhep hyperopt`` end to end at tiny size: the trials table, the best runcard (which ``mlhep fit`` runs), the
report; a task that trains in stages, each stage with its trials' own learning rates."""
from __future__ import annotations

import numpy as np
import pytest

from mlhep.hyperopt import batching, outputs, report
from mlhep.io.results import Results

TOY = """\
task: toy-regression   # the toy fit
seed: 5
replicas: 2
engine: {{epochs: 120, chunk: 60, optimizer: {{name: adamw}}}}
hyperopt:
  trials: 4
  batch: 4
  replicas_per_trial: 2
  sampler: {sampler}
  storage: journal:{storage}
  {reward}
  space:                    # all four trials train as one program: rate and decay are per row
    engine.optimizer.learning_rate: {{low: 1.0e-3, high: 0.1, log: true}}
    engine.optimizer.weight_decay: {{choices: [0.0, 1.0e-3]}}
data: {{points: 10}}
model: {{hidden: [4]}}
"""


@pytest.mark.parametrize("reward", ["reward: validation",
                                    pytest.param("reward: output\n  output: chi2", marks=pytest.mark.slow)])
def test_search_table_best_runcard_and_report(tmp_path, run_cli, reward):
    """The best trial's runcard, fitted alone by `mlhep fit` (same seed, same replica ids), gives the trial's
    reward again: a trial batched with others is the fit of its own runcard."""
    card = tmp_path / "h.yaml"
    card.write_text(TOY.format(sampler="tpe", storage=tmp_path / "study.log", reward=reward))
    code, out, err = run_cli("hyperopt", card, "-q", "-o", tmp_path / "t.h5")
    assert code == 0, err
    cols, attrs = outputs.read(tmp_path / "t.h5")
    assert sorted(cols["number"]) == list(range(4)) and set(cols["state"]) == {"COMPLETE"}
    np.testing.assert_allclose(cols["reward"], cols["replica_losses"].mean(axis=(1, 2)), rtol=1e-12)
    assert cols["replica_losses"].shape == (4, 1, 2) and (cols["group_size"] == 4).all()
    best = int(np.argmin(cols["reward"]))
    assert attrs["best_trial"] == cols["number"][best] and attrs["best_reward"] == cols["reward"][best]
    assert out.count(" complete reward ") == 4 and f"best trial of the study: {attrs['best_trial']}" in out

    best_card = tmp_path / "t-best.yaml"
    text = best_card.read_text()
    assert "# the toy fit" in text and "\nhyperopt:" not in text
    assert f"learning_rate: {float(cols['values/engine.optimizer.learning_rate'][best])!r}" in text
    assert f"weight_decay: {cols['values/engine.optimizer.weight_decay'][best]}" in text
    code, out, err = run_cli("fit", best_card, "-q", "-o", tmp_path / "fit.h5")   # ready to run
    assert code == 0, err
    fit = Results.read(tmp_path / "fit.h5")
    alone = fit.replicas["chi2"] if "output" in reward else fit.train["best_valid"]
    assert alone.mean() == pytest.approx(cols["reward"][best], rel=1e-9)

    code, out, _ = run_cli("hyperopt", card, "-q", "-o", tmp_path / "t.h5")        # complete: nothing to do
    assert code == 0 and "already has 4 trials" in out
    text = report.summary(tmp_path / "t.h5")
    assert "4 finished of 4 wanted: 4 complete" in text and f"{attrs['best_trial']:5d}" in text.splitlines()[6]
    plots = report.plots(tmp_path / "t.h5", tmp_path / "plots")
    assert [p.name for p in plots] == ["hyperopt_reward.png", "hyperopt_hyperparameters.png"]
    assert all(p.stat().st_size > 10_000 for p in plots)


def test_report_command_reads_a_trials_file(tmp_path, run_cli):
    """``mlhep report`` hands a trials file to mlhep.hyperopt.report."""
    card = tmp_path / "h.yaml"
    card.write_text(TOY.format(sampler="random", storage=tmp_path / "study.log", reward=""))
    assert run_cli("hyperopt", card, "-q", "-o", tmp_path / "t.h5")[0] == 0
    code, out, err = run_cli("report", tmp_path / "t.h5", "--plot", tmp_path / "plots")
    assert code == 0 and "4 finished of 4 wanted" in out and (tmp_path / "plots" / "hyperopt_reward.png").exists()


SIDEBAND = """\
task: toy-sideband
seed: 3
engine:
  minibatch_size: 256
  chunk: 2
  optimizer: {name: adam, learning_rate: 3.0e-3}
  stages: {density: {epochs: 2}, classifier: {epochs: 2}}
data: {n_background: 1000, n_signal: 50}
model: {density_hidden: [4], classifier_hidden: [4], oversample: 1}
hyperopt:
  trials: 2
  batch: 2
  sampler: random
  space:
    engine.stages.classifier.optimizer.learning_rate: {low: 1.0e-4, high: 0.1, log: true}
"""


@pytest.mark.slow          # compiles both stages (~45 s on 2 busy cores with an empty compilation cache)
def test_a_staged_task_trains_its_trials_together_with_their_own_stage_rates(tmp_path, run_cli, monkeypatch):
    """The trials differ only in the classifier's learning rate: one program per stage for both; their density
    stages are the same replica with the same rate (identical numbers), their classifiers differ."""
    groups = []
    run_rows = batching.run_rows
    monkeypatch.setattr(batching, "run_rows", lambda *a, **k: groups.append(run_rows(*a, **k)) or groups[-1])
    card = tmp_path / "s.yaml"
    card.write_text(SIDEBAND)
    code, out, err = run_cli("hyperopt", card, "-q", "-o", tmp_path / "s.h5")
    assert code == 0, err
    (group,) = groups
    cols, _ = outputs.read(tmp_path / "s.h5")
    rates = [float(v) for v in cols["values/engine.stages.classifier.optimizer.learning_rate"]]
    density, classifier = group.results["density"], group.results["classifier"]
    assert len(density.replica_ids) == 2 and (cols["group_size"] == 2).all()
    np.testing.assert_array_equal(density.best_valid[0], density.best_valid[1])
    assert rates[0] != rates[1] and classifier.best_valid[0] != classifier.best_valid[1]
    np.testing.assert_allclose(cols["reward"], classifier.best_valid, rtol=1e-6)
