"""pdf-fit k-fold (NNPDF4.0, arXiv:2109.02653 sec. 3.3) on the synthetic DIS-like problem of the pdf tests.

Truths: the chi2 Gram matrices of a training set given by masks equal U_t^T (C_tt)^-1 U_t computed with dense
solves; a replica's penalty multipliers given as inputs equal those of the runcard; and the reward the search
tells optuna for one trial equals the held-out chi2 recomputed here from the trained parameters, by hand.
"""
from __future__ import annotations

import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "tasks" / "pdf"))
from pdf_synthetic import closure_datasets  # noqa: E402

from mlhep.hyperopt import batching, outputs  # noqa: E402
from mlhep.hyperopt.search import Search, Settings  # noqa: E402
from mlhep.registry import load_tasks  # noqa: E402
from mlhep.runcard import load_runcard_text  # noqa: E402
from mlhep.tasks.pdf import TASK, chi2, constraints  # noqa: E402
from mlhep.tasks.pdf.config import DataConfig, ModelConfig, PdfFitConfig, PositivityConfig  # noqa: E402
from mlhep.tasks.pdf.problem import build_problem  # noqa: E402
from mlhep.tasks.pdf.task import PdfFitTask  # noqa: E402

PENALTY = 1000.0
CARD = f"""\
task: pdf-fit
seed: 3
engine:
  epochs: 160
  chunk: 80
  optimizer: {{name: nadam, learning_rate: 0.02}}
  stopping: {{patience: 1000}}
data:
  datasets: [{{name: F2p}}, {{name: F2d}}, {{name: xF3}}, {{name: dF2}}]
model: {{architecture: [6]}}
positivity: {{multiplier: 1000.0, growth: 1.1, threshold: 1.0e-3}}
hyperopt:
  trials: 1
  batch: 1
  reward: kfold
  kfold: {{statistic: mean, positivity_penalty: {PENALTY}, folds: [[F2d], [xF3, dF2]]}}
  space:
    engine.optimizer.learning_rate: {{low: 0.01, high: 0.03, log: true}}
    positivity.multiplier: {{low: 300.0, high: 3000.0}}
"""


@pytest.fixture(scope="module")
def problem():
    return build_problem(closure_datasets(stat_scale=2.5), seed=1)


@pytest.fixture
def synthetic_setup(problem, monkeypatch):
    """pdf-fit's setup gives the synthetic problem (its datasets are named F2p, F2d, xF3, dF2)."""
    monkeypatch.setattr(PdfFitTask, "setup", lambda self, config, ctx: problem)
    return problem


def small_config(multiplier: float = 1000.0) -> PdfFitConfig:
    return PdfFitConfig(data=DataConfig(datasets=[]), model=ModelConfig(architecture=[6]),
                        positivity=PositivityConfig(multiplier=multiplier, growth=1.1, threshold=1e-3))


def dense_gram(u: np.ndarray, cov: np.ndarray, points: np.ndarray) -> np.ndarray:
    return u[points].T @ np.linalg.solve(cov[np.ix_(points, points)], u[points])


def test_masked_grams_equal_dense_inverses_and_reduce_to_the_usual_split(problem):
    p, rng = problem, np.random.default_rng(0)
    n = len(p.central)
    y = p.central * (1 + 0.01 * rng.normal(size=n))
    held = p.groups == 1                                                  # dataset F2d held out
    usual = rng.uniform(size=n) < 0.75
    train, valid = usual & ~held, ~usual & ~held
    size = int((~usual).sum() + held.sum())                               # larger than the excluded set: padding
    args = [jnp.asarray(a) for a in (p.fk, p.fk_precision, p.fk_gram, p.precision_t0, p.cov_t0, y)]
    masked_grams = jax.jit(chi2.replica_grams_masked, static_argnums=8)    # one compilation, not one per operation
    h_train, h_valid = masked_grams(*args, jnp.asarray(~train), jnp.asarray(valid), size)
    u = np.concatenate([p.fk, y[:, None]], axis=1)
    for got, points in ((h_train, train), (h_valid, valid)):
        expected = dense_gram(u, p.cov_t0, points)
        np.testing.assert_allclose(got, expected, rtol=1e-8, atol=1e-9 * np.abs(expected).max())
    index = np.flatnonzero(~usual)                                        # no hold-out, no padding
    plain = jax.jit(chi2.replica_grams)(*args, jnp.asarray(index))
    masked = masked_grams(*args, jnp.asarray(~usual), jnp.asarray(~usual), len(index))
    for a, b in zip(plain, masked):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12 * np.abs(a).max())
    residual = rng.normal(size=n)
    value, count = jax.jit(chi2.subset_chi2, static_argnums=3)(jnp.asarray(p.cov_t0), jnp.asarray(residual),
                                                               jnp.asarray(held), 60)
    block = np.ix_(held, held)
    assert int(count) == held.sum()
    assert float(value) == pytest.approx(residual[held] @ np.linalg.solve(p.cov_t0[block], residual[held]), rel=1e-10)


