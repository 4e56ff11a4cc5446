"""``task: eels-fit``: neural-network zero-loss-peak subtraction of low-loss EELS, with every replica in one program.

The method of Roest et al., Ultramicroscopy 222 (2021) 113202 and of EELSfitter 3.1 (Brokkelkamp et al., J. Phys.
Chem. A 126 (2022) 1255): the specimen pixels are clustered (``inputs``), a network xi(E, ln N) = ln I_ZLP is
trained on one randomly drawn spectrum per cluster for every replica (``trainable``; the engine vmaps all replicas
into one jitted program, where EELSfitter trains them one after another), and every replica's ZLP is subtracted
from the clusters' median spectra and from every pixel to give bandgaps, thicknesses, the single-scattering
distribution and the dielectric function with replica uncertainties (``analysis``). ``report`` prints and
``plots`` draws the results file.
"""
from __future__ import annotations

from pathlib import Path

import jax
import numpy as np

from mlhep.errors import TrainingFailed
from mlhep.task import Outputs, RunContext, Task, TrainResult
from mlhep.tasks.eels.config import EelsFitConfig
from mlhep.tasks.eels.inputs import EelsProblem, load_problem
from mlhep.tasks.eels.trainable import ZLPTrainable
from mlhep.tasks.eels.zlp_model import ZLPNet


class EelsFitTask(Task):
    name = "eels-fit"
    description = ("neural-network ZLP subtraction of low-loss EELS (Roest et al. 2021, EELSfitter 3.1): bandgap, "
                   "thickness, dielectric function, maps of spectrum images")
    Config = EelsFitConfig
    # EELSfitter trains in float32 (PyTorch); the chi2 is a sum over a few thousand points of one spectrum per
    # cluster with per-channel sigmas, no large correlated covariance.
    precision = "float32"
    # Measured on 2 cores, 8 replicas x 600 epochs (training seconds): the WS2 spectra (1981 channels) 11.2 batched
    # on one device, 10.3 one by one, 7.7 with 4 replicas per core; a synthetic 8 x 8 image (253 channels) 4.6,
    # 7.0 and 4.6. A long spectrum keeps a core busy by itself (vmapping gains nothing), a short one does not.
    replicas_per_cpu_device = 4

    def setup(self, config: EelsFitConfig, ctx: RunContext) -> EelsProblem:
        problem = load_problem(config, ctx)
        _check_analysis(config, ctx, problem)
        sizes = ", ".join(f"{name}: {len(m)}" for name, m in zip(problem.names, problem.members))
        regions = ", ".join(f"{d1:.3f}/{d2:.3f}" for d1, d2 in zip(problem.de1, problem.de2))
        ctx.log(f"eels-fit: {problem.source}: {len(problem.pixels)} spectra of {problem.energy.size} channels "
                f"({problem.energy[0]:.3f} to {problem.energy[-1]:.3f} eV); training spectra per cluster {sizes}; "
                f"dE1/dE2 {regions} eV")
        return problem

    def trainable(self, problem: EelsProblem, config: EelsFitConfig) -> ZLPTrainable:
        m = config.model
        net = ZLPNet(hidden=tuple(m.hidden), activations=m.layer_activations, torch_init=m.torch_init)
        return ZLPTrainable.from_problem(problem, net, m.penalty, m.validation_fraction, m.energy_scale,
                                          m.intensity_input)

    def evaluate(self, problem: EelsProblem, config: EelsFitConfig, result: TrainResult) -> Outputs:
        from mlhep.tasks.eels.analysis import Evaluator
        trainable = self.trainable(problem, config)
        ok = ~np.asarray(result.failed, dtype=bool)
        if config.analysis.max_loss is not None:
            ok &= np.asarray(result.best_valid) <= config.analysis.max_loss
        if not ok.any():
            raise TrainingFailed(f"no replica kept a validation loss below analysis.max_loss = "
                                 f"{config.analysis.max_loss:g} (best {np.nanmin(result.best_valid):.4g})")
        params = jax.tree_util.tree_map(lambda leaf: np.asarray(leaf)[ok], result.params)
        evaluator = Evaluator(trainable, problem, config, params)
        cluster_replicas, cluster_summary = evaluator.clusters()
        pixel_replicas, pixel_summary = evaluator.pixels()
        replicas = {"selected": ok}
        for name, values in (cluster_replicas | pixel_replicas).items():     # failed replicas: NaN rows
            full = np.full((len(ok),) + values.shape[1:], np.nan, dtype=values.dtype)
            full[ok] = values
            replicas[name] = full
        return Outputs(replicas=replicas, summary=_summary(problem, config) | cluster_summary | pixel_summary)

    def report(self, results) -> str:
        from mlhep.tasks.eels.report import report
        return report(results)

    def plot(self, results, outdir: Path) -> list[Path]:
        from mlhep.tasks.eels.report import plot_all
        return plot_all(results, Path(outdir))


