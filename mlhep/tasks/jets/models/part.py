"""Particle Transformer (ParT): Qu, Li, Qian, ICML 2022, arXiv:2202.03772. Written after weaver-core's
``weaver/nn/model/ParticleTransformer.py`` (version 1: NormFormer-style blocks), in flax, small by default.

Particles are embedded by an MLP; pairwise interaction features of the four-momenta (ln kT, ln z, ln Delta R,
ln m^2, paper eq. 3) are embedded by a pointwise MLP into one attention bias per head U (B, H, P, P); particle
attention blocks compute softmax(Q K^T / sqrt(d) + U) V over the real particles; class-attention blocks
(CaiT, arXiv:2103.17239) let a class token attend to the particles; its final state gives the logit.

Differences from weaver, so that padded particles never influence a real one: batch norms (of the particle and
pair inputs) take statistics over real particles / real pairs only; the per-head scaling of NormFormer is applied
to the heads before the output projection (NormFormer's form).
"""
from __future__ import annotations

from typing import ClassVar, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from mlhep.tasks.jets.models.common import azimuth, batch_norm, delta_phi, minkowski_square, rapidity
from mlhep.tasks.jets.models.common import transverse_momentum, zero_padded


def pair_features(p4: jax.Array, mask: jax.Array, eps: float = 1e-8) -> jax.Array:
    """Interaction features (B, P, P, 4) of every pair of constituents ``p4`` (B, P, 4) (E, px, py, pz), in
    weaver's order: ln kT, ln z, ln Delta, ln m^2 with Delta = sqrt(dy^2 + dphi^2) (rapidity y), kT = min(pT_a,
    pT_b) Delta, z = min(pT_a, pT_b) / (pT_a + pT_b), m^2 = (p_a + p_b)^2; arguments clamped at ``eps`` as in
    weaver. Pairs with a padded particle are 0."""
    safe = jnp.where(mask[..., None], p4, jnp.array([1.0, 1.0, 0.0, 0.0], p4.dtype))   # padded: any finite vector
    pt, y, phi = transverse_momentum(safe), rapidity(safe), azimuth(safe)
    delta = jnp.sqrt((y[:, :, None] - y[:, None, :]) ** 2 + delta_phi(phi[:, :, None], phi[:, None, :]) ** 2)
    pt_min = jnp.minimum(pt[:, :, None], pt[:, None, :])
    m2 = minkowski_square(safe[:, :, None, :] + safe[:, None, :, :])
    features = jnp.stack([jnp.log(jnp.maximum(pt_min * delta, eps)),
                          jnp.log(jnp.maximum(pt_min / jnp.maximum(pt[:, :, None] + pt[:, None, :], eps), eps)),
                          jnp.log(jnp.maximum(delta, eps)),
                          jnp.log(jnp.maximum(m2, eps))], axis=-1)
    pairs = mask[:, :, None] & mask[:, None, :]
    return jnp.where(pairs[..., None], features, 0.0)


class PairEmbed(nn.Module):
    """Pair features (B, P, P, 4) -> attention biases (B, heads, P, P): batch norm of the inputs, then per layer
    of ``dims`` + (heads,) a pointwise Dense and batch norm, GELU between layers (none after the last: weaver's
    ``use_pre_activation_pair``). Statistics over real pairs only; biases of other pairs are 0 (they are masked)."""

    dims: Sequence[int]
    heads: int

    @nn.compact
    def __call__(self, u: jax.Array, pairs: jax.Array, training: bool) -> jax.Array:
        u = batch_norm(u, pairs, training)
        widths = tuple(self.dims) + (self.heads,)
        for i, width in enumerate(widths):
            u = batch_norm(nn.Dense(width)(u), pairs, training)
            if i < len(widths) - 1:
                u = nn.gelu(u)
        return jnp.moveaxis(jnp.where(pairs[..., None], u, 0.0), -1, 1)


class Attention(nn.Module):
    """Multi-head attention of ``query`` (B, Q, D) to ``keys`` (B, K, D) over the keys where ``key_mask`` (B, K)
    is True, with an optional additive ``bias`` (B, H, Q, K). Returns the heads (B, Q, H, D / H), unprojected."""

    dim: int
    heads: int
    dropout: float = 0.0

    @nn.compact
    def __call__(self, query, keys, key_mask, bias, training: bool):
        head = self.dim // self.heads
        q = nn.DenseGeneral((self.heads, head), name="query")(query)
        k = nn.DenseGeneral((self.heads, head), name="key")(keys)
        v = nn.DenseGeneral((self.heads, head), name="value")(keys)
        logits = jnp.einsum("bqhd,bkhd->bhqk", q, k) / jnp.sqrt(jnp.asarray(head, q.dtype))
        if bias is not None:
            logits = logits + bias
        # a large finite negative, not -inf: a query with no real key (a padded slot) gets finite garbage, not NaN
        logits = jnp.where(key_mask[:, None, None, :], logits, jnp.finfo(logits.dtype).min / 2)
        weights = jax.nn.softmax(logits, axis=-1)
        if self.dropout > 0:
            weights = nn.Dropout(self.dropout, deterministic=not training)(weights)
        return jnp.einsum("bhqk,bkhd->bqhd", weights, v)


