"""The hyperopt section and its pieces that need no training: the space, trial runcards, storage specs, the trial
budget of a shared study, the grouping of trials by shape, located runcard errors."""
from __future__ import annotations

import subprocess

import numpy as np
import optuna
import pytest

from mlhep.errors import UsageError
from mlhep.hyperopt import batching, space, study as study_mod
from mlhep.hyperopt.batching import Rows, Trial
from mlhep.registry import load_tasks
from mlhep.runcard import load_runcard_text

CARD = """\
# a toy scan
task: toy-regression
engine:
  epochs: 20          # short
  optimizer: {name: adam, learning_rate: 0.01}
model: {hidden: [4]}
hyperopt:
  space:
    engine.optimizer.learning_rate: {low: 1.0e-3, high: 0.1, log: true}
    model.hidden: {choices: [[4], [8]]}
"""


def card(text: str = CARD, path: str = "h.yaml"):
    return load_runcard_text(text, path, load_tasks())


def test_trial_runcard_sets_keys_keeps_comments_and_validates():
    runcard = card()
    text = space.runcard_text(runcard.text, {"engine.optimizer.learning_rate": 0.05, "model.hidden": [8, 3],
                                             "engine.stopping.patience": 7}, drop_hyperopt=True, header="best")
    assert text.startswith("# best\n# a toy scan\n") and "# short" in text and "hyperopt" not in text
    trial = load_runcard_text(text, "t.yaml", load_tasks())
    assert trial.engine.optimizer.learning_rate == 0.05 and trial.engine.stopping.patience == 7
    assert trial.config.model.hidden == [8, 3] and trial.engine.epochs == 20


@pytest.mark.parametrize("entry, key, message", [
    ("model.widths: {low: 1, high: 2}", 'hyperopt.space["model.widths"]', "'model.widths' is not a setting"),
    ("model.hidden: {choices: [[4], [0]]}", 'hyperopt.space["model.hidden"]',
     "the value [0] is not valid for model.hidden: must be >= 1"),
    ("engine.optimizer.learning_rate: {low: 0.1, high: 0.01}", 'hyperopt.space["engine.optimizer.learning_rate"]',
     "low (0.1) must be below high (0.01)"),
    ("engine.stopping.patience: {low: 1.5, high: 9, integer: true}", 'hyperopt.space["engine.stopping.patience"]',
     "an integer range needs integer ends"),
    ("engine.optimizer.name: {choices: [adam, adamax]}", 'hyperopt.space["engine.optimizer.name"]',
     "the value 'adamax' is not valid for engine.optimizer.name: must be one of"),
])
def test_bad_space_entries_are_located(tmp_path, run_cli, entry, key, message):
    path = tmp_path / "h.yaml"
    path.write_text(f"task: toy-regression\nhyperopt:\n  space:\n    {entry}\n")
    code, out, err = run_cli("hyperopt", path, "-o", tmp_path / "t.h5")
    assert code == 2 and f"{path}:4:" in err and key in err and message in err, err
    assert not (tmp_path / "t.h5").exists()


@pytest.mark.parametrize("section, message", [
    ("reward: kfold", "reward: kfold needs kfold.folds"),
    ("reward: output", "reward: output needs output:"),
    ("direction: maximize", "direction: maximize is for reward: output"),
    ("{reward: kfold, batch: 10000, replicas_per_trial: 10, kfold: {folds: [[a], [b]]}}",
     "batch x replicas_per_trial x folds = 200000 replicas"),
])
def test_inconsistent_hyperopt_settings_are_located(tmp_path, run_cli, section, message):
    path = tmp_path / "h.yaml"
    body = section if section.startswith("{") else "{" + section + "}"
    path.write_text(f"task: toy-regression\nhyperopt: {body}\n")
    code, out, err = run_cli("hyperopt", path)
    assert code == 2 and f"{path}:2:" in err and message in err, err


def test_kfold_on_a_task_without_datasets_is_refused(tmp_path, run_cli):
    path = tmp_path / "h.yaml"
    path.write_text("task: toy-regression\nhyperopt: {reward: kfold, kfold: {folds: [[a]]}}\n")
    code, out, err = run_cli("hyperopt", path, "-o", tmp_path / "t.h5")
    assert code == 2 and "hyperopt.reward: task 'toy-regression' cannot hold out datasets" in err, err


@pytest.mark.parametrize("spec, expected", [
    ("study.db", "sqlite:///{base}/study.db"),
    ("sqlite:///rel.db", "sqlite:///{base}/rel.db"),
    ("sqlite:////abs/x.db", "sqlite:////abs/x.db"),
    ("journal:sub/j.log", "journal:{base}/sub/j.log"),
    ("postgresql://user:secret@host/db", "postgresql://user:secret@host/db"),
    (None, "journal:{base}/default.journal"),
])
def test_storage_specs(tmp_path, spec, expected):
    assert study_mod.storage_spec(spec, tmp_path, tmp_path / "default.journal") == expected.format(base=tmp_path)


