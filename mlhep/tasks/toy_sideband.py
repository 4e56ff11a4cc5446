"""toy-sideband: CATHODE-style anomaly detection in miniature (Hallin et al., arXiv:2109.00546); two stages.

Events have a mass m in [0, 1] and a feature x. Background: m ~ exp(-m / mass_decay), x | m ~ N(mu(m), sigma(m))
with mu, sigma known polynomials; an optional signal is a narrow bump in m with its own x. Stage ``density``
learns p(x | m) on the sidebands (m outside the signal region) by maximum likelihood; stage ``classifier``
separates the signal-region data (label 1) from samples of that density at the signal-region masses (label 0).
Its likelihood ratio s / (1 - s) is 1 without signal and rises where the signal sits: known truths for both.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
import optax

from mlhep.config import option
from mlhep.models.mlp import MLP
from mlhep.stats.pseudodata import train_mask
from mlhep.task import Outputs, RunContext, StepInfo, Task


@dataclass
class SidebandData:
    n_background: int = option(20000, "background events", ge=100, le=10**7)
    n_signal: int = option(0, "signal events injected (0: background only, the closure test)", ge=0, le=10**6)
    mass_decay: float = option(0.5, "background mass density exp(-m / mass_decay) on [0, 1]", gt=0)
    feature_mean: list[float] = option([0.0, 1.0], "background mean of x as a polynomial in m, constant first")
    feature_sigma: list[float] = option([0.3, 0.2], "background sigma of x as a polynomial in m, constant first")
    signal_region: list[float] = option([0.4, 0.6], "[low, high] mass window of the signal region")
    signal_mass: float = option(0.5, "signal mass (mean of its Gaussian bump)")
    signal_width: float = option(0.02, "signal mass width", gt=0)
    signal_feature: list[float] = option([1.5, 0.15], "[mean, sigma] of the signal's x")
    data_seed: int = option(2024, "seed of the event sample (not of the replicas)", ge=0, le=2**32 - 1)


@dataclass
class SidebandModel:
    density_hidden: list[int] = option([8], "hidden widths of the MLP m -> (mu, log sigma)", ge=1, le=1024)
    classifier_hidden: list[int] = option([16, 16], "hidden widths of the classifier MLP x -> logit", ge=1, le=1024)
    oversample: int = option(2, "stage-1 samples per signal-region event (weighted 1/oversample)", ge=1, le=100)
    validation_fraction: float = option(0.25, "fraction of the examples each replica validates on", gt=0, lt=1)


@dataclass
class SidebandConfig:
    data: SidebandData = option(SidebandData(), "the synthetic events")
    model: SidebandModel = option(SidebandModel(), "the two networks")


def background_feature(d: SidebandData, m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(mean, sigma) of the background's x at masses ``m``: the truth stage 1 must learn."""
    poly = np.polynomial.polynomial.polyval
    return poly(m, d.feature_mean), poly(m, d.feature_sigma)


def _normal(x, mean, sigma):
    return np.exp(-0.5 * ((x - mean) / sigma) ** 2) / (np.sqrt(2 * np.pi) * sigma)


def true_ratio(d: SidebandData, x: np.ndarray) -> np.ndarray:
    """p_data(x) / p_samples(x) in the signal region: the ratio a perfect classifier learns when the samples follow
    the exact background p(x | m) at the data's signal-region masses (expected signal fraction f)."""
    lo, hi = d.signal_region
    m = np.linspace(lo, hi, 401)[:, None]
    p_b = np.exp(-m / d.mass_decay)
    p_s = _normal(m, d.signal_mass, d.signal_width)
    n_b = d.n_background * np.trapezoid(p_b[:, 0], m[:, 0]) / (d.mass_decay * (1 - np.exp(-1 / d.mass_decay)))
    f = d.n_signal * np.trapezoid(p_s[:, 0], m[:, 0]) / (d.n_signal * np.trapezoid(p_s[:, 0], m[:, 0]) + n_b)
    bkg_x = _normal(x[None, :], *background_feature(d, m))
    mix = lambda p: np.trapezoid(p * bkg_x, m[:, 0], axis=0) / np.trapezoid(p[:, 0], m[:, 0])  # noqa: E731
    return ((1 - f) * mix(p_b) + f * _normal(x, *d.signal_feature)) / ((1 - f) * mix(p_b) + f * mix(p_s))


@dataclass(frozen=True)
class Events:
    sideband: tuple[jax.Array, jax.Array]   # (m, x), each (n_sb,) float32
    signal_region: tuple[jax.Array, jax.Array]   # (m, x), each (n_sr,) float32


def split_weights(key: jax.Array, n: int, validation_fraction: float) -> dict[str, jax.Array]:
    """A replica's (training, validation) weights (n,) of n examples: a random split, the sample never copied."""
    train = train_mask(key, jnp.zeros(n, jnp.int32), jnp.array([1.0 - validation_fraction]))
    return {"train": train.astype(jnp.float32), "valid": (~train).astype(jnp.float32)}


