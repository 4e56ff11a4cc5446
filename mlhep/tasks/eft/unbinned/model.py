"""The learned likelihood ratio r(x, c) = 1 + c NN_alpha(x) + c^2 NN_beta(x) (ML4EFT, arXiv:2211.02058, eq. 3.4).

One MLP (``mlhep.models.mlp``) with two outputs (NN_alpha, NN_beta) of the standardised features
z = ((ln m_tt, y_tt) - mean) / std; the paper uses two separate networks, a shared trunk halves the cost of
the batched training. The standardisation is fixed from the SM training sample so every replica sees the same
coordinates.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from mlhep.models.mlp import MLP


def features(events: np.ndarray) -> np.ndarray:
    """(n, 2) events (m_tt [GeV], y_tt) -> (n, 2) raw features (ln m_tt, y_tt)."""
    events = np.asarray(events, dtype=float)
    return np.stack([np.log(events[:, 0]), events[:, 1]], axis=1)


@dataclass(frozen=True)
class RatioModel:
    """NN = (NN_alpha, NN_beta) with a fixed input standardisation ``mean``, ``std`` (2,)."""

    hidden: tuple[int, ...]
    activation: str
    mean: np.ndarray
    std: np.ndarray

    @classmethod
    def for_sample(cls, hidden: Sequence[int], activation: str, sm_events: np.ndarray) -> "RatioModel":
        raw = features(sm_events)
        return cls(tuple(int(h) for h in hidden), activation, raw.mean(axis=0), raw.std(axis=0))

    @property
    def net(self) -> MLP:
        return MLP(self.hidden, 2, self.activation)

    def standardise(self, events: np.ndarray) -> jnp.ndarray:
        """(n, 2) events -> (n, 2) float32 network inputs."""
        return jnp.asarray((features(events) - self.mean) / self.std, dtype=jnp.float32)

    def init(self, key: jax.Array) -> Any:
        """Parameters of one replica."""
        return self.net.init(key, jnp.zeros((1, 2), dtype=jnp.float32))

    def alpha_beta(self, params: Any, z: jax.Array) -> tuple[jax.Array, jax.Array]:
        """(alpha, beta) at standardised inputs ``z`` (..., 2) -> two arrays (...)."""
        out = self.net.apply(params, z)
        return out[..., 0], out[..., 1]


def ratio(alpha: jax.Array, beta: jax.Array, c) -> jax.Array:
    """r = 1 + c alpha + c^2 beta (broadcast)."""
    return 1.0 + c * alpha + c * c * beta
