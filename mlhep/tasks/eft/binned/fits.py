"""Fits of the free coefficients: the analytic linear Gaussian fit and the Monte Carlo replica fit.

Analytic (linear EFT, Gaussian likelihood, no bounds): with whitened A_w = L^-1 A and r_w = L^-1 (d - t_0),
the best fit is ``x = (A^T C^-1 A)^-1 A^T C^-1 (d - t_0)`` and its covariance the inverse Fisher matrix
``(A^T C^-1 A)^-1`` (e.g. SMEFiT, arXiv:2105.00006 sec. 4). Flat directions make the Fisher matrix singular:
the pseudo-inverse then gives the minimum-norm solution and infinite-variance directions are reported.

Replicas (NNPDF/SMEFiT MC method, arXiv:2105.00006 sec. 4.1): pseudo-data ``d_r ~ N(d, C_exp)``; each replica's
chi2 is minimised; the ensemble of minima samples the coefficient distribution. All replicas run as one
vmapped, jitted damped-Newton loop (``newton.minimise``), or through the mlhep engine (gradient descent).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from mlhep.engine.replicas import replica_data_keys
from mlhep.stats.pseudodata import sample_replica

from mlhep.engine.config import EngineConfig, StoppingConfig
from mlhep.engine.newton import NewtonStep, best_start, minimise
from .problem import BinnedProblem


@dataclass(frozen=True)
class AnalyticFit:
    best: np.ndarray        # (F,) best-fit free coefficients
    covariance: np.ndarray  # (F, F) inverse Fisher matrix (pseudo-inverse if singular)
    fisher: np.ndarray      # (F, F) A^T C^-1 A
    chi2: float             # chi2 at the best fit


def analytic_fit(problem: BinnedProblem, data: np.ndarray | None = None, at: np.ndarray | None = None) -> AnalyticFit:
    """Closed-form linear fit to ``data`` (default: the measured central values); ignores bounds. With non-linear
    (UV) constraints it is the fit of the model linearised at ``at`` (``BinnedProblem.linearised``): at the best
    fit, its covariance is the Laplace (Gaussian) approximation there."""
    data = problem.central if data is None else data
    A, base = problem.linearised(at)
    whitening = problem.fit_whitening
    A_w, r_w = whitening.whiten(A), whitening.whiten(data - base)
    with np.errstate(over="ignore", invalid="ignore"):    # an overflow is refused by the caller, by name
        fisher = A_w.T @ A_w
    if not np.all(np.isfinite(fisher)):
        nan = np.full(fisher.shape[0], np.nan)
        return AnalyticFit(nan, np.diag(nan), fisher, float("nan"))
    covariance = np.linalg.pinv(fisher, rcond=1e-13, hermitian=True)
    best = covariance @ (A_w.T @ r_w)
    residual = r_w - A_w @ best
    return AnalyticFit(best, covariance, fisher, float(residual @ residual))


def replica_keys(seed: int, replica_ids: np.ndarray) -> jax.Array:
    """The engine's pseudo-data keys, so the Newton and the engine solvers fit the same replicas."""
    return replica_data_keys(seed, replica_ids)


def replica_data(problem: BinnedProblem, keys: jax.Array) -> jax.Array:
    """(R, n) pseudo-data replicas sampled with the experimental (+ theory) covariance."""
    central, chol = jnp.asarray(problem.central), jnp.asarray(problem.sample_cholesky)
    return jax.vmap(lambda k: sample_replica(k, central, chol))(keys)


def initial_point(problem: BinnedProblem) -> np.ndarray:
    """Start of every minimisation: the linear analytic fit to the central data, clipped into the bounds."""
    start = analytic_fit(problem).best
    cmap = problem.coefficients
    return np.clip(start, cmap.lower, cmap.upper)