def test_bad_storage_and_passwords_stay_out_of_files(tmp_path):
    with pytest.raises(UsageError, match="not a storage"):
        study_mod.storage_spec("study.txt", tmp_path, tmp_path / "d")
    assert study_mod.redacted("postgresql://user:secret@host/db") == "postgresql://user:***@host/db"


def test_surplus_and_lost_trials_do_not_count():
    """Numbers are dense: asked beyond the budget is surplus; a dead worker's running trial is lost."""
    s = optuna.create_study()
    asked = [s.ask() for _ in range(3)]
    assert study_mod.in_budget(s, [t.number for t in asked], 2) == [True, True, False]
    study_mod.close(s, 2, study_mod.SURPLUS)
    dead = subprocess.Popen(["true"])
    dead.wait()
    asked[1].set_user_attr(study_mod.WORKER, f"{study_mod.this_worker().rpartition(':')[0]}:{dead.pid}")
    asked[0].set_user_attr(study_mod.WORKER, study_mod.this_worker())            # alive: this process
    assert study_mod.release_lost(s) == [1]
    assert study_mod.remaining(s, 2) == 1                   # trial 0 runs; 1 lost, 2 surplus: one more to ask
    s.tell(asked[0], 1.0)
    again = s.ask()
    assert again.number == 3 and study_mod.in_budget(s, [3], 2) == [True]


def test_trials_group_by_shape_and_rows_layout():
    runcard = card()
    tasks = load_tasks()
    values = [{"engine.optimizer.learning_rate": lr, "model.hidden": h}
              for lr, h in ((0.01, [4]), (0.02, [8]), (0.03, [4]), (0.04, [4]))]
    trials = [Trial(i, v, space.trial_runcard(runcard, v, tasks)) for i, v in enumerate(values)]
    groups = batching.groups(trials, (), runcard.config)
    assert [[t.handle for t in g] for g in groups] == [[0, 2, 3], [1]]
    rows = Rows(trials=3, folds=2, replicas=2)
    np.testing.assert_array_equal(rows.replica_ids(), np.tile([0, 1], 6))
    hyper = batching.engine_hyperparameters(groups[0], rows, groups[0][0].runcard.engine, "")
    np.testing.assert_allclose(hyper["learning_rate"], np.repeat([0.01, 0.03, 0.04], 4))
    folds = np.array([[True, False], [False, True]])
    np.testing.assert_array_equal(rows.per_fold_row(folds)[:4], [[1, 0], [1, 0], [0, 1], [0, 1]])
    assert rows.shaped(np.arange(12)).shape == (3, 2, 2) and rows.shaped(np.arange(12))[1, 1, 0] == 6
    assert [batching.padded_trials(n) for n in (1, 2, 3, 5, 16, 17)] == [1, 2, 4, 8, 16, 32]
    assert [batching.power_of_two_parts(n) for n in (1, 6, 13, 16)] == [[1], [4, 2], [8, 4, 1], [16]]


def test_hyperopt_on_a_staged_task_with_kfold_is_refused(tmp_path, run_cli):
    path = tmp_path / "h.yaml"
    path.write_text("task: toy-sideband\nhyperopt: {reward: kfold, kfold: {folds: [[a]]}}\n")
    code, out, err = run_cli("hyperopt", path, "-o", tmp_path / "t.h5")
    assert code == 2 and "trains in stages: k-fold is for" in err, err


def test_fail_running_flag_and_worker_env_are_options(run_cli):
    code, out, err = run_cli("hyperopt", "--help")
    assert code == 0 and "--fail-running" in out and "SLURM_ARRAY_TASK_ID" in out


@pytest.mark.parametrize("sampler", ["tpe", "random", "cmaes"])
def test_every_sampler_asks_within_the_space(tmp_path, sampler):
    if sampler == "cmaes":
        pytest.importorskip("cmaes")
    runcard = card(CARD.replace("  space:", f"  sampler: {sampler}\n  space:"))
    s = study_mod.open_study(runcard, runcard.hyperopt, f"journal:{tmp_path / 'j.log'}", "x", worker=0)
    for _ in range(8):
        trial = s.ask()
        values = {key: space.suggest(trial, key, dim) for key, dim in runcard.hyperopt.space.items()}
        assert 1e-3 <= values["engine.optimizer.learning_rate"] <= 0.1 and values["model.hidden"] in ([4], [8])
        s.tell(trial, abs(np.log(values["engine.optimizer.learning_rate"] / 0.01)))
    assert space.values_of(s.best_trial.params, runcard.hyperopt)["model.hidden"] in ([4], [8])


def test_a_study_made_from_other_fit_settings_is_refused(tmp_path):
    spec = f"journal:{tmp_path / 'j.log'}"
    first = card()
    study_mod.open_study(first, first.hyperopt, spec, "x", worker=0)
    more = card(CARD.replace("  space:", "  trials: 99\n  batch: 3\n  space:"))       # same study: joins
    study_mod.open_study(more, more.hyperopt, spec, "x", worker=1)
    other = card(CARD.replace("epochs: 20", "epochs: 30"))
    with pytest.raises(UsageError, match="study 'x' in journal:.* was made from other fit settings"):
        study_mod.open_study(other, other.hyperopt, spec, "x", worker=0)