def test_a_replica_multiplier_from_its_data_equals_the_runcard_value(problem):
    """train_loss reads its multipliers with the replica's data, where replica_data puts inputs["hyper"]."""
    mine, theirs = TASK.trainable(problem, small_config(450.0)), TASK.trainable(problem, small_config())
    for epoch in (0, 250, 10**6):
        given = theirs.multipliers(jnp.asarray(epoch), {"positivity.multiplier": jnp.asarray(450.0)})
        np.testing.assert_allclose(given, mine.multipliers(jnp.asarray(epoch)), rtol=1e-14)
    assert theirs.multipliers(jnp.asarray(250))[0] == pytest.approx(1000.0 * 1.1 ** 2)


def test_unknown_fold_dataset_is_located(synthetic_setup, tmp_path, run_cli):
    path = tmp_path / "k.yaml"
    path.write_text(CARD.replace("[xF3, dF2]", "[xF3, F3]"))
    code, out, err = run_cli("hyperopt", path, "-o", tmp_path / "k.h5")
    line = CARD.splitlines().index(next(s for s in CARD.splitlines() if "kfold:" in s)) + 1
    assert code == 2 and f"{path}:{line}:" in err and "hyperopt.kfold.folds[1][1]: 'F3' is not a dataset" in err, err


def test_kfold_reward_of_one_trial_equals_the_held_out_chi2_by_hand(synthetic_setup, tmp_path, monkeypatch):
    """One trial, two folds, one replica: two rows of one program. Each row trained without its fold (neither
    in training nor in validation: checked on its recreated data, and its kept validation loss recomputed), and
    the reward is the mean over folds of chi2/N of the measured data of the fold with its t0 covariance block,
    plus the positivity penalty where the kept PDF is not positive."""
    p = synthetic_setup
    groups = []
    train_rows = batching.train_rows
    monkeypatch.setattr(batching, "train_rows", lambda *a, **k: groups.append(train_rows(*a, **k)) or groups[-1])
    runcard = load_runcard_text(CARD, tmp_path / "k.yaml", load_tasks())
    settings = Settings(storage=f"journal:{tmp_path / 's.journal'}", study="k", output=tmp_path / "k.h5", quiet=True)
    search = Search(runcard, TASK, runcard.hyperopt, settings, log=lambda m: None)
    outcome = search.run()

    (group,) = groups
    trainable, result = group.trainable, group.last
    shared = trainable.shared()
    (trial,) = search.study.get_trials()
    lr, multiplier = trial.params["engine.optimizer.learning_rate"], trial.params["positivity.multiplier"]
    folds = [np.isin(p.groups, [1]), np.isin(p.groups, [2, 3])]
    expected = []
    replica_data, grid_values, xf = (jax.jit(f) for f in (trainable.replica_data, trainable.grid_values,
                                                          trainable.model.xf))
    for row, held in enumerate(folds):
        params = jax.tree_util.tree_map(lambda a: a[row], result.params)
        data = replica_data(jnp.asarray(result.data_keys[row]), shared, {
            "held_out": jnp.asarray(held), "hyper": {"positivity.multiplier": jnp.asarray(multiplier)}})
        train = np.asarray(data["train"])
        valid = ~train & ~held
        assert not (train & held).any() and int(data["n_valid"]) == valid.sum() > 0
        q = np.asarray(grid_values(params))
        if result.best_epoch[row] >= 0:      # the kept parameters' validation loss, on the points not held out
            r = p.fk @ q - np.asarray(data["pseudo"])
            kept = r[valid] @ np.linalg.solve(p.cov_t0[np.ix_(valid, valid)], r[valid]) / valid.sum()
            assert result.best_valid[row] == pytest.approx(kept, rel=1e-8)
        r = p.fk @ q - p.central
        held_chi2 = r[held] @ np.linalg.solve(p.cov_t0[np.ix_(held, held)], r[held]) / held.sum()
        flavours = constraints.evolution_to_flavour() @ np.asarray(xf(params, jnp.asarray(constraints.POSITIVITY_X)))
        positive = flavours.min() > -1e-3
        expected.append(held_chi2 + (0.0 if positive else PENALTY))
    assert trial.state.name == "COMPLETE" and 0.01 <= lr <= 0.03
    assert trial.value == pytest.approx(np.mean(expected), rel=1e-9)
    cols, attrs = outputs.read(outcome.table)
    np.testing.assert_allclose(cols["fold_losses"][0], expected, rtol=1e-9)
    assert attrs["best_trial"] == 0 and attrs["reward"] == "kfold"
    best = outcome.best_runcard.read_text()
    assert "\nhyperopt:" not in best and f"multiplier: {multiplier}" in best
