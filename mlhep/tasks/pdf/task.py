"""``task: pdf-fit``: an NNPDF4.0-style neural-network PDF fit to DIS data, all replicas as one JAX program.

setup reads NNPDF commondata and FK tables (``commondata``, ``fktable``), the trainable is ``PdfTrainable``,
evaluate stores per-replica PDFs, predictions and chi2s, run adds the LHAPDF6 export, report and plot read a
results file and apply the postfit selection over the whole (possibly merged) ensemble.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from mlhep.errors import DataError
from mlhep.task import Outputs, RunContext, Task, TrainResult
from mlhep.tasks.pdf.config import PdfFitConfig
from mlhep.tasks.pdf.evaluate import evaluate_replicas, output_xgrid, summary
from mlhep.tasks.pdf.model import PdfModel
from mlhep.tasks.pdf import closure, inputs
from mlhep.tasks.pdf.problem import DatasetArrays, PdfProblem, build_problem, common_xgrid, lh_toy_basis
from mlhep.tasks.pdf.trainable import PdfTrainable

KINEMATICS = ("x", "Q2", "y")


class PdfFitTask(Task):
    name = "pdf-fit"
    description = "NNPDF4.0-style neural-network PDF fit to DIS data (FK tables, t0 chi2, MC replicas)"
    Config = PdfFitConfig
    # A replica's epoch (the network and its gradient in float64 on ~200 x points, two (k+1)^2 Gram matrices)
    # keeps a CPU core busy: one replica per core is the fastest on a CPU (benchmarks/pdf.md).
    replicas_per_cpu_device = 1

    def setup(self, config: PdfFitConfig, ctx: RunContext) -> PdfProblem:
        # every runcard mistake that needs no FK table is found before the first one is read
        loaded = inputs.load_datasets(config, ctx)
        inputs.check_scales(config, ctx)
        inputs.check_preprocessing(config, ctx)
        truth_fit, t0_fit = inputs.earlier_fits(config, ctx)
        arrays, q0, theory = _load_theory(config, ctx, loaded)
        ctx.log(f"pdf-fit: {len(arrays)} datasets, {sum(len(a.uncertainties.central) for a in arrays)} points "
                f"after cuts, FK tables at {config.theory.order}, Q0 = {q0} GeV")
        xgrid = common_xgrid(arrays)[0]
        truth = None
        if config.closure.truth is not None:
            truth = lh_toy_basis(xgrid) if truth_fit is None else inputs.pdf_on_grid(ctx, truth_fit, xgrid)
            arrays = closure.fake_datasets(arrays, truth, config.closure.level, config.closure.seed)
            ctx.log(f"pdf-fit: closure test, level {config.closure.level} fake data from {config.closure.truth}")
        t0 = config.t0.source if t0_fit is None else inputs.pdf_on_grid(ctx, t0_fit, xgrid)
        problem = build_problem(arrays, t0, q0, theory, ctx.seed)
        if problem.n_valid == 0:
            ctx.log("pdf-fit: no validation point (every frac keeps all points): early stopping watches the "
                    "training chi2")
        _check_evolved_grids(config, ctx, float(xgrid.min()))
        return dataclasses.replace(problem, closure_truth=truth)

    def trainable(self, problem: PdfProblem, config: PdfFitConfig) -> PdfTrainable:
        return PdfTrainable(problem, PdfModel.from_config(config.model), config.positivity, config.integrability)

    def evaluate(self, problem: PdfProblem, config: PdfFitConfig, result: TrainResult) -> Outputs:
        trainable = self.trainable(problem, config)
        x_out = output_xgrid(config.output_grid.xmin, config.output_grid.points)
        rep = evaluate_replicas(trainable, result.params, result.data_keys, x_out)
        predictions = rep.pop("prediction")
        for name, sl in zip(problem.names, problem.slices()):
            rep[f"prediction/{name}"] = predictions[:, sl]
        summ = summary(problem, x_out)
        from mlhep.physics.evolution import PIDS, fit_basis_to_flavours
        rep["pdf/q0/flavour"] = fit_basis_to_flavours(rep["pdf/q0/basis"])
        summ["pdf/pids"] = np.array(PIDS)
        xf_fk = _xf_on_fk_grid(trainable, result.params)
        rep["pdf/fk/basis"] = xf_fk    # on summary["fk_xgrid"]: what a later fit reads as its t0 PDF
        if problem.theory is not None and config.output_grid.q_values:
            from mlhep.physics.evolution import evolve
            rep["pdf/evolved"] = evolve(xf_fk, problem.xgrid, config.output_grid.q_values, problem.theory,
                                        xgrid_out=x_out)
            summ["pdf/q"] = np.array(config.output_grid.q_values, dtype=float)
        summ["q0"] = np.array(problem.q0)
        if problem.closure_truth is not None:
            summ["closure/fk_truth"] = problem.closure_truth
            summ["closure/level"] = np.array(config.closure.level)
            truth_prediction = problem.predictions(problem.closure_truth)
            for name, sl in zip(problem.names, problem.slices()):
                summ[f"closure/prediction/{name}"] = truth_prediction[sl]
        return Outputs(replicas=rep, summary=summ)

    def run(self, config: PdfFitConfig, ctx: RunContext) -> Outputs:
        problem = self.setup(config, ctx)
        trainable = self.trainable(problem, config)
        result = ctx.train(trainable)
        outputs = self.evaluate(problem, config, result)
        outputs.train = result
        if config.lhapdf.name and problem.theory is not None:
            from mlhep.tasks.pdf.export import export_lhapdf
            path = export_lhapdf(trainable, result.params, outputs, config, ctx.workdir)
            outputs.files["lhapdf"] = path
            ctx.log(f"pdf-fit: LHAPDF6 set written to {path}")
        return outputs

    def report(self, results) -> str:
        from mlhep.tasks.pdf.report import report
        return report(results)

    def plot(self, results, outdir: Path) -> list[Path]:
        from mlhep.tasks.pdf.plots import plot_all
        return plot_all(results, Path(outdir))


def _check_evolved_grids(config: PdfFitConfig, ctx: RunContext, fk_xmin: float) -> None:
    """Evolved PDFs exist only on the FK x grid (eko's interpolation is zero below it): refuse output grids that
    start lower instead of writing zeros there."""
    limit = fk_xmin * (1 - 1e-9)
    if config.output_grid.q_values and config.output_grid.xmin < limit:
        raise ctx.fail("output_grid.xmin", f"{config.output_grid.xmin:g} is below the FK tables' smallest x "
                                           f"{fk_xmin:g}, where evolved PDFs end (use xmin >= {fk_xmin:g}, or "
                                           "q_values: [] for Q0 only)")
    if config.lhapdf.name and config.lhapdf.xmin is not None and config.lhapdf.xmin < limit:
        raise ctx.fail("lhapdf.xmin", f"{config.lhapdf.xmin:g} is below the FK tables' smallest x {fk_xmin:g}, "
                                      "where the evolution ends (leave it out to start there; LHAPDF "
                                      "extrapolates below XMin)")


def _load_theory(config: PdfFitConfig, ctx: RunContext, loaded: list) -> tuple[list[DatasetArrays], float, dict]:
    """Per dataset its arrays (FK-table rows of the points left by the cuts); the FK tables' Q0 and theory.

    A missing or broken FK table is a theory error (DataError, exit 4) naming the dataset and the file."""
    from mlhep.tasks.pdf import fktable

    cache = ctx.resolve(config.theory.fktables) if config.theory.fktables else None
    arrays, q0, theory = [], None, None
    for spec, ds in zip(config.data.datasets, loaded):
        fk = fktable.load_fktable(spec.name, config.theory.order, cache)
        rows = fk.rows(ds.mask)
        if q0 is not None and abs(fk.q0 - q0) > 1e-9:
            raise DataError(f"FK table of {spec.name} has Q0 = {fk.q0} GeV, the others {q0} GeV: rebuild them "
                            "with one theory")
        q0, theory = fk.q0, fk.theory
        kin = {k: np.asarray(ds.kinematics[k]) for k in KINEMATICS if k in ds.kinematics}
        arrays.append(DatasetArrays(spec.name, ds.uncertainties, rows, fk.xgrid, spec.frac, kin))
    return arrays, q0, theory


def _xf_on_fk_grid(trainable: PdfTrainable, params) -> np.ndarray:
    import jax
    import jax.numpy as jnp
    return np.asarray(jax.jit(jax.vmap(trainable.model.xf, in_axes=(0, None)))(
        params, jnp.asarray(trainable.problem.xgrid)))
