"""A damped Newton (Levenberg-Marquardt) minimiser for small, smooth objectives, jit- and vmap-able.

A chi2 that is quadratic (linear EFT) or quartic (with quadratic EFT corrections) in a few tens of
coefficients is minimised in a handful of Newton steps with the exact Hessian, where first-order methods
crawl along the near-flat directions of the Fisher matrix. Steps solve ``(H + lambda D) dx = -g`` with
Marquardt scaling D = diag(H) (Marquardt, J. SIAM 11 (1963) 431); accepted steps shrink lambda, rejected ones
grow it. Box bounds: an active-set projected Newton step, trial points clipped into the box; ``frozen``
coordinates stay put (used by profile scans).
"""
from __future__ import annotations

from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp


class NewtonResult(NamedTuple):
    x: jax.Array           # (F,) minimiser
    value: jax.Array       # () objective at x
    iterations: jax.Array  # () Newton iterations used
    converged: jax.Array   # () bool: stopped on the tolerance (else on the iteration or damping limit)


def minimise(fun: Callable, x0, lower, upper, frozen=None, max_iterations: int = 100,
             tolerance: float = 1e-10) -> NewtonResult:
    """Minimise ``fun(x)`` from x0 (F,) within [lower, upper] (F,) keeping ``frozen`` (F,) bool fixed."""
    x0 = jnp.clip(jnp.asarray(x0, dtype=jnp.float64), lower, upper)
    moving = jnp.ones_like(x0) if frozen is None else 1.0 - jnp.asarray(frozen, dtype=x0.dtype)
    grad, hess = jax.grad(fun), jax.hessian(fun)

    def step(state):
        it, x, f, damping, done, converged = state
        g_full = grad(x)
        # Projected Newton (Bertsekas, SIAM J. Control Optim. 20 (1982) 221): coordinates on a bound whose
        # gradient pushes outward are held for this step, Newton acts on the others.
        active = ((x <= lower) & (g_full > 0)) | ((x >= upper) & (g_full < 0))
        free = moving * (1.0 - active.astype(x.dtype))
        g = g_full * free
        h = hess(x) * jnp.outer(free, free) + jnp.diag(1.0 - free)
        # Newton decrement: the decrease the undamped quadratic model predicts; tiny -> at a local minimum.
        predicted = -0.5 * g @ jnp.linalg.solve(h, -g)
        at_minimum = jnp.isfinite(predicted) & (predicted >= 0) & (predicted <= tolerance * (1.0 + jnp.abs(f)))
        diagonal = jnp.abs(jnp.diag(h))
        scale = jnp.maximum(diagonal, 1e-12 * jnp.max(diagonal) + 1e-300)
        dx = jnp.linalg.solve(h + damping * jnp.diag(scale), -g)
        trial = jnp.clip(x + dx * free, lower, upper)
        f_trial = fun(trial)
        accept = jnp.isfinite(f_trial) & (f_trial <= f) & ~at_minimum
        decrease = jnp.where(accept, f - f_trial, 0.0)
        small = accept & (decrease <= tolerance * (1.0 + jnp.abs(f))) & (damping < 1.0)
        stuck = damping > 1e12
        x = jnp.where(accept, trial, x)
        f = jnp.where(accept, f_trial, f)
        damping = jnp.where(accept, jnp.maximum(damping * 0.2, 1e-12), damping * 10.0)
        small = small | at_minimum
        converged = converged | small | (stuck & (jnp.linalg.norm(g) <= 1e-6 * (1.0 + jnp.abs(f))))
        done = done | small | stuck | (it + 1 >= max_iterations)
        return it + 1, x, f, damping, done, converged

    def keep_going(state):
        return ~state[4]

    start = (jnp.array(0), x0, fun(x0), jnp.array(1e-3, dtype=x0.dtype), jnp.array(False), jnp.array(False))
    it, x, f, _, _, converged = jax.lax.while_loop(keep_going, step, start)
    return NewtonResult(x, f, it, converged)
