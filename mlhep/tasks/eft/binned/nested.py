"""Posterior and Bayesian evidence by nested sampling (Skilling, Bayesian Anal. 1 (2006) 833), with blackjax's
nested slice sampler (``blackjax.nss``: each new live point by hit-and-run slice moves along directions drawn from
the live points' covariance, constrained to the current likelihood level).

Likelihood exp(-chi2/2) and a flat prior on the box [lower, upper] of the free coefficients, as SMEFiT's nested
sampling (ultranest) defines them: log Z = log of the prior-mean of exp(-chi2/2). The box is imposed through the
likelihood (-inf outside), which is what the slice moves test. Unlike NUTS, nested sampling starts from the
whole prior and shrinks onto every mode at once, so a quadratic EFT posterior with separate minima is found with
the modes weighted by their mass (the reason it is SMEFiT's default sampler).

Steps run in jitted chunks of a ``lax.scan``; between chunks the run stops once the live points can add less
than ``tolerance`` to log Z (log(Z + Z_live) - log Z < tolerance), or at ``max_steps`` (then it warns).
"""
from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np


@dataclass(frozen=True)
class NestedSamples:
    samples: np.ndarray          # (n, F) posterior draws, resampled to equal weight
    log_evidence: float          # log Z
    log_evidence_error: float    # its standard deviation over simulated prior-volume shrinkages
    dead: int                    # dead points (likelihood levels) in the run
    ess: float                   # effective sample size of the weighted dead points
    converged: bool              # False: stopped at max_steps before the tolerance was reached


def nested_sample(chi2_fn: Callable, lower: np.ndarray, upper: np.ndarray, key: jax.Array, live: int,
                  inner_steps: int | None, tolerance: float, max_steps: int, samples: int,
                  chunk: int = 4, log: Callable[[str], None] = lambda message: None) -> NestedSamples:
    """Nested sampling of exp(-chi2_fn(x)/2) (x (F,)) under a flat prior on the box; ``live`` live points, half of
    them replaced per step, each by ``inner_steps`` slice moves (default max(5, 3F), above blackjax's advice)."""
    from blackjax import nss   # blackjax starts JAX's backend on import: only when sampling
    from blackjax.ns import integrator, utils
    from blackjax.ns.base import NSInfo

    lower, upper = jnp.asarray(lower, float), jnp.asarray(upper, float)
    n_free = lower.size
    inner_steps = inner_steps or max(5, 3 * n_free)
    log_volume = float(jnp.sum(jnp.log(upper - lower)))

    def loglikelihood(x):
        inside = jnp.all((x >= lower) & (x <= upper))
        return jnp.where(inside, -0.5 * chi2_fn(jnp.clip(x, lower, upper)), -jnp.inf)

    def logprior(x):
        return jnp.full((), -log_volume)

    delete = max(1, live // 2)
    algorithm = nss(logprior, loglikelihood, num_inner_steps=inner_steps, num_delete=delete)
    key_start, key_run, key_weights = jax.random.split(key, 3)
    positions = lower + (upper - lower) * jax.random.uniform(key_start, (live, n_free), dtype=lower.dtype)
    state = algorithm.init(positions)
    evidence = integrator.init_integrator(state.particles)

    @jax.jit
    def run_chunk(state, evidence, key):
        def one(carry, step_key):
            state, evidence = carry
            state, info = algorithm.step(step_key, state)
            return (state, integrator.update_integrator(evidence, state.particles, info.particles)), info.particles
        (state, evidence), dead = jax.lax.scan(one, (state, evidence), jax.random.split(key, chunk))
        return state, evidence, dead

    dead, steps, converged = [], 0, False
    while steps < max_steps:
        key_run, key_chunk = jax.random.split(key_run)
        state, evidence, particles = run_chunk(state, evidence, key_chunk)
        dead.append(jax.tree.map(lambda a: a.reshape(-1, *a.shape[2:]), particles))
        steps += chunk
        remaining = float(jnp.logaddexp(evidence.logZ, evidence.logZ_live) - evidence.logZ)
        log(f"nested sampling: {steps * delete} dead points, log Z = {float(evidence.logZ):.3f}, "
            f"live points may still add {remaining:.2g}")
        if remaining < tolerance:
            converged = True
            break
    if not converged:
        print(f"eft-fit: warning: nested sampling stopped at max_steps = {max_steps} before the live points' share "
              f"of log Z fell below {tolerance} (still {remaining:.3g}); the posterior may miss mass",
              file=sys.stderr, flush=True)
    all_dead = utils.finalise(state, [NSInfo(d, None) for d in dead], update_info=False)
    log_weights = utils.log_weights(key_weights, all_dead, shape=100)      # (points, 100 volume simulations)
    log_z = jax.scipy.special.logsumexp(log_weights, axis=0)
    draws = utils.sample(key_weights, all_dead, shape=samples)
    return NestedSamples(np.asarray(draws.position), float(jnp.mean(log_z)), float(jnp.std(log_z)),
                         int(all_dead.particles.loglikelihood.shape[0]), float(utils.ess(key_weights, all_dead)),
                         converged)


def gaussian_log_evidence(fisher: np.ndarray, chi2_min: float, volume: float) -> float:
    """log Z of exp(-chi2/2) under a flat prior of the given volume, for chi2 = chi2_min + d^T F d (d = x - x0,
    F = A^T C^-1 A the Fisher information of a linear fit) with the Gaussian well inside the box:
    log Z = -chi2_min/2 + (n/2) log(2 pi) - log det(F)/2 - log(volume)."""
    _, logdet = np.linalg.slogdet(np.atleast_2d(fisher))
    n = np.atleast_2d(fisher).shape[0]
    return float(-0.5 * chi2_min + 0.5 * n * math.log(2 * math.pi) - 0.5 * logdet - math.log(volume))
