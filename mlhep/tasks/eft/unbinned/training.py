"""The replica Trainable: NN_alpha, NN_beta as classifiers between the SM sample and EFT samples at c_k.

Cross-entropy of ML4EFT (Ambrosio et al., arXiv:2211.02058, eqs. 3.6-3.12) with decision function
g(x, c) = 1 / (1 + r(x, c)), each class weighted by its total cross section:

    L = sum_k [ -(sigma(c_k)/sigma_SM) <log(1 - g(x, c_k))>_{EFT_k} - <log g(x, c_k)>_SM ]
      = sum_k [ rho_k <log(1 + 1/r_k)>_{EFT_k} + <log(1 + r_k)>_SM ],   rho_k = sigma(c_k) / sigma_SM,

minimised pointwise by r(x, c_k) = d sigma(x, c_k) / d sigma_SM(x). With r = 1 + c alpha + c^2 beta and at least
two distinct c_k, the minimum fixes alpha(x) and beta(x) (the paper's quadratic loss, all c_k at once).

Each replica splits every sample into training and validation events at random and, with ``bootstrap``,
resamples its training events with replacement: the spread of the replicas estimates the finite-sample
uncertainty of the learned ratio.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from mlhep.tasks.eft.unbinned.model import RatioModel, ratio

RATIO_FLOOR = 1e-4   # r below this is clipped inside the logs (the exact r is > 0.3 in the default setup)


@dataclass(frozen=True)
class RatioTrainable:
    """``z`` (K+1, N, 2) standardised events: index 0 the SM sample, 1..K the EFT samples at ``c`` (K,);
    ``rho`` (K,) = sigma(c_k)/sigma_SM; ``n_valid`` validation events per sample."""

    model: RatioModel
    z: jax.Array
    c: jax.Array
    rho: jax.Array
    n_valid: int
    bootstrap: bool
    batch_size: int = 0

    def init(self, key: jax.Array) -> Any:
        return self.model.init(key)

    def replica_data(self, key: jax.Array) -> dict[str, jax.Array]:
        """{"train": (K+1, N - n_valid, 2), "valid": (K+1, n_valid, 2)} events of this replica."""
        n_samples, n = self.z.shape[:2]
        n_train = n - self.n_valid
        keys = jax.random.split(key, 2 * n_samples).reshape(n_samples, 2, -1)

        def split(z, pair):
            order = jax.random.permutation(pair[0], n)
            train_idx = order[self.n_valid:]
            if self.bootstrap:   # resampled with replacement; already in random order for minibatches
                train_idx = train_idx[jax.random.randint(pair[1], (n_train,), 0, n_train)]
            return z[train_idx], z[order[:self.n_valid]]

        train, valid = jax.vmap(split)(self.z, keys)
        return {"train": train, "valid": valid}

    def loss(self, params: Any, events: jax.Array) -> jax.Array:
        """The cross-entropy above on events (K+1, n, 2) (sample means)."""
        alpha, beta = self.model.alpha_beta(params, events)
        c = self.c[:, None]
        r_sm = jnp.maximum(ratio(alpha[0][None, :], beta[0][None, :], c), RATIO_FLOOR)   # (K, n)
        r_eft = jnp.maximum(ratio(alpha[1:], beta[1:], c), RATIO_FLOOR)                 # (K, n)
        per_c = self.rho * jnp.mean(jnp.log1p(1.0 / r_eft), axis=1) + jnp.mean(jnp.log1p(r_sm), axis=1)
        return jnp.sum(per_c)

    def train_loss(self, params: Any, data: dict[str, jax.Array], epoch: jax.Array) -> jax.Array:
        """Full-batch loss, or (``batch_size`` > 0) the loss of minibatch ``epoch mod n_batches`` of the
        replica's shuffled training events (one optimizer step per engine epoch)."""
        train = data["train"]
        n_train = train.shape[1]
        if not 0 < self.batch_size < n_train:
            return self.loss(params, train)
        n_batches = n_train // self.batch_size
        start = (epoch % n_batches) * self.batch_size
        return self.loss(params, jax.lax.dynamic_slice_in_dim(train, start, self.batch_size, axis=1))

    def validation(self, params: Any, data: dict[str, jax.Array]) -> tuple[jax.Array, jax.Array]:
        valid = self.loss(params, data["valid"])
        return valid, jnp.isfinite(valid)


def build_trainable(model: RatioModel, sm_events: np.ndarray, eft_events: list[np.ndarray], c_values,
                    rho, validation_fraction: float, bootstrap: bool, batch_size: int = 0) -> RatioTrainable:
    """Stack the samples (all of equal size N) into one trainable."""
    z = jnp.stack([model.standardise(e) for e in [sm_events, *eft_events]])
    n_valid = max(1, int(round(validation_fraction * z.shape[1])))
    return RatioTrainable(model, z, jnp.asarray(c_values, dtype=jnp.float32), jnp.asarray(rho, dtype=jnp.float32),
                          n_valid, bootstrap, batch_size)


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
