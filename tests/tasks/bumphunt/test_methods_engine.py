"""The bump-hunt methods' plumbing on the engine, cheaply: k-fold bookkeeping (a replica never trains on the
events it scores), class balance per replica, and an ensemble trained batched equals the same replicas one by
one (``EngineConfig(batch=False)``)."""
from __future__ import annotations

import jax
import numpy as np
import pytest

from mlhep.engine import EngineConfig
from mlhep.engine.config import OptimizerConfig, StoppingConfig
from mlhep.runtime import use_precision
from mlhep.tasks.bumphunt.methods import ClassifierSettings, MethodSettings, standalone_context
from mlhep.tasks.bumphunt.methods.common import (classifier_scores, event_folds, make_classifier, out_of_fold,
                                                 replica_folds, train_classifier)


def _engine(batch: bool = True, epochs: int = 3) -> EngineConfig:
    return EngineConfig(epochs=epochs, chunk=epochs, minibatch_size=128, batch=batch,
                        optimizer=OptimizerConfig(learning_rate=1e-3), stopping=StoppingConfig(patience=1000))


def _toy(n: int = 600, n_samples: int = 900, replicas: int = 3, seed: int = 0):
    """Signal-region 'data' (n, 4) and per-replica 'flow samples' (R, n_samples, 4) of a shifted Gaussian."""
    rng = np.random.default_rng(seed)
    data = rng.normal(0.3, 1.0, (n, 4))
    samples = rng.normal(0.0, 1.0, (replicas, n_samples, 4))
    return data, samples


def test_event_folds_are_balanced_and_replicas_must_cover_them():
    folds = event_folds(1003, 5, seed=1)
    assert set(np.unique(folds)) == set(range(5)) and np.ptp(np.bincount(folds)) <= 1
    np.testing.assert_array_equal(folds, event_folds(1003, 5, seed=1))
    ctx = standalone_context(0, np.array([0, 1, 2, 5]), _engine())
    np.testing.assert_array_equal(replica_folds(ctx, 3), [0, 1, 2, 2])
    with pytest.raises(ValueError, match="one replica per fold"):
        replica_folds(ctx, 5)


def test_out_of_fold_scores_come_only_from_replicas_that_held_the_event_out():
    """Replica r scores every event r + 10 * (fold of the event); the out-of-fold score of an event of fold f is
    the mean of r + 10 f over the replicas r with r % k == f."""
    folds = event_folds(50, 3, seed=2)
    replica_fold = np.arange(7) % 3
    per_replica = np.arange(7)[:, None] + 10.0 * folds[None, :]
    expected = np.array([np.mean(np.flatnonzero(replica_fold == f)) for f in range(3)])[folds] + 10.0 * folds
    np.testing.assert_allclose(out_of_fold(per_replica, replica_fold, folds), expected)


def test_a_replica_leaves_out_its_fold_and_balances_the_classes():
    """Replica data of the CATHODE-style classifier (data label 1, k-fold; samples label 0): no weight on the
    held-out fold, training + validation weights split every other example, and either label carries half of
    the weight the replica uses."""
    use_precision("float32")
    data, samples = _toy(replicas=2)
    settings = MethodSettings(folds=2, classifier=ClassifierSettings(hidden=[16]))
    folds = event_folds(len(data), 2, seed=0)
    trainable, scale = make_classifier(settings, data, data, np.ones(len(data)), folds, n_samples=samples.shape[1])
    shared = trainable.shared()
    for fold in (0, 1):
        out = trainable.replica_data(jax.random.PRNGKey(fold), shared, {"fold": fold, "samples": scale(samples[0])})
        train, valid = np.asarray(out["train"]), np.asarray(out["valid"])
        used = train + valid
        assert np.all(used[:len(data)][folds == fold] == 0) and np.all(used[:len(data)][folds != fold] > 0)
        assert np.all(used[len(data):] > 0) and np.all((train == 0) | (valid == 0))
        np.testing.assert_allclose(used[:len(data)].sum(), used[len(data):].sum(), rtol=1e-5)


def test_the_ensemble_trained_batched_equals_one_replica_at_a_time():
    """Three replicas of the classifier with per-replica samples and folds: the parameters and scores of the
    batched program equal those of --sequential to float32 rounding (measured max |difference| 1e-7; 1e-5)."""
    use_precision("float32")
    data, samples = _toy()
    settings = MethodSettings(folds=3, classifier=ClassifierSettings(hidden=[16]))   # small: compiles faster
    folds = event_folds(len(data), 3, seed=0)
    results = []
    for batch in (True, False):
        ctx = standalone_context(4, 3, _engine(batch))
        trainable, result, scale = train_classifier(ctx, "classifier", settings, data, data, np.ones(len(data)),
                                                    folds, samples=samples)
        results.append((result, classifier_scores(trainable, result, scale(data))))
    (batched, scores_b), (sequential, scores_s) = results
    for a, b in zip(jax.tree_util.tree_leaves(batched.params), jax.tree_util.tree_leaves(sequential.params)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(scores_b, scores_s, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(batched.best_epoch, sequential.best_epoch)
    assert not np.allclose(scores_b[0], scores_b[1])    # the replicas differ: their own keys, folds and samples
