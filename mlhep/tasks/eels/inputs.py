"""From the runcard to the arrays of an eels-fit: the spectra, their clusters, each cluster's training spectra and
fit regions (``EelsProblem``).

Specimen spectra come from microscope files (one spectrum image, or single spectra stacked), from a folder in
the EELSfitter/Roest layout, or from the synthetic generator; vacuum spectra (ZLP only) form a cluster of their
own, first (the thinnest), as in Roest et al., Ultramicroscopy 222 (2021) 113202. The specimen pixels are
clustered by k-means (``clustering``); the axis is centred on the zero-loss peak and cropped as the runcard says.
Mistakes in the runcard are ``ctx.fail`` errors at their key; unreadable files are the readers' ``DataError``s,
which name the file.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mlhep.errors import DataError
from mlhep.task import RunContext
from mlhep.tasks.eels import io, synthetic
from mlhep.tasks.eels.clustering import cluster_pixels, cluster_spectra
from mlhep.tasks.eels.config import EelsFitConfig, SyntheticImage
from mlhep.tasks.eels.pooling import pool_image
from mlhep.tasks.eels.regions import find_de1_de2
from mlhep.tasks.eels.spectra import Spectra, check_low_loss, stack


@dataclass(frozen=True)
class EelsProblem:
    """Everything the fit and the analysis read (numpy, float64).

    energy: (n,) eV, uniform, the ZLP maximum at 0 (when centred).
    pixels: (N, n) the analysed specimen spectra (pooled when asked), pixel_shape their layout ((ny, nx) for an
        image, (m,) for single spectra); pixel_cluster: (N,) the cluster of each.
    names: (K,) cluster names; members: K arrays (m_k, n) of each cluster's training spectra (raw counts);
    median, sigma_log: (K, n) each cluster's median spectrum and the spread of ln counts (the chi2's sigma);
    de1, de2: (K,) the fit regions, eV; regions_auto: the automatic search's points per cluster (or None).
    beam_energy_kev, collection_mrad: the microscope (None when unknown); source: what was read; labels: the
    file name of each single spectrum (none for an image).
    truth: synthetic data's truth (name -> array; per-channel arrays on ``energy``), empty for real data.
    """

    energy: np.ndarray
    pixels: np.ndarray
    pixel_shape: tuple[int, ...]
    pixel_cluster: np.ndarray
    names: tuple[str, ...]
    members: tuple[np.ndarray, ...]
    median: np.ndarray
    sigma_log: np.ndarray
    de1: np.ndarray
    de2: np.ndarray
    beam_energy_kev: float | None
    collection_mrad: float | None
    source: str
    is_image: bool
    truth: dict = field(default_factory=dict)
    labels: tuple[str, ...] = ()

    @property
    def n_clusters(self) -> int:
        return len(self.names)


def load_problem(config: EelsFitConfig, ctx: RunContext) -> EelsProblem:
    """Read (or generate) the spectra, cluster them and find the fit regions (module docstring)."""
    d = config.data
    truth: dict = {}
    if d.synthetic is not None:
        specimen, truth = synthetic_image(d.synthetic)
        vacuum = None
    elif d.roest_folder is not None:
        folder = _existing(ctx, "data.roest_folder", d.roest_folder, folder=True)
        found = io.read_roest_folder(folder)
        if "specimen" not in found:
            raise DataError(f"{folder}: no specimen spectra (only files named as vacuum)")
        specimen, vacuum = found["specimen"], found.get("vacuum")
    else:
        specimen = _read_files(config, ctx, "data.files", d.files, "specimen")
        vacuum = None
    if d.vacuum_files:
        vacuum = _read_files(config, ctx, "data.vacuum_files", d.vacuum_files, "vacuum")
    if not d.use_vacuum:
        vacuum = None
    check_low_loss(specimen)
    if vacuum is not None:
        check_low_loss(vacuum)
        if vacuum.energy.shape != specimen.energy.shape or not np.allclose(vacuum.energy, specimen.energy,
                                                                           rtol=0, atol=1e-9):
            raise DataError(f"{vacuum.source}: the vacuum spectra's energy axis differs from that of the specimen "
                            f"spectra ({specimen.source}); they must share one")
    n_raw = specimen.n_channels
    specimen, vacuum, keep = _calibrate(config, ctx, specimen, vacuum)
    truth = {k: v[..., keep] if np.ndim(v) and np.shape(v)[-1] == n_raw else v for k, v in truth.items()}
    specimen.dispersion                  # a non-uniform axis is refused here (FFTs and smoothing need it uniform)

    is_image = len(specimen.pixel_shape) == 2
    raw = specimen.flat()
    c = config.clustering
    if c.k > specimen.n_spectra:
        raise ctx.fail("clustering.k", f"{c.k} clusters of {specimen.n_spectra} specimen spectra: at most "
                                       f"{specimen.n_spectra}")
    if c.k == 1:
        labels = np.zeros(specimen.n_spectra, dtype=np.int64)
    else:
        labels = cluster_pixels(specimen.energy, raw, c.k, tuple(c.features), seed=c.seed).labels
    offset = 1 if vacuum is not None else 0
    names = (("vacuum",) if vacuum is not None else ()) + tuple(f"cluster {i}" for i in range(c.k))
    rng = np.random.default_rng(c.seed)
    groups = ([vacuum.flat()] if vacuum is not None else []) + [raw[labels == i] for i in range(c.k)]
    members = tuple(_subset(g, c.max_members, rng) for g in groups)
    stats = [cluster_spectra(m, np.zeros(len(m), dtype=np.int64), 1) for m in members]
    median = np.concatenate([s.median for s in stats])
    sigma_log = np.concatenate([_with_poisson_floor(s.sigma_log[0], s.median[0]) for s in stats])
    de1, de2 = _regions(config, ctx, specimen.energy, members, names)

    pixels = raw
    if c.pooling.area:
        if not is_image:
            raise ctx.fail("clustering.pooling.area", "pooling averages neighbouring pixels of a spectrum image; "
                                                      f"{specimen.source} holds single spectra (use 0)")
        if c.pooling.area % 2 == 0 or c.pooling.area > min(specimen.pixel_shape):
            raise ctx.fail("clustering.pooling.area", f"{c.pooling.area} must be odd and at most the image size "
                                                      f"{min(specimen.pixel_shape)}")
        pixels = pool_image(specimen.counts, c.pooling.area, c.pooling.sigma).reshape(raw.shape)
    beam, collection = _microscope(config, specimen)
    return EelsProblem(energy=specimen.energy, pixels=pixels, pixel_shape=specimen.pixel_shape,
                       pixel_cluster=labels + offset, names=names, members=members, median=median,
                       sigma_log=sigma_log, de1=de1, de2=de2, beam_energy_kev=beam, collection_mrad=collection,
                       source=specimen.source, is_image=is_image, truth=truth,
                       labels=tuple(Path(label).name for label in specimen.labels or ()))


def synthetic_image(s: SyntheticImage) -> tuple[Spectra, dict]:
    """The runcard's synthetic spectrum image and its truth: t/lambda (input, and ln(total/I0) on the axis, the
    log-ratio's own target), E_bg, b, and per pixel the noiseless ZLP, inelastic signal and total spectrum."""
    e_min, e_max, step = s.energy
    energy = e_min + step * np.arange(int(np.floor((e_max - e_min) / step + 1e-9)) + 1)
    sample = synthetic.Sample(bandgap=s.bandgap, exponent=s.exponent, onset_weight=s.onset_weight,
                              plasmons=(synthetic.Plasmon(s.plasmon_energy, s.plasmon_width),),
                              beam_energy_kev=s.beam_energy_kev, collection_mrad=s.collection_mrad)
    tau = synthetic.thickness_map(tuple(s.pixels), s.thickness_max, s.radius, s.substrate)
    dose = s.electrons * np.exp(s.dose_spread * np.random.default_rng([s.seed, 1]).standard_normal(tau.shape))
    sim = synthetic.simulate(energy, sample, tau, zlp=synthetic.ZLPShape(fwhm=s.zlp_fwhm,
                                                                         tail_fraction=s.tail_fraction),
                             electrons=dose, read_noise=s.read_noise, seed=s.seed)
    spectra = sim.spectra.replace(source=f"synthetic {s.pixels[0]}x{s.pixels[1]} image",
                                  beam_energy_kev=s.beam_energy_kev, collection_mrad=s.collection_mrad)
    truth = {"thickness": sim.thickness, "thickness_on_axis": np.log(sim.expected.sum(-1) / sim.zlp.sum(-1)),
             "bandgap": np.array(s.bandgap), "exponent": np.array(s.exponent), "zlp": sim.zlp,
             "inelastic": sim.inelastic, "expected": sim.expected, "onset_amplitude": sim.onset_amplitude}
    return spectra, truth


