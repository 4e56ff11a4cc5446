"""The two trainables every bump-hunt method is built from: a conditional density p(x | m) fitted by maximum
likelihood, and a binary classifier; both ``MinibatchTrainable``s over a shared sample (``mlhep.task``).

k-fold by replica: replica r holds out the examples of fold ``inputs["fold"]`` (its own row of
``ctx.train(..., inputs={"fold": replica_ids % k})``), so that every event is scored by replicas that never
trained on it. Examples of fold -1 are never held out (templates, sampled backgrounds, extra labelled events).
The rest of a replica's examples are split at random into training and validation (weights, never copies).
"""
from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
import optax

from mlhep.models.mlp import MLP
from mlhep.stats.pseudodata import train_mask
from mlhep.task import StepInfo
from mlhep.tasks.bumphunt.flows import ConditionalFlow


def split_weights(key: jax.Array, n: int, validation_fraction: float) -> tuple[jax.Array, jax.Array]:
    """(training, validation) 0/1 weights (n,) float32: a random ``validation_fraction`` validates."""
    train = train_mask(key, jnp.zeros(n, jnp.int32), jnp.array([1.0 - validation_fraction]))
    return train.astype(jnp.float32), (~train).astype(jnp.float32)


def held_in(fold: jax.Array, inputs) -> jax.Array:
    """(n,) float32: 1 for the examples this replica may use (not of its held-out fold ``inputs["fold"]``)."""
    if inputs is None or "fold" not in inputs:
        return jnp.ones(fold.shape, jnp.float32)
    return (fold != inputs["fold"]).astype(jnp.float32)


@dataclass(frozen=True, eq=False)   # hashed by identity: the engine caches its compiled program per trainable
class FlowTrainable:
    """p(x | m) by maximum (weighted) likelihood on the events (x (N, dim), m (N,)), with per-event ``fold`` (N,)
    int and ``weight`` (N,) (None: 1)."""

    flow: ConditionalFlow
    x: np.ndarray
    m: np.ndarray
    fold: np.ndarray
    validation_fraction: float
    weight: np.ndarray | None = None
    minibatch_size: int = 256

    def shared(self):
        weight = np.ones(len(self.m)) if self.weight is None else self.weight
        return {"x": jnp.asarray(self.x, jnp.float32), "m": jnp.asarray(self.m, jnp.float32),
                "fold": jnp.asarray(self.fold, jnp.int32), "weight": jnp.asarray(weight, jnp.float32)}

    def init(self, key, shared):
        return self.flow.init(key)

    def replica_data(self, key, shared, inputs=None):
        train, valid = split_weights(key, shared["m"].size, self.validation_fraction)
        keep = held_in(shared["fold"], inputs) * shared["weight"]
        return {"train": train * keep, "valid": valid * keep}

    def weights(self, data):
        return data["train"], data["valid"]

    def example_losses(self, params, shared, data, rows, info: StepInfo):
        """Negative log-likelihood (B,) of the events ``rows``."""
        return -self.flow.log_prob(params, shared["x"][rows], shared["m"][rows])

    def log_prob(self, params, batch):
        """log p(x | m) (n,) of a batch (x (n, dim), m (n,)): for ``mlhep.engine.predict``."""
        return self.flow.log_prob(params, batch[0], batch[1])


@dataclass(frozen=True, eq=False)
class ClassifierTrainable:
    """Binary cross-entropy of an MLP on standardised features.

    Shared examples 0..N-1: ``x`` (N, dim) float32, ``label`` (N,) 0/1, event ``weight`` (N,) and ``fold`` (N,).
    With ``n_samples`` > 0 every replica also gets its own examples N..N+n_samples-1, label 0, weight 1:
    ``inputs["samples"]`` (n_samples, dim), e.g. draws of its stage-1 flow (CATHODE). Each replica balances the
    classes over the examples it uses (its held-out fold left out): either label carries half of the weight, so
    a classifier that cannot tell them apart outputs 0.5.
    """

    net: MLP
    x: np.ndarray
    label: np.ndarray
    weight: np.ndarray
    fold: np.ndarray
    validation_fraction: float
    n_samples: int = 0
    minibatch_size: int = 256

    def shared(self):
        return {"x": jnp.asarray(self.x, jnp.float32), "label": jnp.asarray(self.label, jnp.float32),
                "weight": jnp.asarray(self.weight, jnp.float32), "fold": jnp.asarray(self.fold, jnp.int32)}

    def init(self, key, shared):
        return self.net.init(key, shared["x"][:1])

    def replica_data(self, key, shared, inputs=None):
        n = shared["label"].size
        train, valid = split_weights(key, n + self.n_samples, self.validation_fraction)
        label = jnp.concatenate([shared["label"], jnp.zeros(self.n_samples, jnp.float32)])
        used = jnp.concatenate([held_in(shared["fold"], inputs) * shared["weight"],
                                jnp.ones(self.n_samples, jnp.float32)])
        signal, background = jnp.sum(used * label), jnp.sum(used * (1 - label))
        balance = jnp.where(label == 1, 0.5 / jnp.maximum(signal, 1e-30), 0.5 / jnp.maximum(background, 1e-30))
        keep = used * balance * (n + self.n_samples)   # mean weight about 1: a loss of the usual size
        data = {"train": train * keep, "valid": valid * keep}
        if self.n_samples:
            data["samples"] = jnp.asarray(inputs["samples"], jnp.float32)
        return data

    def weights(self, data):
        return data["train"], data["valid"]

    def logit(self, params, x):
        """(n,) logits of x (n, dim): for ``mlhep.engine.predict``."""
        return self.net.apply(params, x)[:, 0]

    def example_losses(self, params, shared, data, rows, info: StepInfo):
        """Binary cross-entropy (B,) of the examples ``rows``."""
        n = shared["label"].size
        if self.n_samples:
            own = rows >= n
            x = jnp.where(own[:, None], data["samples"][jnp.clip(rows - n, 0, self.n_samples - 1)],
                          shared["x"][jnp.minimum(rows, n - 1)])
            label = jnp.where(own, 0.0, shared["label"][jnp.minimum(rows, n - 1)])
        else:
            x, label = shared["x"][rows], shared["label"][rows]
        return optax.sigmoid_binary_cross_entropy(self.logit(params, x), label)
