"""Energy Flow Networks and Particle Flow Networks: Komiske, Metodiev, Thaler, JHEP 01 (2019) 121,
arXiv:1810.05165. Both are deep sets, f(jet) = F(sum_i w_i Phi(x_i)), so permutation invariant by construction.

The defaults follow energyflow's ``EFN``/``PFN`` (Keras): Phi sizes (100, 100, 256), F sizes (100, 100, 100), ReLU,
He-uniform kernels, no dropout; the output is one logit instead of a two-class softmax.
"""
from __future__ import annotations

from typing import ClassVar, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from mlhep.tasks.jets.models.common import DenseStack, batch_norm, transverse_momentum, zero_padded


class _DeepSet(nn.Module):
    """F(sum_i w_i Phi(x_i)) -> logits (B,), for per-particle inputs ``x`` (B, P, F) and weights ``w`` (B, P)
    (0 for padded particles)."""

    phi_sizes: Sequence[int]
    f_sizes: Sequence[int]
    activation: str
    latent_dropout: float
    f_dropout: float

    @nn.compact
    def __call__(self, x: jax.Array, w: jax.Array, training: bool) -> jax.Array:
        phi = DenseStack(self.phi_sizes, self.activation, name="phi")(x, training)   # (B, P, L)
        latent = jnp.einsum("bp,bpl->bl", w, phi)
        if self.latent_dropout > 0:
            latent = nn.Dropout(self.latent_dropout, deterministic=not training)(latent)
        out = DenseStack(self.f_sizes, self.activation, dropout=self.f_dropout, name="F")(latent, training)
        return nn.Dense(1, kernel_init=nn.initializers.he_uniform(), name="output")(out)[..., 0]


class PFN(nn.Module):
    """Particle Flow Network: Phi sees every per-particle feature ``batch["particles"]`` (B, P, F); the latent
    space is the plain sum over the real particles (``batch["mask"]``).

    With ``input_norm`` (default) the features first pass a batch norm over the real particles: raw ln pT, ln E
    (up to ~6) summed over ~50 particles make huge initial logits and a slow start. energyflow's PFN has no such
    layer (its examples standardise the inputs beforehand); ``input_norm=False`` is that network exactly."""

    inputs: ClassVar[tuple[str, ...]] = ("particles", "mask")
    phi_sizes: Sequence[int] = (100, 100, 256)
    f_sizes: Sequence[int] = (100, 100, 100)
    activation: str = "relu"
    latent_dropout: float = 0.0
    f_dropout: float = 0.0
    input_norm: bool = True

    @nn.compact
    def __call__(self, batch: dict, training: bool) -> jax.Array:
        mask = batch["mask"]
        x = zero_padded(batch["particles"], mask)
        if self.input_norm:
            x = zero_padded(batch_norm(x, mask, training), mask)
        return _DeepSet(self.phi_sizes, self.f_sizes, self.activation, self.latent_dropout, self.f_dropout,
                        name="deepset")(x, mask.astype(x.dtype), training)


class EFN(nn.Module):
    """Energy Flow Network: Phi sees only the angular coordinates ``batch["points"]`` (B, P, 2) (delta eta, delta
    phi to the jet axis); each term is weighted by the momentum fraction z_i = pT_i / sum_j pT_j of the real
    constituents (pT from ``batch["p4"]``). The output is then infrared and collinear safe: a zero-pT particle
    adds nothing, and a particle split into collinear pieces gives the same sum (KMT 2019, eq. 1.2)."""

    inputs: ClassVar[tuple[str, ...]] = ("points", "p4", "mask")
    phi_sizes: Sequence[int] = (100, 100, 256)
    f_sizes: Sequence[int] = (100, 100, 100)
    activation: str = "relu"
    latent_dropout: float = 0.0
    f_dropout: float = 0.0

    @nn.compact
    def __call__(self, batch: dict, training: bool) -> jax.Array:
        mask = batch["mask"]
        angles = zero_padded(batch["points"], mask)
        pt = jnp.where(mask, transverse_momentum(zero_padded(batch["p4"], mask)), 0.0).astype(angles.dtype)
        z = pt / jnp.maximum(jnp.sum(pt, axis=-1, keepdims=True), jnp.finfo(pt.dtype).tiny)
        return _DeepSet(self.phi_sizes, self.f_sizes, self.activation, self.latent_dropout, self.f_dropout,
                        name="deepset")(angles, z, training)
