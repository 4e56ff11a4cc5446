"""Conditional normalising flows p(x | m) as pure functions of a parameter pytree, for the engine's vmapped program.

A masked autoregressive flow (MAF; Papamakarios, Pavlakou, Murray, NeurIPS 2017, arXiv:1705.07057) of affine
MADE blocks (Germain et al., ICML 2015, arXiv:1502.03509), conditioned on m (m_jj) through every block, after
the preprocessing of the CATHODE reference code (Hallin et al., PRD 106 (2022) 055006, arXiv:2109.00546): each
feature is scaled into (0, 1) inside a box [lo, hi], logit-transformed and standardised. ``log_prob`` includes
the Jacobian of that map, so it is a density in the physical x.

Block b maps y (the data side) to u (the noise side) given c = standardised m:

    (shift, raw) = MADE_b(y, c),  s = softplus(raw + log(e^0.999 - 1)) + 0.001,  u = (y - shift) * s,
    log |du/dy| = sum log s,

where output i of the MADE sees only the inputs before i in the block's order (masks from the MADE degrees;
c reaches every unit), so the Jacobian is triangular. Blocks alternate with fixed permutations (drawn once from a
fixed seed, the same for every replica). The output layer starts at zero: a new flow is the identity map, so
training starts from the preprocessed data's standard normal approximation. ``log_prob`` is one pass per block;
``sample`` inverts each block in dim passes (an autoregressive inverse).

Why not flowjax (19.1.2, equinox 0.13.8): its flows vmap over a replica axis of parameters (after
``eqx.partition`` into float arrays and the rest) and agree with a loop to 1e-5, but building one costs ~50 XLA
compilations of tiny eager programs, 5-10 s CPU per architecture and process on this machine, on top of the
engine's own; and its spline is ~15x slower per step than an affine block on a CPU. This module has no
construction cost, and its parameters are plain nested dicts (clean names in the results file).

Shapes: x (n, dim) float, m (n,) float [TeV], log_prob (n,), sample (n, dim).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

# Logit preprocessing: u in (0, 1) is clipped to [EPS, 1 - EPS], so an event just outside the box costs a
# slightly wrong density instead of a NaN (the box has a margin, so no training event is clipped).
EPS = 1e-6


@dataclass(frozen=True, eq=False)
class Preprocessing:
    """x -> z = (logit((x - lo) / (hi - lo)) - mean) / std per feature, and m -> (m - m_mean) / m_std.

    The box [lo, hi] (dim,) is the range of the events it was fitted on, widened by ``margin`` times its width on
    either side, so that no event sits at the edge (logit = +-inf). The
    logit keeps samples inside the box (jet masses > 0, tau21 in [0, 1]); ``logit=False`` only standardises,
    z = (x - mean) / std, for features that are unbounded and nearly Gaussian already."""

    lo: np.ndarray
    hi: np.ndarray
    mean: np.ndarray
    std: np.ndarray
    m_mean: float
    m_std: float
    logit: bool = True

    @staticmethod
    def fit(x: np.ndarray, m: np.ndarray, margin: float = 0.05, logit: bool = True) -> "Preprocessing":
        """From events x (n, dim) and m (n,): the box of x with ``margin``, the mean and std of the logits."""
        x, m = np.asarray(x, np.float64), np.asarray(m, np.float64)
        if x.ndim != 2 or len(x) < 2 or m.shape != (len(x),):
            raise ValueError(f"Preprocessing.fit needs x (n >= 2, dim) and m (n,), got {x.shape} and {m.shape}")
        width = np.ptp(x, axis=0)
        width = np.where(width > 0, width, 1.0)
        lo, hi = x.min(axis=0) - margin * width, x.max(axis=0) + margin * width
        u = (x - lo) / (hi - lo)
        z = np.log(u) - np.log1p(-u) if logit else x
        return Preprocessing(lo, hi, z.mean(axis=0), np.maximum(z.std(axis=0), 1e-6), float(m.mean()),
                             float(max(m.std(), 1e-6)), logit)

    def forward(self, x: jax.Array) -> tuple[jax.Array, jax.Array]:
        """(z (n, dim), log |dz/dx| (n,))."""
        lo, hi, mean, std = (jnp.asarray(a, x.dtype) for a in (self.lo, self.hi, self.mean, self.std))
        if not self.logit:
            return (x - mean) / std, jnp.broadcast_to(-jnp.sum(jnp.log(std)), x.shape[:1])
        u = jnp.clip((x - lo) / (hi - lo), EPS, 1 - EPS)
        z = (jnp.log(u) - jnp.log1p(-u) - mean) / std
        log_det = -jnp.log(hi - lo) - jnp.log(u) - jnp.log1p(-u) - jnp.log(std)
        return z, jnp.sum(log_det, axis=-1)

    def inverse(self, z: jax.Array) -> jax.Array:
        lo, hi, mean, std = (jnp.asarray(a, z.dtype) for a in (self.lo, self.hi, self.mean, self.std))
        if not self.logit:
            return z * std + mean
        return lo + (hi - lo) * jax.nn.sigmoid(z * std + mean)

    def condition(self, m: jax.Array) -> jax.Array:
        """(n, 1) standardised conditioning variable."""
        return ((m - self.m_mean) / self.m_std)[:, None]


def made_degrees(dim: int, width: int, depth: int) -> list[np.ndarray]:
    """MADE degrees, [inputs + condition, hidden..., outputs]: features 1..dim and the condition 0; hidden units
    cycling over 0..dim-1 (degree 0: units that see the condition only, which the first feature's shift and
    scale need); each of the 2 outputs per feature i (shift, scale) of degree i."""
    hidden = np.arange(width) % dim
    return [np.r_[np.arange(1, dim + 1), 0]] + [hidden] * depth + [np.tile(np.arange(1, dim + 1), 2)]


def made_masks(dim: int, width: int, depth: int) -> list[np.ndarray]:
    """0/1 masks (out, in) of the MADE layers: a hidden unit sees inputs of degree <= its own, an output of
    degree i sees hidden units of degree < i (so output i depends on features before i only)."""
    deg = made_degrees(dim, width, depth)
    masks = [(deg[k + 1][:, None] >= deg[k][None, :]) for k in range(depth)]
    return [m.astype(np.float32) for m in masks] + [(deg[-1][:, None] > deg[-2][None, :]).astype(np.float32)]


_MIN_SCALE = 1e-3
_SCALE_OFFSET = float(np.log(np.expm1(1.0 - _MIN_SCALE)))   # softplus(offset) + min = 1: zero output = identity


@dataclass(frozen=True, eq=False)   # hashed by identity: jitted functions of it are cached per flow
class ConditionalFlow:
    """A conditional MAF of ``layers`` affine MADE blocks for ``dim`` features given one scalar m (module
    docstring); MADE networks of ``depth`` hidden layers of ``width`` ReLU units.

    CATHODE's flow has 15 such blocks (128 hidden units, batch norm between blocks; Adam, learning rate 1e-4,
    minibatches of 256) on a GPU; the default here is scaled for a CPU: 6 blocks of 2 x 32 units, no batch norm
    (the preprocessing standardises the inputs; batch norm would ride on the engine's model state)."""

    dim: int
    preprocessing: Preprocessing
    layers: int = 6
    width: int = 32
    depth: int = 2
    permutation_seed: int = 0
    _masks: Any = field(init=False, repr=False)
    _perms: Any = field(init=False, repr=False)

    def __post_init__(self):
        if self.dim < 1 or self.layers < 1 or self.width < 1 or self.depth < 1:
            raise ValueError(f"flow: dim, layers, width, depth must be >= 1, got {self.dim}, {self.layers}, "
                             f"{self.width}, {self.depth}")
        rng = np.random.default_rng(self.permutation_seed)
        perms = np.stack([rng.permutation(self.dim) for _ in range(self.layers)])
        object.__setattr__(self, "_masks", made_masks(self.dim, self.width, self.depth))
        object.__setattr__(self, "_perms", (perms, np.argsort(perms, axis=1)))

    # -- parameters ---------------------------------------------------------------------------------------
    def init(self, key: jax.Array, dtype=None) -> dict:
        """One replica's parameters {"w0", "b0", ..., "out_w", "out_b"}, each stacked over the blocks (layers,
        ...): hidden layers U(-1/sqrt(fan in), 1/sqrt(fan in)) (weights and biases), the output layer zero."""
        dtype = dtype or jnp.zeros(()).dtype   # the precision in force (the task's: float32)
        sizes = [self.dim + 1] + [self.width] * self.depth
        pieces = [(f"{kind}{k}", (self.layers, sizes[k + 1], sizes[k]) if kind == "w" else (self.layers, sizes[k + 1]),
                   1.0 / np.sqrt(sizes[k])) for k in range(self.depth) for kind in ("w", "b")]
        # one uniform draw cut into pieces: a threefry call per array would cost seconds of compilation each
        u = jax.random.uniform(key, (sum(int(np.prod(shape)) for _, shape, _ in pieces),), dtype, -1.0, 1.0)
        params, start = {}, 0
        for name, shape, limit in pieces:
            params[name] = limit * u[start:start + int(np.prod(shape))].reshape(shape)
            start += int(np.prod(shape))
        params["out_w"] = jnp.zeros((self.layers, 2 * self.dim, self.width), dtype)
        params["out_b"] = jnp.zeros((self.layers, 2 * self.dim), dtype)
        return params

    # -- one block ----------------------------------------------------------------------------------------
    def _made(self, block: dict, y: jax.Array, c: jax.Array) -> tuple[jax.Array, jax.Array]:
        """(shift, scale) (n, dim) of one block at y (n, dim) given c (n, 1)."""
        h = jnp.concatenate([y, c], axis=1)
        for k in range(self.depth):
            h = jax.nn.relu(h @ (block[f"w{k}"] * self._masks[k]).T + block[f"b{k}"])
        out = h @ (block["out_w"] * self._masks[-1]).T + block["out_b"]
        return out[:, :self.dim], jax.nn.softplus(out[:, self.dim:] + _SCALE_OFFSET) + _MIN_SCALE

    def _to_noise(self, params: dict, z: jax.Array, c: jax.Array) -> tuple[jax.Array, jax.Array]:
        """(u (n, dim), log |du/dz| (n,)) through every block (a scan: one block's program, compiled once)."""
        perms = jnp.asarray(self._perms[0])

        def block(carry, inputs):
            y, log_det = carry
            p, perm = inputs
            shift, scale = self._made(p, y, c)
            return (((y - shift) * scale)[:, perm], log_det + jnp.sum(jnp.log(scale), axis=1)), None
        (u, log_det), _ = jax.lax.scan(block, (z, jnp.zeros(z.shape[0], z.dtype)), (params, perms))
        return u, log_det

    def _to_data(self, params: dict, u: jax.Array, c: jax.Array) -> tuple[jax.Array, jax.Array]:
        """(z (n, dim), log |du/dz| (n,)): the inverse of ``_to_noise``, blocks in reverse order, each inverted in
        dim passes (pass i fixes feature i of the block's order, whose shift and scale depend on earlier ones)."""
        inverse = jnp.asarray(self._perms[1])

        def block(carry, inputs):
            x, log_det = carry
            p, inv = inputs
            target = x[:, inv]
            y = jnp.zeros_like(target)
            for _ in range(self.dim):
                shift, scale = self._made(p, y, c)
                y = target / scale + shift
            return (y, log_det + jnp.sum(jnp.log(scale), axis=1)), None
        (z, log_det), _ = jax.lax.scan(block, (u, jnp.zeros(u.shape[0], u.dtype)), (params, inverse), reverse=True)
        return z, log_det

    # -- the density --------------------------------------------------------------------------------------
    def log_prob(self, params: dict, x: jax.Array, m: jax.Array) -> jax.Array:
        """log p(x | m) (n,) in the units of x, for x (n, dim) and m (n,)."""
        z, log_det_pre = self.preprocessing.forward(x)
        u, log_det = self._to_noise(params, z, self.preprocessing.condition(m).astype(z.dtype))
        return _log_normal(u) + log_det + log_det_pre

    def sample_and_log_prob(self, params: dict, key: jax.Array, m: jax.Array) -> tuple[jax.Array, jax.Array]:
        """(x (n, dim), log p(x | m) (n,)) with the density computed along the sampling pass (noise -> data),
        the inverse direction of ``log_prob``: the two agree if and only if the flow inverts exactly."""
        dtype = jax.tree_util.tree_leaves(params)[0].dtype
        u = jax.random.normal(key, (m.shape[0], self.dim), dtype)
        z, log_det = self._to_data(params, u, self.preprocessing.condition(m).astype(dtype))
        x = self.preprocessing.inverse(z)
        return x, _log_normal(u) + log_det + self.preprocessing.forward(x)[1]

    def sample(self, params: dict, key: jax.Array, m: jax.Array) -> jax.Array:
        """x ~ p(x | m) (n, dim), one draw at each of the masses m (n,); ``key`` a (2,) uint32 PRNG key."""
        return self.sample_and_log_prob(params, key, m)[0]


def _log_normal(u: jax.Array) -> jax.Array:
    return -0.5 * jnp.sum(u ** 2, axis=1) - 0.5 * u.shape[1] * np.log(2 * np.pi)
