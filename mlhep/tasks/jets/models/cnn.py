"""Jet-image CNN (DeepTop: Kasieczka, Plehn, Russell, Schell, JHEP 05 (2017) 006, arXiv:1701.08784)."""
from __future__ import annotations

from typing import ClassVar, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from mlhep.models.mlp import ACTIVATIONS


class ShiftConv(nn.Module):
    """A 'SAME'-padded, stride-1 2D convolution (B, H, W, C) -> (B, H, W, features) written as the sum over the
    kernel's k x k offsets of (shifted input) @ kernel[offset]: the parameters ("kernel" (k, k, C, features),
    "bias" (features,)), initialisation and output of ``flax.linen.Conv(features, (k, k), padding="SAME")``.

    Why not ``lax.conv``: on XLA:CPU (jaxlib 0.10.2) the kernel-gradient convolution of ``lax.conv`` inside a
    ``while`` loop (the engine's ``lax.scan`` over minibatches) is not rewritten into the transposes + library
    convolution it gets at the top level of a program and runs ~25x slower (40x40 images, 8 channels,
    minibatch 256: 6.4 s instead of 0.26 s), so the CNN trained at ~9 jets/s inside ``mlhep fit``; and ``vmap``
    over replicas' kernels turns ``lax.conv`` into a grouped convolution, slow on CPU. Slices, pads and matrix
    products have neither problem: their gradients are slices, pads and matrix products, and a replica axis
    batches the products. (At top level, outside any loop, one step is ~2.4x slower than with ``lax.conv``;
    benchmarks/jets.md.)"""

    features: int
    kernel: int

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        k, channels = self.kernel, x.shape[-1]
        kernel = self.param("kernel", nn.initializers.lecun_normal(), (k, k, channels, self.features), x.dtype)
        bias = self.param("bias", nn.initializers.zeros_init(), (self.features,), x.dtype)
        lo = (k - 1) // 2          # XLA's 'SAME' for an even kernel pads one less before than after
        height, width = x.shape[-3:-1]
        padded = jnp.pad(x, [(0, 0)] * (x.ndim - 3) + [(lo, k - 1 - lo), (lo, k - 1 - lo), (0, 0)])
        out = sum(padded[..., i:i + height, j:j + width, :] @ kernel[i, j] for i in range(k) for j in range(k))
        return out + bias


class JetCNN(nn.Module):
    """``batch["image"]`` (B, H, W, C) or (B, H, W) -> logits (B,). Blocks of ``conv_blocks`` convolutions
    (filters per layer, square ``kernel``, 'same' padding; ``ShiftConv``), each block followed by 2x2 max
    pooling, then Dense layers ``dense``. The defaults follow DeepTop's layout: 8-filter 4x4 convolutions (two
    blocks of two), dense 64, 256, 256, ReLU."""

    inputs: ClassVar[tuple[str, ...]] = ("image",)
    conv_blocks: Sequence[Sequence[int]] = ((8, 8), (8, 8))
    kernel: int = 4
    dense: Sequence[int] = (64, 256, 256)
    activation: str = "relu"
    dropout: float = 0.0

    @nn.compact
    def __call__(self, batch: dict, training: bool) -> jax.Array:
        act = ACTIVATIONS[self.activation]
        x = batch["image"]
        if x.ndim == 3:   # one channel without its axis
            x = x[..., None]
        layer = 0
        for block in self.conv_blocks:
            for filters in block:
                x = act(ShiftConv(filters, self.kernel, name=f"Conv_{layer}")(x))   # nn.Conv's parameter names
                layer += 1
            x = nn.max_pool(x, (2, 2), strides=(2, 2))
        x = x.reshape(x.shape[0], -1)
        for width in self.dense:
            x = act(nn.Dense(width)(x))
            if self.dropout > 0:
                x = nn.Dropout(self.dropout, deterministic=not training)(x)
        return nn.Dense(1)(x)[..., 0]
