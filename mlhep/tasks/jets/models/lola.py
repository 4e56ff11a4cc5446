"""The Lorentz-layer network: Butter, Kasieczka, Plehn, Russell, "Deep-learned top tagging with a Lorentz layer",
SciPost Phys. 5 (2018) 028, arXiv:1707.08966.

CoLa (combination layer) appends M trainable linear combinations of the N constituent four-momenta to them,
k~_j = sum_i k_i C_ij with C = (1_N, C_trainable) (paper eq. 5). LoLa (Lorentz layer) maps each k~_j to
(m^2(k~_j), pT(k~_j), sum_m w^E_jm E(k~_m), sum_m w^d_jm d^2_jm, min_m w^d'_jm d^2_jm) with the Minkowski
distances d^2_jm = (k~_j - k~_m)^mu g_mu_nu (k~_j - k~_m)^nu and trainable weights w (paper eq. 6-7, which allows
several copies of the weighted sums and minima; the copies here are configurable). Dense layers then classify.
"""
from __future__ import annotations

from typing import ClassVar, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from mlhep.models.mlp import ACTIVATIONS
from mlhep.tasks.jets.models.common import batch_norm, leading, minkowski_square, transverse_momentum, zero_padded

MINKOWSKI = (1.0, -1.0, -1.0, -1.0)


class CoLa(nn.Module):
    """(B, N, 4) four-momenta -> (B, N + M, 4): the inputs, then M trainable combinations (weights uniform in
    [0, 1) at the start, so that each combination starts as a physical, subjet-like sum)."""

    combinations: int = 15

    @nn.compact
    def __call__(self, p4: jax.Array) -> jax.Array:
        c = self.param("weights", nn.initializers.uniform(1.0), (p4.shape[-2], self.combinations), jnp.float32)
        return jnp.concatenate([p4, jnp.einsum("bnf,nm->bmf", p4, c)], axis=-2)


class LoLa(nn.Module):
    """(B, J, 4) four-vectors k and which of them exist ``valid`` (B, J) -> (B, J, 2 + energies + distance_sums +
    distance_mins) Lorentz features, zero for the vectors that do not exist; sums and minima run over existing
    m (minima over m != j). The metric is Minkowski, or trainable from Minkowski with ``train_metric``."""

    energies: int = 1
    distance_sums: int = 4
    distance_mins: int = 1
    train_metric: bool = False

    @nn.compact
    def __call__(self, k: jax.Array, valid: jax.Array) -> jax.Array:
        n, dtype = k.shape[-2], jnp.float32
        metric = jnp.array(MINKOWSKI, dtype)
        if self.train_metric:
            metric = self.param("metric", lambda *_: jnp.array(MINKOWSKI, dtype))
        init = nn.initializers.truncated_normal(0.1)
        energy = jnp.where(valid, k[..., 0], 0.0)
        d2 = minkowski_square(k[:, :, None, :] - k[:, None, :, :], metric)   # (B, J, J)
        d2 = jnp.where(valid[:, None, :], d2, 0.0)
        out = [minkowski_square(k, metric)[..., None], transverse_momentum(k)[..., None]]
        if self.energies:
            w = self.param("w_energy", init, (self.energies, n, n), dtype)
            out.append(jnp.einsum("ejm,bm->bje", w, energy))
        if self.distance_sums:
            w = self.param("w_distance", init, (self.distance_sums, n, n), dtype)
            out.append(jnp.einsum("sjm,bjm->bjs", w, d2))
        if self.distance_mins:
            w = self.param("w_distance_min", init, (self.distance_mins, n, n), dtype)
            others = valid[:, None, :] & ~jnp.eye(n, dtype=bool)[None]            # (B, J, J): m exists, m != j
            weighted = jnp.where(others[:, None], w[None] * d2[:, None], jnp.inf)  # (B, S, J, J)
            least = jnp.min(weighted, axis=-1)
            out.append(jnp.moveaxis(jnp.where(jnp.isfinite(least), least, 0.0), 1, -1))
        return jnp.where(valid[..., None], jnp.concatenate(out, axis=-1), 0.0)


class LoLaNet(nn.Module):
    """``batch["p4"]`` (B, P, 4) in GeV, ``batch["mask"]`` -> logits (B,): the ``constituents`` hardest real
    constituents (pT-ordered, zero-padded if fewer), scaled by 1 / ``scale`` GeV, through CoLa and LoLa; the
    Lorentz features are batch-normalised (statistics over existing vectors) and flattened into Dense layers.
    Defaults near the paper's: N = 40 constituents, M = 15 combinations."""

    inputs: ClassVar[tuple[str, ...]] = ("p4", "mask")
    constituents: int = 40
    combinations: int = 15
    energies: int = 1
    distance_sums: int = 4
    distance_mins: int = 1
    train_metric: bool = False
    scale: float = 100.0
    hidden: Sequence[int] = (100, 50)
    activation: str = "relu"

    @nn.compact
    def __call__(self, batch: dict, training: bool) -> jax.Array:
        chosen, mask = leading({"p4": batch["p4"]}, batch["p4"], batch["mask"], self.constituents)
        p4 = zero_padded(chosen["p4"], mask) / self.scale
        k = CoLa(self.combinations, name="cola")(p4)
        valid = jnp.concatenate([mask, jnp.ones(mask.shape[:1] + (self.combinations,), bool)], axis=-1)
        x = LoLa(self.energies, self.distance_sums, self.distance_mins, self.train_metric, name="lola")(k, valid)
        x = zero_padded(batch_norm(x, valid, training), valid)
        x = x.reshape(x.shape[0], -1)
        for width in self.hidden:
            x = ACTIVATIONS[self.activation](nn.Dense(width)(x))
        return nn.Dense(1)(x)[..., 0]
