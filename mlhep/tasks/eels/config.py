"""The runcard of ``task: eels-fit``: its sections as dataclasses (``mlhep tasks -v`` prints them with defaults).

    data:        where the spectra come from: microscope files, the EELSfitter/Roest folder layout, or a
                 synthetic spectrum image with a known truth
    microscope:  beam energy and collection angle when the files do not say (the Kramers-Kronig analysis)
    clustering:  k-means of the pixels (EELSfitter's clusters), pooling of the analysed image
    regions:     dE1 and dE2 of every cluster, automatic (EELSfitter 3.1) or set
    model:       the ZLP network and its loss
    analysis:    what is computed from every replica's ZLP: bandgap, thickness, deconvolution, dielectric
                 function, and how a spectrum image is processed in chunks of pixels
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Optional, Union

from mlhep.config import InvalidOptions, option
from mlhep.models.mlp import ACTIVATIONS
from mlhep.tasks.eels.clustering import FEATURES

Auto = Union[Literal["auto"], float, list[float]]


@dataclass
class TextOptions:
    """How to read text spectra that hold only counts (no energy column) and do not name their range."""

    energy_range: Optional[list[float]] = option(None, "[E_min, E_max] eV spanned by the channels (channel "
                                                       "centres as EELSfitter's loader)")
    offset: Optional[float] = option(None, "energy of the first channel, eV (with dispersion)")
    dispersion: Optional[float] = option(None, "channel width, eV (with offset)", gt=0)
    energy_unit: Literal["eV", "keV", "meV"] = option("eV", "unit of an energy column and of the options above")


@dataclass
class SyntheticImage:
    """A synthetic spectrum image (``mlhep.tasks.eels.synthetic``): a lens-shaped particle of a semiconductor
    (interband onset A (E - E_bg)^b, a Drude plasmon) on a substrate, Poisson noise; the truth goes into the
    results' summary (``truth/...``)."""

    pixels: list[int] = option([16, 16], "[ny, nx] pixels", ge=1, le=4096)
    energy: list[float] = option([-0.6, 12.0, 0.05], "[E_min, E_max, step] of the energy-loss axis, eV")
    thickness_max: float = option(1.0, "t/lambda at the particle's centre (added to the substrate)", ge=0, le=5)
    substrate: float = option(0.4, "t/lambda everywhere (0: vacuum around the particle)", ge=0, le=5)
    radius: float = option(0.35, "particle radius as a fraction of the image width", gt=0, le=1)
    bandgap: float = option(1.6, "E_bg of the interband onset, eV", gt=0)
    exponent: float = option(1.5, "b of the onset (0.5 direct, 1.5 indirect)", gt=0, le=4)
    onset_weight: float = option(0.2, "the onset's share of the single scattering", gt=0, le=1)
    plasmon_energy: float = option(22.0, "Drude plasmon energy, eV", gt=0)
    plasmon_width: float = option(5.0, "Drude plasmon width, eV", gt=0)
    zlp_fwhm: float = option(0.25, "FWHM of the zero-loss peak's Gaussian core, eV", gt=0)
    tail_fraction: float = option(0.0002, "share of the ZLP in its Lorentzian tails", ge=0, lt=1)
    electrons: float = option(1e7, "electrons per pixel (mean)", gt=0)
    dose_spread: float = option(0.05, "relative spread of the electrons per pixel (beam-current drift: log-normal)",
                                ge=0, le=1)
    read_noise: float = option(0.0, "Gaussian read noise (counts) added to the Poisson counts", ge=0)
    beam_energy_kev: float = option(200.0, "beam energy E0, keV", gt=0)
    collection_mrad: float = option(10.0, "collection semi-angle beta, mrad", gt=0)
    seed: int = option(7, "seed of the noise", ge=0, le=2**32 - 1)

    def __post_init__(self):
        if len(self.pixels) != 2:
            raise InvalidOptions(f"pixels must be [ny, nx], got {self.pixels}")
        if len(self.energy) != 3 or not self.energy[0] < 0 < self.energy[1] or self.energy[2] <= 0:
            raise InvalidOptions(f"energy must be [E_min < 0, E_max > 0, step > 0] eV (the zero-loss peak at 0 on "
                                 f"the axis), got {self.energy}")
        if (self.energy[1] - self.energy[0]) / self.energy[2] > 20000:
            raise InvalidOptions(f"energy {self.energy} makes more than 20000 channels")


