"""Dense network on high-level jet features (TopoDNN-like: Pearkes, Fedorko, Lister, Gay, arXiv:1704.02124)."""
from __future__ import annotations

from typing import ClassVar, Sequence

import flax.linen as nn
import jax

from mlhep.models.mlp import MLP
from mlhep.tasks.jets.models.common import batch_norm


class DenseNet(nn.Module):
    """``batch["features"]`` (B, H) -> logits (B,): a batch norm of the inputs (mass in GeV, tau ratios and
    multiplicities differ by orders of magnitude), then Dense layers ``hidden`` (TopoDNN's 300, 102, 12, 6)."""

    inputs: ClassVar[tuple[str, ...]] = ("features",)
    hidden: Sequence[int] = (300, 102, 12, 6)
    activation: str = "relu"
    input_norm: bool = True

    @nn.compact
    def __call__(self, batch: dict, training: bool) -> jax.Array:
        x = batch["features"]
        if self.input_norm:
            x = batch_norm(x, None, training)
        return MLP(tuple(self.hidden), 1, self.activation)(x)[..., 0]
