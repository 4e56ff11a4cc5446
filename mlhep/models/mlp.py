"""A multilayer perceptron (flax.linen) shared by the tasks, with the one table of activations and initialisers
their runcards choose from."""
from __future__ import annotations

from typing import Any, Sequence

import flax.linen as nn
import jax.numpy as jnp

ACTIVATIONS = {"tanh": nn.tanh, "relu": nn.relu, "sigmoid": nn.sigmoid, "elu": nn.elu, "selu": nn.selu,
               "gelu": nn.gelu, "softplus": nn.softplus, "swish": nn.swish}
INITIALIZERS = {"glorot_normal": nn.initializers.glorot_normal(), "glorot_uniform": nn.initializers.glorot_uniform()}


class MLP(nn.Module):
    """``(..., n_in) -> (..., n_out)``: Dense layers of sizes ``hidden`` with ``activation``, linear output,
    weights from ``initializer`` (default Glorot-normal, as NNPDF4.0) and zero biases. Parameters are stored in
    ``param_dtype`` (None: the input's dtype); the layers compute in the wider of the two."""

    hidden: Sequence[int]
    n_out: int
    activation: str = "tanh"
    initializer: str = "glorot_normal"
    param_dtype: Any = None

    @nn.compact
    def __call__(self, x: jnp.ndarray) -> jnp.ndarray:
        init = INITIALIZERS[self.initializer]
        dtype = x.dtype if self.param_dtype is None else self.param_dtype
        for width in self.hidden:
            x = ACTIVATIONS[self.activation](nn.Dense(width, kernel_init=init, param_dtype=dtype)(x))
        return nn.Dense(self.n_out, kernel_init=init, param_dtype=dtype)(x)
