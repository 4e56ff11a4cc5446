"""The eft-fit task: constraints on SMEFT Wilson coefficients.

Two modes, chosen by ``mode:`` in the runcard, each its own task object over its own section:

- ``binned``: a global fit to binned measurements from the SMEFiT database (analytic linear fit, MC replicas,
  NUTS posterior or chi2 scans; ``BinnedEftTask`` in ``mlhep.tasks.eft.binned``);
- ``unbinned``: ML4EFT likelihood-ratio fits on simulated events (``UnbinnedEftTask`` in
  ``mlhep.tasks.eft.unbinned``).

``EftTask`` only dispatches: ``check``/``fit`` by the runcard's ``mode``, ``report``/``plot`` by the ``mode``
stored in the results summary.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Optional

import numpy as np

from mlhep.config import option
from mlhep.errors import ResultsError
from mlhep.task import Outputs, Task

from .binned import BinnedConfig, BinnedEftTask
from .unbinned import UnbinnedConfig, UnbinnedEftTask

MODES: dict[str, Task] = {"binned": BinnedEftTask(), "unbinned": UnbinnedEftTask()}


@dataclass
class Config:
    """eft-fit runcard keys (besides the common ones)."""

    mode: Literal["binned", "unbinned"] = option(doc="binned: global fit to binned data (SMEFiT); "
                                                     "unbinned: ML likelihood-ratio fit on events (ML4EFT)")
    binned: Optional[BinnedConfig] = option(None, "settings of mode: binned")
    unbinned: Optional[UnbinnedConfig] = option(None, "settings of mode: unbinned")


def _mode(results) -> str:
    mode = results.summary.get("mode", "binned")
    return mode.decode() if isinstance(mode, bytes) else str(np.asarray(mode))


class EftTask(Task):
    name = "eft-fit"
    description = "SMEFT Wilson-coefficient fits: SMEFiT-style global binned fit, or ML4EFT unbinned fit"
    Config = Config

    def variant(self, config: Config) -> tuple[str, Task]:
        """(the runcard key that chooses the task doing the work, that task): ``mode`` and its task object."""
        return "mode", MODES[config.mode]

    def _section(self, config: Config, ctx) -> Any:
        section = getattr(config, config.mode)
        if section is None:
            raise ctx.fail("mode", f"mode: {config.mode} needs a '{config.mode}:' section")
        return section

    def validate(self, config: Config, ctx) -> None:
        """The mode's own checks (``mlhep check``): binned reads the datasets and checks the covariance; unbinned
        checks its section (and the pseudo-experiment size when sigma_SM is cheap), without events or eko."""
        MODES[config.mode].validate(self._section(config, ctx), ctx)

    def run(self, config: Config, ctx) -> Outputs:
        outputs = MODES[config.mode].run(self._section(config, ctx), ctx)
        outputs.summary.setdefault("mode", np.array(config.mode))
        return outputs

    def report(self, results) -> str:
        return MODES[_mode(results)].report(results)

    def plot(self, results, outdir: Path) -> list[Path]:
        return MODES[_mode(results)].plot(results, outdir)

    def export(self, results, outdir: Path) -> list[Path]:
        """SMEFiT's result layout (binned fits only): what ``mlhep report --export DIR`` writes."""
        task = MODES[_mode(results)]
        if not hasattr(task, "export"):
            raise ResultsError(f"{results.path}: an eft-fit of mode {_mode(results)} has no SMEFiT export "
                               "(binned fits only)")
        return task.export(results, outdir)
