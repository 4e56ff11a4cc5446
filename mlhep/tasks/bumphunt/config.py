"""The runcard sections of bump-hunt: ``data``, ``methods``, ``model`` and ``significance``.

``model`` is the methods' own ``MethodSettings`` (``methods/common.py``: folds, flow, classifier, ...) except its
``signal_region`` and ``sidebands``, which live in ``data`` (they define the data regions every method and the
sideband fit share) and are copied into the settings by ``BumpHuntConfig.method_settings``.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Literal, Optional

from mlhep.config import InvalidOptions, option
from mlhep.tasks.bumphunt.methods.common import MethodSettings

METHODS = ("cathode", "anode", "cwola", "idealised", "supervised")


@dataclass
class SurrogateData:
    """Events of the fast surrogate (``surrogate.py``: dijet-function QCD and a 3.5 TeV W' -> X(500) Y(100))."""

    n_background: int = option(100_000, "QCD events over 2.6-8 TeV (about 10% in 3.3-3.7 TeV)", ge=100, le=10**8)
    n_signal: Optional[int] = option(None, "W' events injected over the whole m_jj range (about 79% land in "
                                           "3.3-3.7 TeV)", ge=0, le=10**7)
    s_over_b: Optional[float] = option(None, "instead of n_signal: expected S/B inside the signal region",
                                       ge=0, le=100)
    template: int = option(0, "idealised: background-only template events of the true model (0: n_background)",
                           ge=0, le=10**8)
    seed: int = option(1, "seed of the sample (not of the replicas)", ge=0, le=2**32 - 1)

    def __post_init__(self):
        if self.n_signal is not None and self.s_over_b is not None:
            raise InvalidOptions("give at most one of n_signal and s_over_b (neither: background only)")


@dataclass
class InjectConfig:
    """How many events of ``data.signal_files`` join the background of ``data.files`` (``events.inject``)."""

    s_over_b_in_sr: Optional[float] = option(None, "expected signal/background inside the signal region", ge=0,
                                             le=100)
    n_signal: Optional[int] = option(None, "instead: signal events injected over the whole m_jj range", ge=0,
                                     le=10**8)
    seed: int = option(0, "seed of the draw of the signal events and of the shuffle", ge=0, le=2**32 - 1)

    def __post_init__(self):
        if (self.s_over_b_in_sr is None) == (self.n_signal is None):
            raise InvalidOptions("give exactly one of s_over_b_in_sr and n_signal")


@dataclass
class DataConfig:
    """The events (exactly one of ``surrogate`` and ``files``) and the m_jj regions."""

    surrogate: Optional[SurrogateData] = option(None, "generate the surrogate sample")
    files: Optional[list[str]] = option(None, "event files (LHCO R&D features or constituent tables, or files of "
                                              "scripts/generate_lhco.py), relative to the runcard; concatenated. "
                                              "With signal_files: only their background (label 0) events are used")
    signal_files: Optional[list[str]] = option(None, "files whose signal (label 1) events are the pool to inject "
                                                     "into the background of 'files' (may be the same files)")
    inject: Optional[InjectConfig] = option(None, "with signal_files: how much signal to inject")
    template_files: Optional[list[str]] = option(None, "idealised: files of background-only events of the true "
                                                       "background model (their label-0 events are used)")
    max_events_per_file: Optional[int] = option(None, "read only the first this many events of each file",
                                                ge=1, le=10**9)
    signal_region: list[float] = option([3.3, 3.7], "TeV, [low, high) of m_jj (CATHODE's signal region)", gt=0)
    sidebands: Optional[list[float]] = option(None, "TeV, [outer low, outer high) of the training sidebands (none: "
                                                    "every event outside the signal region, as CATHODE)", gt=0)

    def __post_init__(self):
        if (self.surrogate is None) == (self.files is None):
            raise InvalidOptions("give exactly one of 'surrogate' (settings of the surrogate sample) and 'files' "
                                 "(a list of event files)")
        if self.files is not None and not self.files:
            raise InvalidOptions("'files' is an empty list")
        if (self.signal_files is None) != (self.inject is None):
            raise InvalidOptions("'signal_files' and 'inject' go together: the signal pool and how much of it to "
                                 "inject")
        if len(self.signal_region) != 2 or not self.signal_region[0] < self.signal_region[1]:
            raise InvalidOptions(f"signal_region {self.signal_region} is not [low, high] with low < high")
        if self.sidebands is not None:
            lo, hi = self.signal_region
            if len(self.sidebands) != 2 or not self.sidebands[0] < lo < hi < self.sidebands[1]:
                raise InvalidOptions(f"sidebands {self.sidebands} must be [outer low, outer high] enclosing the "
                                     f"signal region {self.signal_region} on both sides")


@dataclass
class SignificanceConfig:
    """The bump hunt after the anomaly-score cut: binned m_jj spectrum, sideband fit, local and global
    significance."""

    efficiencies: list[float] = option([0.1, 0.01, 0.002], "fractions of the signal-region events kept by the score "
                                                           "cut (its threshold), applied to every m_jj bin",
                                       gt=0, le=1)
    mjj_range: list[float] = option([2.6, 6.0], "TeV, [low, high] of the binned spectrum (the bins must tile the "
                                                "signal region)", gt=0)
    bin_width: float = option(0.1, "TeV, width of the m_jj bins", gt=0)
    n_params: Literal[3, 4] = option(4, "parameters of the dijet function (3: p3 = 0)")
    method: Literal["profile", "convolved"] = option("profile", "local significance with the fit uncertainty "
                                                                "(significance.py)")
    pseudo_experiments: int = option(10000, "BumpHunter pseudo-experiments for the global p-value", ge=10, le=10**7)
    widths: list[int] = option([2, 3, 4, 5, 6], "BumpHunter window widths in bins", ge=1, le=1000)

    def edges(self):
        import numpy as np
        lo, hi = self.mjj_range
        n = int(round((hi - lo) / self.bin_width))
        return lo + self.bin_width * np.arange(n + 1)

    def __post_init__(self):
        if len(self.mjj_range) != 2 or not self.mjj_range[0] < self.mjj_range[1]:
            raise InvalidOptions(f"mjj_range {self.mjj_range} is not [low, high] with low < high")
        n = (self.mjj_range[1] - self.mjj_range[0]) / self.bin_width
        if abs(n - round(n)) > 1e-6 or round(n) < 3:
            raise InvalidOptions(f"bin_width {self.bin_width} must divide mjj_range {self.mjj_range} into at least "
                                 "3 bins")


@dataclass
class BumpHuntConfig:
    data: DataConfig = option(doc="the events and the m_jj regions")
    methods: list[Literal[METHODS]] = option(["cathode", "cwola"], "anomaly-detection methods to run")
    model: MethodSettings = option(MethodSettings(), "the methods' settings (k-fold, flow, classifier; "
                                                     "signal_region and sidebands are set in data)")
    significance: SignificanceConfig = option(SignificanceConfig(), "the bump hunt after the score cut")

    def __post_init__(self):
        if not self.methods:
            raise InvalidOptions(f"'methods' is empty (valid: {', '.join(METHODS)})")
        if len(set(self.methods)) != len(self.methods):
            raise InvalidOptions(f"'methods' {self.methods} names a method twice")
        default = MethodSettings()
        if self.model.signal_region != default.signal_region or self.model.sidebands is not None:
            raise InvalidOptions("set the signal region and sidebands in data.signal_region and data.sidebands, "
                                 "not in model")

    def method_settings(self) -> MethodSettings:
        return dataclasses.replace(self.model, signal_region=list(self.data.signal_region),
                                   sidebands=None if self.data.sidebands is None else list(self.data.sidebands))