def start_points(problem: BinnedProblem, count: int, seed: int) -> np.ndarray:
    """(count, F) starting points: the clipped analytic linear solution, then points drawn uniformly in the
    box (or within 5 linear-fit standard deviations of the analytic solution where a bound is missing).

    A chi2 with quadratic EFT corrections is quartic and can have several minima (e.g. sign-flipped
    solutions), so each replica is minimised from every start and the lowest minimum kept. The starts
    depend only on the seed, not on the replicas, so replica i's result does not depend on the batch.
    """
    first = initial_point(problem)
    if count == 1:
        return first[None, :]
    cmap = problem.coefficients
    sigma = np.sqrt(np.clip(np.diag(analytic_fit(problem).covariance), 0.0, None))
    lo = np.where(np.isfinite(cmap.lower), cmap.lower, first - 5 * sigma)
    hi = np.where(np.isfinite(cmap.upper), cmap.upper, first + 5 * sigma)
    uniform = np.random.default_rng(seed).uniform(size=(count - 1, first.size))
    return np.concatenate([first[None, :], lo + (hi - lo) * uniform])


def make_replica_solver(problem: BinnedProblem, max_iterations: int, tolerance: float, batched: bool = True):
    """A jitted ``solve(data (R, n), starts (K, F)) -> NewtonResult`` of (R, ...) arrays: every replica is
    minimised from every start and the lowest minimum is kept.

    ``batched=False`` gives the same computation one replica per call (for benchmarks): ``solve(data (n,), ...)``.
    """
    whiten, chi2_whitened = problem.whitened()
    lower, upper = jnp.asarray(problem.coefficients.lower), jnp.asarray(problem.coefficients.upper)

    def one(data, starts):
        data_w = whiten(data)

        def from_start(x0):
            return minimise(lambda x: chi2_whitened(x, data_w), x0, lower, upper,
                            max_iterations=max_iterations, tolerance=tolerance)

        results = jax.vmap(from_start)(starts)
        best = jnp.argmin(jnp.where(jnp.isfinite(results.value), results.value, jnp.inf))
        return jax.tree_util.tree_map(lambda a: a[best], results)

    if batched:
        return jax.jit(jax.vmap(one, in_axes=(0, None)))
    return jax.jit(one)


def separate_minima(problem: BinnedProblem, starts: np.ndarray, max_iterations: int, tolerance: float,
                    delta_chi2: float = 10.0) -> tuple[np.ndarray, np.ndarray]:
    """Distinct local minima of the central data's chi2 reached from ``starts`` (K, F), within ``delta_chi2`` of the
    lowest: (M, F) points and (M,) chi2, lowest first. Two minima are the same when they lie within 1e-3 of the box
    (or of the start spread) in every coefficient. A quadratic EFT chi2 with M > 1 has a multimodal posterior."""
    whiten, chi2_whitened = problem.whitened()
    data_w = whiten(jnp.asarray(problem.central))
    lower, upper = jnp.asarray(problem.coefficients.lower), jnp.asarray(problem.coefficients.upper)
    solve = jax.jit(jax.vmap(lambda x0: minimise(lambda x: chi2_whitened(x, data_w), x0, lower, upper,
                                                 max_iterations=max_iterations, tolerance=tolerance)))
    result = solve(jnp.asarray(starts))
    x, chi2 = np.asarray(result.x), np.asarray(result.value)
    keep = np.isfinite(chi2) & (chi2 <= np.nanmin(chi2) + delta_chi2)
    x, chi2 = x[keep][np.argsort(chi2[keep])], np.sort(chi2[keep])
    scale = 1e-3 * np.ptp(np.concatenate([starts, x]), axis=0).clip(1e-12)
    distinct = [0]
    for i in range(1, len(x)):
        if all(np.any(np.abs(x[i] - x[j]) > scale) for j in distinct):
            distinct.append(i)
    return x[distinct], chi2[distinct]


