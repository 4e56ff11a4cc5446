"""toy-regression: a 1D closure fit that exercises the whole path (runcard -> engine -> results -> report).

Data are y_i = P(x_i) + noise, with P a known polynomial and Gaussian noise of known sigma; each replica fits
an MLP to its own Monte Carlo pseudo-data with a training/validation split and early stopping. The truth is
known, so the replica band can be checked against it (a closure test).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import jax
import jax.numpy as jnp
import numpy as np

from mlhep.config import option
from mlhep.models.mlp import ACTIVATIONS, MLP
from mlhep.stats.pseudodata import sample_replica, train_mask
from mlhep.task import Outputs, RunContext, Task, TrainResult


@dataclass
class ToyData:
    points: int = option(40, "number of data points, evenly spaced in [x_min, x_max]", ge=4, le=10**6)
    x_min: float = option(-1.0, "lowest x")
    x_max: float = option(1.0, "highest x")
    truth: list[float] = option([0.2, 1.0, -1.5], "polynomial coefficients of the truth, constant term first")
    noise: float = option(0.05, "Gaussian noise sigma of the data", gt=0)
    data_seed: int = option(1234, "seed of the noise on the central data (not of the replicas)", ge=0,
                           le=2**32 - 1)
    training_fraction: float = option(0.75, "fraction of points used for training in each replica", gt=0, le=1)


@dataclass
class ToyModel:
    hidden: list[int] = option([16, 16], "hidden layer widths", ge=1, le=4096)
    activation: Literal[tuple(ACTIVATIONS)] = option("tanh", "activation function")


@dataclass
class ToyConfig:
    data: ToyData = option(ToyData(), "the synthetic data set")
    model: ToyModel = option(ToyModel(), "the network")


@dataclass(frozen=True)
class ToyProblem:
    x: jnp.ndarray          # (n,)
    central: jnp.ndarray    # (n,) the measured (noisy) data
    truth: jnp.ndarray      # (n,) the law that made them
    sigma: float


class ToyTrainable:
    """One replica: an MLP fitted to pseudo-data by chi2 on its training points. The shared data are the x
    points and the measured values; a replica's own are its pseudo-data and training mask."""

    def __init__(self, problem: ToyProblem, config: ToyConfig):
        self.problem, self.fraction = problem, config.data.training_fraction
        self.net = MLP(tuple(config.model.hidden), 1, config.model.activation)

    def shared(self):
        return {"x": self.problem.x, "central": self.problem.central}

    def predict(self, params, x):
        return self.net.apply(params, x[:, None])[:, 0]

    def init(self, key, shared):
        return self.net.init(key, shared["x"][:, None])

    def replica_data(self, key, shared):
        k_data, k_mask = jax.random.split(key)
        n = shared["x"].size
        groups = jnp.zeros(n, dtype=jnp.int32)
        return {"y": sample_replica(k_data, shared["central"], jnp.eye(n) * self.problem.sigma),
                "train": train_mask(k_mask, groups, jnp.array([self.fraction]))}

    def _chi2(self, params, shared, data, mask):
        residual = (self.predict(params, shared["x"]) - data["y"]) / self.problem.sigma
        return jnp.sum(jnp.where(mask, residual ** 2, 0.0)) / jnp.maximum(jnp.sum(mask), 1)

    def train_loss(self, params, shared, data, epoch):
        return self._chi2(params, shared, data, data["train"])

    def training_points(self, data):
        return jnp.sum(data["train"])

    def validation(self, params, shared, data):
        valid = ~data["train"]
        # With no validation points (fraction 1) stop on the training loss instead.
        return jnp.where(jnp.any(valid), self._chi2(params, shared, data, valid),
                         self._chi2(params, shared, data, data["train"])), True


def training_points(fraction: float, points: int) -> int:
    """How many of ``points`` each replica trains on: ``train_mask`` keeps round(fraction x points)."""
    return int(np.round(fraction * points))


class ToyRegressionTask(Task):
    name = "toy-regression"
    description = "1D closure fit of a known polynomial with an MLP ensemble (exercises the whole framework)"
    Config = ToyConfig

    def setup(self, config: ToyConfig, ctx: RunContext) -> ToyProblem:
        d = config.data
        if d.x_max <= d.x_min:
            raise ctx.fail("data.x_max", f"must be larger than data.x_min ({d.x_min})")
        if not d.truth:
            raise ctx.fail("data.truth", "no coefficient (valid: a list such as [0.2, 1.0, -1.5], constant first)")
        if training_points(d.training_fraction, d.points) == 0:
            raise ctx.fail("data.training_fraction",
                           f"{d.training_fraction} of {d.points} points leaves no training point (each replica "
                           f"trains on round(training_fraction x points); valid: above {0.5 / d.points:.3g})")
        x = np.linspace(d.x_min, d.x_max, d.points)
        truth = np.polynomial.polynomial.polyval(x, d.truth)
        noise = np.random.default_rng(d.data_seed).normal(0.0, d.noise, d.points)
        return ToyProblem(jnp.asarray(x), jnp.asarray(truth + noise), jnp.asarray(truth), d.noise)

    def trainable(self, problem: ToyProblem, config: ToyConfig) -> ToyTrainable:
        return ToyTrainable(problem, config)

    def evaluate(self, problem: ToyProblem, config: ToyConfig, result: TrainResult) -> Outputs:
        trainable = self.trainable(problem, config)
        prediction = jax.vmap(lambda p: trainable.predict(p, problem.x))(result.params)
        chi2 = jnp.mean(((prediction - problem.central) / problem.sigma) ** 2, axis=1)
        return Outputs(replicas={"prediction": np.asarray(prediction), "chi2": np.asarray(chi2)},
                       summary={"x": np.asarray(problem.x), "truth": np.asarray(problem.truth),
                                "data": np.asarray(problem.central), "sigma": np.asarray(problem.sigma)})

    def report(self, results) -> str:
        good = ~np.asarray(results.train.get("failed", np.zeros(results.n_replicas, dtype=bool)))
        pred, truth = results.replicas["prediction"][good], results.summary["truth"]
        failed = f"{np.sum(~good)} of {good.size} replicas failed and are left out\n" if not good.all() else ""
        if not good.any():
            return failed
        mean, std = pred.mean(axis=0), pred.std(axis=0)
        pull = np.abs(mean - truth) / np.maximum(std, 1e-12)
        return (f"{failed}chi2/point to data, mean over replicas: {results.replicas['chi2'][good].mean():.3f}\n"
                f"truth within 1 sigma of the ensemble at {np.mean(pull < 1):.0%} of points, "
                f"within 2 sigma at {np.mean(pull < 2):.0%}")

    def plot(self, results, outdir):
        from mlhep.plotting import figure
        good = ~np.asarray(results.train.get("failed", np.zeros(results.n_replicas, dtype=bool)))
        s, pred = results.summary, results.replicas["prediction"][good]
        lo, hi = np.percentile(pred, [16, 84], axis=0)
        path = outdir / "toy_fit.png"
        with figure(path, figsize=(6, 4)) as (fig, ax):
            ax.fill_between(s["x"], lo, hi, alpha=0.4, label="replicas 68%")
            ax.plot(s["x"], s["truth"], "k-", label="truth")
            ax.errorbar(s["x"], s["data"], yerr=float(s["sigma"]), fmt=".", label="data")
            ax.set_xlabel("x"), ax.set_ylabel("y"), ax.legend()
        return [path]


TASK = ToyRegressionTask()
