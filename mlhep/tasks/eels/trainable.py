"""One replica of the ZLP fit as the engine sees it (``mlhep.task.Trainable``, full batch).

Roest et al., Ultramicroscopy 222 (2021) 113202, and EELSfitter 3.1 (``TrainZeroLossPeak``): a replica draws ONE
member spectrum of every cluster at random (the Monte Carlo replica of the data is the spread between the
spectra of a cluster; the chi2's sigma is that spread, ``clustering.cluster_spectra``), and splits the fitted
points at random into training and validation (EELSfitter: sklearn's ``train_test_split``, 25% validation over
all points of the replica; here the same fraction is drawn within every cluster, so no cluster loses more than
its share). The loss is ``zlp_model.zlp_loss``: chi2 over the training points plus lambda times the rise of xi
over region II.

Stopping: EELSfitter trains a fixed number of epochs and keeps the final parameters, watching the validation
loss only in its reports. Here the engine keeps, per replica, the parameters of the lowest validation loss
(chi2 on the validation points plus the same penalty; look-back, as NNPDF): with ``engine.stopping.patience``
at least ``engine.epochs`` no replica stops early, and the kept parameters are never worse on unseen points
than the final ones. That needs nothing the engine lacks.
"""
from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from mlhep.stats.pseudodata import train_mask
from mlhep.tasks.eels.inputs import EelsProblem
from mlhep.tasks.eels.spectra import log_zlp_intensity
from mlhep.tasks.eels.zlp_model import ZLPNet, ZLPRegions, build_regions, minmax_scaling, zlp_loss_terms


