"""Bayesian posterior of the free coefficients with NUTS (Hoffman & Gelman, JMLR 15 (2014) 1593; blackjax).

Likelihood exp(-chi2/2), flat priors on the box [lower, upper]. The sampler works in unbounded variables u
with ``x = lower + (upper - lower) sigmoid(u)`` (log-Jacobian added), so the prior edges are never crossed.
Step size and a dense mass matrix are tuned by Stan's window adaptation on one chain; then ``chains`` chains,
started at dispersed points, run vmapped as one program. Convergence: split R-hat and ESS (blackjax).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import blackjax
import jax
import jax.numpy as jnp
import numpy as np
from blackjax.diagnostics import effective_sample_size, potential_scale_reduction


@dataclass(frozen=True)
class PosteriorSamples:
    samples: np.ndarray      # (chains, samples, F) free coefficients
    rhat: np.ndarray         # (F,) potential scale reduction
    ess: np.ndarray          # (F,) effective sample size (all chains)
    acceptance: float        # mean acceptance rate
    divergences: int         # divergent transitions after warm-up
    step_size: float


def sample_posterior(chi2_fn: Callable, start: np.ndarray, lower: np.ndarray, upper: np.ndarray, key: jax.Array,
                     chains: int, warmup: int, samples: int, minima: np.ndarray | None = None) -> PosteriorSamples:
    """NUTS samples of exp(-chi2_fn(x)/2) on the box; ``start`` (F,) should be near the mode. With ``minima``
    (M, F) of a multimodal chi2, chain c starts near minimum c mod M, so that R-hat shows chains that stay in
    their own mode (NUTS does not cross between separated modes)."""
    lower, upper = jnp.asarray(lower), jnp.asarray(upper)
    width = upper - lower

    def to_x(u):
        return lower + width * jax.nn.sigmoid(u)

    def logdensity(u):
        log_jacobian = jnp.sum(jnp.log(width) + jax.nn.log_sigmoid(u) + jax.nn.log_sigmoid(-u))
        return -0.5 * chi2_fn(to_x(u)) + log_jacobian

    def to_u(x):
        fraction = np.clip((np.asarray(x) - np.asarray(lower)) / np.asarray(width), 1e-6, 1 - 1e-6)
        return jnp.log(fraction) - jnp.log1p(-fraction)

    u0 = to_u(start)
    key_warmup, key_init, key_sample = jax.random.split(key, 3)
    adaptation = blackjax.window_adaptation(blackjax.nuts, logdensity, is_mass_matrix_diagonal=False)
    (state, parameters), _ = adaptation.run(key_warmup, u0, num_steps=warmup)
    kernel = blackjax.nuts(logdensity, **parameters)

    # Dispersed starts: the adapted state plus a draw from the adapted (approximate posterior) covariance.
    cov = jnp.atleast_2d(parameters["inverse_mass_matrix"])
    chol = jnp.linalg.cholesky(cov + 1e-12 * jnp.eye(cov.shape[0]))
    noise = jax.random.normal(key_init, (chains, u0.size))
    centres = state.position if minima is None else to_u(np.asarray(minima)[np.arange(chains) % len(minima)])
    positions = centres + noise @ chol.T
    states = jax.vmap(kernel.init)(positions)

    @jax.jit
    def run(states, key):
        def one_step(states, key):
            keys = jax.random.split(key, chains)
            states, info = jax.vmap(kernel.step)(keys, states)
            return states, (states.position, info.acceptance_rate, info.is_divergent)

        return jax.lax.scan(one_step, states, jax.random.split(key, samples))

    _, (positions, acceptance, divergent) = run(states, key_sample)
    u = jnp.swapaxes(positions, 0, 1)                       # (chains, samples, F)
    x = np.asarray(to_x(u))
    rhat = np.atleast_1d(np.asarray(potential_scale_reduction(x, chain_axis=0, sample_axis=1))) if chains > 1 \
        else np.full(x.shape[-1], np.nan)
    ess = np.atleast_1d(np.asarray(effective_sample_size(x, chain_axis=0, sample_axis=1)))
    return PosteriorSamples(x, rhat, ess, float(np.mean(acceptance)), int(np.sum(divergent)),
                            float(parameters["step_size"]))
