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
from mlhep.tasks.pdf import closure
from mlhep.tasks.pdf.problem import DatasetArrays, PdfProblem, build_problem, common_xgrid, lh_toy_basis
from mlhep.tasks.pdf.trainable import PdfTrainable

KINEMATICS = ("x", "Q2", "y")


class PdfFitTask(Task):
    name = "pdf-fit"
    description = "NNPDF4.0-style neural-network PDF fit to DIS data (FK tables, t0 chi2, MC replicas)"
    Config = PdfFitConfig

    def setup(self, config: PdfFitConfig, ctx: RunContext) -> PdfProblem:
        from mlhep.tasks.pdf import commondata, fktable

        cache = ctx.resolve(config.theory.fktables) if config.theory.fktables else None
        loaded = []
        for i, spec in enumerate(config.data.datasets):      # every name is checked before any FK table is read
            try:
                ds = commondata.load_dataset(spec.name, spec.variant, config.data.q2min, config.data.w2min)
            except DataError as err:
                raise ctx.fail(f"data.datasets[{i}].name", str(err)) from None
            if len(ds.central) == 0:
                raise ctx.fail(f"data.datasets[{i}].name", f"no point of {spec.name} survives q2min = "
                                                           f"{config.data.q2min}, w2min = {config.data.w2min}")
            loaded.append(ds)
        arrays, q0, theory = [], None, None
        for i, (spec, ds) in enumerate(zip(config.data.datasets, loaded)):
            key = f"data.datasets[{i}].name"
            try:
                fk = fktable.load_fktable(spec.name, config.theory.order, cache)
                rows = fk.rows(ds.mask)
            except DataError as err:
                raise ctx.fail(key, str(err)) from None
            if q0 is not None and abs(fk.q0 - q0) > 1e-9:
                raise ctx.fail(key, f"FK table has Q0 = {fk.q0} GeV, the others {q0} GeV: rebuild with one theory")
            q0, theory = fk.q0, fk.theory
            kin = {k: np.asarray(ds.kinematics[k]) for k in KINEMATICS if k in ds.kinematics}
            arrays.append(DatasetArrays(spec.name, ds.uncertainties, rows, fk.xgrid, spec.frac, kin))
        if not arrays:
            raise ctx.fail("data.datasets", "no dataset given")
        ctx.log(f"pdf-fit: {len(arrays)} datasets, {sum(len(a.uncertainties.central) for a in arrays)} points "
                f"after cuts, FK tables at {config.theory.order}, Q0 = {q0} GeV")
        xgrid = common_xgrid(arrays)[0]
        truth = None
        if config.closure.truth is not None:
            truth = (lh_toy_basis(xgrid) if config.closure.truth == "lh_toy"
                     else _mean_pdf_of_fit(ctx, config.closure.fit, xgrid, "closure"))
            arrays = closure.fake_datasets(arrays, truth, config.closure.level, config.closure.seed)
            ctx.log(f"pdf-fit: closure test, level {config.closure.level} fake data from {config.closure.truth}")
        t0 = config.t0.source if config.t0.source != "fit" else _mean_pdf_of_fit(ctx, config.t0.fit, xgrid, "t0")
        try:
            problem = build_problem(arrays, t0, q0, theory, ctx.seed)
        except np.linalg.LinAlgError as err:
            raise ctx.fail("data.datasets", f"covariance matrix is not positive definite ({err})") from None
        _check_evolved_grids(config, ctx, float(xgrid.min()))
        return dataclasses.replace(problem, closure_truth=truth)

    def trainable(self, problem: PdfProblem, config: PdfFitConfig) -> PdfTrainable:
        return PdfTrainable(problem, PdfModel.from_config(config.model), config.positivity, config.integrability)

    def evaluate(self, problem: PdfProblem, config: PdfFitConfig, result: TrainResult) -> Outputs:
        trainable = self.trainable(problem, config)
        x_out = output_xgrid(config.output_grid.xmin, config.output_grid.points)
        rep = evaluate_replicas(trainable, result.params, result.replica_ids, x_out)
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


def _mean_pdf_of_fit(ctx: RunContext, fit: str | None, xgrid: np.ndarray, section: str) -> np.ndarray:
    """Mean x f (7, nx) of the accepted replicas of an earlier pdf-fit: the t0 PDF of ``t0.source: fit`` or the
    truth of ``closure.truth: fit`` (``section``)."""
    from mlhep.errors import ResultsError
    from mlhep.io.results import Results
    from mlhep.tasks.pdf import postfit

    choice = "source" if section == "t0" else "truth"
    if not fit:
        raise ctx.fail(f"{section}.{choice}", f"{choice}: fit needs `{section}.fit: <results.h5>` of an earlier "
                                             "pdf-fit")
    path = ctx.resolve(fit)
    try:
        results = Results.read(path)
    except ResultsError as err:
        raise ctx.fail(f"{section}.fit", str(err)) from None
    if results.task != "pdf-fit" or "pdf/fk/basis" not in results.replicas:
        raise ctx.fail(f"{section}.fit", f"{path} is not a pdf-fit results file with FK-grid PDFs ('pdf/fk/basis')")
    fitted_on = np.asarray(results.summary["fk_xgrid"])
    if fitted_on.shape != xgrid.shape or not np.allclose(fitted_on, xgrid, rtol=1e-12, atol=0):
        raise ctx.fail(f"{section}.fit", f"{path} was fitted on another FK x grid: rebuild the FK tables of one "
                                         "theory")
    keep = postfit.accepted(results, results.config)
    if not keep.any():
        raise ctx.fail(f"{section}.fit", f"{path}: no replica passes postfit, so there is no central PDF to use")
    ctx.log(f"pdf-fit: {section} PDF = mean of {int(keep.sum())} accepted replicas of {path}")
    return np.asarray(results.replicas["pdf/fk/basis"])[keep].mean(axis=0)


def _xf_on_fk_grid(trainable: PdfTrainable, params) -> np.ndarray:
    import jax
    import jax.numpy as jnp
    return np.asarray(jax.jit(jax.vmap(trainable.model.xf, in_axes=(0, None)))(
        params, jnp.asarray(trainable.problem.xgrid)))
