"""Evaluate a trained ensemble on a large sample: every replica at once, the sample in chunks.

``predict(fn, params, inputs, chunk)`` computes ``fn(params_r, inputs[i:i+chunk])`` for every replica r (vmapped)
and every chunk of the sample (a ``lax.map``), so memory stays (replicas x chunk) whatever the sample size, and
the whole evaluation is one compiled program.
"""
from __future__ import annotations

import functools
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np


def predict(fn: Callable[[Any, jax.Array], jax.Array], params: Any, inputs: Any, chunk: int = 8192) -> np.ndarray:
    """(R, N, ...) outputs of ``fn(one replica's params, a batch of inputs (n, ...)) -> (n, ...)`` for stacked
    ``params`` (leading axis R) and ``inputs`` (a pytree of arrays with leading axis N)."""
    n = jax.tree_util.tree_leaves(inputs)[0].shape[0]
    chunk = max(1, min(chunk, n))
    pad = -n % chunk
    padded = jax.tree_util.tree_map(
        lambda a: jnp.concatenate([jnp.asarray(a), jnp.repeat(jnp.asarray(a)[-1:], pad, axis=0)]), inputs)
    blocks = jax.tree_util.tree_map(lambda a: a.reshape(-1, chunk, *a.shape[1:]), padded)
    out = _evaluate(fn, params, blocks)                    # (blocks, R, chunk, ...)
    out = jnp.moveaxis(out, 0, 1)
    return np.asarray(out.reshape(out.shape[0], -1, *out.shape[3:])[:, :n])


@functools.partial(jax.jit, static_argnums=0)   # compiled once per fn (pass the same function, not a new lambda)
def _evaluate(fn, params, blocks):
    """(blocks, R, chunk, ...): one compiled program, the chunks in a loop, the replicas vmapped."""
    every_replica = jax.vmap(fn, in_axes=(0, None))
    return jax.lax.map(lambda block: every_replica(params, block), blocks)