@dataclass(frozen=True, eq=False)     # hashed by identity: the engine caches its compiled program per trainable
class ZLPTrainable:
    """net: the ZLP network; regions: the fit layout of the K clusters; log_counts: (K, M, n) ln(counts, at least
    1) of every cluster's members, padded to M with copies of the first (K x M x n floats on the device, M at
    most ``clustering.max_members``); sizes: (K,) members per cluster; intensity: (K, M) their scaled ln N (the
    network's second input); penalty: lambda; validation_fraction; output: (mean, std) of ``apply``;
    intensity_scale: (a, b) of the second input a ln N + b ((0, 0.5): a constant)."""

    net: ZLPNet
    regions: ZLPRegions
    log_counts: np.ndarray
    sizes: np.ndarray
    intensity: np.ndarray
    penalty: float
    validation_fraction: float
    output: tuple[float, float] = (0.0, 1.0)
    intensity_scale: tuple[float, float] = (0.0, 0.5)

    @classmethod
    def from_problem(cls, problem: EelsProblem, net: ZLPNet, penalty: float, validation_fraction: float,
                     energy_scale: str | float = "de1", intensity_input: bool = True) -> "ZLPTrainable":
        """energy_scale: the network sees E / max(dE1) ("de1"), E / that many eV (a number), or E mapped from the
        whole axis onto [0.1, 0.9] ("minmax", EELSfitter's); intensity_input: its second input is the scaled
        ln N of the spectrum (EELSfitter), or the constant 0.5 (a ZLP of E alone); see ``config.Model``."""
        most = max(len(m) for m in problem.members)
        padded = np.stack([np.concatenate([m, np.repeat(m[:1], most - len(m), axis=0)]) for m in problem.members])
        padded = np.clip(padded, 1.0, None)                    # EELSfitter: counts below 1 count as 1
        scale = intensity_scaling(problem) if intensity_input else (0.0, 0.5)
        unit = {"de1": float(np.max(problem.de1)), "minmax": None}.get(energy_scale, energy_scale)
        regions = build_regions(problem.energy, problem.de1, problem.de2, problem.sigma_log,
                                None if unit is None else (1.0 / unit, 0.0))
        targets = np.where(regions.fit_zero, 0.0, np.log(np.clip(problem.median, 1.0, None))[regions.fit_cluster,
                                                                                           regions.fit_channel])
        return cls(net, regions, np.log(padded), np.array([len(m) for m in problem.members]),
                   scale[0] * log_zlp_intensity(padded) + scale[1], penalty, validation_fraction,
                   (float(np.mean(targets)), float(max(np.std(targets), 1e-3))), scale)

    def apply(self, params, x: jax.Array) -> jax.Array:
        """xi(E, ln N) = mean + std * NN(E, ln N): the network's output standardised by the mean and spread of the
        fitted targets (ln counts up to ~16, and zeros): an affine map of its last layer that changes no function
        it can represent, but lets the freshly initialised network (output ~ 0) start at the data's scale instead
        of spending its first steps (and its hidden units' range) on climbing to ln counts ~ 10."""
        return self.output[0] + self.output[1] * self.net.apply(params, x)

    # -- the engine's contract ------------------------------------------------------------------------------
    def shared(self) -> dict:
        """Every member spectrum of every cluster, once: (K, M, n) ln counts, (K,) sizes, (K, M) scaled ln N, and
        the fit layout (energies, channels, region-I sigmas)."""
        return {"regions": self.regions.arrays(), "log_counts": jnp.asarray(self.log_counts),
                "sizes": jnp.asarray(self.sizes), "intensity": jnp.asarray(self.intensity)}

    def init(self, key: jax.Array, shared: dict):
        return self.net.init(key, jnp.zeros((1, 2), shared["log_counts"].dtype))

    def replica_data(self, key: jax.Array, shared: dict) -> dict:
        """draw: (K,) the member of each cluster this replica fits; log_counts (K, n) and intensity (K,) of those
        members; train: (P,) 1.0 on the replica's training points, 0.0 on its validation points."""
        k_draw, k_split = jax.random.split(key)
        sizes = shared["sizes"]
        draw = jnp.minimum(jnp.floor(jax.random.uniform(k_draw, sizes.shape) * sizes).astype(jnp.int32), sizes - 1)
        clusters = jnp.arange(sizes.shape[0])
        cluster_of_point = shared["regions"]["fit_cluster"]
        fraction = jnp.full(sizes.shape, 1.0 - self.validation_fraction)
        train = train_mask(k_split, cluster_of_point, fraction).astype(shared["log_counts"].dtype)
        return {"draw": draw, "log_counts": shared["log_counts"][clusters, draw],
                "intensity": shared["intensity"][clusters, draw], "train": train}

    def _terms(self, params, shared: dict, data: dict, weights: jax.Array):
        return zlp_loss_terms(params, self.apply, shared["regions"], data["log_counts"], data["intensity"],
                              weights)

    def train_loss(self, params, shared: dict, data: dict, epoch: jax.Array) -> jax.Array:
        chi2, rise = self._terms(params, shared, data, data["train"])
        return chi2 + self.penalty * rise

    def validation(self, params, shared: dict, data: dict) -> tuple[jax.Array, jax.Array]:
        """(chi2 on the validation points + lambda * penalty, True); without validation points, the training
        loss."""
        weights = 1.0 - data["train"] if self.validation_fraction > 0 else data["train"]
        chi2, rise = self._terms(params, shared, data, weights)
        return chi2 + self.penalty * rise, jnp.array(True)

    def training_points(self, data: dict) -> jax.Array:
        return jnp.sum(data["train"] > 0)

    # -- for the analysis -------------------------------------------------------------------------------------
    def intensity_of(self, counts: np.ndarray) -> np.ndarray:
        """The network's second input for spectra ``counts`` (..., n): their scaled ln N (or the constant)."""
        a, b = self.intensity_scale
        return a * log_zlp_intensity(np.clip(counts, 1.0, None)) + b

    def log_zlp(self, params, intensity_scaled: jax.Array) -> jax.Array:
        """xi = ln I_ZLP (..., n) on the axis for spectra of scaled ln N ``intensity_scaled`` (...)."""
        e = jnp.asarray(self.regions.energy_scaled, intensity_scaled.dtype)
        x = jnp.stack(jnp.broadcast_arrays(e, intensity_scaled[..., None]), axis=-1)
        return self.apply(params, x)


def intensity_scaling(problem: EelsProblem) -> tuple[float, float]:
    """(a, b) mapping ln N of every training spectrum onto [0.1, 0.9] (EELSfitter's ``calc_scale_var_log_int_i``
    over all spectra of all clusters); a single spectrum gets the span of N/2 to 3N/2, as EELSfitter does."""
    spectra = np.clip(np.concatenate(problem.members), 1.0, None)
    values = log_zlp_intensity(spectra)
    if np.ptp(values) == 0:
        values = np.concatenate([values + np.log(1.5), values + np.log(0.5)])
    return minmax_scaling(values)


