"""The replica Trainable: NN_alpha, NN_beta as classifiers between the SM sample and EFT samples at c_k.

Cross-entropy of ML4EFT (Ambrosio et al., arXiv:2211.02058, eqs. 3.6-3.12) with decision function
g(x, c) = 1 / (1 + r(x, c)), each class weighted by its total cross section:

    L = sum_k [ -(sigma(c_k)/sigma_SM) <log(1 - g(x, c_k))>_{EFT_k} - <log g(x, c_k)>_SM ]
      = sum_k [ rho_k <log(1 + 1/r_k)>_{EFT_k} + <log(1 + r_k)>_SM ],   rho_k = sigma(c_k) / sigma_SM,

minimised pointwise by r(x, c_k) = d sigma(x, c_k) / d sigma_SM(x). With r = 1 + c alpha + c^2 beta and at least
two distinct c_k, the minimum fixes alpha(x) and beta(x) (the paper's quadratic loss, all c_k at once).

The engine trains on examples: example i is the i-th event of every sample (SM, EFT_1..EFT_K), so the loss
is a mean over examples of sum_k [rho_k log(1 + 1/r_k(x_k,i)) + log(1 + r_k(x_0,i))]. Each replica keeps a
random ``validation_fraction`` of the examples for validation and, with ``bootstrap``, weights its training
examples by how often a resampling with replacement draws them (the sample itself is shared, never copied):
the spread of the replicas estimates the finite-sample uncertainty of the learned ratio.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from mlhep.task import StepInfo
from mlhep.tasks.eft.unbinned.model import RatioModel, ratio

RATIO_FLOOR = 1e-4   # r below this is clipped inside the logs (the exact r is > 0.3 in the default setup)


@dataclass(frozen=True, eq=False)   # hashed by identity: the engine caches its compiled program per trainable
class RatioTrainable:
    """``z`` (K+1, N, F) standardised events: index 0 the SM sample, 1..K the EFT samples at ``c`` (K,);
    ``rho`` (K,) = sigma(c_k)/sigma_SM; ``n_valid`` validation examples per replica."""

    model: RatioModel
    z: jax.Array
    c: jax.Array
    rho: jax.Array
    n_valid: int
    bootstrap: bool
    minibatch_size: int | None = None    # full batch unless engine.minibatch_size says otherwise

    def shared(self) -> dict[str, jax.Array]:
        return {"z": self.z, "c": self.c, "rho": self.rho}

    def init(self, key: jax.Array, shared: Any) -> Any:
        return self.model.init(key)

    def replica_data(self, key: jax.Array, shared: Any) -> dict[str, jax.Array]:
        """Training weights (N,) (bootstrap multiplicities, or 1) and validation weights (N,) (0 or 1)."""
        n = shared["z"].shape[1]
        split_key, draw_key = jax.random.split(key)
        order = jax.random.permutation(split_key, n)
        valid = jnp.zeros(n, jnp.float32).at[order[:self.n_valid]].set(1.0)
        train_rows = order[self.n_valid:]
        if self.bootstrap:   # n_train draws with replacement among the training examples
            drawn = train_rows[jax.random.randint(draw_key, (train_rows.size,), 0, train_rows.size)]
            train = jnp.zeros(n, jnp.float32).at[drawn].add(1.0)
        else:
            train = jnp.zeros(n, jnp.float32).at[train_rows].set(1.0)
        return {"train": train, "valid": valid}

    def weights(self, data: dict[str, jax.Array]) -> tuple[jax.Array, jax.Array]:
        return data["train"], data["valid"]

    def example_losses(self, params: Any, shared: Any, data: Any, rows: jax.Array, info: StepInfo) -> jax.Array:
        """The cross-entropy above per example (B,), for examples ``rows`` (B,)."""
        return self.losses(params, shared["z"][:, rows], shared["c"], shared["rho"])

    def losses(self, params: Any, events: jax.Array, c: jax.Array, rho: jax.Array) -> jax.Array:
        """Per-example loss (n,) of events (K+1, n, F)."""
        alpha, beta = self.model.alpha_beta(params, events)
        c = c[:, None]
        r_sm = jnp.maximum(ratio(alpha[0][None, :], beta[0][None, :], c), RATIO_FLOOR)   # (K, n)
        r_eft = jnp.maximum(ratio(alpha[1:], beta[1:], c), RATIO_FLOOR)                 # (K, n)
        return jnp.sum(rho[:, None] * jnp.log1p(1.0 / r_eft) + jnp.log1p(r_sm), axis=0)


def build_trainable(model: RatioModel, sm_events: np.ndarray, eft_events: list[np.ndarray], c_values,
                    rho, validation_fraction: float, bootstrap: bool) -> RatioTrainable:
    """Stack the samples (all of equal size N) into one trainable."""
    z = jnp.stack([model.standardise(e) for e in [sm_events, *eft_events]])
    n_valid = max(1, int(round(validation_fraction * z.shape[1])))
    return RatioTrainable(model, z, jnp.asarray(c_values, dtype=jnp.float32), jnp.asarray(rho, dtype=jnp.float32),
                          n_valid, bootstrap)


def loss_floor(c_values: np.ndarray, sm_cells: np.ndarray, alpha: np.ndarray, beta: np.ndarray) -> float:
    """The expected loss at the exact ratio, sum_k E_SM[r_k log(1 + 1/r_k) + log(1 + r_k)] (using
    rho_k E_EFT_k[f] = E_SM[r_k f]), from SM cell cross sections ``sm_cells`` and exact ``alpha``, ``beta`` on the
    same cells: the minimum of the population loss, a yardstick for the trained one."""
    p = sm_cells / sm_cells.sum()
    total = 0.0
    for c in np.asarray(c_values):
        r = 1.0 + c * alpha + c * c * beta
        total += float(np.sum(p * (r * np.log1p(1.0 / r) + np.log1p(r))))
    return total
