"""Per-replica look-back early stopping as array operations (no Python branching per replica).

Each replica keeps the parameters with the lowest validation loss seen so far among those its task accepts
(e.g. positivity satisfied), counts epochs since that best, and stops updating once the count reaches the
patience. This is NNPDF's look-back stopping (Ball et al., Eur. Phys. J. C 82 (2022) 428, sec. 3.3).
"""
from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp


class Tracker(NamedTuple):
    """Stopping state of one replica (the engine stacks it on the replica axis)."""

    best_params: Any
    best_valid: jax.Array      # () float: +inf until an accepted point is seen
    best_epoch: jax.Array      # () int: -1 until then
    since_best: jax.Array      # () int: epochs since the last improvement
    active: jax.Array          # () bool: still training
    stopped: jax.Array         # () bool: stopped by patience (not by the epoch limit)


def start(params: Any) -> Tracker:
    # Explicit dtypes: weakly-typed scalars would change type after the first chunk and force a recompile.
    return Tracker(params, jnp.array(jnp.inf, dtype=float), jnp.array(-1, dtype=int), jnp.array(0, dtype=int),
                   jnp.array(True), jnp.array(False))


def update(tracker: Tracker, params: Any, valid: jax.Array, ok: jax.Array, epoch: jax.Array, *,
           patience: int, min_delta: float, min_epochs: int, max_epochs: int) -> Tracker:
    """Fold in the validation loss of ``params`` (reached at ``epoch``); inactive replicas are unchanged."""
    improved = tracker.active & ok & jnp.isfinite(valid) & (valid < tracker.best_valid - min_delta)
    # Patience runs only once an acceptable point exists: a replica that never satisfies its constraints
    # (e.g. positivity) trains to the epoch limit, and postfit discards it if it still fails.
    counting = tracker.active & jnp.isfinite(tracker.best_valid)
    since = jnp.where(improved, 0, tracker.since_best + counting.astype(tracker.since_best.dtype))
    exhausted = tracker.active & (since >= patience) & (epoch + 1 >= min_epochs)
    return Tracker(
        best_params=jax.tree_util.tree_map(lambda b, p: jnp.where(improved, p, b), tracker.best_params, params),
        best_valid=jnp.where(improved, valid, tracker.best_valid),
        best_epoch=jnp.where(improved, epoch, tracker.best_epoch),
        since_best=since,
        active=tracker.active & ~exhausted & (epoch + 1 < max_epochs),
        stopped=tracker.stopped | exhausted,
    )
