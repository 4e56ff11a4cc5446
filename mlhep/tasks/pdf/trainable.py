"""One replica of the PDF fit as the engine sees it: init, pseudo-data, training loss, validation.

Loss (NNPDF4.0, arXiv:2109.02653, eq. 3.9-3.12): chi2 of the replica's pseudo-data on its training points with
the t0 covariance, plus the positivity and integrability penalties with growing multipliers. The validation
loss is the t0 chi2 per point on the replica's validation points; parameters may be kept as the best only if
the PDFs are positive within the threshold (look-back stopping of n3fit).

For ``mlhep hyperopt`` a replica may take, through ``replica_data``'s inputs, its own penalty multipliers
(``replica_hyperparameters``: trials that differ in them train as one program) and a mask of held-out points
(NNPDF4.0's k-fold, arXiv:2109.02653 sec. 3.3: the datasets of one fold enter neither training nor validation,
and ``held_out_loss`` grades the trained replica on them).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from mlhep.stats.pseudodata import sample_replica, train_mask
from mlhep.tasks.pdf import chi2, constraints
from mlhep.tasks.pdf.config import IntegrabilityConfig, PositivityConfig
from mlhep.tasks.pdf.model import PdfModel
from mlhep.tasks.pdf.problem import PdfProblem


@dataclass(frozen=True, eq=False)   # hashed by identity: the engine caches its compiled program per trainable
class PdfTrainable:
    problem: PdfProblem
    model: PdfModel
    positivity: PositivityConfig
    integrability: IntegrabilityConfig
    held_out_points: int = 0     # hyperopt k-fold: the most points one replica may hold out (static; 0: none)

    #: runcard keys that a replica may take from ``replica_data``'s inputs (``{"hyper": {key: value}}``)
    replica_hyperparameters = ("positivity.multiplier", "positivity.growth", "integrability.multiplier",
                               "integrability.growth")

    # -- the x points evaluated at every step: FK grid, positivity grid, integrability points ------------
    def _x_points(self) -> tuple[np.ndarray, tuple[slice, slice, slice]]:
        nx, npos = len(self.problem.xgrid), len(constraints.POSITIVITY_X)
        x = np.concatenate([self.problem.xgrid, constraints.POSITIVITY_X, np.asarray(self.integrability.x)])
        return x, (slice(0, nx), slice(nx, nx + npos), slice(nx + npos, len(x)))

    def grid_values(self, params) -> jax.Array:
        """x f on the FK grid restricted to the active FK columns, (k,)."""
        x, (fk, _, _) = self._x_points()
        return self.model.xf(params, jnp.asarray(x[fk])).reshape(-1)[self.problem.active]

    def _pieces(self, params):
        x, (fk, pos, integ) = self._x_points()
        xf = self.model.xf(params, jnp.asarray(x))
        flavours = jnp.asarray(constraints.evolution_to_flavour()) @ xf[:, pos]
        return xf[:, fk].reshape(-1)[self.problem.active], flavours, xf[:, integ]

    def shared(self) -> dict:
        """What every replica reads once: the data, their covariances and the FK tables with their Gram forms."""
        p = self.problem
        return {name: jnp.asarray(getattr(p, name)) for name in
                ("central", "chol_exp", "groups", "frac", "fk", "fk_precision", "fk_gram", "precision_t0",
                 "cov_t0")}

    def init(self, key: jax.Array, shared: dict):
        return self.model.init(key)

    def replica_data(self, key: jax.Array, shared: dict, inputs: dict | None = None) -> dict:
        """Pseudo-data (n,) from the experimental covariance, training mask (n,), validation indices (n_v,),
        and the replica's chi2 Gram matrices H_train, H_valid ((k+1, k+1) each, see ``chi2``).

        ``inputs`` (hyperopt): ``{"hyper": {key: ()}}`` this replica's values of ``replica_hyperparameters``,
        ``{"held_out": (n,) bool}`` points that enter neither its training nor its validation set."""
        s, inputs = shared, inputs or {}
        k_data, k_split = jax.random.split(key)
        pseudo = sample_replica(k_data, s["central"], s["chol_exp"])
        train = train_mask(k_split, s["groups"], s["frac"])
        hyper = dict(inputs.get("hyper", {}))
        if "held_out" in inputs:
            return self._held_out_data(s, pseudo, train, inputs["held_out"]) | hyper
        valid = chi2.validation_indices(train, self.problem.n_valid)
        h_train, h_valid = chi2.replica_grams(s["fk"], s["fk_precision"], s["fk_gram"], s["precision_t0"],
                                              s["cov_t0"], pseudo, valid)
        data = {"pseudo": pseudo, "train": train, "h_train": h_train}
        if h_valid is not None:
            data["h_valid"] = h_valid
        return data | hyper

    def _held_out_data(self, s: dict, pseudo: jax.Array, train: jax.Array, held_out: jax.Array) -> dict:
        """A replica's data with the points ``held_out`` (n,) removed from its training and validation sets: it
        trains on the rest of its usual training points and validates on the rest of its validation points."""
        if not self.held_out_points:
            raise ValueError("held-out points given to a PdfTrainable made without holding_out(points)")  # a bug
        train = train & ~held_out
        valid = ~train & ~held_out
        size = min(len(self.problem.central), self.problem.n_valid + self.held_out_points)
        h_train, h_valid = chi2.replica_grams_masked(s["fk"], s["fk_precision"], s["fk_gram"], s["precision_t0"],
                                                     s["cov_t0"], pseudo, ~train, valid, size)
        return {"pseudo": pseudo, "train": train, "h_train": h_train, "h_valid": h_valid,
                "n_valid": jnp.sum(valid), "n_train": jnp.sum(train)}

    def multipliers(self, epoch: jax.Array, data: dict | None = None) -> tuple[jax.Array, jax.Array]:
        """(lambda_pos, lambda_int) at ``epoch``: the runcard's schedule, or the replica's own initial values and
        growth factors where its data hold them (``replica_hyperparameters``)."""
        def grow(name, cfg):
            start = data.get(f"{name}.multiplier", cfg.multiplier) if data else cfg.multiplier
            growth = data.get(f"{name}.growth", cfg.growth) if data else cfg.growth
            return jnp.minimum(start * growth ** jnp.floor(epoch / cfg.every), cfg.max_multiplier)
        return grow("positivity", self.positivity), grow("integrability", self.integrability)

    def train_loss(self, params, shared: dict, data: dict, epoch: jax.Array) -> jax.Array:
        q, flavours, small_x = self._pieces(params)
        lambda_pos, lambda_int = self.multipliers(epoch, data)
        return (chi2.quadratic_chi2(data["h_train"], q)
                + lambda_pos * constraints.positivity_penalty(flavours)
                + lambda_int * constraints.integrability_penalty(small_x, self.integrability.flavours))

    def validation(self, params, shared: dict, data: dict) -> tuple[jax.Array, jax.Array]:
        """(t0 chi2 per validation point -- training points if there are none --, positivity satisfied)."""
        q, flavours, _ = self._pieces(params)
        p = self.problem
        if "n_valid" in data:       # k-fold rows (hyperopt): each has its own number of points
            n_valid, n_train = data["n_valid"], data["n_train"]
            loss = jnp.where(n_valid > 0, chi2.quadratic_chi2(data["h_valid"], q) / jnp.maximum(n_valid, 1),
                             chi2.quadratic_chi2(data["h_train"], q) / jnp.maximum(n_train, 1))
        elif p.n_valid:
            loss = chi2.quadratic_chi2(data["h_valid"], q) / p.n_valid
        else:
            loss = chi2.quadratic_chi2(data["h_train"], q) / len(p.central)
        return loss, constraints.is_positive(flavours, self.positivity.threshold)

    # -- hyperopt k-fold (mlhep.hyperopt.kfold) ----------------------------------------------------------------
    def point_datasets(self) -> tuple[tuple[str, ...], np.ndarray]:
        """(dataset names, (n,) index of each data point's dataset): what k-fold folds are made of."""
        return self.problem.names, np.asarray(self.problem.groups)

    def holding_out(self, points: int) -> "PdfTrainable":
        """This trainable, for replicas that hold out at most ``points`` data points each."""
        return dataclasses.replace(self, held_out_points=int(points))

    def held_out_loss(self, params, shared: dict, held_out: jax.Array) -> tuple[jax.Array, jax.Array]:
        """(chi2 per point of the held-out points (n,) bool, positivity satisfied) for one replica's parameters.

        The chi2 is that of the measured central values (not the replica's pseudo-data) with the t0 covariance
        block of the held-out points (as n3fit's hyperopt loss), divided by their number."""
        q, flavours, _ = self._pieces(params)
        residual = shared["fk"] @ q - shared["central"]
        value, count = chi2.subset_chi2(shared["cov_t0"], residual, held_out, self.held_out_points)
        return value / jnp.maximum(count, 1), constraints.is_positive(flavours, self.positivity.threshold)
