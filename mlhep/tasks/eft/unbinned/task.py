"""The unbinned mode of eft-fit as a task object: ML4EFT likelihood-ratio fit of the ``unbinned:`` section.

Its events, network and bounds are all built inside ``run`` (no separate ``setup``/``trainable``): ``mlhep
hyperopt`` refuses it, and ``validate`` is the cheap part of run's checks, for ``mlhep check``."""
from __future__ import annotations

from pathlib import Path

from mlhep.task import Outputs, RunContext, Task
from mlhep.tasks.eft.unbinned.config import UnbinnedConfig
from mlhep.tasks.eft.unbinned.plots import plot_unbinned
from mlhep.tasks.eft.unbinned.report import report_unbinned
from mlhep.tasks.eft.unbinned.run import KEY, run_unbinned
from mlhep.tasks.eft.unbinned.validate import validate_unbinned


class UnbinnedEftTask(Task):
    name = "eft-fit"
    description = "eft-fit mode: unbinned, ML likelihood-ratio fit of c_tG on simulated events (ML4EFT)"
    Config = UnbinnedConfig

    def validate(self, config: UnbinnedConfig, ctx: RunContext) -> None:
        validate_unbinned(config, ctx, KEY)

    def run(self, config: UnbinnedConfig, ctx: RunContext) -> Outputs:
        return run_unbinned(config, ctx)

    def report(self, results) -> str:
        return report_unbinned(results)

    def plot(self, results, outdir: Path) -> list[Path]:
        return plot_unbinned(results, outdir)
