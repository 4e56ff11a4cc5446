"""The runcard sections of jet-tag: ``data``, ``model``, ``ensemble``, ``decorrelation``, ``evaluation``."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, Optional

from mlhep.config import InvalidOptions, option
from mlhep.tasks.jets.models import MODELS
from mlhep.tasks.jets.sample import SampleDefinition


@dataclass
class GenerateConfig:
    """A sample made with the project's generator (Pythia 8 + FastJet, ``mlhep.tasks.jets.production``) into
    ``$MLHEP_CACHE/jets/<hash of these settings and the generator versions>.h5`` the first time, reused after."""

    jets_per_class: int = option(2000, "top jets and QCD jets each", ge=1, le=10**7)
    seed: int = option(1, "seed of the sample (not of the replicas)", ge=0, le=2**32 - 1)
    detector: bool = option(True, "the parametrised detector response of mlhep/tasks/jets/detector.py (false: "
                                  "the visible final-state particles)")
    pthat_min: float = option(SampleDefinition.pthat_min, "GeV, minimum pT of the hard process (lower: less "
                              "biased, slower; see mlhep/tasks/jets/sample.py)", gt=0, lt=550)
    workers: int = option(0, "generator processes (0: one per usable core); the sample does not depend on it",
                          ge=0, le=1024)


@dataclass
class DataConfig:
    """Which jets, how many constituents, and the train/validation/test split (stratified by class)."""

    files: Optional[list[str]] = option(None, "jet files: mlhep's generated layout or the top-tagging reference "
                                              "sample's (train.h5, ...), relative to the runcard; concatenated")
    generate: Optional[GenerateConfig] = option(None, "instead of files: generate the sample (once, cached)")
    max_jets_per_file: Optional[int] = option(None, "read only the first this many jets of each file (none: all)",
                                              ge=2, le=10**8)
    constituents: int = option(50, "hardest constituents kept per jet (pT-ordered; the files hold up to 200)",
                               ge=1, le=1000)
    validation_fraction: float = option(0.2, "fraction of each class for validation (early stopping)", gt=0, lt=1)
    test_fraction: float = option(0.3, "fraction of each class held out of every replica for the test metrics",
                                  gt=0, lt=1)
    split_seed: int = option(0, "seed of the split (the same for every replica)", ge=0, le=2**32 - 1)
    image_pixels: int = option(40, "cnn: jet image pixels per side", ge=4, le=256)
    image_half_width: float = option(0.8, "cnn: the image covers [-w, w] in both directions (rapidity, azimuth "
                                          "after centring and rotation)", gt=0, le=3.2)

    def __post_init__(self):
        if (self.files is None) == (self.generate is None):
            raise InvalidOptions("give exactly one of 'files' (a list of jet files) and 'generate' (settings of a "
                                 "sample to generate)")
        if self.files is not None and not self.files:
            raise InvalidOptions("'files' is an empty list")
        if self.validation_fraction + self.test_fraction >= 1:
            raise InvalidOptions(f"validation_fraction + test_fraction = "
                                 f"{self.validation_fraction + self.test_fraction:g} leaves no training jets "
                                 "(must be < 1)")


@dataclass
class ModelConfig:
    """The tagger: one of the architectures of mlhep/tasks/jets/models/ and its builder's options."""

    architecture: Literal[tuple(MODELS)] = option("pfn", "network (dense: high-level features; cnn: jet images; "
                                                         "efn, pfn, particlenet, part, lola, rnn: constituents)")
    options: dict[str, Any] = option({}, "options of the architecture (its fields, e.g. pfn: phi_sizes, f_sizes; "
                                         "a bad one is named with the valid ones)")


@dataclass
class EnsembleConfig:
    """What makes the replicas differ: always their seed (initialisation, minibatch order, dropout)."""

    bootstrap: bool = option(False, "each replica trains on a bootstrap of the training jets (multinomial "
                                    "weights, per class), so the spread includes the training-sample fluctuation")


@dataclass
class DecorrelationConfig:
    """Mass decorrelation (mlhep/tasks/jets/models/adversary.py): none, a distance-correlation penalty (DisCo) or
    a mass adversary through gradient reversal (learning to pivot)."""

    method: Literal["none", "dcorr", "adversary"] = option("none", "decorrelation method")
    strength: float = option(0.0, "lambda: dcorr adds lambda dCorr^2(score, mass) of the minibatch's background; "
                                   "adversary trains the tagger on L_f - lambda L_r", ge=0, le=1e6)
    adversary_bins: int = option(10, "adversary: mass bins (equally populated by the training background)",
                                 ge=2, le=1000)
    adversary_hidden: list[int] = option([32, 32], "adversary: hidden widths", ge=1, le=4096)


@dataclass
class EvaluationConfig:
    """Test-set evaluation."""

    mass_range: list[float] = option([0.0, 400.0], "GeV, [low, high] of the mass-sculpting histograms", ge=0)
    mass_bins: int = option(40, "bins of the mass-sculpting histograms", ge=1, le=10000)
    chunk: int = option(4096, "test jets per evaluation step (bounds the memory)", ge=1, le=10**7)

    def __post_init__(self):
        if len(self.mass_range) != 2 or not self.mass_range[0] < self.mass_range[1]:
            raise InvalidOptions(f"mass_range {self.mass_range} is not [low, high] with low < high")


@dataclass
class JetTagConfig:
    data: DataConfig = option(doc="the jets (files, or generate) and their split")
    model: ModelConfig = option(ModelConfig(), "the tagger")
    ensemble: EnsembleConfig = option(EnsembleConfig(), "replica ensemble")
    decorrelation: DecorrelationConfig = option(DecorrelationConfig(), "mass decorrelation")
    evaluation: EvaluationConfig = option(EvaluationConfig(), "test metrics")
