"""One replica of the PDF fit as the engine sees it: init, pseudo-data, training loss, validation.

Loss (NNPDF4.0, arXiv:2109.02653, eq. 3.9-3.12): chi2 of the replica's pseudo-data on its training points with
the t0 covariance, plus the positivity and integrability penalties with growing multipliers. The validation
loss is the t0 chi2 per point on the replica's validation points; parameters may be kept as the best only if
the PDFs are positive within the threshold (look-back stopping of n3fit).
"""
from __future__ import annotations

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

    def replica_data(self, key: jax.Array, shared: dict) -> dict:
        """Pseudo-data (n,) from the experimental covariance, training mask (n,), validation indices (n_v,),
        and the replica's chi2 Gram matrices H_train, H_valid ((k+1, k+1) each, see ``chi2``)."""
        s = shared
        k_data, k_split = jax.random.split(key)
        pseudo = sample_replica(k_data, s["central"], s["chol_exp"])
        train = train_mask(k_split, s["groups"], s["frac"])
        valid = chi2.validation_indices(train, self.problem.n_valid)
        h_train, h_valid = chi2.replica_grams(s["fk"], s["fk_precision"], s["fk_gram"], s["precision_t0"],
                                              s["cov_t0"], pseudo, valid)
        data = {"pseudo": pseudo, "train": train, "h_train": h_train}
        if h_valid is not None:
            data["h_valid"] = h_valid
        return data

    def multipliers(self, epoch: jax.Array) -> tuple[jax.Array, jax.Array]:
        pos, integ = self.positivity, self.integrability
        return (jnp.minimum(pos.multiplier * pos.growth ** jnp.floor(epoch / pos.every), pos.max_multiplier),
                jnp.minimum(integ.multiplier * integ.growth ** jnp.floor(epoch / integ.every),
                            integ.max_multiplier))

    def train_loss(self, params, shared: dict, data: dict, epoch: jax.Array) -> jax.Array:
        q, flavours, small_x = self._pieces(params)
        lambda_pos, lambda_int = self.multipliers(epoch)
        return (chi2.quadratic_chi2(data["h_train"], q)
                + lambda_pos * constraints.positivity_penalty(flavours)
                + lambda_int * constraints.integrability_penalty(small_x, self.integrability.flavours))

    def validation(self, params, shared: dict, data: dict) -> tuple[jax.Array, jax.Array]:
        """(t0 chi2 per validation point -- training points if there are none --, positivity satisfied)."""
        q, flavours, _ = self._pieces(params)
        p = self.problem
        if p.n_valid:
            loss = chi2.quadratic_chi2(data["h_valid"], q) / p.n_valid
        else:
            loss = chi2.quadratic_chi2(data["h_train"], q) / len(p.central)
        return loss, constraints.is_positive(flavours, self.positivity.threshold)
