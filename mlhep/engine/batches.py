"""Minibatches of one replica: which examples each optimizer step of an epoch sees.

A replica weights the examples of the shared sample (``Trainable.weights``): 0 leaves an example out, 1 keeps
it, k > 1 counts it k times (a bootstrap by weights never copies the sample). One epoch is one pass over the
examples of non-zero training weight, in an order drawn afresh from the replica's key every epoch, cut into
``steps`` minibatches of ``size`` rows. Shapes are static (one compiled program): a replica with fewer
examples than the largest one gets trailing rows of weight zero, and the engine skips steps that have none, so
a replica's result does not depend on the replicas beside it.
"""
from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np


@dataclass(frozen=True)
class Layout:
    """Static shape of an epoch: training ``steps`` x ``size`` rows, validation ``valid_steps`` x ``valid_size``."""

    steps: int
    size: int
    valid_steps: int
    valid_size: int

    @classmethod
    def for_counts(cls, n_train: int, n_valid: int, size: int | None) -> "Layout":
        """The layout for at most ``n_train`` training and ``n_valid`` validation examples per replica;
        ``size`` None is full batch (one step per epoch). Validation is reduced in batches of the same size."""
        n_train, n_valid = max(n_train, 1), max(n_valid, 1)
        size = min(size or n_train, n_train)
        valid_size = min(size, n_valid)
        return cls(-(-n_train // size), size, -(-n_valid // valid_size), valid_size)


def _rows(order: jax.Array, weight: jax.Array, steps: int, size: int) -> tuple[jax.Array, jax.Array]:
    """The first ``steps * size`` entries of ``order`` as (steps, size) rows with their weights (0 past the
    end of ``order``, so shapes never depend on how many examples a replica has)."""
    total = steps * size
    if total > order.size:
        order = jnp.concatenate([order, jnp.zeros(total - order.size, dtype=order.dtype)])
    rows = order[:total]
    kept = jnp.arange(total) < weight.size
    return rows.reshape(steps, size), jnp.where(kept, weight[rows], 0).reshape(steps, size)


def epoch_rows(key: jax.Array, weight: jax.Array, layout: Layout) -> tuple[jax.Array, jax.Array]:
    """(steps, size) example rows and weights of one training epoch: the examples of non-zero ``weight`` (N,) in
    a random order drawn from ``key``, then zero-weight rows."""
    u = jax.random.uniform(key, weight.shape)
    order = jnp.argsort(jnp.where(weight > 0, u, 2.0 + u))
    return _rows(order, weight, layout.steps, layout.size)


def validation_rows(weight: jax.Array, layout: Layout) -> tuple[jax.Array, jax.Array]:
    """(valid_steps, valid_size) rows and weights covering the examples of non-zero ``weight`` in their order."""
    order = jnp.argsort(weight <= 0, stable=True)
    return _rows(order, weight, layout.valid_steps, layout.valid_size)


def weighted_mean(losses: jax.Array, weight: jax.Array) -> tuple[jax.Array, jax.Array]:
    """(sum of weight x loss, sum of weight) of a batch; rows of weight 0 count for nothing, even if their
    loss is not finite (padding rows repeat example 0)."""
    return jnp.sum(jnp.where(weight > 0, weight * losses, 0.0)), jnp.sum(weight)


def counts(weights: np.ndarray) -> int:
    """The largest number of examples of non-zero weight over replicas, from (R, N) weights."""
    return int(np.max(np.sum(np.asarray(weights) > 0, axis=-1), initial=0))
