"""A flax tagger as the two pure functions mlhep's engine needs, with its batch statistics as the model state.

    net = Network(MODELS["pfn"](phi_sizes=(64, 64, 128)))
    params, model_state = net.init(key, example_batch)
    logits, model_state = net.apply(params, model_state, batch, key, training=True)    # dropout + batch stats
    logits, _ = net.apply(params, model_state, batch, key, training=False)            # running averages

In a ``MinibatchTrainable`` (``mlhep.task``) this reads::

    def init(self, key, shared):        return self.net.init(key, self.example(shared))[0]
    def init_state(self, key, shared):  return self.net.init(key, self.example(shared))[1]   # same key: same init
    def example_losses(self, params, shared, data, rows, info):
        batch = {name: shared[name][rows] for name in self.net.module.inputs}
        logits, state = self.net.apply(params, info.model_state, batch, info.key, info.training)
        return optax.sigmoid_binary_cross_entropy(logits, shared["label"][rows]), state

The engine hands ``info.key`` (a per-step key) and ``info.training`` (False in validation, where the returned
state is ignored), and keeps the state of the best epoch with the parameters. A model without batch norm has the
empty state {}.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import flax.linen as nn
import jax


@dataclass(frozen=True)
class Network:
    """A tagger module (called as ``module(batch, training)``, returning logits (B,)) as pure functions."""

    module: nn.Module

    def init(self, key: jax.Array, example_batch: dict) -> tuple[Any, dict]:
        """(params, model_state) for inputs shaped like ``example_batch`` (one jet is enough)."""
        param_key, dropout_key = jax.random.split(key)
        variables = dict(self.module.init({"params": param_key, "dropout": dropout_key}, example_batch,
                                          training=False))
        params = variables.pop("params")
        return params, variables

    def apply(self, params: Any, model_state: dict, batch: dict, key: jax.Array,
              training: bool) -> tuple[jax.Array, dict]:
        """(logits (B,), new model_state): in training, dropout draws from ``key`` and batch norms normalise with
        the minibatch's statistics and update their running averages; otherwise the running averages are used
        and the state is returned unchanged."""
        variables = {"params": params, **model_state}
        if not training:
            return self.module.apply(variables, batch, training=False), model_state
        logits, updates = self.module.apply(variables, batch, training=True, rngs={"dropout": key},
                                            mutable=list(model_state))
        return logits, {**model_state, **updates}
