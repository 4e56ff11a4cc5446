"""Synthetic jets in the models' input convention, for tests and throughput benchmarks (not physics).

A jet of ``prongs`` prongs has massless constituents scattered (Gaussian, width 0.05) around the prong axes
(one at the jet axis; the others 0.2-0.5 away) with exponentially distributed momentum fractions, in a jet of
pT 600 GeV at a random (eta, phi). One prong against three gives an easy "QCD vs top" toy: they differ in mass,
angular spread, multiplicity of hard constituents and images.
"""
from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

IMAGE_HALF_WIDTH = 0.8    # the image covers delta eta, delta phi in [-0.8, 0.8]


def particle_features(p4: jax.Array, mask: jax.Array, eta_jet: jax.Array, phi_jet: jax.Array) -> jax.Array:
    """(B, P, 7): delta eta, delta phi, ln pT, ln E, ln pT / pT_jet, ln E / E_jet, delta R (ParticleNet's set),
    with the jet's pT and E the sums over its real constituents; 0 for padded particles."""
    pt = jnp.hypot(p4[..., 1], p4[..., 2])
    eta = jnp.arcsinh(p4[..., 3] / jnp.maximum(pt, 1e-12))
    phi = jnp.arctan2(p4[..., 2], p4[..., 1])
    deta = eta - eta_jet[:, None]
    dphi = (phi - phi_jet[:, None] + jnp.pi) % (2 * jnp.pi) - jnp.pi
    safe = lambda v: jnp.log(jnp.maximum(v, 1e-12))   # noqa: E731
    pt_jet = jnp.sum(jnp.where(mask, pt, 0.0), axis=-1, keepdims=True)
    e_jet = jnp.sum(jnp.where(mask, p4[..., 0], 0.0), axis=-1, keepdims=True)
    x = jnp.stack([deta, dphi, safe(pt), safe(p4[..., 0]), safe(pt / pt_jet), safe(p4[..., 0] / e_jet),
                   jnp.hypot(deta, dphi)], axis=-1)
    return jnp.where(mask[..., None], x, 0.0)


def jet_image(points: jax.Array, weights: jax.Array, pixels: int) -> jax.Array:
    """(B, pixels, pixels, 1) histogram of ``weights`` (B, P) at ``points`` (B, P, 2) over [-0.8, 0.8]^2."""
    cell = jnp.clip(((points + IMAGE_HALF_WIDTH) / (2 * IMAGE_HALF_WIDTH) * pixels).astype(jnp.int32), 0,
                    pixels - 1)
    flat = cell[..., 0] * pixels + cell[..., 1]
    image = jax.vmap(lambda f, w: jnp.zeros(pixels * pixels, w.dtype).at[f].add(w))(flat, weights)
    return image.reshape(-1, pixels, pixels, 1)


@functools.partial(jax.jit, static_argnames=("n_jets", "n_particles", "prongs", "pixels", "dtype"))
def random_jets(key: jax.Array, n_jets: int, n_particles: int = 16, prongs: int = 1, pixels: int = 16,
                dtype=jnp.float32) -> dict[str, jax.Array]:
    """A batch dict of ``n_jets`` synthetic jets with ``n_particles`` slots (between half and all of them real,
    the real ones pT-ordered first, padded ones zero): particles (B, P, 7), p4 (B, P, 4) GeV, mask, points
    (B, P, 2), features (B, 3) (mass GeV, multiplicity, pT-weighted width), image (B, pixels, pixels, 1)."""
    k = jax.random.split(key, 7)
    n, p = n_jets, n_particles
    count = jax.random.randint(k[0], (n,), max(1, p // 2), p + 1)
    mask = jnp.arange(p)[None, :] < count[:, None]
    radius = jax.random.uniform(k[1], (n, prongs), minval=0.2, maxval=0.5).at[:, 0].set(0.0)
    angle = jax.random.uniform(k[2], (n, prongs), minval=-jnp.pi, maxval=jnp.pi)
    axes = jnp.stack([radius * jnp.cos(angle), radius * jnp.sin(angle)], axis=-1)           # (B, prongs, 2)
    prong = jax.random.randint(k[3], (n, p), 0, prongs)
    points = jnp.take_along_axis(axes, prong[..., None], axis=1) + 0.05 * jax.random.normal(k[4], (n, p, 2))
    fraction = jnp.where(mask, jax.random.exponential(k[5], (n, p)), 0.0)
    pt = jnp.sort(600.0 * fraction / jnp.sum(fraction, axis=-1, keepdims=True), axis=-1)[:, ::-1]
    eta_jet, phi_jet = jax.random.uniform(k[6], (2, n), minval=-1.0, maxval=1.0) * jnp.array([[1.0], [jnp.pi]])
    eta, phi = eta_jet[:, None] + points[..., 0], phi_jet[:, None] + points[..., 1]
    p4 = jnp.stack([pt * jnp.cosh(eta), pt * jnp.cos(phi), pt * jnp.sin(phi), pt * jnp.sinh(eta)], axis=-1)
    p4 = jnp.where(mask[..., None], p4, 0.0)
    points = jnp.where(mask[..., None], points, 0.0)
    total = jnp.sum(p4, axis=1)
    mass = jnp.sqrt(jnp.maximum(total[:, 0] ** 2 - jnp.sum(total[:, 1:] ** 2, axis=-1), 0.0))
    width = jnp.sum(pt * jnp.hypot(points[..., 0], points[..., 1]), axis=-1) / jnp.sum(pt, axis=-1)
    batch = {"particles": particle_features(p4, mask, eta_jet, phi_jet), "p4": p4, "mask": mask, "points": points,
             "features": jnp.stack([mass, count.astype(mass.dtype), width], axis=-1),
             "image": jet_image(points, pt / 600.0, pixels)}
    return {name: a if a.dtype == bool else a.astype(dtype) for name, a in batch.items()}


@functools.partial(jax.jit, static_argnames=("n_jets", "n_particles", "pixels"))
def labelled_toy(key: jax.Array, n_jets: int, n_particles: int = 16, pixels: int = 16) -> tuple[dict, jax.Array]:
    """Half one-prong ("QCD", label 0), half three-prong ("top", label 1) jets, shuffled: (batch, labels (B,))."""
    k_bkg, k_sig, k_perm = jax.random.split(key, 3)
    half = n_jets // 2
    bkg = random_jets(k_bkg, half, n_particles, prongs=1, pixels=pixels)
    sig = random_jets(k_sig, n_jets - half, n_particles, prongs=3, pixels=pixels)
    order = jax.random.permutation(k_perm, n_jets)
    batch = {name: jnp.concatenate([bkg[name], sig[name]])[order] for name in bkg}
    labels = jnp.concatenate([jnp.zeros(half), jnp.ones(n_jets - half)])[order].astype(jnp.float32)
    return batch, labels
