"""The binned mode of eft-fit as a task object: SMEFiT-style global fit of the ``binned:`` runcard section.

Its replicas are minimised by damped Newton (or the engine) inside ``run``, not built from a gradient
``trainable``: ``mlhep hyperopt`` refuses it."""
from __future__ import annotations

from pathlib import Path

from mlhep.task import Outputs, Task

from .config import BinnedConfig
from .plots import plot_binned
from .problem import BinnedProblem
from .report import report_binned
from .run import run_binned
from .setup import setup_fit


class BinnedEftTask(Task):
    name = "eft-fit"
    description = "eft-fit mode: binned, a SMEFiT-style global fit to binned measurements"
    Config = BinnedConfig

    def setup(self, config: BinnedConfig, ctx) -> BinnedProblem:
        return setup_fit(config, ctx)

    def run(self, config: BinnedConfig, ctx) -> Outputs:
        return run_binned(config, ctx)

    def report(self, results) -> str:
        return report_binned(results)

    def plot(self, results, outdir: Path) -> list[Path]:
        return plot_binned(results, outdir)

    def export(self, results, outdir: Path) -> list[Path]:
        """The results in SMEFiT's layout (``export.export_smefit``) under ``outdir/<runcard name>/``: what
        ``mlhep report --export DIR`` writes."""
        from mlhep.paths import expand

        from .export import export_smefit
        binned = results.resolved["config"]["binned"]
        runcard = Path(results.runcard_path)
        database = Path(expand(binned["database"]))
        database = database if database.is_absolute() else runcard.parent / database
        folder = export_smefit(results.summary, results.replicas, binned, Path(outdir), runcard.stem, database)
        return sorted(folder.iterdir())
