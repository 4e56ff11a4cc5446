"""A multilayer perceptron (flax.linen) used by several tasks."""
from __future__ import annotations

from typing import Sequence

import flax.linen as nn
import jax.numpy as jnp

ACTIVATIONS = {"tanh": nn.tanh, "relu": nn.relu, "sigmoid": nn.sigmoid, "elu": nn.elu, "selu": nn.selu,
               "gelu": nn.gelu, "softplus": nn.softplus, "swish": nn.swish}


class MLP(nn.Module):
    """``(..., n_in) -> (..., n_out)``: Dense layers of sizes ``hidden`` with ``activation``, linear output,
    Glorot-normal initialisation (as NNPDF4.0)."""

    hidden: Sequence[int]
    n_out: int
    activation: str = "tanh"

    @nn.compact
    def __call__(self, x: jnp.ndarray) -> jnp.ndarray:
        init = nn.initializers.glorot_normal()
        for width in self.hidden:
            x = ACTIVATIONS[self.activation](nn.Dense(width, kernel_init=init, param_dtype=x.dtype)(x))
        return nn.Dense(self.n_out, kernel_init=init, param_dtype=x.dtype)(x)
