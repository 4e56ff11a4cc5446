"""The ``Spectra`` container of EELS data and the checks a low-loss (zero-loss-peak) analysis needs.

Every reader in ``mlhep.tasks.eels.io`` returns a ``Spectra``; the physics functions take its plain arrays.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from mlhep.errors import DataError

KINDS = ("specimen", "vacuum")


@dataclass(frozen=True)
class Spectra:
    """EELS spectra on one energy-loss axis.

    energy: (n,) channel centres in eV, strictly increasing.
    counts: (..., n) float64 counts per channel; the leading axes are pixels, (ny, nx) for a spectrum image,
        (m,) for a list of single spectra, () for one spectrum.
    source: the file the data came from (or a description such as ``"synthetic"``), named in every error.
    kind: ``"specimen"`` (beam through the sample) or ``"vacuum"`` (beam through vacuum: ZLP only).
    beam_energy_kev, collection_mrad, convergence_mrad: microscope settings from the file metadata when it has
        them (None otherwise); the Kramers-Kronig analysis needs the first two.
    labels: for a stack of single spectra (m, n), the file each came from (None otherwise).
    """

    energy: np.ndarray
    counts: np.ndarray
    source: str
    kind: str = "specimen"
    beam_energy_kev: float | None = None
    collection_mrad: float | None = None
    convergence_mrad: float | None = None
    labels: tuple[str, ...] | None = None

    def __post_init__(self):
        energy = np.asarray(self.energy, dtype=np.float64)
        counts = np.asarray(self.counts, dtype=np.float64)
        object.__setattr__(self, "energy", energy)
        object.__setattr__(self, "counts", counts)
        if self.kind not in KINDS:
            raise DataError(f"{self.source}: spectrum kind {self.kind!r} is not one of {', '.join(KINDS)}")
        if energy.ndim != 1 or energy.size < 2:
            raise DataError(f"{self.source}: the energy axis must be 1-D with at least 2 channels, "
                            f"got shape {energy.shape}")
        if counts.ndim < 1 or counts.shape[-1] != energy.size:
            raise DataError(f"{self.source}: counts of shape {counts.shape} do not end in the {energy.size} "
                            "channels of the energy axis")
        if not np.all(np.isfinite(energy)) or np.any(np.diff(energy) <= 0):
            raise DataError(f"{self.source}: the energy axis is not finite and strictly increasing")
        if not np.all(np.isfinite(counts)):
            bad = int(np.size(counts) - np.count_nonzero(np.isfinite(counts)))
            raise DataError(f"{self.source}: {bad} counts are NaN or infinite")
        if self.labels is not None and len(self.labels) != self.n_spectra:
            raise DataError(f"{self.source}: {len(self.labels)} labels for {self.n_spectra} spectra")

    @property
    def n_channels(self) -> int:
        return self.energy.size

    @property
    def pixel_shape(self) -> tuple[int, ...]:
        """The leading (pixel) axes of ``counts``: () for one spectrum, (ny, nx) for a spectrum image."""
        return self.counts.shape[:-1]

    @property
    def n_spectra(self) -> int:
        return int(np.prod(self.pixel_shape, dtype=np.int64))

    @property
    def dispersion(self) -> float:
        """The channel width in eV; a DataError if the axis is not uniform (FFT-based methods need it to be)."""
        steps = np.diff(self.energy)
        if np.ptp(steps) > 1e-6 * abs(steps.mean()):
            raise DataError(f"{self.source}: the energy axis is not uniform (channel widths "
                            f"{steps.min():.6g} to {steps.max():.6g} eV)")
        return float(steps.mean())

    def flat(self) -> np.ndarray:
        """Counts as (n_spectra, n)."""
        return self.counts.reshape(-1, self.n_channels)

    def replace(self, **changes) -> Spectra:
        return dataclasses.replace(self, **changes)


def stack(spectra: list[Spectra], source: str | None = None) -> Spectra:
    """Single spectra of one kind on one energy axis -> one ``Spectra`` with counts (m, n)."""
    if not spectra:
        raise DataError(f"{source or 'stack'}: no spectra to stack")
    first = spectra[0]
    for s in spectra[1:]:
        if s.energy.shape != first.energy.shape or not np.allclose(s.energy, first.energy, rtol=0, atol=1e-9):
            raise DataError(f"{s.source}: its energy axis differs from that of {first.source}")
        if s.kind != first.kind:
            raise DataError(f"{s.source}: a {s.kind} spectrum cannot be stacked with the {first.kind} {first.source}")
    counts = np.stack([s.flat() for s in spectra]).reshape(-1, first.n_channels)
    labels = tuple(label for s in spectra for label in (s.labels or [s.source] * s.n_spectra))
    return first.replace(counts=counts, source=source or ", ".join(s.source for s in spectra), labels=labels)


def check_counts(spectra: Spectra, negative_tolerance: float = 0.01) -> None:
    """Refuse counts that are negative beyond noise.

    Dark-reference subtraction leaves small negative counts where there is no signal (the vacuum spectra of
    Roest et al. 2021 go down to -340 under a peak of 8.5e6), so a count is refused only below
    ``-negative_tolerance`` times the largest count; a spectrum with no positive count is refused too.
    """
    peak = float(spectra.counts.max())
    if peak <= 0:
        raise DataError(f"{spectra.source}: no positive counts (maximum {peak:.4g})")
    lowest = float(spectra.counts.min())
    if lowest < -negative_tolerance * peak:
        raise DataError(f"{spectra.source}: negative counts down to {lowest:.4g}, beyond noise "
                        f"(-{negative_tolerance:g} x the maximum {peak:.4g}); EELS counts must not be negative")


def check_zero_loss_peak(spectra: Spectra, window: float = 5.0, prominence: float = 10.0) -> None:
    """Refuse spectra without a zero-loss peak in range: ZLP fitting needs low-loss spectra.

    The energy axis must contain 0 eV; the summed spectrum must have its maximum within ``window`` eV of 0 and
    that maximum must exceed ``prominence`` times the median absolute count (a ZLP stands far above the rest).
    """
    e = spectra.energy
    if e[0] > 0 or e[-1] < 0:
        what = "a core-loss spectrum" if e[0] > 0 else "an energy-gain range"
        raise DataError(f"{spectra.source}: the energy axis runs from {e[0]:.4g} to {e[-1]:.4g} eV and does not "
                        f"contain the zero-loss peak at 0 eV ({what}); ZLP fitting needs low-loss spectra")
    total = spectra.flat().sum(axis=0)
    i = int(np.argmax(total))
    if abs(e[i]) > window:
        raise DataError(f"{spectra.source}: no zero-loss peak: the most intense channel is at {e[i]:.4g} eV, not "
                        f"within {window:g} eV of 0; ZLP fitting needs low-loss spectra")
    level = float(np.median(np.abs(total)))
    if total[i] <= prominence * level:
        raise DataError(f"{spectra.source}: no zero-loss peak: the maximum near 0 eV ({total[i]:.4g}) is not "
                        f"{prominence:g} times above the typical count ({level:.4g}); is the beam on?")


def check_low_loss(spectra: Spectra, window: float = 5.0, negative_tolerance: float = 0.01) -> Spectra:
    """All checks a ZLP analysis needs (``check_zero_loss_peak``, then ``check_counts``); returns ``spectra``."""
    check_zero_loss_peak(spectra, window)
    check_counts(spectra, negative_tolerance)
    return spectra


def peak_energy(spectra: Spectra) -> np.ndarray:
    """(pixel_shape) energy in eV of the most intense channel of each spectrum (the ZLP position)."""
    return spectra.energy[np.argmax(spectra.counts, axis=-1)]


def log_zlp_intensity(counts, xp=np):
    """ln(sum of the 3 channels around each spectrum's maximum), (..., n) -> (...,): EELSfitter's ``log_zlp``,
    its proxy of the integrated intensity (clustering and the network's second input). The maximum is moved in
    from the axis ends so that 3 channels exist. ``xp``: numpy, or jax.numpy inside a jitted function."""
    n = counts.shape[-1]
    peak = xp.clip(xp.argmax(counts, axis=-1), 1, n - 2)[..., None]
    three = xp.take_along_axis(counts, peak + xp.arange(-1, 2), axis=-1).sum(axis=-1)
    return xp.log(three)


def centred_on_zero_loss(spectra: Spectra) -> Spectra:
    """The same counts on an energy axis shifted so the maximum of the mean spectrum sits at 0 eV.

    EELSfitter (``SpectralImage.set_eaxis``) and Roest et al. 2021 (``x_shifted``) calibrate the energy-loss axis
    this way before any fit.
    """
    mean = spectra.flat().mean(axis=0)
    return spectra.replace(energy=spectra.energy - spectra.energy[int(np.argmax(mean))])