class Block(nn.Module):
    """A ParT block (NormFormer layout, weaver version 1). Particle attention when ``cls`` is None: x (B, P, D)
    attends to itself with the pair ``bias``. Class attention otherwise: the class token ``cls`` (B, 1, D)
    attends to [cls, x] (no bias) and the block returns the updated token."""

    dim: int
    heads: int
    ffn_ratio: int = 4
    dropout: float = 0.1
    attn_dropout: float = 0.1
    activation_dropout: float = 0.1

    @nn.compact
    def __call__(self, x, mask, bias, training: bool, cls=None):
        drop = nn.Dropout(self.dropout, deterministic=not training)
        if cls is None:
            query = keys = nn.LayerNorm(name="pre_attn_norm")(x)
            residual, key_mask = x, mask
        else:
            keys = nn.LayerNorm(name="pre_attn_norm")(jnp.concatenate([cls, x], axis=1))
            query, residual, bias = cls, cls, None
            key_mask = jnp.concatenate([jnp.ones_like(mask[:, :1]), mask], axis=1)
        heads = Attention(self.dim, self.heads, self.attn_dropout, name="attn")(query, keys, key_mask, bias, training)
        heads = heads * self.param("head_scale", nn.initializers.ones, (self.heads,), jnp.float32)[:, None]
        h = nn.Dense(self.dim, name="attn_out")(heads.reshape(heads.shape[:2] + (self.dim,)))
        h = drop(nn.LayerNorm(name="post_attn_norm")(h))
        x = h + residual

        h = nn.gelu(nn.Dense(self.dim * self.ffn_ratio, name="fc1")(nn.LayerNorm(name="pre_fc_norm")(x)))
        h = nn.Dropout(self.activation_dropout, deterministic=not training)(h)
        h = nn.Dense(self.dim, name="fc2")(nn.LayerNorm(name="post_fc_norm")(h))
        h = drop(h)
        return h + self.param("residual_scale", nn.initializers.ones, (self.dim,), jnp.float32) * x


class ParticleTransformer(nn.Module):
    """``batch["particles"]`` (B, P, F), ``batch["p4"]`` (B, P, 4), ``batch["mask"]`` -> logits (B,).

    Defaults are small for a CPU (the paper: embed (128, 512, 128), pair embed (64, 64, 64), 8 heads, 8 particle
    blocks, 2 class blocks, 2.1M parameters): embedding (64, 64), pair embedding (32, 32), 4 heads, 2 particle
    blocks and 1 class block, dropout 0.1 in the particle blocks and none in the class blocks (as weaver)."""

    inputs: ClassVar[tuple[str, ...]] = ("particles", "p4", "mask")
    embed_dims: Sequence[int] = (64, 64)
    pair_embed_dims: Sequence[int] = (32, 32)
    heads: int = 4
    particle_blocks: int = 2
    class_blocks: int = 1
    ffn_ratio: int = 4
    dropout: float = 0.1
    use_pair_features: bool = True

    @nn.compact
    def __call__(self, batch: dict, training: bool) -> jax.Array:
        mask = batch["mask"]
        x = zero_padded(batch["particles"], mask)
        x = batch_norm(x, mask, training, name="input_norm")
        for width in self.embed_dims:        # weaver's Embed: (LayerNorm, Linear, GELU) per layer
            x = nn.gelu(nn.Dense(width)(nn.LayerNorm()(x)))
        x = zero_padded(x, mask)
        dim = x.shape[-1]
        if dim % self.heads:
            raise ValueError(f"ParT: the embedding width {dim} is not a multiple of heads={self.heads}")
        bias = None
        if self.use_pair_features:
            pairs = mask[:, :, None] & mask[:, None, :]
            u = pair_features(zero_padded(batch["p4"], mask).astype(x.dtype), mask)
            bias = PairEmbed(tuple(self.pair_embed_dims), self.heads, name="pair_embed")(u, pairs, training)
        for i in range(self.particle_blocks):
            x = Block(dim, self.heads, self.ffn_ratio, self.dropout, self.dropout, self.dropout,
                      name=f"block_{i}")(x, mask, bias, training)
        cls = self.param("cls_token", nn.initializers.truncated_normal(0.02), (1, 1, dim), jnp.float32)
        cls = jnp.broadcast_to(cls, (x.shape[0], 1, dim))
        for i in range(self.class_blocks):
            cls = Block(dim, self.heads, self.ffn_ratio, 0.0, 0.0, 0.0, name=f"class_block_{i}")(
                x, mask, None, training, cls=cls)
        return nn.Dense(1, name="head")(nn.LayerNorm(name="norm")(cls[:, 0]))[..., 0]
