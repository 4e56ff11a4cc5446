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

from mlhep.engine.step import StepState


class NewtonResult(NamedTuple):
    x: jax.Array           # (F,) minimiser
    value: jax.Array       # () objective at x
    iterations: jax.Array  # () Newton iterations used
    converged: jax.Array   # () bool: stopped on the tolerance (else on the iteration or damping limit)


class NewtonState(NamedTuple):
    """One minimisation in progress: iteration count, point, value there, damping, done and converged flags."""

    it: jax.Array
    x: jax.Array
    f: jax.Array
    damping: jax.Array
    done: jax.Array
    converged: jax.Array


def start(fun: Callable, x0, lower, upper) -> NewtonState:
    x0 = jnp.clip(jnp.asarray(x0, dtype=jnp.float64), lower, upper)
    return NewtonState(jnp.array(0), x0, fun(x0), jnp.array(1e-3, dtype=x0.dtype), jnp.array(False),
                       jnp.array(False))


def iteration(state: NewtonState, fun: Callable, lower, upper, moving, max_iterations: int,
              tolerance: float) -> NewtonState:
    """One damped, projected Newton iteration from ``state`` (``moving`` (F,): 1 for coordinates that may move)."""
    it, x, f, damping, done, converged = state
    g_full = jax.grad(fun)(x)
    # Projected Newton (Bertsekas, SIAM J. Control Optim. 20 (1982) 221): coordinates on a bound whose
    # gradient pushes outward are held for this step, Newton acts on the others.
    active = ((x <= lower) & (g_full > 0)) | ((x >= upper) & (g_full < 0))
    free = moving * (1.0 - active.astype(x.dtype))
    g = g_full * free
    h = jax.hessian(fun)(x) * jnp.outer(free, free) + jnp.diag(1.0 - free)
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
    return NewtonState(it + 1, x, f, damping, done, converged)


def minimise(fun: Callable, x0, lower, upper, frozen=None, max_iterations: int = 100,
             tolerance: float = 1e-10) -> NewtonResult:
    """Minimise ``fun(x)`` from x0 (F,) within [lower, upper] (F,) keeping ``frozen`` (F,) bool fixed."""
    state = start(fun, x0, lower, upper)
    moving = jnp.ones_like(state.x) if frozen is None else 1.0 - jnp.asarray(frozen, dtype=state.x.dtype)
    state = jax.lax.while_loop(lambda s: ~s.done,
                               lambda s: iteration(s, fun, lower, upper, moving, max_iterations, tolerance), state)
    return NewtonResult(state.x, state.f, state.it, state.converged)


class NewtonStep:
    """The damped Newton minimiser as an engine update rule (``mlhep.engine.step``): one iteration per epoch
    from each of ``starts`` (K, F) at once; the replica's parameters are the start with the lowest objective.
    A start that is done stays put, and once every start is done the replica is ``finished`` (the engine then
    stops it), so the engine reaches exactly the minima of ``minimise`` run from each start, with
    checkpoints, sharding and resume."""

    def __init__(self, starts, lower, upper, max_iterations: int = 100, tolerance: float = 1e-10):
        self.starts, self.lower, self.upper = jnp.asarray(starts), jnp.asarray(lower), jnp.asarray(upper)
        self.max_iterations, self.tolerance = max_iterations, tolerance

    def init(self, params):
        """The starts, values unknown until the first update (it evaluates them)."""
        nan = jnp.full(self.starts.shape[0], jnp.nan)
        states = jax.vmap(lambda x0: NewtonState(jnp.array(0), jnp.clip(x0, self.lower, self.upper), jnp.nan,
                                                 jnp.array(1e-3), jnp.array(False), jnp.array(False)))(self.starts)
        return StepState(jnp.clip(self.starts[0], self.lower, self.upper), states._replace(f=nan))

    def update(self, state, objective):
        fun = lambda x: objective(x)[0]  # noqa: E731
        starts = state.opt_state
        starts = starts._replace(f=jnp.where(jnp.isnan(starts.f), jax.vmap(fun)(starts.x), starts.f))
        moving = jnp.ones_like(self.lower)

        def advance(s):
            new = iteration(s, fun, self.lower, self.upper, moving, self.max_iterations, self.tolerance)
            return jax.tree_util.tree_map(lambda a, b: jnp.where(s.done, a, b), s, new)
        starts = jax.vmap(advance)(starts)
        loss, aux = objective(state.params)
        return StepState(starts.x[best_start(starts)], starts), loss, aux

    @staticmethod
    def finished(state) -> jax.Array:
        return jnp.all(state.opt_state.done)

    @staticmethod
    def hyperparameters(state) -> dict:
        return {}

    @staticmethod
    def set_hyperparameters(state, values: dict):
        if values:
            raise KeyError(f"the Newton step has no hyperparameters to set ({sorted(values)})")
        return state


def best_start(starts: NewtonState) -> jax.Array:
    """Index of the start with the lowest finite objective."""
    return jnp.argmin(jnp.where(jnp.isfinite(starts.f), starts.f, jnp.inf))
