"""The ZLP network and its loss for ONE replica, as pure JAX functions (the engine vmaps them over replicas).

EELSfitter 3.1 (``training.py``; Roest et al., Ultramicroscopy 222 (2021) 113202; Brokkelkamp et al., J. Phys.
Chem. A 126 (2022) 1255): a perceptron 2 -> 10 -> 15 -> 5 -> 1 with sigmoid, sigmoid, ReLU activations and a
linear output xi, the ZLP being I_ZLP(E, N) = exp(xi(E, ln N)). Both inputs are mapped linearly onto
[0.1, 0.9] (``minmax_scaling``): E over the whole energy axis, ln N over all spectra of all clusters, where N
is the sum of the 3 channels around the spectrum's maximum (``spectra.log_zlp_intensity``; EELSfitter's default
``log_zlp``, not the total integral). The cost of one replica (one spectrum drawn per cluster k) is

    C = mean over training points of [(xi(E_l, ln N_k) - y_l) / sigma_l]^2
        + lambda sum_k sum_{dE1_k <= E_r < E_r+1 <= dE2_k} ReLU(xi(E_r+1, ln N_k) - xi(E_r, ln N_k))

with y = ln(counts, at least 1) and sigma = sigma_log of the cluster (``clustering.cluster_spectra``) for
E < dE1 (region I), y = 0 (one count) and sigma = 0.8 for E > dE2 (region III), and the penalty on the
channel-to-channel rise of xi (of ln I, not of I: the same sign) over region II, all channels, training and
validation alike. EELSfitter's default lambda is 10.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from mlhep.models.mlp import ACTIVATIONS

ZERO_SIGMA = 0.8             # EELSfitter's uncertainty of the "one count" pseudo-data above dE2


def _torch_uniform(fan_in: int):
    """PyTorch's default ``nn.Linear`` initialisation, U(-1/sqrt(fan_in), 1/sqrt(fan_in)), for biases."""
    bound = 1.0 / np.sqrt(fan_in)

    def init(key, shape, dtype=jnp.float32):
        return jax.random.uniform(key, shape, dtype, -bound, bound)
    return init


class ZLPNet(nn.Module):
    """(..., 2) scaled (E, ln N) -> (...,) xi = ln I_ZLP. ``hidden`` widths with ``activations`` (names of
    ``mlhep.models.mlp.ACTIVATIONS``), a linear output. ``torch_init``: weights and biases
    U(-1/sqrt(fan_in), 1/sqrt(fan_in)) as PyTorch's default (EELSfitter); else Glorot-normal and zero biases."""

    hidden: Sequence[int] = (10, 15, 5)
    activations: Sequence[str] = ("sigmoid", "sigmoid", "relu")
    torch_init: bool = True
    param_dtype: Any = None                  # None: the input's dtype

    @nn.compact
    def __call__(self, x: jnp.ndarray) -> jnp.ndarray:
        dtype = x.dtype if self.param_dtype is None else self.param_dtype
        for width, name in zip(list(self.hidden) + [1], list(self.activations) + [None]):
            fan_in = x.shape[-1]
            if self.torch_init:
                dense = nn.Dense(width, kernel_init=nn.initializers.variance_scaling(1 / 3, "fan_in", "uniform"),
                                 bias_init=_torch_uniform(fan_in), param_dtype=dtype)
            else:
                dense = nn.Dense(width, kernel_init=nn.initializers.glorot_normal(), param_dtype=dtype)
            x = dense(x)
            if name is not None:
                x = ACTIVATIONS[name](x)
        return x[..., 0]


def minmax_scaling(values: np.ndarray, low: float = 0.1, high: float = 0.9) -> tuple[float, float]:
    """(a, b) with a * values + b spanning [low, high] (EELSfitter's ``find_scale_var``)."""
    values = np.asarray(values, dtype=np.float64)
    a = (high - low) / (values.max() - values.min())
    return float(a), float(low - a * values.min())


@dataclass(frozen=True)
class ZLPRegions:
    """The replica-independent layout of the fit (numpy; the shared data of the engine).

    energy_scaled: (n,) the scaled energy axis.
    fit_channel, fit_cluster: (P,) channel and cluster of each fitted point: every channel with E < dE1_k
        (region I) or E > dE2_k (region III) of every cluster k.
    fit_zero: (P,) True in region III (target 0); fit_sigma: (P,) sigma_log (region I) or 0.8 (region III).
    mono_channel, mono_cluster: (Q,) the channels dE1_k <= E <= dE2_k of each cluster, in order;
    mono_pair: (Q - 1,) True where points r and r + 1 are neighbours of one cluster (their rise is penalised).
    """

    energy_scaled: np.ndarray
    fit_channel: np.ndarray
    fit_cluster: np.ndarray
    fit_zero: np.ndarray
    fit_sigma: np.ndarray
    mono_channel: np.ndarray
    mono_cluster: np.ndarray
    mono_pair: np.ndarray

    def arrays(self) -> dict[str, jnp.ndarray]:
        return {k: jnp.asarray(v) for k, v in self.__dict__.items()}


