"""Recurrent network over pT-ordered jet constituents (an LSTM as in Egan, Fedorko, Lister, Pearkes, Gay,
arXiv:1711.09059, or a GRU)."""
from __future__ import annotations

from typing import ClassVar, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from mlhep.models.mlp import ACTIVATIONS
from mlhep.tasks.jets.models.common import batch_norm, leading, zero_padded

CELLS = {"lstm": nn.OptimizedLSTMCell, "gru": nn.GRUCell}


class JetRNN(nn.Module):
    """``batch["particles"]`` (B, P, F), ``batch["p4"]`` (for the pT order), ``batch["mask"]`` -> logits (B,).

    The ``constituents`` hardest real constituents are read hardest first by a ``cell`` ("lstm" or "gru") of
    ``hidden`` units; each jet's sequence ends at its last real constituent (flax ``RNN`` with ``seq_lengths``), and
    the final hidden state goes through Dense layers ``dense``. Inputs are batch-normalised over real particles."""

    inputs: ClassVar[tuple[str, ...]] = ("particles", "p4", "mask")
    cell: str = "lstm"
    hidden: int = 64
    constituents: int = 60
    dense: Sequence[int] = (64,)
    activation: str = "relu"
    input_norm: bool = True

    @nn.compact
    def __call__(self, batch: dict, training: bool) -> jax.Array:
        if self.cell not in CELLS:
            raise ValueError(f"unknown recurrent cell {self.cell!r} (valid: {', '.join(CELLS)})")
        chosen, mask = leading({"x": batch["particles"]}, batch["p4"], batch["mask"], self.constituents)
        x = zero_padded(chosen["x"], mask)
        if self.input_norm:
            x = zero_padded(batch_norm(x, mask, training), mask)
        lengths = jnp.maximum(jnp.sum(mask, axis=-1), 1)     # real constituents come first after ``leading``
        carry, _ = nn.RNN(CELLS[self.cell](self.hidden), return_carry=True, name="rnn")(x, seq_lengths=lengths)
        h = carry[1] if self.cell == "lstm" else carry      # an LSTM's carry is (c, h)
        for width in self.dense:
            h = ACTIVATIONS[self.activation](nn.Dense(width)(h))
        return nn.Dense(1)(h)[..., 0]
