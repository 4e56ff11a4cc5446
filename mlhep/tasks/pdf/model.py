"""The NNPDF4.0 neural-network parametrisation of the PDFs at the fitting scale Q0.

    x f_i(x, Q0) = A_i x^(1 - alpha_i) (1 - x)^beta_i NN_i(x, ln x),   i in FIT_BASIS (7 evolution-basis PDFs)

(Ball et al., arXiv:2109.02653, eq. 3.3): one dense network with input (x, ln x), tanh hidden layers
(NNPDF4.0: 25, 20), a linear 7-unit output (NNPDF4.0 has 8 because it fits charm; here charm is perturbative),
glorot-normal weights and zero biases. The exponents alpha_i, beta_i are sampled per replica uniformly in their
ranges (NNPDF4.0's choice) or, with ``fit_exponents``, trained and clipped to the ranges. A_i are fixed by the
sum rules (``sumrules.normalisation``). The network is the shared :class:`mlhep.models.mlp.MLP`. Parameters of
one replica:
``{"nn": flax params, "alpha": (7,), "beta": (7,)}``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from mlhep.models.mlp import MLP
from mlhep.physics.evolution import FIT_BASIS  # ("Sigma", "g", "V", "V3", "V8", "T3", "T8")

BASIS_INDEX = {name: i for i, name in enumerate(FIT_BASIS)}


def network_inputs(x: jax.Array) -> jax.Array:
    """(n,) x values -> (n, 2) network inputs (x, ln x)."""
    return jnp.stack([x, jnp.log(x)], axis=-1)


@dataclass(frozen=True)
class PdfModel:
    """The parametrisation of one replica: exponent ranges (7, 2) and the network."""

    network: MLP                # (n, 2) inputs (x, ln x) -> (n, 7)
    alpha_range: np.ndarray     # (7, 2) [low, high] of alpha per fit-basis flavour
    beta_range: np.ndarray      # (7, 2)
    fit_exponents: bool = False

    @classmethod
    def from_config(cls, model_cfg: Any) -> "PdfModel":
        from mlhep.tasks.pdf.config import NNPDF40_PREPROCESSING
        ranges = {k: (tuple(a), tuple(b)) for k, (a, b) in NNPDF40_PREPROCESSING.items()}
        ranges |= {k: (tuple(v.alpha), tuple(v.beta)) for k, v in model_cfg.preprocessing.items()}
        alpha = np.array([ranges[k][0] for k in FIT_BASIS], dtype=float)
        beta = np.array([ranges[k][1] for k in FIT_BASIS], dtype=float)
        # float32 weights evaluated in float64 (flax's default parameter dtype, which fits have always used)
        network = MLP(tuple(model_cfg.architecture), len(FIT_BASIS), model_cfg.activation, model_cfg.initializer,
                      param_dtype=jnp.float32)
        return cls(network, alpha, beta, model_cfg.fit_exponents)

    def init(self, key: jax.Array) -> dict:
        """Parameters of one replica: network weights and exponents drawn uniformly in their ranges."""
        k_nn, k_alpha, k_beta = jax.random.split(key, 3)
        uniform = lambda k, r: r[:, 0] + (r[:, 1] - r[:, 0]) * jax.random.uniform(k, (len(FIT_BASIS),))  # noqa
        return {"nn": self.network.init(k_nn, network_inputs(jnp.array([1e-3, 0.5]))),
                "alpha": uniform(k_alpha, jnp.asarray(self.alpha_range)),
                "beta": uniform(k_beta, jnp.asarray(self.beta_range))}

    def exponents(self, params: dict) -> tuple[jax.Array, jax.Array]:
        """(alpha, beta) each (7,): clipped to their ranges; constants for the optimiser unless fitted."""
        alpha = jnp.clip(params["alpha"], self.alpha_range[:, 0], self.alpha_range[:, 1])
        beta = jnp.clip(params["beta"], self.beta_range[:, 0], self.beta_range[:, 1])
        if not self.fit_exponents:
            alpha, beta = jax.lax.stop_gradient(alpha), jax.lax.stop_gradient(beta)
        return alpha, beta

    def unnormalised(self, params: dict, x: jax.Array) -> jax.Array:
        """x^(1-alpha) (1-x)^beta NN(x, ln x): (7, n) for x (n,) in (0, 1)."""
        alpha, beta = self.exponents(params)
        nn_out = self.network.apply(params["nn"], network_inputs(x)).T
        # one exp instead of two powers (the preprocessing is a good part of an epoch's cost); x = 1 is on the
        # FK grid: the clipped log keeps d/dbeta finite there
        log_x, log_1mx = jnp.log(x), jnp.log(jnp.maximum(1.0 - x, 1e-300))
        return jnp.exp((1.0 - alpha[:, None]) * log_x + beta[:, None] * log_1mx) * nn_out

    def xf(self, params: dict, x: jax.Array) -> jax.Array:
        """Normalised x f_i(x, Q0), (7, n), obeying the momentum and valence sum rules."""
        return self.xf_with_integrals(params, x)[0]

    def xf_with_integrals(self, params: dict, x: jax.Array) -> tuple[jax.Array, jax.Array]:
        """(x f on ``x`` (7, n), x f on the integration grid (7, n_int)), both normalised; one network call."""
        from mlhep.tasks.pdf import sumrules
        x_int, w_int = sumrules.integration_grid()
        both = self.unnormalised(params, jnp.concatenate([jnp.asarray(x_int), x]))
        norm = sumrules.normalisation(both[:, :len(x_int)], x_int, w_int, self.exponents(params)[0])
        both = norm[:, None] * both
        return both[:, len(x_int):], both[:, :len(x_int)]
