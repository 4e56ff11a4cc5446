"""Per-replica look-back early stopping as array operations (no Python branching per replica).

Each replica keeps the parameters with the lowest validation loss seen so far among those its task accepts
(e.g. positivity satisfied), counts epochs since that best, and stops updating once the count reaches the
patience. This is NNPDF's look-back stopping (Ball et al., Eur. Phys. J. C 82 (2022) 428, sec. 3.3).

A replica can also fail: its training or validation loss becomes NaN or infinite (it stops at once, keeping
the best parameters it had), or patience stops it without it ever improving on its initial parameters (it
learned nothing, e.g. with a learning rate so large that every update makes things worse).

Every epoch validates the parameters it starts from; the parameters after a replica's last epoch are
validated once more when its epochs run out (``conclude``), so ``epochs: E`` keeps the best of all E + 1 points.
"""
from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

# Tracker.failure codes, and what they mean (index = code).
NOT_FAILED, TRAIN_NON_FINITE, VALID_NON_FINITE, UNTRAINED = range(4)
FAILURE_REASONS = ("", "training loss became non-finite", "validation loss became non-finite",
                   "patience ran out before it ever improved on its initial parameters")


class Tracker(NamedTuple):
    """Stopping state of one replica (the engine stacks it on the replica axis)."""

    best_params: Any
    best_valid: jax.Array      # () float: +inf until an accepted point is seen
    best_epoch: jax.Array      # () int: -1 until then
    since_best: jax.Array      # () int: epochs since the last improvement
    active: jax.Array          # () bool: still training
    stopped: jax.Array         # () bool: stopped by patience (not by the epoch limit)
    failure: jax.Array         # () int: NOT_FAILED or the code of why the replica failed (FAILURE_REASONS)
    failed_epoch: jax.Array    # () int: the epoch it failed at, -1 if it did not


def start(params: Any) -> Tracker:
    # Explicit dtypes: weakly-typed scalars would change type after the first chunk and force a recompile.
    return Tracker(params, jnp.array(jnp.inf, dtype=float), jnp.array(-1, dtype=int), jnp.array(0, dtype=int),
                   jnp.array(True), jnp.array(False), jnp.array(NOT_FAILED, dtype=int), jnp.array(-1, dtype=int))


def _failure(loss: jax.Array, valid: jax.Array) -> jax.Array:
    """The failure code of an epoch's losses (NOT_FAILED when both are finite)."""
    return jnp.where(~jnp.isfinite(loss), TRAIN_NON_FINITE, jnp.where(~jnp.isfinite(valid), VALID_NON_FINITE,
                                                                      NOT_FAILED))


def update(tracker: Tracker, params: Any, loss: jax.Array, valid: jax.Array, ok: jax.Array, epoch: jax.Array, *,
           patience: int, min_delta: float, min_epochs: int, max_epochs: int, every: int = 1,
           due: jax.Array | bool = True) -> Tracker:
    """Fold in the training loss of the epoch that starts from ``params`` (reached after ``epoch`` epochs) and,
    on epochs where validation is ``due`` (every ``every`` epochs), their validation loss. Patience counts
    epochs. Inactive replicas are unchanged. A non-finite loss fails the replica: it stops, and ``params`` are
    not kept."""
    valid_checked = jnp.where(due, valid, 0.0)
    broken = tracker.active & (_failure(loss, valid_checked) != NOT_FAILED)
    improved = due & tracker.active & ~broken & ok & (valid < tracker.best_valid - min_delta)
    # Patience runs only once an acceptable point exists: a replica that never satisfies its constraints
    # (e.g. positivity) trains to the epoch limit, and postfit discards it if it still fails.
    counting = due & tracker.active & jnp.isfinite(tracker.best_valid)
    since = jnp.where(improved, 0, tracker.since_best + every * counting.astype(tracker.since_best.dtype))
    exhausted = due & tracker.active & ~broken & (since >= patience) & (epoch + 1 >= min_epochs)
    untrained = exhausted & (tracker.best_epoch == 0)
    failure = jnp.where(broken, _failure(loss, valid_checked), jnp.where(untrained, UNTRAINED, tracker.failure))
    return Tracker(
        best_params=jax.tree_util.tree_map(lambda b, p: jnp.where(improved, p, b), tracker.best_params, params),
        best_valid=jnp.where(improved, valid, tracker.best_valid),
        best_epoch=jnp.where(improved, epoch, tracker.best_epoch),
        since_best=since,
        active=tracker.active & ~broken & ~exhausted & (epoch + 1 < max_epochs),
        stopped=tracker.stopped | exhausted,
        failure=failure.astype(tracker.failure.dtype),
        failed_epoch=jnp.where(broken | untrained, epoch, tracker.failed_epoch),
    )


def keeps_update(running: jax.Array, tracker: Tracker) -> jax.Array:
    """Whether the epoch's update is kept: the replica was training and neither patience nor a failure stopped
    it this epoch (the epoch that reaches the epoch limit keeps its update; ``conclude`` validates it)."""
    return running & ~tracker.stopped & (tracker.failure == NOT_FAILED)


def ran_out(tracker: Tracker) -> jax.Array:
    """The replica trained until its epochs ran out (not stopped by patience, not failed)."""
    return ~tracker.active & ~tracker.stopped & (tracker.failure == NOT_FAILED)


def conclude(tracker: Tracker, params: Any, valid: jax.Array, ok: jax.Array, epoch: jax.Array, *,
             min_delta: float) -> Tracker:
    """Fold in the validation loss of the parameters after the last epoch (``epoch`` epochs in all) of a
    replica whose epochs ran out; other replicas are unchanged. A non-finite loss keeps the earlier best."""
    improved = ran_out(tracker) & ok & jnp.isfinite(valid) & (valid < tracker.best_valid - min_delta)
    return tracker._replace(
        best_params=jax.tree_util.tree_map(lambda b, p: jnp.where(improved, p, b), tracker.best_params, params),
        best_valid=jnp.where(improved, valid, tracker.best_valid),
        best_epoch=jnp.where(improved, epoch, tracker.best_epoch),
        since_best=jnp.where(improved, 0, tracker.since_best))