@dataclass(frozen=True, eq=False)   # hashed by identity: the engine caches its compiled program per trainable
class DensityTrainable:
    """Stage 1: p(x | m) = N(x; mu(m), sigma(m)) with (mu, log sigma) = MLP(m); examples: the sideband events."""

    net: MLP
    events: tuple[jax.Array, jax.Array]
    validation_fraction: float
    minibatch_size: int = 256

    def shared(self):
        return {"m": self.events[0], "x": self.events[1]}

    def init(self, key, shared):
        return self.net.init(key, shared["m"][:1, None])

    def replica_data(self, key, shared):
        return split_weights(key, shared["m"].size, self.validation_fraction)

    def weights(self, data):
        return data["train"], data["valid"]

    def mean_sigma(self, params, m):
        out = self.net.apply(params, m[:, None])
        return out[:, 0], jnp.exp(out[:, 1])

    def example_losses(self, params, shared, data, rows, info: StepInfo):
        """Negative log-likelihood (B,) of the events ``rows``."""
        mean, sigma = self.mean_sigma(params, shared["m"][rows])
        return 0.5 * ((shared["x"][rows] - mean) / sigma) ** 2 + jnp.log(sigma) + 0.5 * np.log(2 * np.pi)


@dataclass(frozen=True, eq=False)
class ClassifierTrainable:
    """Stage 2: signal-region data (examples 0..n-1, label 1, shared by all replicas) against the replica's own
    stage-1 samples (examples n.., label 0), which the engine hands to ``replica_data`` as its ``inputs``."""

    net: MLP
    x_data: jax.Array        # (n,) signal-region features
    n_samples: int           # samples per replica drawn from its stage-1 density
    validation_fraction: float
    minibatch_size: int = 256

    def shared(self):
        return {"x": self.x_data}

    def init(self, key, shared):
        return self.net.init(key, shared["x"][:1, None])

    def replica_data(self, key, shared, samples):
        n, n_samples = shared["x"].size, self.n_samples
        balance = jnp.where(jnp.arange(n + n_samples) < n, 1.0, n / n_samples).astype(jnp.float32)
        split = split_weights(key, n + n_samples, self.validation_fraction)
        return {"samples": samples, "train": split["train"] * balance, "valid": split["valid"] * balance}

    def weights(self, data):
        return data["train"], data["valid"]

    def logit(self, params, x):
        return self.net.apply(params, x[:, None])[:, 0]

    def example_losses(self, params, shared, data, rows, info: StepInfo):
        """Binary cross-entropy (B,) of the examples ``rows``."""
        n = shared["x"].size
        is_data = rows < n
        x = jnp.where(is_data, shared["x"][jnp.minimum(rows, n - 1)],
                      data["samples"][jnp.maximum(rows - n, 0)])
        return optax.sigmoid_binary_cross_entropy(self.logit(params, x), is_data.astype(x.dtype))


