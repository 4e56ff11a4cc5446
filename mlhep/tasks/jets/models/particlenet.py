"""ParticleNet: dynamic graph CNN on the jet's particle cloud (Qu & Gouskos, PRD 101 (2020) 056019,
arXiv:1902.08570), after EdgeConv (Wang et al., arXiv:1801.07829). Written after weaver-core's
``weaver/nn/model/ParticleNet.py`` (PyTorch), with two deliberate differences, both so that padded particles
never influence a real one:

- batch-norm statistics are taken over real particles (real edges) only, where weaver normalises over every
  slot of the zero-padded arrays;
- a particle with fewer than k real neighbours averages over those it has, where weaver's kNN then picks padded
  slots (moved to 1e9) and averages their zero features in.
"""
from __future__ import annotations

from typing import ClassVar, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from mlhep.tasks.jets.models.common import batch_norm, masked_mean, zero_padded


def knn(coords: jax.Array, mask: jax.Array, k: int) -> tuple[jax.Array, jax.Array]:
    """Indices (B, P, k) of each particle's k nearest other real particles in ``coords`` (B, P, D) (Euclidean), and
    whether each of them exists (B, P, k) (a jet with fewer than k + 1 real particles has fewer). Padded particles
    and the particle itself are at infinite distance."""
    sq = jnp.sum(coords ** 2, axis=-1)
    dist = sq[:, :, None] + sq[:, None, :] - 2 * jnp.einsum("bid,bjd->bij", coords, coords)
    n = coords.shape[1]
    far = ~mask[:, None, :] | jnp.eye(n, dtype=bool)[None]
    neg, idx = jax.lax.top_k(jnp.where(far, -jnp.inf, -dist), min(k, n))
    return idx, jnp.isfinite(neg)


def _gather(x: jax.Array, idx: jax.Array) -> jax.Array:
    """``x`` (B, P, C) at ``idx`` (B, P, k) -> (B, P, k, C)."""
    return jax.vmap(lambda xb, ib: xb[ib])(x, idx)


class EdgeConvBlock(nn.Module):
    """One EdgeConv block: for each real particle i and its k nearest neighbours j in ``coords``, the edge
    features (x_i, x_j - x_i) go through a shared MLP (Dense without bias, batch norm, ReLU per layer in
    ``channels``), are averaged over the neighbours, and added to a shortcut (a linear map + batch norm when the
    width changes) before a final ReLU. (B, P, C) -> (B, P, channels[-1]), zero on padded particles."""

    k: int
    channels: Sequence[int]

    @nn.compact
    def __call__(self, coords, features, mask, training: bool):
        idx, exists = knn(coords, mask, self.k)
        centre = jnp.broadcast_to(features[:, :, None, :], idx.shape + features.shape[-1:])
        x = jnp.concatenate([centre, _gather(features, idx) - centre], axis=-1)   # (B, P, k, 2C)
        edge = exists & mask[:, :, None]
        for width in self.channels:
            x = nn.relu(batch_norm(nn.Dense(width, use_bias=False)(x), edge, training))
        n_neighbours = jnp.maximum(jnp.sum(edge, axis=-1, keepdims=True), 1).astype(x.dtype)
        aggregated = jnp.sum(jnp.where(edge[..., None], x, 0.0), axis=2) / n_neighbours
        if features.shape[-1] == self.channels[-1]:
            shortcut = features
        else:
            shortcut = batch_norm(nn.Dense(self.channels[-1], use_bias=False)(features), mask, training)
        return zero_padded(nn.relu(shortcut + aggregated), mask)


class ParticleNet(nn.Module):
    """``batch["points"]`` (B, P, 2) (delta eta, delta phi), ``batch["particles"]`` (B, P, F), ``batch["mask"]``
    -> logits (B,). The first block finds neighbours in (eta, phi), later blocks in the previous block's feature
    space (the dynamic graph); the blocks' outputs are concatenated and fused (Dense + batch norm + ReLU), averaged
    over the real particles and classified by Dense layers with dropout.

    Defaults: ParticleNet-Lite (weaver's default): blocks (k=7, 32x3), (k=7, 64x3), one hidden layer of 128 with
    dropout 0.1. The full ParticleNet is ``conv_params=((16, (64,)*3), (16, (128,)*3), (16, (256,)*3))``,
    ``fc_params=((256, 0.1),)``."""

    inputs: ClassVar[tuple[str, ...]] = ("points", "particles", "mask")
    conv_params: Sequence[tuple[int, Sequence[int]]] = ((7, (32, 32, 32)), (7, (64, 64, 64)))
    fc_params: Sequence[tuple[int, float]] = ((128, 0.1),)
    use_fusion: bool = True
    input_norm: bool = True

    @nn.compact
    def __call__(self, batch: dict, training: bool) -> jax.Array:
        mask = batch["mask"]
        points = zero_padded(batch["points"], mask)
        features = zero_padded(batch["particles"], mask)
        if self.input_norm:
            features = zero_padded(batch_norm(features, mask, training), mask)
        outputs = []
        for i, (k, channels) in enumerate(self.conv_params):
            coords = points if i == 0 else features
            features = EdgeConvBlock(k, tuple(channels), name=f"edge_conv_{i}")(coords, features, mask, training)
            outputs.append(features)
        if self.use_fusion:
            width = sum(channels[-1] for _, channels in self.conv_params)
            width = int(np.clip((width // 128) * 128, 128, 1024))   # weaver's rule
            fused = nn.Dense(width, use_bias=False, name="fusion")(jnp.concatenate(outputs, axis=-1))
            features = zero_padded(nn.relu(batch_norm(fused, mask, training)), mask)
        x = masked_mean(features, mask)
        for width, rate in self.fc_params:
            x = nn.relu(nn.Dense(width)(x))
            if rate > 0:
                x = nn.Dropout(rate, deterministic=not training)(x)
        return nn.Dense(1)(x)[..., 0]
