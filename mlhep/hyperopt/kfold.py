"""k-fold cross-validation over datasets, as NNPDF4.0's hyperparameter optimisation (arXiv:2109.02653 sec. 3.3).

The runcard names folds of datasets. Each trial trains once per fold with that fold held out: its datasets
enter neither the training nor the validation set, so the training cost is the chi2 of the other datasets and
early stopping watches theirs. The trained replica is then graded on the held-out fold: chi2 per point of the
measured data of the fold (t0 covariance of the fold's points). The trial's reward is

    reward = statistic_k ( mean_r L_kr ),   statistic = mean (NNPDF4.0) or max (the worst fold)

with L_kr the held-out chi2 per point of replica r trained without fold k, penalised: a replica whose kept PDF
is not positive gets ``positivity_penalty`` added, and a replica that failed (no finite parameters) counts as
the penalty alone, so any fit that fails is ranked below every positive one without a chi2 of +inf (which
would make the sampler's density estimate useless).

Every fold of every trial in a batch is a replica row of ONE engine program: the fold reaches the row through
``replica_data``'s inputs (``{"held_out": (n,) bool}``). A trainable that supports this provides
``point_datasets() -> (names, (n,) dataset index)``, ``holding_out(points) -> trainable`` and
``held_out_loss(params, shared, held_out) -> (loss, accepted)`` (``mlhep.tasks.pdf.trainable``).
"""
from __future__ import annotations

from typing import Any

import numpy as np

from mlhep.hyperopt_config import KFoldConfig


def supports_kfold(trainable: Any) -> bool:
    return all(hasattr(trainable, name) for name in ("point_datasets", "holding_out", "held_out_loss"))


def fold_masks(trainable: Any, kfold: KFoldConfig, fail) -> np.ndarray:
    """(folds, n) bool: the data points of each fold. ``fail(key, why)`` reports a bad fold at its line."""
    names, groups = trainable.point_datasets()
    names = list(names)
    masks = np.zeros((len(kfold.folds), len(groups)), dtype=bool)
    for i, fold in enumerate(kfold.folds):
        if not fold:
            raise fail(f"hyperopt.kfold.folds[{i}]", "an empty fold (each fold lists at least one dataset)")
        for j, name in enumerate(fold):
            key = f"hyperopt.kfold.folds[{i}][{j}]"
            if name not in names:
                raise fail(key, f"'{name}' is not a dataset of this fit (valid: {', '.join(names)})")
            if fold.index(name) != j:
                raise fail(key, f"'{name}' appears twice in this fold")
            masks[i] |= groups == names.index(name)
        if masks[i].all():
            raise fail(f"hyperopt.kfold.folds[{i}]", "this fold holds every dataset out: nothing would be left to "
                                                    "train on (a fold is a part of the datasets)")
    return masks


def held_out_losses(trainable: Any, params: Any, held_out: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(loss (R,), accepted (R,) bool) of the rows' best parameters (R, ...) on their held-out points (R, n)."""
    import jax
    from mlhep.engine.program import shared_data
    shared = shared_data(trainable)
    loss, ok = jax.jit(jax.vmap(trainable.held_out_loss, in_axes=(0, None, 0)))(params, shared, held_out)
    return np.asarray(loss, dtype=float), np.asarray(ok, dtype=bool)


def penalised(loss: np.ndarray, accepted: np.ndarray, penalty: float) -> np.ndarray:
    """Held-out losses with the positivity penalty: +penalty where not accepted; the penalty alone where the loss
    is not finite (a failed replica)."""
    loss = np.asarray(loss, dtype=float)
    return np.where(~np.isfinite(loss), penalty, loss + np.where(accepted, 0.0, penalty))


def reward(per_replica: np.ndarray, statistic: str) -> tuple[float, np.ndarray]:
    """(reward, fold losses (F,)) of one trial from its penalised held-out losses (F, P)."""
    folds = np.mean(per_replica, axis=1)
    return float(np.max(folds) if statistic == "max" else np.mean(folds)), folds