@dataclass
class EelsData:
    """Exactly one source of specimen spectra: ``files`` (a spectrum image, or single spectra stacked),
    ``roest_folder`` (the EELSfitter/Roest layout: *.txt, vacuum spectra named so) or ``synthetic``."""

    files: list[str] = option([], "spectrum files (.dm3 .dm4 .hspy .txt .csv .dat .tsv), relative to the runcard's "
                                  "folder; one spectrum image or several single spectra")
    vacuum_files: list[str] = option([], "ZLP-only spectra (beam through vacuum), trained on as a cluster of their own")
    roest_folder: Optional[str] = option(None, "a folder in the EELSfitter/Roest layout (e.g. "
                                               "${MLHEP_SHARED_DATA}/eels_roest2021/Specimen_4)")
    synthetic: Optional[SyntheticImage] = option(None, "generate a synthetic spectrum image instead of reading one")
    use_vacuum: bool = option(True, "train on the vacuum spectra too (roest_folder, vacuum_files), as one cluster")
    signal_index: Optional[int] = option(None, "which EELS signal of a file holding several", ge=0)
    text: TextOptions = option(TextOptions(), "how to read text spectra without an energy column")
    center_zlp: bool = option(True, "shift the energy axis so the mean spectrum's maximum is at 0 eV (EELSfitter)")
    energy_range: Optional[list[float]] = option(None, "[E_min, E_max] eV: keep only these channels (after "
                                                       "centring); none: the whole axis")

    def __post_init__(self):
        sources = [bool(self.files), self.roest_folder is not None, self.synthetic is not None]
        if sum(sources) != 1:
            raise InvalidOptions("give exactly one of files, roest_folder and synthetic "
                                 f"(got {sum(sources) or 'none'})")
        if self.energy_range is not None and (len(self.energy_range) != 2
                                              or not self.energy_range[0] < 0 < self.energy_range[1]):
            raise InvalidOptions(f"energy_range must be [E_min < 0, E_max > 0] eV around the zero-loss peak, got "
                                 f"{self.energy_range}")


@dataclass
class Microscope:
    beam_energy_kev: Optional[float] = option(None, "beam energy E0, keV (none: from the files)", gt=0, le=10000)
    collection_mrad: Optional[float] = option(None, "collection semi-angle beta, mrad (none: from the files)", gt=0)


@dataclass
class Pooling:
    area: int = option(0, "average every analysed pixel over an area x area window (odd; 0: no pooling)", ge=0)
    sigma: Optional[float] = option(2.0, "Gaussian weights of this width in pixels (none: uniform)", gt=0)


@dataclass
class Clustering:
    k: int = option(1, "clusters of the specimen pixels (k-means; vacuum spectra add one of their own)", ge=1, le=64)
    features: list[Literal[FEATURES]] = option(["log_intensity", "thickness"], "k-means features (standardised)")
    max_members: int = option(1000, "spectra of a cluster kept for training (a seeded subset of larger clusters): "
                                    "the replicas draw among them; bounds the device memory", ge=1, le=10**6)
    seed: int = option(0, "seed of k-means and of the member subsets", ge=0, le=2**32 - 1)
    pooling: Pooling = option(Pooling(), "pooling of the analysed spectrum image (training uses the raw pixels)")


@dataclass
class Regions:
    """dE1 (end of the fitted region I) and dE2 (start of the forced-zero region III) per cluster."""

    de1: Auto = option("auto", "eV: 'auto' (EELSfitter's knee), one value for all clusters, or one per cluster")
    de2: Auto = option("auto", "eV: 'auto' (where a log fit crosses one count), one value, or one per cluster")
    shift_de1: float = option(1.0, "factor on the automatic dE1", gt=0, le=10)
    shift_de2: float = option(1.0, "factor on the automatic dE2", gt=0, le=10)


