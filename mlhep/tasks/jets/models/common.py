"""Pieces the jet taggers share: masking, masked batch norm, dense stacks, four-momentum kinematics.

Four-momenta are ``(..., 4)`` arrays ``(E, px, py, pz)`` in GeV; masks are bool, True for real constituents.
"""
from __future__ import annotations

from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from mlhep.models.mlp import ACTIVATIONS

# torch's default momentum 0.1 (the reference implementations are PyTorch/Keras): the running statistics follow
# the last ~10 minibatches, which suits short trainings on small samples better than flax's 0.99.
BN_MOMENTUM = 0.9

KERNEL_INITS = {"he_uniform": nn.initializers.he_uniform(), "glorot_uniform": nn.initializers.glorot_uniform(),
                "glorot_normal": nn.initializers.glorot_normal(), "lecun_normal": nn.initializers.lecun_normal()}


def zero_padded(x: jax.Array, mask: jax.Array) -> jax.Array:
    """``x`` (B, P, F) with the padded rows (``mask`` (B, P) False) set to 0. Every model does this first, so
    whatever the padded entries hold (even NaN) never reaches a parameter's gradient."""
    return jnp.where(mask[..., None], x, jnp.zeros((), x.dtype))


def masked_mean(x: jax.Array, mask: jax.Array) -> jax.Array:
    """Mean (B, F) of ``x`` (B, P, F) over the real particles (at least one counted, so an empty jet gives 0)."""
    count = jnp.maximum(jnp.sum(mask, axis=-1, keepdims=True), 1).astype(x.dtype)
    return jnp.sum(zero_padded(x, mask), axis=-2) / count


def batch_norm(x: jax.Array, mask: jax.Array | None, training: bool, name: str | None = None) -> jax.Array:
    """Batch normalisation of the last axis of ``x`` with statistics over the entries where ``mask`` (broadcast
    to ``x[..., 0]``) is True: padded particles neither enter the statistics nor, hence, the output. Call inside a
    compact method; the running averages live in the ``batch_stats`` collection."""
    bn = nn.BatchNorm(use_running_average=not training, momentum=BN_MOMENTUM, name=name)
    return bn(x, mask=None if mask is None else mask[..., None])


class DenseStack(nn.Module):
    """``(..., n_in) -> (..., sizes[-1])``: Dense layers with ``activation`` after each, dropout after each
    activation when ``dropout`` > 0 (the Keras layouts of energyflow's Phi and F networks)."""

    sizes: Sequence[int]
    activation: str = "relu"
    kernel_init: str = "he_uniform"
    dropout: float = 0.0

    @nn.compact
    def __call__(self, x: jax.Array, training: bool) -> jax.Array:
        for width in self.sizes:
            x = ACTIVATIONS[self.activation](nn.Dense(width, kernel_init=KERNEL_INITS[self.kernel_init])(x))
            if self.dropout > 0:
                x = nn.Dropout(self.dropout, deterministic=not training)(x)
        return x


# -- kinematics of (E, px, py, pz) ---------------------------------------------------------------------------------
def transverse_momentum(p4: jax.Array) -> jax.Array:
    """pT = sqrt(px^2 + py^2), shape ``p4.shape[:-1]``."""
    return jnp.sqrt(p4[..., 1] ** 2 + p4[..., 2] ** 2)


def rapidity(p4: jax.Array) -> jax.Array:
    """y = ln((E + pz) / (E - pz)) / 2, with both arguments kept positive (a zero vector gives 0)."""
    tiny = jnp.finfo(p4.dtype).tiny
    return 0.5 * (jnp.log(jnp.maximum(p4[..., 0] + p4[..., 3], tiny))
                  - jnp.log(jnp.maximum(p4[..., 0] - p4[..., 3], tiny)))


def azimuth(p4: jax.Array) -> jax.Array:
    """phi = atan2(py, px) in (-pi, pi]."""
    return jnp.arctan2(p4[..., 2], p4[..., 1])


def delta_phi(a: jax.Array, b: jax.Array) -> jax.Array:
    """a - b wrapped into [-pi, pi)."""
    return (a - b + jnp.pi) % (2 * jnp.pi) - jnp.pi


def minkowski_square(p4: jax.Array, metric: jax.Array | None = None) -> jax.Array:
    """p^mu g_mu_nu p^nu with the diagonal ``metric`` (4,) (default (1, -1, -1, -1): the invariant mass squared)."""
    if metric is None:
        metric = jnp.array([1.0, -1.0, -1.0, -1.0], p4.dtype)
    return jnp.sum(metric * p4 ** 2, axis=-1)


def leading(arrays: dict[str, jax.Array], p4: jax.Array, mask: jax.Array, n: int) -> tuple[dict, jax.Array]:
    """The ``n`` hardest real constituents of each jet, pT-descending, padded ones after them: ``arrays``
    (each (B, P, ...)) and ``mask`` (B, P) reordered and cut (or zero-padded) to n. Sorting here makes the
    sequence models independent of the input order (the data are pT-ordered anyway)."""
    key = jnp.where(mask, -transverse_momentum(p4), jnp.inf)
    order = jnp.argsort(key, axis=-1, stable=True)[:, :n]
    take = jax.vmap(lambda a, i: a[i])
    out = {name: take(a, order) for name, a in arrays.items()}
    mask = take(mask, order)
    short = n - mask.shape[1]
    if short > 0:   # fewer slots than n: pad with padding
        out = {name: jnp.pad(a, [(0, 0), (0, short)] + [(0, 0)] * (a.ndim - 2)) for name, a in out.items()}
        mask = jnp.pad(mask, [(0, 0), (0, short)])
    return out, mask
