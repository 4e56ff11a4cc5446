"""Mass decorrelation of a tagger: a distance-correlation penalty (DisCo) and a mass adversary (learning to pivot).

Both fit mlhep's minibatch contract (per-example losses, one optimiser):

- DisCo (Kasieczka & Shih, PRL 125 (2020) 122001): add lambda * dCorr^2(score, mass) over the background jets
  of the minibatch to every example's loss; the engine's weighted mean of the per-example losses is then
  ``mean(loss) + lambda * dCorr^2``.
- Pivot (Louppe, Kagan, Cranmer, NeurIPS 2017, arXiv:1611.01046): the classifier f minimises
  L_f - lambda L_r while an adversary r, which predicts the mass bin of background jets from f's output,
  minimises L_r. With a gradient-reversal layer (Ganin & Lempitsky, arXiv:1409.7495) between the two, the single
  objective L_f + L_r(r(reverse_lambda(f))) has exactly these gradients for both parameter sets, so one optimiser
  step updates both (simultaneous rather than the paper's alternating updates).
"""
from __future__ import annotations

from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax

from mlhep.models.mlp import MLP


def _double_centred(v: jax.Array, w: jax.Array) -> jax.Array:
    """A_ij = a_ij - a_i. - a_.j + a.. of a_ij = |v_i - v_j|, with weighted means (``w`` sums to 1)."""
    a = jnp.abs(v[:, None] - v[None, :])
    row = a @ w
    return a - row[:, None] - row[None, :] + row @ w


def _normalised(x: jax.Array, weights: jax.Array | None) -> jax.Array:
    w = jnp.ones_like(x) if weights is None else jnp.asarray(weights).astype(x.dtype)
    return w / jnp.sum(w)


def distance_covariance_sq(x: jax.Array, y: jax.Array, weights: jax.Array | None = None) -> jax.Array:
    """Squared distance covariance dCov^2(x, y) = sum_ij w_i w_j A_ij B_ij of two samples (N,) with optional
    weights (N,) >= 0 (normalised to sum 1), A and B the double-centred distance matrices of x and y (see
    ``distance_correlation_sq``). This is the V-statistic: for independent x and y (unit weights)
    E[dCov^2_N] = (N - 1) / N^2 E|x - x'| E|y - y'| exactly, not 0."""
    x, y = jnp.asarray(x), jnp.asarray(y)
    w = _normalised(x, weights)
    return w @ (_double_centred(x, w) * _double_centred(y, w)) @ w


def distance_correlation_sq(x: jax.Array, y: jax.Array, weights: jax.Array | None = None) -> jax.Array:
    """Squared distance correlation dCorr^2(x, y) in [0, 1] of two samples (N,) with optional weights (N,) >= 0
    (Szekely, Rizzo, Bakirov, Ann. Statist. 35 (2007) 2769; weighted as in DisCo): with the weights normalised
    to sum 1, a_ij = |x_i - x_j|, A_ij = a_ij - a_i. - a_.j + a.., where a_i. = sum_j w_j a_ij and
    a.. = sum_i w_i a_i. (the same for B from y), dCov^2(x, y) = sum_ij w_i w_j A_ij B_ij and
    dCorr^2 = dCov^2(x, y) / sqrt(dCov^2(x, x) dCov^2(y, y)).

    It is 1 for y = a x + b (a != 0) and O(1 / N) for independent samples (the V-statistic's bias, see
    ``distance_covariance_sq``); integer weights equal repeated examples. Memory is O(N^2): use it on minibatches
    (DisCo: the background jets' scores and masses)."""
    x, y = jnp.asarray(x), jnp.asarray(y)
    w = _normalised(x, weights)
    a, b = _double_centred(x, w), _double_centred(y, w)

    def dcov(p, q):
        return w @ (p * q) @ w

    tiny = jnp.finfo(x.dtype).tiny
    return dcov(a, b) / jnp.sqrt(jnp.maximum(dcov(a, a) * dcov(b, b), tiny))


@jax.custom_vjp
def gradient_reversal(x: jax.Array, scale: jax.Array) -> jax.Array:
    """Identity in the forward pass; multiplies the gradient by -``scale`` in the backward pass (no gradient for
    ``scale``)."""
    return x


def _reversal_fwd(x, scale):
    return x, scale


def _reversal_bwd(scale, g):
    return -scale * g, jnp.zeros_like(scale)


gradient_reversal.defvjp(_reversal_fwd, _reversal_bwd)


def mass_bins(mass: jax.Array, edges: jax.Array) -> jax.Array:
    """Bin index (N,) int of each ``mass`` (N,) in ``edges`` (n_bins + 1,) (GeV); masses outside go to the first /
    last bin."""
    return jnp.clip(jnp.searchsorted(edges, mass, side="right") - 1, 0, edges.size - 2)


class MassAdversary(nn.Module):
    """The classifier's output, as the probability sigmoid(logit) (B,), -> logits (B, bins) of the jet's mass bin.
    (Louppe et al. use a mixture density network for a continuous mass; a classifier over mass bins is the
    common, simpler choice.)"""

    bins: int = 10
    hidden: Sequence[int] = (32, 32)
    activation: str = "relu"

    @nn.compact
    def __call__(self, logits: jax.Array) -> jax.Array:
        return MLP(tuple(self.hidden), self.bins, self.activation)(jax.nn.sigmoid(logits)[:, None])


def adversary_losses(adversary: MassAdversary, adversary_params, logits: jax.Array, bins: jax.Array,
                     strength: jax.Array) -> jax.Array:
    """Per-example losses (B,) of the adversary: the cross-entropy of predicting ``bins`` (B,) from the classifier
    ``logits`` (B,) passed through a gradient reversal of ``strength`` lambda. Add them, weighted by
    "is background", to the classifier's per-example losses: the adversary's parameters then minimise L_r and
    the classifier's minimise L_f - lambda L_r."""
    scores = gradient_reversal(logits, jnp.asarray(strength, logits.dtype))
    return optax.softmax_cross_entropy_with_integer_labels(adversary.apply(adversary_params, scores), bins)