def _existing(ctx: RunContext, key: str, value: str, folder: bool = False) -> Path:
    path = ctx.resolve(value)
    if folder and not path.is_dir():
        raise ctx.fail(key, f"no such folder: {path}" + (" (is ../shared/data there, or MLHEP_SHARED_DATA set?)"
                                                         if "shared" in str(value).lower() else ""))
    if not folder and not path.is_file():
        raise ctx.fail(key, f"no such file: {path}")
    return path


def _read_files(config: EelsFitConfig, ctx: RunContext, key: str, files: list[str], kind: str) -> Spectra:
    """One spectrum image, or single spectra stacked (m, n); each file's own errors name it."""
    d = config.data
    found = []
    for i, name in enumerate(files):
        path = _existing(ctx, f"{key}[{i}]", name)
        options = {}
        if path.suffix.lower() in io.TEXT_SUFFIXES:
            t = d.text
            options = {"energy_range": t.energy_range, "offset": t.offset, "dispersion": t.dispersion,
                       "energy_unit": t.energy_unit}
        elif d.signal_index is not None:
            options = {"signal_index": d.signal_index}
        found.append(io.read_spectra(path, kind=kind, **options))
    images = [s for s in found if len(s.pixel_shape) == 2]
    if images and len(found) > 1:
        raise ctx.fail(key, f"{images[0].source} is a spectrum image: give it alone (one image per fit), not with "
                            "other files")
    return found[0] if images else stack(found, source=", ".join(s.source for s in found) if len(found) < 4 else
                                         f"{found[0].source} and {len(found) - 1} more")


