"""Hyperparameter trials batched in one program give the numbers of separate fits."""
import dataclasses

import numpy as np

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from engine.test_replicas import Quadratic, engine  # noqa: E402
from mlhep.engine import train
from mlhep.engine.config import OptimizerConfig


def test_per_replica_learning_rates_equal_separate_fits():
    model, rates = Quadratic(), np.array([0.003, 0.03, 0.3])
    cfg = engine(epochs=300)
    batched = train(model, np.zeros(3, dtype=int), seed=2, cfg=cfg, learning_rates=rates)
    for k, lr in enumerate(rates):
        alone = train(model, np.zeros(1, dtype=int), seed=2,
                      cfg=dataclasses.replace(cfg, optimizer=OptimizerConfig(name="adam", learning_rate=lr)))
        np.testing.assert_allclose(batched.params["a"][k], alone.params["a"][0], rtol=1e-10)
        assert batched.best_epoch[k] == alone.best_epoch[0]


def test_search_from_a_runcard_with_a_journal_storage(tmp_path, run_cli):
    card = tmp_path / "h.yaml"
    card.write_text(f"""task: toy-regression
engine: {{epochs: 200, chunk: 100}}
hyperopt:
  trials: 4
  batch: 4
  storage: journal:{tmp_path / 'study.log'}
  space:
    engine.optimizer.learning_rate: {{low: 1.0e-3, high: 0.1, log: true}}
data: {{points: 10}}
model: {{hidden: [4]}}
""")
    code, out, err = run_cli("hyperopt", card, "-q", "-o", tmp_path / "t.csv")
    assert code == 0, err
    assert len((tmp_path / "t.csv").read_text().splitlines()) == 5
    code, out, _ = run_cli("hyperopt", card, "-q")          # the shared study is complete: nothing to do
    assert code == 0 and "already has 4 trials" in out


def test_bad_search_key_is_located(tmp_path, run_cli):
    card = tmp_path / "h.yaml"
    card.write_text("task: toy-regression\nhyperopt:\n  space:\n    model.widths: {low: 1, high: 2}\n")
    code, _, err = run_cli("hyperopt", card)
    assert code == 2 and f"{card}:4:" in err and "not a setting" in err
