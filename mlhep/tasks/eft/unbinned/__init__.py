"""eft-fit, unbinned mode: ML likelihood-ratio fits of c_tG on LO tt̄ events (ML4EFT, arXiv:2211.02058).

What the eft task dispatches to: ``UnbinnedEftTask`` (``task``), over ``UnbinnedConfig`` (the runcard section
``unbinned:``), ``validate_unbinned``, ``run_unbinned(config, ctx) -> Outputs``, ``report_unbinned(results) ->
str`` and ``plot_unbinned(results, outdir) -> list[Path]``.
"""
from mlhep.tasks.eft.unbinned.config import UnbinnedConfig
from mlhep.tasks.eft.unbinned.plots import plot_unbinned
from mlhep.tasks.eft.unbinned.report import report_unbinned
from mlhep.tasks.eft.unbinned.run import run_unbinned
from mlhep.tasks.eft.unbinned.task import UnbinnedEftTask

__all__ = ["UnbinnedConfig", "UnbinnedEftTask", "run_unbinned", "report_unbinned", "plot_unbinned"]