def _calibrate(config: EelsFitConfig, ctx: RunContext, specimen: Spectra, vacuum: Spectra | None):
    """Centre the axis on the specimen's mean ZLP (the same shift for the vacuum spectra) and crop it."""
    d = config.data
    if d.center_zlp:
        centred = specimen.replace(energy=specimen.energy - specimen.energy[np.argmax(specimen.flat().mean(0))])
        shift = centred.energy[0] - specimen.energy[0]
        specimen = centred
        vacuum = vacuum.replace(energy=vacuum.energy + shift) if vacuum is not None else None
    if d.energy_range is not None:
        keep = (specimen.energy >= d.energy_range[0]) & (specimen.energy <= d.energy_range[1])
        if keep.sum() < 32:
            raise ctx.fail("data.energy_range", f"{d.energy_range} keeps {keep.sum()} of the channels from "
                                                f"{specimen.energy[0]:.4g} to {specimen.energy[-1]:.4g} eV (need 32)")
        specimen = specimen.replace(energy=specimen.energy[keep], counts=specimen.counts[..., keep])
        if vacuum is not None:
            vacuum = vacuum.replace(energy=vacuum.energy[keep], counts=vacuum.counts[..., keep])
        return specimen, vacuum, keep
    return specimen, vacuum, slice(None)


def _subset(spectra: np.ndarray, most: int, rng: np.random.Generator) -> np.ndarray:
    if len(spectra) <= most:
        return spectra
    return spectra[np.sort(rng.choice(len(spectra), most, replace=False))]


def _with_poisson_floor(sigma_log: np.ndarray, median: np.ndarray) -> np.ndarray:
    """The spread of ln counts where the cluster has one (two members or more), else the Poisson value
    1/sqrt(counts): a one-spectrum cluster has no spread (EELSfitter sets 0 and warns)."""
    return np.where(sigma_log > 0, sigma_log, 1 / np.sqrt(np.clip(median, 1.0, None)))[None]


def _regions(config: EelsFitConfig, ctx: RunContext, energy: np.ndarray, members, names) -> tuple[np.ndarray, ...]:
    """dE1, dE2 (K,): automatic per cluster (``regions.find_de1_de2``) or the runcard's, checked."""
    r, k = config.regions, len(members)
    values = {}
    for key, value in (("de1", r.de1), ("de2", r.de2)):
        if isinstance(value, list) and len(value) != k:
            raise ctx.fail(f"regions.{key}", f"{len(value)} values for {k} clusters ({', '.join(names)}): give one "
                                             "per cluster, one for all, or 'auto'")
        values[key] = value
    auto = None
    if "auto" in (r.de1, r.de2):
        try:
            auto = [find_de1_de2(energy, m, r.shift_de1, r.shift_de2) for m in members]
        except ValueError as exc:
            raise ctx.fail("regions", f"the automatic dE1/dE2 search failed ({exc}); set de1 and de2") from None
    out = []
    for key in ("de1", "de2"):
        value = values[key]
        if value == "auto":
            out.append(np.array([getattr(a, key) for a in auto]))
        else:
            out.append(np.broadcast_to(np.asarray(value, dtype=np.float64), (k,)).copy())
    de1, de2 = out
    step = float(np.mean(np.diff(energy)))
    for i, name in enumerate(names):
        if not 0 < de1[i] < de2[i] < energy[-1] - step:
            raise ctx.fail("regions", f"{name}: dE1 = {de1[i]:.4g} eV and dE2 = {de2[i]:.4g} eV must satisfy 0 < dE1 "
                                      f"< dE2 < the axis end {energy[-1]:.4g} eV (minus a channel)")
    return de1, de2


def _microscope(config: EelsFitConfig, specimen: Spectra) -> tuple[float | None, float | None]:
    m = config.microscope
    return (m.beam_energy_kev or specimen.beam_energy_kev, m.collection_mrad or specimen.collection_mrad)
