"""The sideband density p_SB(x | m_jj) that ANODE and CATHODE share, and CATHODE's sampling of it in the signal
region at masses drawn from a kernel density estimate of the signal-region m_jj (Hallin et al., PRD 106 (2022)
055006, arXiv:2109.00546, sec. II)."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from mlhep.task import TrainResult
from mlhep.tasks.bumphunt.events import Events
from mlhep.tasks.bumphunt.flows import ConditionalFlow, Preprocessing
from mlhep.tasks.bumphunt.methods.common import MethodSettings, features, regions
from mlhep.tasks.bumphunt.methods.trainables import FlowTrainable


def flow_for(events: Events, settings: MethodSettings) -> ConditionalFlow:
    """The flow architecture of ``settings`` with its preprocessing fitted on the signal-region and sideband
    events (their feature box: every event a method scores lies inside it)."""
    sr, sb = regions(events, settings)
    use = sr | sb
    return settings.flow.build(Preprocessing.fit(features(events)[use], events.mjj[use]), len(features(events)[0]))


def train_sideband_flow(events: Events, settings: MethodSettings, ctx,
                        stage: str = "flow_sb") -> tuple[FlowTrainable, TrainResult]:
    """Stage ``stage``: every replica fits p(x | m_jj) to all sideband events (nothing held out: the flow never
    sees a signal-region event). Returns (trainable, TrainResult), to pass to ``run_anode``/``run_cathode``."""
    _, sb = regions(events, settings)
    trainable = FlowTrainable(flow_for(events, settings), features(events)[sb], events.mjj[sb],
                              np.full(int(sb.sum()), -1, np.int32), settings.validation_fraction,
                              events.weights[sb])
    return trainable, ctx.train(trainable, stage=stage)


def scott_bandwidth(m: np.ndarray) -> float:
    """Scott's rule for a 1D Gaussian KDE: std(m) n^(-1/5) (scipy.stats.gaussian_kde's default)."""
    return float(np.std(m) * len(m) ** (-0.2))


def kde_masses(key: jax.Array, m: jax.Array, n: int, bandwidth: float, window: tuple[float, float]) -> jax.Array:
    """(n,) draws of a Gaussian KDE of the masses m (n_sr,), reflected at the window's edges so that they stay
    inside it without piling up there (bandwidth << window width: one reflection suffices)."""
    pick, noise = jax.random.split(key)
    draw = m[jax.random.randint(pick, (n,), 0, m.size)] + bandwidth * jax.random.normal(noise, (n,), m.dtype)
    lo, hi = window
    draw = jnp.where(draw < lo, 2 * lo - draw, draw)
    return jnp.clip(jnp.where(draw > hi, 2 * hi - draw, draw), lo, hi)


def sample_signal_region(flow: ConditionalFlow, params, keys: jax.Array, mjj_sr: np.ndarray, n_samples: int,
                         bandwidth: float, window, chunk: int = 32768) -> np.ndarray:
    """(R, n_samples, dim) float32: replica r's flow (params row r) sampled at n_samples masses drawn from the
    KDE of the signal-region m_jj (n_sr,), with its own ``keys`` row (R, 2) (its flow stage's data key). All
    replicas at once, ``chunk`` samples per call (memory R x chunk x width, whatever n_samples)."""
    m = jnp.asarray(mjj_sr, jnp.float32)
    window = tuple(float(w) for w in window)
    size = min(chunk, n_samples)

    @jax.jit
    def draw(params, keys, index):
        def one(p, key):
            masses = kde_masses(jax.random.fold_in(jax.random.fold_in(key, 7), index), m, size, bandwidth, window)
            return flow.sample(p, jax.random.fold_in(jax.random.fold_in(key, 8), index), masses)
        return jax.vmap(one)(params, keys)
    keys = jnp.asarray(keys)
    parts = [np.asarray(draw(params, keys, i), np.float32) for i in range(-(-n_samples // size))]
    return np.concatenate(parts, axis=1)[:, :n_samples]