def _check_analysis(config: EelsFitConfig, ctx: RunContext, problem: EelsProblem) -> None:
    """The analysis options that need something of the data: a bandgap window on the axis, the microscope and
    the refractive index for Kramers-Kronig."""
    a = config.analysis
    if a.bandgap.enabled:
        inside = (problem.energy >= a.bandgap.window[0]) & (problem.energy <= a.bandgap.window[1])
        if inside.sum() < 4:
            raise ctx.fail("analysis.bandgap.window", f"{a.bandgap.window} eV holds {inside.sum()} channels of the "
                                                      f"axis {problem.energy[0]:.4g} to {problem.energy[-1]:.4g} eV "
                                                      "(need 4)")
        if a.bandgap.search[0] >= min(a.bandgap.search[1], a.bandgap.window[1]):
            raise ctx.fail("analysis.bandgap.bandgap_range", f"{a.bandgap.search} is empty below the window's end")
    kk = a.dielectric or a.thickness.kramers_kronig
    if kk:
        key = "analysis.dielectric" if a.dielectric else "analysis.thickness.kramers_kronig"
        if not a.deconvolution.enabled:
            raise ctx.fail(key, "the Kramers-Kronig analysis works on the single-scattering distribution: set "
                                "analysis.deconvolution.enabled: true")
        if a.thickness.refractive_index is None:
            raise ctx.fail("analysis.thickness.refractive_index", "the Kramers-Kronig sum rule needs the specimen's "
                                                                  "refractive index (.inf for a metal)")
        for attr in ("beam_energy_kev", "collection_mrad"):
            if getattr(problem, attr) is None:
                raise ctx.fail(f"microscope.{attr}", f"the Kramers-Kronig analysis needs it and {problem.source} "
                                                     "does not say: set it here")
    if (a.deconvolution.enabled or a.images.zlp_interpolation) and not np.isfinite(problem.pixels).all():
        raise ctx.fail("data", "non-finite counts")


def _summary(problem: EelsProblem, config: EelsFitConfig) -> dict[str, np.ndarray]:
    """The run's own arrays: the axis, the clusters, their regions and spectra, the layout, the truth."""
    b = config.analysis.bandgap
    out = {"energy": problem.energy, "source": np.array(problem.source), "is_image": np.array(problem.is_image),
           "cluster/names": np.array(problem.names), "cluster/de1": problem.de1, "cluster/de2": problem.de2,
           "cluster/median": problem.median, "cluster/sigma_log": problem.sigma_log,
           "cluster/sizes": np.array([len(m) for m in problem.members]),
           "pixel_shape": np.array(problem.pixel_shape),
           "pixel_cluster": problem.pixel_cluster.reshape(problem.pixel_shape),
           "pixel/labels": np.array(list(problem.labels), dtype=str),
           "bandgap/window": np.array(b.window),
           "bandgap/fixed_exponent": np.array(np.nan if b.exponent is None else b.exponent)}
    out |= {f"truth/{k}": np.asarray(v) for k, v in problem.truth.items() if k not in PER_CHANNEL_TRUTH}
    if "inelastic" in problem.truth and b.enabled:
        out |= _onset_truth(problem, config)
    return out


PER_CHANNEL_TRUTH = ("zlp", "inelastic", "expected")     # (pixels, channels): too large for the summary


def _onset_truth(problem: EelsProblem, config: EelsFitConfig) -> dict[str, np.ndarray]:
    """What the bandgap fit gives on the noiseless true inelastic signal of every pixel, with the runcard's window
    and weights (the expected counts): the target of a closure test. It differs from the generator's E_bg and b
    by the ZLP's broadening of the onset (a 0.25 eV FWHM moves the fitted E_bg from 1.6 to ~1.56 unweighted),
    which no ZLP subtraction removes."""
    from mlhep.tasks.eels.onset_fit import fit_onsets
    b = config.analysis.bandgap
    inelastic = problem.truth["inelastic"].reshape(-1, problem.energy.size)
    sigma = (np.sqrt(np.clip(problem.truth["expected"], 1.0, None)).reshape(inelastic.shape)
             if b.weights == "poisson" else None)
    fits = fit_onsets(problem.energy, inelastic, tuple(b.window), b.search, b.exponent, tuple(b.exponent_range),
                      b.resolution, sigma)
    return {f"truth/{q}_fit": fits[q].reshape(problem.pixel_shape) for q in ("bandgap", "exponent")}


TASK = EelsFitTask()