class ToySidebandTask(Task):
    name = "toy-sideband"
    description = "two-stage anomaly detection (CATHODE in miniature): sideband density, then a classifier"
    Config = SidebandConfig
    stages = ("density", "classifier")
    precision = "float32"   # network density and classifier: no correlated chi2

    def setup(self, config: SidebandConfig, ctx: RunContext) -> Events:
        d = config.data
        if len(d.signal_region) != 2 or not 0 < d.signal_region[0] < d.signal_region[1] < 1:
            raise ctx.fail("data.signal_region", f"{d.signal_region} is not a window [low, high] inside (0, 1)")
        if len(d.signal_feature) != 2 or d.signal_feature[1] <= 0:
            raise ctx.fail("data.signal_feature", f"{d.signal_feature} is not [mean, sigma > 0]")
        if not d.feature_mean or np.min(background_feature(d, np.linspace(0, 1, 101))[1]) <= 0:
            raise ctx.fail("data.feature_sigma", "the background sigma must be positive on [0, 1] (and the "
                                                 "polynomials non-empty)")
        rng = np.random.default_rng(d.data_seed)
        u = rng.uniform(size=d.n_background)   # inverse CDF of the truncated exponential
        m = np.concatenate([-d.mass_decay * np.log1p(-u * (1 - np.exp(-1 / d.mass_decay))),
                            np.clip(rng.normal(d.signal_mass, d.signal_width, d.n_signal), 0, 1)])
        mean, sigma = background_feature(d, m[:d.n_background])
        x = np.concatenate([rng.normal(mean, sigma), rng.normal(*d.signal_feature, d.n_signal)])
        inside = (m >= d.signal_region[0]) & (m <= d.signal_region[1])
        pick = lambda mask: (jnp.asarray(m[mask], jnp.float32), jnp.asarray(x[mask], jnp.float32))  # noqa: E731
        return Events(pick(~inside), pick(inside))

    def run(self, config: SidebandConfig, ctx: RunContext) -> Outputs:
        events, model = self.setup(config, ctx), config.model
        density = DensityTrainable(MLP(tuple(model.density_hidden), 2), events.sideband, model.validation_fraction)
        first = ctx.train(density, stage="density")
        sample = jax.jit(jax.vmap(functools.partial(self._sample, density), in_axes=(None, 0, 0)))
        samples = sample(jnp.tile(events.signal_region[0], model.oversample), first.params, first.data_keys)
        classifier = ClassifierTrainable(MLP(tuple(model.classifier_hidden), 1), events.signal_region[1],
                                         samples.shape[1], model.validation_fraction)
        second = ctx.train(classifier, stage="classifier", inputs=samples)   # each replica gets its own row
        outputs = self.evaluate(events, config, {"density": (density, first), "classifier": (classifier, second)})
        outputs.train = second
        return outputs

    @staticmethod
    def _sample(density: DensityTrainable, m, params, key):
        """x ~ p(x | m) of one replica's stage-1 density at the masses ``m``, from its stage-1 data key."""
        mean, sigma = density.mean_sigma(params, m)
        return mean + sigma * jax.random.normal(jax.random.fold_in(key, 7), m.shape, m.dtype)

    def evaluate(self, events: Events, config: SidebandConfig, result) -> Outputs:
        """``result``: stage name -> (trainable, TrainResult). Outputs on a mass grid (density) and an x grid."""
        d = config.data
        (density, first), (classifier, second) = result["density"], result["classifier"]
        m_grid = np.linspace(0, 1, 41, dtype=np.float32)
        x_grid = np.linspace(-0.5, 2.5, 61, dtype=np.float32)   # where the signal-region events lie
        mean, sigma = jax.jit(jax.vmap(density.mean_sigma, in_axes=(0, None)))(first.params, m_grid)
        score = jax.nn.sigmoid(jax.jit(jax.vmap(classifier.logit, in_axes=(0, None)))(second.params, x_grid))
        true_mean, true_sigma = background_feature(d, m_grid.astype(float))
        return Outputs(
            replicas={"density_mean": np.asarray(mean), "density_sigma": np.asarray(sigma),
                      "score": np.asarray(score), "ratio": np.asarray(score / (1 - score))},
            summary={"mass": m_grid, "true_mean": true_mean, "true_sigma": true_sigma, "x": x_grid,
                     "true_ratio": true_ratio(d, x_grid.astype(float)), "signal_region": np.asarray(d.signal_region),
                     "signal_feature": np.asarray(d.signal_feature), "n_signal_region": len(events.signal_region[0])})

    def report(self, results) -> str:
        r, s = results.replicas, results.summary
        window = (s["mass"] >= s["signal_region"][0]) & (s["mass"] <= s["signal_region"][1])
        pull = np.abs(r["density_mean"] - s["true_mean"]) / s["true_sigma"]
        width = np.abs(r["density_sigma"] / s["true_sigma"] - 1)
        peak = np.argmin(np.abs(s["x"] - s["signal_feature"][0]))
        ratio = r["ratio"][:, peak]
        return (f"stage density: in the signal region (interpolated) |mu - mu_true| <= {pull[:, window].max():.3f} "
                f"sigma_true and |sigma/sigma_true - 1| <= {width[:, window].max():.3f} over all replicas\n"
                f"stage classifier: likelihood ratio at the signal's x = {s['x'][peak]:.2f}: {ratio.mean():.2f} "
                f"+- {ratio.std():.2f} over replicas (truth {s['true_ratio'][peak]:.2f}; 1 = no anomaly), "
                f"{int(s['n_signal_region'])} signal-region events")

    def plot(self, results, outdir):
        from mlhep.plotting import figure
        r, s = results.replicas, results.summary
        path = outdir / "toy_sideband.png"
        with figure(path, 1, 2, figsize=(10, 4)) as (fig, (left, right)):
            for name, label in (("mean", "(mu - mu_true) / sigma_true"), ("sigma", "sigma / sigma_true - 1")):
                pull = (r[f"density_{name}"] - s[f"true_{name}"]) / s["true_sigma"]
                left.fill_between(s["mass"], *np.percentile(pull, [16, 84], axis=0), alpha=0.4, label=label)
            left.axhline(0, color="k"), left.axvspan(*s["signal_region"], color="grey", alpha=0.2)
            left.set_xlabel("m (shaded: signal region)"), left.set_ylabel("stage 1 - truth"), left.legend()
            right.fill_between(s["x"], *np.percentile(r["ratio"], [16, 84], axis=0), alpha=0.4,
                               label="learned, s / (1 - s) (68%)")
            right.plot(s["x"], s["true_ratio"], "k-", label="truth")
            right.set_yscale("log"), right.set_xlabel("x (signal region)"), right.set_ylabel("p_data / p_samples")
            right.legend()
        return [path]


TASK = ToySidebandTask()
