"""What every replica's ZLP model gives: subtracted spectra, bandgaps, thicknesses, single scattering and the
dielectric function, for the clusters' median spectra and for every analysed pixel.

For each replica r and spectrum J (a cluster median or a pixel, with its own ln N and its cluster's dE1, dE2):
the model ZLP exp(xi_r(E, ln N)) is matched to J (``subtraction.match_zlp``, EELSfitter's matching) and
subtracted, I_inel = J - ZLP_matched; then

- the bandgap: A (E - E_bg)^b fitted to I_inel in the runcard's window (``onset_fit``);
- t/lambda = ln(sum J / sum ZLP_matched), the log-ratio method (Egerton eq. 5.1);
- for the cluster medians, where asked: the single-scattering distribution by Fourier-log deconvolution with
  the replica's ZLP (``deconvolution``), and from it the Kramers-Kronig analysis (``kramers_kronig``): the
  absolute thickness by the sum rule and the complex dielectric function.

The network and the matching run in JAX, vmapped over replicas and pixels; pixels go in chunks of a fixed size
(the last one padded) so one compiled program serves every chunk and the memory stays bounded (replicas x
chunk x channels floats, and the network's hidden layers over them). Results over replicas are summarised by
the median and the central 68% interval (16th and 84th percentiles), over the replicas that trained.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from mlhep.tasks.eels.config import EelsFitConfig
from mlhep.tasks.eels.deconvolution import fourier_log_deconvolution, power_law_extrapolation
from mlhep.tasks.eels.inputs import EelsProblem
from mlhep.tasks.eels.kramers_kronig import kramers_kronig
from mlhep.tasks.eels.onset_fit import fit_onsets
from mlhep.tasks.eels.subtraction import match_zlp
from mlhep.tasks.eels.trainable import ZLPTrainable

QUANTILES = (16.0, 50.0, 84.0)
FIT_KEYS = ("bandgap", "exponent", "amplitude")


def band(values: np.ndarray, axis: int = 0) -> dict[str, np.ndarray]:
    """{"low", "median", "high"}: the 16th, 50th and 84th percentiles along ``axis``, NaN ignored (all NaN: NaN),
    with numpy's linear interpolation. Vectorised: ``np.nanpercentile`` loops over the columns in Python, which
    dominated the processing of large images."""
    values = np.moveaxis(np.asarray(values, dtype=np.float64), axis, 0)
    ordered = np.sort(values, axis=0)                          # NaN sort last
    count = np.sum(~np.isnan(values), axis=0)
    out = {}
    for name, q in zip(("low", "median", "high"), QUANTILES):
        position = q / 100 * np.maximum(count - 1, 0)
        below = np.floor(position).astype(np.int64)
        above = np.minimum(below + 1, np.maximum(count - 1, 0))
        lo = np.take_along_axis(ordered, below[None], 0)[0]
        hi = np.take_along_axis(ordered, above[None], 0)[0]
        out[name] = np.where(count > 0, lo + (position - below) * (hi - lo), np.nan)
    return out


@dataclass
class Evaluator:
    """Evaluates the replicas ``params`` (leading axis R, all trained) of ``trainable`` on ``problem``."""

    trainable: ZLPTrainable
    problem: EelsProblem
    config: EelsFitConfig
    params: object

    def __post_init__(self):
        self.energy = jnp.asarray(self.problem.energy, dtype=jnp.asarray(0.0).dtype)
        self.n_replicas = jax.tree_util.tree_leaves(self.params)[0].shape[0]
        b = self.config.analysis.bandgap
        inside = (self.problem.energy >= b.window[0]) & (self.problem.energy <= b.window[1])
        self.window = np.nonzero(inside)[0]

    # -- the compiled pieces ------------------------------------------------------------------------------
    @functools.cached_property
    def _zlp(self):
        """(params (R, ...), scaled ln N (c,)) -> ZLP (R, c, n) counts per channel."""
        return jax.jit(jax.vmap(lambda p, n: jnp.exp(self.trainable.log_zlp(p, n)), in_axes=(0, None)))

    @functools.cached_property
    def _match(self):
        """(spectra (c, n), ZLP (R, c, n), dE1 (c,), dE2 (c,)) -> matched ZLP (R, c, n)."""
        return jax.jit(self._match_raw)

    def _match_raw(self, spectra, zlp, de1, de2):
        one = functools.partial(match_zlp, self.energy, xp=jnp)
        per_pixel = jax.vmap(one, in_axes=(0, 0, 0, 0))
        return jax.vmap(per_pixel, in_axes=(None, 0, None, None))(spectra, zlp, de1, de2)

    @functools.cached_property
    def _grid(self):
        """With ``images.zlp_interpolation`` L > 1: (ln N grid (L,), xi on it (R, L, n)) spanning the analysed
        spectra's ln N; else None."""
        n_grid = self.config.analysis.images.zlp_interpolation
        if n_grid < 2:
            return None
        pixels, step = self.problem.pixels, 65536                 # no full-image temporaries
        values = [self.trainable.intensity_of(pixels[i:i + step]) for i in range(0, len(pixels), step)]
        grid = np.linspace(min(v.min() for v in values), max(v.max() for v in values) + 1e-9, n_grid)
        xi = jax.jit(jax.vmap(lambda p: jax.lax.map(lambda n: self.trainable.log_zlp(p, n), jnp.asarray(grid))))
        return jnp.asarray(grid), xi(self.params)

    def _log_zlp(self, params, intensity):
        """xi (R, c, n) of every replica at the scaled ln N ``intensity`` (c,): the network itself, or the linear
        interpolation on the ln N grid (``_grid``)."""
        if self._grid is None:
            return jax.vmap(self.trainable.log_zlp, in_axes=(0, None))(params, intensity)
        grid, xi = self._grid
        step = grid[1] - grid[0]
        position = jnp.clip((intensity - grid[0]) / step, 0, grid.size - 1 - 1e-6)
        i = jnp.floor(position).astype(jnp.int32)
        f = (position - i)[None, :, None]
        return (1 - f) * xi[:, i] + f * xi[:, i + 1]

    @functools.cached_property
    def _reduced(self):
        """(params, spectra (c, n), scaled ln N (c,), dE1 (c,), dE2 (c,)) -> (matched ZLP in the bandgap window
        (R, c, w), its integral I0 (R, c)): what the maps need, without moving (R, c, n) arrays to the host."""
        window = jnp.asarray(self.window)

        def reduced(params, spectra, intensity, de1, de2):
            matched = self._match_raw(spectra, jnp.exp(self._log_zlp(params, intensity)), de1, de2)
            return matched[..., window], jnp.sum(matched, axis=-1)
        return jax.jit(reduced)

    def zlp_and_matched(self, spectra: np.ndarray, cluster: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Every replica's model ZLP and matched ZLP for ``spectra`` (c, n) of clusters ``cluster`` (c,):
        (R, c, n) each."""
        intensity = jnp.asarray(self.trainable.intensity_of(spectra))
        zlp = self._zlp(self.params, intensity)
        matched = self._match(jnp.asarray(spectra), zlp, jnp.asarray(self.problem.de1[cluster]),
                              jnp.asarray(self.problem.de2[cluster]))
        return np.asarray(zlp, dtype=np.float64), np.asarray(matched, dtype=np.float64)

    # -- clusters -------------------------------------------------------------------------------------------
    def clusters(self) -> tuple[dict, dict]:
        """(per-replica arrays, summary arrays) of the clusters' median spectra."""
        p, cfg = self.problem, self.config.analysis
        k = np.arange(p.n_clusters)
        zlp, matched = self.zlp_and_matched(p.median, k)
        inelastic = p.median[None] - matched
        replicas = {"cluster/zlp": zlp, "cluster/inelastic": inelastic, "cluster/chi2": self._chi2(zlp)}
        specimen = np.array([name != "vacuum" for name in p.names])
        if cfg.bandgap.enabled:
            fits = self.bandgap(inelastic, p.median)
            for key in FIT_KEYS:
                replicas[f"cluster/{key}"] = np.where(specimen, fits[key], np.nan)
        if cfg.thickness.log_ratio:
            replicas["cluster/thickness"] = np.where(specimen, _log_ratio(p.median, matched), np.nan)
        summary = {}
        if cfg.deconvolution.enabled:
            more_replicas, summary = self._single_scattering(matched, specimen)
            replicas |= more_replicas
        return replicas, summary

    def _chi2(self, zlp: np.ndarray) -> np.ndarray:
        """(R, K) chi2 per point of each replica's ln ZLP against each cluster's median in region I."""
        p = self.problem
        below = p.energy[None, :] < p.de1[:, None]                           # (K, n) region I
        residual = (np.log(np.clip(zlp, 1e-300, None)) - np.log(np.clip(p.median, 1.0, None))) / p.sigma_log
        return np.sum(np.where(below, residual ** 2, 0.0), axis=-1) / np.sum(below, axis=-1)

    def bandgap(self, inelastic: np.ndarray, spectra: np.ndarray) -> dict[str, np.ndarray]:
        """A (E - E_bg)^b fitted to every subtracted spectrum ``inelastic`` (R, c, n) or (R, c, w) (the window
        only), of measured spectra ``spectra`` (c, n) (their counts weight the fit if asked): (R, c) each."""
        b, energy = self.config.analysis.bandgap, self.problem.energy
        if inelastic.shape[-1] != energy.size:
            energy = energy[self.window]
            spectra = spectra[..., self.window]
        sigma = None
        if b.weights == "poisson":
            sigma = np.broadcast_to(np.sqrt(np.clip(spectra, 1.0, None)), inelastic.shape).reshape(
                -1, inelastic.shape[-1])
        fits = fit_onsets(energy, inelastic.reshape(-1, inelastic.shape[-1]), tuple(b.window), b.search, b.exponent,
                          tuple(b.exponent_range), b.resolution, sigma)
        return {key: fits[key].reshape(inelastic.shape[:-1]) for key in FIT_KEYS}

    def _single_scattering(self, matched: np.ndarray, specimen: np.ndarray) -> tuple[dict, dict]:
        """Fourier-log deconvolution of each specimen cluster's median with every replica's matched ZLP, and the
        Kramers-Kronig analysis of it where asked."""
        p, a = self.problem, self.config.analysis
        d = a.deconvolution
        replicas, summary = {}, {}
        ssd = np.full(matched.shape, np.nan)
        kk_wanted = a.dielectric or a.thickness.kramers_kronig
        eps, thickness_nm, kk_energy = None, None, None
        for k in np.nonzero(specimen)[0]:
            ssd[:, k] = fourier_log_deconvolution(p.energy, np.broadcast_to(p.median[k], matched[:, k].shape),
                                                  matched[:, k], kernel=d.kernel)
            if not kk_wanted:
                continue
            energy, s = p.energy, ssd[:, k]
            if d.extrapolate > 0:
                step = float(np.mean(np.diff(p.energy)))
                energy, s = power_law_extrapolation(p.energy, s, int(round(d.extrapolate / step)))
            result = kramers_kronig(energy, s, p.beam_energy_kev, p.collection_mrad,
                                    zlp_counts=matched[:, k].sum(-1), refractive_index=a.thickness.refractive_index)
            if eps is None:
                kk_energy = result.energy
                eps = np.full((matched.shape[0], p.n_clusters, kk_energy.size), np.nan + 0j)
                thickness_nm = np.full((matched.shape[0], p.n_clusters), np.nan)
            eps[:, k] = result.eps
            thickness_nm[:, k] = result.thickness
        for name, value in band(ssd).items():
            summary[f"cluster/ssd/{name}"] = value
        if eps is not None:
            summary["cluster/eps_energy"] = kk_energy
            for part, values in (("eps1", eps.real), ("eps2", eps.imag)):
                for name, value in band(values).items():
                    summary[f"cluster/{part}/{name}"] = value
            if a.thickness.kramers_kronig:
                replicas["cluster/thickness_kk"] = thickness_nm
        return replicas, summary

    # -- pixels ---------------------------------------------------------------------------------------------
    def pixels(self) -> tuple[dict, dict]:
        """Maps over the analysed pixels (median and 68% interval of E_bg, b, t/lambda), in chunks; with few
        pixels also every replica's values and each spectrum's bands."""
        p, a = self.problem, self.config.analysis
        n_pix, keep = len(p.pixels), len(p.pixels) <= a.images.keep_pixel_replicas
        quantities = ([*FIT_KEYS] if a.bandgap.enabled else []) + (["thickness"] if a.thickness.log_ratio else [])
        per_replica = {q: np.full((self.n_replicas, n_pix), np.nan) for q in quantities} if keep else {}
        maps = {q: {name: np.full(n_pix, np.nan) for name in ("low", "median", "high")} for q in quantities}
        chunk = self.chunk_size()
        for start in range(0, n_pix, chunk):
            rows = np.arange(start, min(start + chunk, n_pix))
            values = self._pixel_chunk(rows, chunk)
            for q in quantities:
                for name, v in band(values[q]).items():
                    maps[q][name][rows] = v
                if keep:
                    per_replica[q][:, rows] = values[q]
        replicas = {f"pixel/{q}": v for q, v in per_replica.items()}
        summary = {f"map/{q}/{name}": v.reshape(p.pixel_shape) for q in quantities for name, v in maps[q].items()}
        if keep and n_pix:
            zlp, matched = self.zlp_and_matched(p.pixels, p.pixel_cluster)
            summary["pixel/spectrum"] = p.pixels
            for what, values in (("zlp", zlp), ("matched", matched), ("inelastic", p.pixels[None] - matched)):
                for name, v in band(values).items():
                    summary[f"pixel/{what}/{name}"] = v
        return replicas, summary

    def chunk_size(self) -> int:
        """Pixels per chunk: the runcard's, or as many as keep replicas x pixels x channels x 24 floats (the
        network's widest hidden layers and the matching's temporaries) within ``memory_mb``."""
        images = self.config.analysis.images
        if images.pixel_chunk is not None:
            return max(1, min(images.pixel_chunk, len(self.problem.pixels)))
        per_pixel = self.n_replicas * self.problem.energy.size * (2 * max(self.trainable.net.hidden) + 8) * 4
        return int(np.clip(images.memory_mb * 2**20 // per_pixel, 1, max(len(self.problem.pixels), 1)))

    def _pixel_chunk(self, rows: np.ndarray, chunk: int) -> dict[str, np.ndarray]:
        """Every replica's E_bg, b, A and t/lambda (R, len(rows)) for the pixels ``rows``, padded to ``chunk``."""
        p, a = self.problem, self.config.analysis
        padded = np.concatenate([rows, np.full(chunk - len(rows), rows[0])])
        spectra = p.pixels[padded]
        cluster = p.pixel_cluster[padded]
        intensity = self.trainable.intensity_of(spectra)
        window, i0 = self._reduced(self.params, jnp.asarray(spectra), jnp.asarray(intensity),
                                   jnp.asarray(p.de1[cluster]), jnp.asarray(p.de2[cluster]))
        n = len(rows)
        window, i0 = np.asarray(window, dtype=np.float64)[:, :n], np.asarray(i0, dtype=np.float64)[:, :n]
        out = {}
        if a.bandgap.enabled:
            inelastic = spectra[None, :n, self.window] - window
            out |= self.bandgap(inelastic, spectra[:n])
        if a.thickness.log_ratio:
            with np.errstate(divide="ignore", invalid="ignore"):
                out["thickness"] = np.log(spectra[:n].sum(-1)[None] / i0)
        return out


def _log_ratio(spectra: np.ndarray, matched: np.ndarray) -> np.ndarray:
    """t/lambda = ln(sum J / I0) of spectra (c, n) with matched ZLPs (R, c, n): (R, c)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.log(spectra.sum(-1)[None] / matched.sum(-1))
