"""The learned likelihood ratio r(x, c) = 1 + c NN_alpha(x) + c^2 NN_beta(x) (ML4EFT, arXiv:2211.02058, eq. 3.4).

One MLP (``mlhep.models.mlp``) with two outputs (NN_alpha, NN_beta) of the standardised features
z = ((ln m_tt, y_tt[, beta_t]) - mean) / std, where the optional beta_t = sqrt(1 - 4 m_t^2 / m_tt^2) is the top
velocity in the tt̄ frame: the ratio changes fastest at threshold, where ln m_tt compresses it. The paper uses
two separate networks; a shared trunk halves the cost of the batched training. The standardisation is fixed
from the SM training sample so every replica sees the same coordinates.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from mlhep.models.mlp import MLP


def features(events: np.ndarray, m_t: float | None = None) -> np.ndarray:
    """(n, 2) events (m_tt [GeV], y_tt) -> (n, 2) raw features (ln m_tt, y_tt), or (n, 3) with beta_t when the
    top mass ``m_t`` is given."""
    events = np.asarray(events, dtype=float).reshape(-1, 2)
    columns = [np.log(events[:, 0]), events[:, 1]]
    if m_t is not None:
        columns.append(np.sqrt(np.clip(1.0 - (2.0 * m_t / events[:, 0]) ** 2, 0.0, 1.0)))
    return np.stack(columns, axis=1)


@dataclass(frozen=True)
class RatioModel:
    """NN = (NN_alpha, NN_beta) with a fixed input standardisation ``mean``, ``std`` (n_features,);
    ``m_t`` (GeV) switches on the beta_t feature."""

    hidden: tuple[int, ...]
    activation: str
    mean: np.ndarray
    std: np.ndarray
    m_t: float | None = None

    @classmethod
    def for_sample(cls, hidden: Sequence[int], activation: str, sm_events: np.ndarray,
                   m_t: float | None = None) -> "RatioModel":
        raw = features(sm_events, m_t)
        return cls(tuple(int(h) for h in hidden), activation, raw.mean(axis=0), raw.std(axis=0), m_t)

    @property
    def net(self) -> MLP:
        return MLP(self.hidden, 2, self.activation)

    def standardise(self, events: np.ndarray) -> jnp.ndarray:
        """(n, 2) events -> (n, n_features) float32 network inputs."""
        return jnp.asarray((features(events, self.m_t) - self.mean) / self.std, dtype=jnp.float32)

    def init(self, key: jax.Array) -> Any:
        """Parameters of one replica."""
        return self.net.init(key, jnp.zeros((1, len(self.mean)), dtype=jnp.float32))

    def alpha_beta(self, params: Any, z: jax.Array) -> tuple[jax.Array, jax.Array]:
        """(alpha, beta) at standardised inputs ``z`` (..., n_features) -> two arrays (...)."""
        out = self.net.apply(params, z)
        return out[..., 0], out[..., 1]


def ratio(alpha: jax.Array, beta: jax.Array, c) -> jax.Array:
    """r = 1 + c alpha + c^2 beta (broadcast)."""
    return 1.0 + c * alpha + c * c * beta