@dataclass
class Model:
    """The ZLP network xi(E, ln N) = ln I_ZLP (``zlp_model.ZLPNet``) and its loss.

    Energy input. EELSfitter maps E over the whole axis onto [0.1, 0.9], so that the zero-loss peak (half an eV
    of a 50 eV axis on the WS2 spectra) spans a few hundredths of the input: the first layer needs weights of
    ~100 to resolve it, which Adam reaches only after many thousands of steps. Measured on the WS2 spectra
    (Specimen_4, one replica, Adam 1e-2, 3000 steps): a plateau at chi2 ~ 900 (the best constant xi) that
    minmax scaling does not leave in 20000 steps (chi2 666), while E in units of dE1 (1.7 eV) reaches chi2 0.07
    (validation 0.17). The scaling is an affine map of the first layer's inputs: it changes no function the
    network can represent, only how fast gradient descent finds it. Default ``energy_scale: de1``.

    Activations. EELSfitter 3.1 uses sigmoid, sigmoid, ReLU (with minmax scaling its ReLU layer dies at Adam 1e-2,
    and at 1e-3 the chi2 stalls). Measured with ``energy_scale: de1``, Adam 3e-3, 3000 epochs, 6 replicas, final
    training chi2 per point (sorted): on the WS2 spectra tanh 0.08-0.17 (all six), sigmoid 7.8-309, sigmoid/
    sigmoid/ReLU 0.40-448 (two stuck above 400); on the default synthetic image (3 clusters) tanh 0.015-0.10,
    sigmoid 0.50-19, sigmoid/sigmoid/ReLU 0.16-140. Hence ``activation: tanh`` for every layer by default
    (zero-centred, it does not saturate into the flat-xi plateau); ``activations: [sigmoid, sigmoid, relu]``
    restores EELSfitter's choice.

    Intensity input. A replica draws one spectrum per cluster, so with a single cluster (and no vacuum spectra)
    every replica sees one value of ln N and its response to ln N is unconstrained: measured on the WS2
    specimen spectra, the replicas' ZLPs at the median spectrum's ln N lie ~10% above it across region I
    (chi2 per point 7-667, median 126, against 0.14 on the training spectra). ``intensity_input: false`` feeds
    a constant instead, a ZLP of E alone as in Roest et al. 2021's WS2 analysis; the replicas' spread then
    carries the spectrum-to-spectrum variation."""

    hidden: list[int] = option([10, 15, 5], "hidden widths (EELSfitter: 10, 15, 5)", ge=1, le=1024)
    activation: Literal[tuple(ACTIVATIONS)] = option("tanh", "activation of every hidden layer (see above)")
    activations: Optional[list[Literal[tuple(ACTIVATIONS)]]] = option(
        None, "one activation per hidden layer, instead of activation (EELSfitter: [sigmoid, sigmoid, relu])")
    energy_scale: Union[Literal["de1", "minmax"], float] = option(
        "de1", "the network's energy input: E / dE1 (the largest of the clusters'), E / this many eV, or 'minmax' "
               "(EELSfitter: the axis onto [0.1, 0.9]; trains far slower, see above)")
    intensity_input: bool = option(
        True, "the network's second input is the spectrum's ln N (EELSfitter); false: a constant, the ZLP a function "
              "of E alone (Roest et al. 2021's WS2 model; see above)")
    torch_init: bool = option(True, "PyTorch's default initialisation, U(+-1/sqrt(fan_in)), as EELSfitter")
    penalty: float = option(10.0, "lambda of the monotonic-decrease penalty between dE1 and dE2 (EELSfitter: 10)",
                            ge=0)
    validation_fraction: float = option(0.25, "fraction of the fitted points each replica validates on "
                                              "(EELSfitter: 0.25; 0: none, the training loss is watched)", ge=0, lt=1)

    def __post_init__(self):
        if self.activations is not None and len(self.activations) != len(self.hidden):
            raise InvalidOptions(f"activations has {len(self.activations)} entries for {len(self.hidden)} hidden "
                                 "layers")

    @property
    def layer_activations(self) -> tuple[str, ...]:
        return tuple(self.activations) if self.activations is not None else (self.activation,) * len(self.hidden)