class ReplicaTrainable:
    """The replica fit as an mlhep ``Trainable`` for the gradient-descent engine.

    Parameters are the free coefficients (F,); the loss is chi2 / n of the replica's pseudo-data, and the
    validation loss is the same chi2 (there is no training/validation split in an EFT fit: with a handful of
    parameters there is nothing to overfit), always ``ok``.
    """

    def __init__(self, problem: BinnedProblem):
        self._objective = problem.objective()
        self._start = jnp.asarray(initial_point(problem))
        self._central = jnp.asarray(problem.central)
        self._chol = jnp.asarray(problem.sample_cholesky)
        self._n = float(problem.central.size)
        self._lower = jnp.asarray(problem.coefficients.lower)
        self._upper = jnp.asarray(problem.coefficients.upper)

    def shared(self):
        return {"central": self._central, "chol": self._chol}

    def init(self, key, shared):
        return self._start

    def replica_data(self, key, shared):
        return sample_replica(key, shared["central"], shared["chol"])

    def train_loss(self, params, shared, data, epoch):
        return self._objective(jnp.clip(params, self._lower, self._upper), data) / self._n

    def validation(self, params, shared, data):
        return self._objective(jnp.clip(params, self._lower, self._upper), data), jnp.array(True)


class NewtonTrainable:
    """The replica fit through the engine with the damped Newton step (``mlhep.engine.newton.NewtonStep``):
    each replica's chi2 on its whitened pseudo-data is minimised from every start, one Newton iteration per
    engine epoch, exactly as ``make_replica_solver`` does in one loop, but with the engine's checkpoints,
    resume and sharding. The validation loss is the chi2 itself (nothing to overfit with a few parameters)."""

    def __init__(self, problem: BinnedProblem, starts: np.ndarray, max_iterations: int, tolerance: float):
        self._whiten, self._chi2 = problem.whitened()
        self._central = jnp.asarray(problem.central)
        self._chol = jnp.asarray(problem.sample_cholesky)
        self._newton = NewtonStep(starts, problem.coefficients.lower, problem.coefficients.upper, max_iterations,
                                  tolerance)

    def shared(self):
        return {"central": self._central, "chol": self._chol}

    def init(self, key, shared):
        return self._newton.init(None).params

    def replica_data(self, key, shared):
        """The replica's pseudo-data, whitened (the Newton loop then has no triangular solve)."""
        return self._whiten(sample_replica(key, shared["central"], shared["chol"]))

    def train_loss(self, params, shared, data, epoch):
        return self._chi2(params, data)

    def validation(self, params, shared, data):
        return self._chi2(params, data), jnp.array(True)

    def step(self, cfg: EngineConfig) -> NewtonStep:
        return self._newton

    def engine(self, runcard_engine: EngineConfig | None, max_iterations: int) -> EngineConfig:
        """The runcard's engine settings (sharding, checkpoints, batching) with Newton's own length: every
        start is done after at most ``max_iterations`` iterations, and patience never stops it earlier."""
        # Newton marks each start done after max_iterations iterations and then finishes the replica itself;
        # the epoch limit is only a backstop one beyond it.
        epochs = max_iterations + 1
        runcard_engine = runcard_engine or EngineConfig()
        return dataclasses.replace(runcard_engine, epochs=epochs, chunk=min(runcard_engine.chunk, 10),
                                   stopping=StoppingConfig(patience=epochs), minibatch_size=None,
                                   validate_every=1)

    @staticmethod
    def outcome(result) -> dict[str, np.ndarray]:
        """Per replica: the best start's minimum, chi2, convergence flag and iterations (from the step state)."""
        starts = result.step_state.opt_state
        best = np.asarray(jax.vmap(best_start)(starts))
        pick = lambda a: np.take_along_axis(np.asarray(a), best.reshape(-1, *([1] * (np.ndim(a) - 1))),  # noqa
                                            axis=1)[:, 0]
        return {"free": pick(starts.x), "chi2": pick(starts.f), "converged": pick(starts.converged),
                "iterations": pick(starts.it)}
