"""eft-fit, binned mode: a global fit of SMEFT Wilson coefficients to binned LHC/LEP data (SMEFiT approach,
Ethier et al., JHEP 11 (2021) 089, arXiv:2105.00006), read from the SMEFiT database formats.

Modules: ``config`` (runcard section), ``read`` (checked file reading), ``loader`` (commondata/theory readers),
``theory`` (coefficient map and predictions), ``problem`` (arrays and covariances), ``chi2``, ``newton`` (batched
damped Newton), ``fits`` (analytic and replica fits), ``sampler`` (NUTS), ``nested`` (nested sampling), ``scans``,
``pca``, ``individual`` (one-at-a-time fits), ``projection`` (future-luminosity pseudo-data), ``summary``, ``setup``
and ``run`` (the fit), ``report``, ``plots``, ``export`` (SMEFiT's result layout), ``task`` (``BinnedEftTask``,
what eft-fit dispatches to). Constraints may be SMEFiT's non-linear UV form (``theory``)."""
from .config import BinnedConfig
from .plots import plot_binned
from .report import report_binned
from .run import run_binned
from .task import BinnedEftTask

__all__ = ["BinnedConfig", "BinnedEftTask", "run_binned", "report_binned", "plot_binned"]
