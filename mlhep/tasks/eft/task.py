"""The eft-fit task: constraints on SMEFT Wilson coefficients.

Two modes, chosen by ``mode:`` in the runcard, each with its own section:

- ``binned``: a global fit to binned measurements from the SMEFiT database (analytic linear fit, MC replicas,
  NUTS posterior or chi2 scans; ``mlhep.tasks.eft.binned``);
- ``unbinned``: ML4EFT likelihood-ratio fits on simulated events (``mlhep.tasks.eft.unbinned``).

The mode is stored in the results summary (``mode``) so ``report`` and ``plot`` can dispatch.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Optional

import numpy as np

from mlhep.config import option
from mlhep.task import Outputs, Task

from .binned import BinnedConfig, plot_binned, report_binned, run_binned
from .binned.run import check_fit_options
from .binned.setup import setup_problem

try:  # the unbinned mode is optional: the binned side works without it
    from .unbinned import UnbinnedConfig, plot_unbinned, report_unbinned, run_unbinned
    from .unbinned.run import KEY as UNBINNED_KEY
    from .unbinned.validate import validate_unbinned
except ImportError:  # pragma: no cover - only while the unbinned package is absent or broken
    UnbinnedConfig = Any  # type: ignore[misc,assignment]
    run_unbinned = report_unbinned = plot_unbinned = validate_unbinned = None


@dataclass
class Config:
    """eft-fit runcard keys (besides the common ones)."""

    mode: Literal["binned", "unbinned"] = option(doc="binned: global fit to binned data (SMEFiT); "
                                                     "unbinned: ML likelihood-ratio fit on events (ML4EFT)")
    binned: Optional[BinnedConfig] = option(None, "settings of mode: binned")
    unbinned: Optional[UnbinnedConfig] = option(None, "settings of mode: unbinned")


def _mode(results) -> str:
    mode = results.summary.get("mode", "binned")
    mode = mode.decode() if isinstance(mode, bytes) else str(np.asarray(mode))
    return mode


class EftTask(Task):
    name = "eft-fit"
    description = "SMEFT Wilson-coefficient fits: SMEFiT-style global binned fit, or ML4EFT unbinned fit"
    Config = Config

    def _section(self, config: Config, ctx):
        section = getattr(config, config.mode)
        if section is None:
            raise ctx.fail("mode", f"mode: {config.mode} needs a '{config.mode}:' section")
        return section

    def validate(self, config: Config, ctx) -> None:
        """Every semantic check ``fit`` makes before fitting, without its heavy work (``mlhep check``): binned
        mode reads the datasets and checks the covariance; unbinned mode checks the section (and the size of
        the pseudo-experiments when sigma_SM is cheap to compute), with no event generation or eko."""
        self.setup(config, ctx)

    def setup(self, config: Config, ctx) -> Any:
        """The binned problem (data, theory, covariance; cheap), or None after the unbinned checks."""
        section = self._section(config, ctx)
        if config.mode == "binned":
            check_fit_options(section, ctx)
            return setup_problem(section, ctx)
        if validate_unbinned is None:
            raise ctx.fail("mode", "the unbinned mode is not available in this installation")
        validate_unbinned(section, ctx, UNBINNED_KEY)
        return None

    def run(self, config: Config, ctx) -> Outputs:
        section = self._section(config, ctx)
        if config.mode == "binned":
            outputs = run_binned(section, ctx)
        else:
            if run_unbinned is None:
                raise ctx.fail("mode", "the unbinned mode is not available in this installation")
            outputs = run_unbinned(section, ctx)
        outputs.summary.setdefault("mode", np.array(config.mode))
        return outputs

    def report(self, results) -> str:
        if _mode(results) == "binned":
            return report_binned(results)
        return report_unbinned(results) if report_unbinned is not None else ""

    def plot(self, results, outdir: Path) -> list[Path]:
        if _mode(results) == "binned":
            return plot_binned(results, outdir)
        return plot_unbinned(results, outdir) if plot_unbinned is not None else []
