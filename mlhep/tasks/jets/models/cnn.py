"""Jet-image CNN (DeepTop: Kasieczka, Plehn, Russell, Schell, JHEP 05 (2017) 006, arXiv:1701.08784)."""
from __future__ import annotations

from typing import ClassVar, Sequence

import flax.linen as nn
import jax

from mlhep.models.mlp import ACTIVATIONS


class JetCNN(nn.Module):
    """``batch["image"]`` (B, H, W, C) or (B, H, W) -> logits (B,). Blocks of ``conv_blocks`` convolutions
    (filters per layer, square ``kernel``, 'same' padding), each block followed by 2x2 max pooling, then Dense
    layers ``dense``. The defaults follow DeepTop's layout: 8-filter 4x4 convolutions (two blocks of two), dense
    64, 256, 256, ReLU."""

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
        for block in self.conv_blocks:
            for filters in block:
                x = act(nn.Conv(filters, (self.kernel, self.kernel), padding="SAME")(x))
            x = nn.max_pool(x, (2, 2), strides=(2, 2))
        x = x.reshape(x.shape[0], -1)
        for width in self.dense:
            x = act(nn.Dense(width)(x))
            if self.dropout > 0:
                x = nn.Dropout(self.dropout, deterministic=not training)(x)
        return nn.Dense(1)(x)[..., 0]