@dataclass
class Bandgap:
    """I(E) = A (E - E_bg)^b fitted to every replica's subtracted spectrum inside ``window``."""

    enabled: bool = option(True, "fit the bandgap")
    window: list[float] = option([1.0, 3.0], "[E_min, E_max] eV of the fit")
    exponent: Optional[float] = option(None, "fix b (0.5 direct, 1.5 indirect); none: fitted", gt=0, le=5)
    exponent_range: list[float] = option([0.1, 3.0], "[b_min, b_max] searched when b is fitted", gt=0, le=5)
    bandgap_range: Optional[list[float]] = option(None, "[lowest, highest] E_bg searched, eV (none: from the window's "
                                                        "start minus its width to its end)")
    resolution: float = option(0.002, "final grid step of E_bg (eV) and of b (in units of 1)", gt=0, le=0.1)
    weights: Literal["none", "poisson"] = option(
        "none", "'none': unweighted least squares (Roest et al. 2021); 'poisson': weights 1/counts of the spectrum")

    def __post_init__(self):
        if len(self.window) != 2 or not 0 < self.window[0] < self.window[1]:
            raise InvalidOptions(f"window must be [E_min, E_max] with 0 < E_min < E_max eV, got {self.window}")
        if len(self.exponent_range) != 2 or not self.exponent_range[0] < self.exponent_range[1]:
            raise InvalidOptions(f"exponent_range must be [b_min, b_max] with b_min < b_max, got "
                                 f"{self.exponent_range}")
        if self.bandgap_range is not None and (len(self.bandgap_range) != 2
                                               or not self.bandgap_range[0] < self.bandgap_range[1]):
            raise InvalidOptions(f"bandgap_range must be [low, high] with low < high, got {self.bandgap_range}")

    @property
    def search(self) -> tuple[float, float]:
        width = self.window[1] - self.window[0]
        return tuple(self.bandgap_range) if self.bandgap_range else (max(self.window[0] - width, 0.0),
                                                                     self.window[1])


@dataclass
class Thickness:
    log_ratio: bool = option(True, "t/lambda = ln(total / I0) with every replica's ZLP (Egerton eq. 5.1)")
    kramers_kronig: bool = option(False, "absolute thickness (nm) from the Kramers-Kronig sum rule of the cluster "
                                         "spectra (needs deconvolution, the microscope and refractive_index)")
    refractive_index: Optional[float] = option(None, "n of the specimen for the sum rule (.inf: a metal)", gt=1,
                                               allow_inf=True)


@dataclass
class Deconvolution:
    enabled: bool = option(False, "single-scattering distribution of the cluster spectra by Fourier-log "
                                  "deconvolution with every replica's ZLP")
    kernel: Union[Literal["zlp"], float] = option("zlp", "reconvolve with the ZLP itself, or a Gaussian of this FWHM "
                                                         "(eV)")
    extrapolate: float = option(0.0, "extend the spectra by a power-law tail over this many eV first (Egerton "
                                     "4.2.2; the sum rule needs the losses beyond the axis)", ge=0, le=10000)


@dataclass
class Images:
    pixel_chunk: Optional[int] = option(None, "pixels processed at once, with every replica (none: as many as fit "
                                              "in memory_mb)", ge=1, le=10**7)
    memory_mb: float = option(256.0, "memory for one chunk of pixels when pixel_chunk is not set (replicas x pixels "
                                     "x channels x ~(2 x widest hidden layer + 8) x 4 bytes)", gt=0)
    zlp_interpolation: int = option(0, "0: the network at every pixel's ln N; L > 1: at L values spanning the image's "
                                        "ln N, linearly interpolated (for very large images)", ge=0, le=100000)
    keep_pixel_replicas: int = option(64, "with at most this many analysed spectra, keep every replica's values and "
                                          "the 68% bands of each subtracted spectrum", ge=0, le=100000)


@dataclass
class Analysis:
    max_loss: Optional[float] = option(None, "leave out of the results the replicas whose kept validation loss "
                                             "exceeds this (Roest et al. 2021 kept chi2 < 3); none: keep all", gt=0)
    bandgap: Bandgap = option(Bandgap(), "bandgap fit")
    thickness: Thickness = option(Thickness(), "thickness")
    deconvolution: Deconvolution = option(Deconvolution(), "Fourier-log deconvolution")
    dielectric: bool = option(False, "complex dielectric function of the cluster spectra by Kramers-Kronig analysis "
                                     "(needs deconvolution, the microscope and thickness.refractive_index)")
    images: Images = option(Images(), "how the analysed spectra are processed")


@dataclass
class EelsFitConfig:
    data: EelsData = option(default_factory=lambda: EelsData(synthetic=SyntheticImage()),
                            doc="the spectra")
    microscope: Microscope = option(Microscope(), "microscope settings the files may lack")
    clustering: Clustering = option(Clustering(), "pixel clusters")
    regions: Regions = option(Regions(), "the fit regions")
    model: Model = option(Model(), "the ZLP network")
    analysis: Analysis = option(Analysis(), "what every replica's ZLP gives")