def build_regions(energy: np.ndarray, de1: np.ndarray, de2: np.ndarray, sigma_log: np.ndarray,
                  energy_scaling: tuple[float, float] | None = None) -> ZLPRegions:
    """The fit layout of K clusters: ``de1``, ``de2`` (K,) eV, ``sigma_log`` (K, n) from
    ``cluster_spectra``; energy_scaling (a, b) defaults to ``minmax_scaling(energy)``. Region-I
    uncertainties must be positive (a one-member cluster has none: give it one)."""
    energy = np.asarray(energy, dtype=np.float64)
    de1, de2 = np.atleast_1d(de1), np.atleast_1d(de2)
    sigma_log = np.atleast_2d(sigma_log)
    a, b = minmax_scaling(energy) if energy_scaling is None else energy_scaling
    fit_channel, fit_cluster, fit_zero, fit_sigma = [], [], [], []
    mono_channel, mono_cluster, mono_pair = [], [], []
    for k in range(de1.size):
        region1 = np.nonzero(energy < de1[k])[0]
        region3 = np.nonzero(energy > de2[k])[0]
        region2 = np.nonzero((energy >= de1[k]) & (energy <= de2[k]))[0]
        if np.any(sigma_log[k, region1] <= 0):
            raise ValueError(f"cluster {k}: sigma_log must be > 0 below dE1 = {de1[k]:.4g} eV")
        fit_channel += [region1, region3]
        fit_cluster += [np.full(region1.size + region3.size, k)]
        fit_zero += [np.zeros(region1.size, bool), np.ones(region3.size, bool)]
        fit_sigma += [sigma_log[k, region1], np.full(region3.size, ZERO_SIGMA)]
        if mono_channel:
            mono_pair.append(np.array([False]))               # no pair across clusters
        mono_channel.append(region2)
        mono_cluster.append(np.full(region2.size, k))
        mono_pair.append(np.ones(max(region2.size - 1, 0), bool))
    cat = np.concatenate
    return ZLPRegions(energy_scaled=a * energy + b, fit_channel=cat(fit_channel), fit_cluster=cat(fit_cluster),
                      fit_zero=cat(fit_zero), fit_sigma=cat(fit_sigma), mono_channel=cat(mono_channel),
                      mono_cluster=cat(mono_cluster), mono_pair=cat(mono_pair) if mono_pair else np.zeros(0, bool))


def zlp_loss_terms(params, apply_fn: Callable, regions: dict, log_counts: jnp.ndarray, intensity_scaled: jnp.ndarray,
                   weights: jnp.ndarray) -> tuple[jnp.ndarray, jnp.ndarray]:
    """(chi2, penalty) of one replica (module docstring).

    apply_fn(params, x (..., 2)) -> (...,): the network; regions: ``ZLPRegions.arrays()``;
    log_counts: (K, n) ln(counts, at least 1) of the replica's spectrum of each cluster;
    intensity_scaled: (K,) its scaled ln N; weights: (P,) 1 for training points, 0 otherwise (the
    training/validation split); chi2 is their weighted mean, the penalty the unweighted sum of rises.
    """
    x_fit = jnp.stack([regions["energy_scaled"][regions["fit_channel"]],
                       intensity_scaled[regions["fit_cluster"]]], axis=-1)
    target = jnp.where(regions["fit_zero"], 0.0, log_counts[regions["fit_cluster"], regions["fit_channel"]])
    residual = (apply_fn(params, x_fit) - target) / regions["fit_sigma"]
    chi2 = jnp.sum(weights * residual ** 2) / jnp.maximum(jnp.sum(weights), 1.0)
    x_mono = jnp.stack([regions["energy_scaled"][regions["mono_channel"]],
                        intensity_scaled[regions["mono_cluster"]]], axis=-1)
    xi = apply_fn(params, x_mono)
    penalty = jnp.sum(jnp.where(regions["mono_pair"], jax.nn.relu(xi[1:] - xi[:-1]), 0.0))
    return chi2, penalty


def zlp_loss(params, apply_fn: Callable, regions: dict, log_counts: jnp.ndarray, intensity_scaled: jnp.ndarray,
             weights: jnp.ndarray, penalty_weight: float = 10.0) -> jnp.ndarray:
    """chi2 + lambda * penalty of one replica (``zlp_loss_terms``); lambda = 10 is EELSfitter's default."""
    chi2, penalty = zlp_loss_terms(params, apply_fn, regions, log_counts, intensity_scaled, weights)
    return chi2 + penalty_weight * penalty


def predict_log_zlp(params, apply_fn: Callable, energy_scaled: jnp.ndarray, intensity_scaled: jnp.ndarray
                    ) -> jnp.ndarray:
    """xi = ln I_ZLP on the axis for spectra of scaled ln N ``intensity_scaled`` (...,): (..., n)."""
    e = jnp.broadcast_to(energy_scaled, intensity_scaled.shape[:] + energy_scaled.shape)
    n = jnp.broadcast_to(intensity_scaled[..., None], e.shape)
    return apply_fn(params, jnp.stack([e, n], axis=-1))
