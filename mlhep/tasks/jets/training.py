"""One replica of the jet tagger as a ``MinibatchTrainable`` (``mlhep.task``): the engine vmaps it over replicas.

Shared (one copy for all replicas): the model's inputs of the training and validation jets, rows
[0, n_train) training (the first ``n_train_qcd`` of them QCD, then top) and [n_train, N) validation, with their
labels and masses. The test jets are not in it at all. A replica's own data are weights over those N rows:
validation 1 on the validation rows; training 1 on the training rows, or with ``bootstrap`` how often a
multinomial draw of the same size, per class, picks each training jet (so each class keeps its total).

Loss per jet: the binary cross-entropy of the logit, plus, with mass decorrelation (``models.adversary``),

- ``dcorr``: lambda dCorr^2(score, mass) of the minibatch's QCD jets, added to every jet of the minibatch, so the
  engine's weighted mean is mean(BCE) + lambda dCorr^2 (DisCo). The penalty needs the minibatch as a whole and
  the jets' weights in it: the engine gives ``example_losses`` the rows only, so the weights are looked up in the
  replica's data (training weights in a training step, validation weights in validation). They equal the
  engine's row weights except for the rows the engine pads an epoch with when steps x size exceeds N (row 0
  with weight 0, here with row 0's weight): a rare, small difference in the last minibatch of an epoch.
- ``adversary``: the mass adversary's cross-entropy on QCD jets through a gradient reversal of strength lambda,
  so that one optimiser step lowers L_r for the adversary and L_f - lambda L_r for the tagger (Louppe et al.).
  Validation (early stopping) measures that value function, L_f - lambda L_r, with the current adversary.
"""
from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
import optax

from mlhep.task import StepInfo
from mlhep.tasks.jets.dataset import Jets
from mlhep.tasks.jets.models import Network
from mlhep.tasks.jets.models.adversary import MassAdversary, adversary_losses, distance_correlation_sq, mass_bins


def dcorr_penalty(score: jax.Array, mass: jax.Array, weight: jax.Array) -> jax.Array:
    """dCorr^2(score, mass) (B,) with weights (B,) (e.g. bootstrap counts of the QCD jets, 0 for the rest); 0 if
    every weight is 0 (a minibatch without QCD jets)."""
    total = jnp.sum(weight)
    safe = jnp.where(total > 0, weight, jnp.ones_like(weight))     # no 0 / 0 inside, not even in the gradient
    return jnp.where(total > 0, distance_correlation_sq(score, mass, safe), 0.0)


@dataclass(frozen=True, eq=False)   # hashed by identity: the engine caches its compiled program per trainable
class TaggerTrainable:
    net: Network
    jets: Jets                   # training rows first (QCD, then top), then validation rows
    n_train: int
    n_train_qcd: int
    bootstrap: bool = False
    method: str = "none"         # "none", "dcorr", "adversary"
    strength: float = 0.0
    adversary: MassAdversary | None = None
    mass_edges: np.ndarray | None = None   # adversary: bin edges (GeV)
    minibatch_size: int = 256

    def shared(self) -> dict[str, jax.Array]:
        out = {k: jnp.asarray(v) for k, v in self.jets.inputs.items() if k in self.net.module.inputs}
        out["label"] = jnp.asarray(self.jets.label, jnp.float32)
        out["mass"] = jnp.asarray(self.jets.mass, jnp.float32)
        if self.method == "adversary":
            out["mass_bin"] = mass_bins(out["mass"], jnp.asarray(self.mass_edges, jnp.float32)).astype(jnp.int32)
        return out

    def example(self, shared) -> dict[str, jax.Array]:
        return {k: shared[k][:2] for k in self.net.module.inputs}

    def init(self, key: jax.Array, shared) -> dict:
        params = {"tagger": self.net.init(key, self.example(shared))[0]}
        if self.method == "adversary":
            params["adversary"] = self.adversary.init(jax.random.fold_in(key, 1), jnp.zeros(2, jnp.float32))
        return params

    def init_state(self, key: jax.Array, shared) -> dict:
        return self.net.init(key, self.example(shared))[1]     # the same key as init: the same network

    def replica_data(self, key: jax.Array, shared) -> dict[str, jax.Array]:
        n = shared["label"].shape[0]
        rows = jnp.arange(n)
        valid = (rows >= self.n_train).astype(jnp.float32)
        if not self.bootstrap:
            return {"train": (rows < self.n_train).astype(jnp.float32), "valid": valid}
        k_qcd, k_top = jax.random.split(key)
        n_qcd = self.n_train_qcd
        drawn = jnp.concatenate([jax.random.randint(k_qcd, (n_qcd,), 0, n_qcd),
                                 jax.random.randint(k_top, (self.n_train - n_qcd,), n_qcd, self.n_train)])
        return {"train": jnp.zeros(n, jnp.float32).at[drawn].add(1.0), "valid": valid}

    def weights(self, data):
        return data["train"], data["valid"]

    def example_losses(self, params, shared, data, rows, info: StepInfo):
        """(losses (B,), new model state) of the jets ``rows``: see the module docstring."""
        batch = {k: shared[k][rows] for k in self.net.module.inputs}
        logits, state = self.net.apply(params["tagger"], info.model_state, batch, info.key, info.training)
        label = shared["label"][rows]
        losses = optax.sigmoid_binary_cross_entropy(logits, label)
        qcd = 1.0 - label
        if self.method == "dcorr":
            weight = (data["train"] if info.training else data["valid"])[rows] * qcd
            losses = losses + self.strength * dcorr_penalty(jax.nn.sigmoid(logits), shared["mass"][rows], weight)
        elif self.method == "adversary":
            adversary = adversary_losses(self.adversary, params["adversary"], logits, shared["mass_bin"][rows],
                                         self.strength)
            losses = losses + (qcd * adversary if info.training else -self.strength * qcd * adversary)
        return losses, state


@dataclass(frozen=True, eq=False)
class Scorer:
    """``scorer((params, model_state), batch) -> P(top)`` (B,) of one replica, in evaluation mode (running batch
    statistics, no dropout): the function ``mlhep.engine.predict`` vmaps over replicas."""

    net: Network

    def __call__(self, params_and_state, batch):
        params, state = params_and_state
        logits, _ = self.net.apply(params["tagger"], state, batch, jax.random.PRNGKey(0), False)
        return jax.nn.sigmoid(logits)
