"""Monte Carlo replicas of the data: Gaussian fluctuations with the full experimental covariance."""
from __future__ import annotations

import jax
import jax.numpy as jnp


def sample_replica(key: jax.Array, central: jax.Array, cholesky: jax.Array) -> jax.Array:
    """One pseudo-data replica ``central + L z`` with ``z ~ N(0, 1)``, ``L L^T = C``; shapes (n,), (n, n) -> (n,).

    This is the additive Monte Carlo sampling of NNPDF (Forte et al., JHEP 05 (2002) 062).
    """
    return central + cholesky @ jax.random.normal(key, central.shape, dtype=cholesky.dtype)


def train_mask(key: jax.Array, groups: jax.Array, fraction: jax.Array) -> jax.Array:
    """A per-replica training mask: a random ``fraction[g]`` of the points of each group g is True.

    ``groups`` (n,) integer group (dataset) index per point, ``fraction`` (n_groups,) training fraction; the
    remaining points are validation points. A group with fraction 1 is all training (no validation).
    """
    u = jax.random.uniform(key, groups.shape)
    # Rank points within their group by u; keep the lowest round(fraction * size) of each group.
    order = jnp.lexsort((u, groups))
    ranks = jnp.empty_like(order).at[order].set(jnp.arange(groups.size))
    sizes = jnp.bincount(groups, length=fraction.shape[0])
    starts = jnp.cumsum(sizes) - sizes
    rank_in_group = ranks - starts[groups]
    n_train = jnp.round(fraction * sizes).astype(jnp.int32)
    return rank_in_group < n_train[groups]
