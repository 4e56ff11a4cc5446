"""Readers of EELS spectra: Gatan DigitalMicrograph (.dm3/.dm4) through rosettasciio, plain text/CSV, and the
layout of the EELSfitter repository (Roest et al., Ultramicroscopy 222 (2021) 113202).

Each returns a ``Spectra`` (energy in eV, counts with the energy axis last) or raises ``DataError`` naming the
file. These readers check what a file is (an EELS spectrum or spectrum image with an energy axis); whether it
suits a zero-loss-peak fit is ``spectra.check_low_loss``'s question.
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from mlhep import __version__
from mlhep.errors import DataError
from mlhep.tasks.eels.spectra import Spectra, stack

ENERGY_UNITS = {"ev": 1.0, "kev": 1e3, "mev": 1e-3}   # to eV
DM_SUFFIXES = (".dm3", ".dm4")
HSPY_SUFFIXES = (".hspy",)
TEXT_SUFFIXES = (".txt", ".csv", ".dat", ".tsv")
MAX_PIXEL_AXES = 2          # spectrum images are (ny, nx, n); more navigation axes are not supported


def read_spectra(path: str | Path, kind: str | None = None, **options) -> Spectra:
    """Read a spectrum file by its suffix: .dm3/.dm4 with ``read_dm``, .hspy with ``read_hspy``,
    .txt/.csv/.dat/.tsv with ``read_text`` (``options`` go to the reader). ``kind`` is "specimen" or "vacuum";
    None infers "vacuum" when the file name (or an .hspy title) says so, else "specimen"."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in DM_SUFFIXES:
        return read_dm(path, kind=kind, **options)
    if suffix in HSPY_SUFFIXES:
        return read_hspy(path, kind=kind, **options)
    if suffix in TEXT_SUFFIXES:
        return read_text(path, kind=kind, **options)
    raise DataError(f"{path}: unknown spectrum file type {suffix or '(no suffix)'!r}; "
                    f"valid: {', '.join(DM_SUFFIXES + HSPY_SUFFIXES + TEXT_SUFFIXES)}")


def kind_from_name(path: Path) -> str:
    return "vacuum" if "vacuum" in path.name.lower() else "specimen"


# --- Gatan DigitalMicrograph --------------------------------------------------------------------------------

def read_dm(path: str | Path, kind: str | None = None, signal_index: int | None = None) -> Spectra:
    """A Gatan .dm3/.dm4 EELS spectrum (n,) or spectrum image (ny, nx, n).

    The energy axis is the one whose units are an energy (eV, keV, meV): offset, dispersion and units come from
    the file's calibration, converted to eV. Beam energy and collection/convergence semi-angles come from the
    DigitalMicrograph tags ``Microscope Info/Voltage`` and ``EELS/Experimental Conditions`` (0 means unset).
    A file holding several EELS signals needs ``signal_index`` (the position among the file's signals).
    """
    path = Path(path)
    signals = _rsciio_signals(path, "digitalmicrograph", "a Gatan DigitalMicrograph file")
    return _spectra_from_signals(path, signals, kind, signal_index, _dm_microscope)


def read_hspy(path: str | Path, kind: str | None = None, signal_index: int | None = None) -> Spectra:
    """An EELS spectrum or spectrum image in HyperSpy's HDF5 format (.hspy, e.g. written by ``write_hspy``):
    the energy axis by its units, microscope settings from ``Acquisition_instrument.TEM``."""
    path = Path(path)
    signals = _rsciio_signals(path, "hspy", "a HyperSpy .hspy file")
    return _spectra_from_signals(path, signals, kind, signal_index, _hspy_microscope)


def write_hspy(path: str | Path, spectra: Spectra) -> Path:
    """Write ``spectra`` as an EELS signal in HyperSpy's .hspy format (rosettasciio), with its microscope
    settings and its kind in the title; ``read_hspy`` reads it back. Returns the path."""
    from rsciio.hspy import file_writer
    path = Path(path)
    if len(spectra.pixel_shape) > MAX_PIXEL_AXES:
        raise DataError(f"{spectra.source}: cannot write {len(spectra.pixel_shape)} pixel axes (at most 2)")
    step = spectra.dispersion
    pixel_axes = [{"name": name, "size": size, "index_in_array": i, "scale": 1.0, "offset": 0.0, "units": "px",
                   "navigate": True} for i, (name, size) in enumerate(zip(("y", "x"), spectra.pixel_shape))]
    energy_axis = {"name": "Energy loss", "size": spectra.n_channels, "index_in_array": len(pixel_axes),
                   "scale": step, "offset": float(spectra.energy[0]), "units": "eV", "navigate": False}
    tem: dict = {}
    if spectra.beam_energy_kev is not None:
        tem["beam_energy"] = spectra.beam_energy_kev
    if spectra.convergence_mrad is not None:
        tem["convergence_angle"] = spectra.convergence_mrad
    if spectra.collection_mrad is not None:
        tem["Detector"] = {"EELS": {"collection_angle": spectra.collection_mrad}}
    metadata = {"General": {"title": f"{spectra.kind} spectra", "original_filename": spectra.source},
                "Signal": {"signal_type": "EELS"}, "Acquisition_instrument": {"TEM": tem}}
    signal = {"data": spectra.counts, "axes": pixel_axes + [energy_axis], "metadata": metadata,
              "original_metadata": {}, "attributes": {"_lazy": False}, "tmp_parameters": {}, "learning_results": {},
              "models": {}, "package_info": {"package": "mlhep", "package_version": __version__}}
    file_writer(str(path), signal, show_progressbar=False)
    return path


def _rsciio_signals(path: Path, plugin: str, what: str) -> list[dict]:
    import importlib
    try:
        reader = importlib.import_module(f"rsciio.{plugin}").file_reader
    except ImportError as exc:       # pragma: no cover - rosettasciio is a dependency of eels-fit
        raise DataError(f"{path}: reading {what} needs the package rosettasciio") from exc
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    try:
        return reader(str(path))
    except Exception as exc:        # rosettasciio raises many types for damaged files
        raise DataError(f"{path}: cannot be read as {what} ({type(exc).__name__}: {exc})") from exc


def _spectra_from_signals(path: Path, signals: list[dict], kind: str | None, signal_index: int | None,
                          microscope) -> Spectra:
    eels = [i for i, s in enumerate(signals) if _energy_axis(s) is not None]
    if signal_index is not None:
        if signal_index not in range(len(signals)):
            raise DataError(f"{path}: signal_index {signal_index} is out of range (the file has "
                            f"{len(signals)} signals)")
        chosen = signal_index
    elif len(eels) == 1:
        chosen = eels[0]
    elif not eels:
        found = ", ".join(_describe(s) for s in signals) or "nothing"
        raise DataError(f"{path}: not an EELS file: no signal has an energy axis in eV (found {found})")
    else:
        raise DataError(f"{path}: holds {len(eels)} EELS signals (indices {eels}); choose one with signal_index")
    signal = signals[chosen]
    if kind is None:
        title = str(signal.get("metadata", {}).get("General", {}).get("title", ""))
        kind = "vacuum" if "vacuum" in title.lower() else kind_from_name(path)
    return _spectra_from_signal(path, signal, kind, microscope)


def _energy_axis(signal: dict) -> int | None:
    """Index of the energy axis of a rosettasciio signal dictionary, None if it has none."""
    for i, axis in enumerate(signal.get("axes", [])):
        if str(axis.get("units", "")).strip().lower() in ENERGY_UNITS:
            return i
    return None


def _describe(signal: dict) -> str:
    units = [str(a.get("units", "")) or "-" for a in signal.get("axes", [])]
    return f"shape {np.shape(signal.get('data'))} with axis units {units}"


def _spectra_from_signal(path: Path, signal: dict, kind: str, microscope) -> Spectra:
    signal_type = str(signal.get("metadata", {}).get("Signal", {}).get("signal_type", "") or "")
    if signal_type and "EELS" not in signal_type.upper():
        raise DataError(f"{path}: a {signal_type} signal, not EELS")
    axes = signal["axes"]
    e_axis = _energy_axis(signal)
    if e_axis is None:
        raise DataError(f"{path}: the chosen signal has no energy axis in eV ({_describe(signal)})")
    data = np.asarray(signal["data"])
    if data.ndim != len(axes):
        raise DataError(f"{path}: data of shape {data.shape} do not match its {len(axes)} calibrated axes")
    if data.ndim - 1 > MAX_PIXEL_AXES:
        raise DataError(f"{path}: {data.ndim}-dimensional data {data.shape}; eels-fit reads spectra (n,) and "
                        "spectrum images (ny, nx, n)")
    if not np.issubdtype(data.dtype, np.number) or np.iscomplexobj(data):
        raise DataError(f"{path}: counts of type {data.dtype} are not real numbers")
    axis = axes[e_axis]
    unit = ENERGY_UNITS[str(axis["units"]).strip().lower()]
    if "axis" in axis and axis["axis"] is not None:          # a non-uniform axis is given point by point
        energy = np.asarray(axis["axis"], dtype=np.float64) * unit
    else:
        energy = (float(axis.get("offset", 0.0)) + float(axis.get("scale", 1.0)) * np.arange(data.shape[e_axis]))
        energy = energy * unit
    counts = np.moveaxis(data.astype(np.float64), axis.get("index_in_array", e_axis), -1)
    if energy[-1] < energy[0]:                               # a negative dispersion: put the axis in order
        energy, counts = energy[::-1], counts[..., ::-1]
    beam, collection, convergence = microscope(signal)
    return Spectra(energy=energy, counts=np.ascontiguousarray(counts), source=str(path), kind=kind,
                   beam_energy_kev=beam, collection_mrad=collection, convergence_mrad=convergence)


def _positive(value, scale=1.0) -> float | None:
    try:
        value = float(value) * scale
    except (TypeError, ValueError):
        return None
    return value if np.isfinite(value) and value > 0 else None


def _hspy_microscope(signal: dict) -> tuple[float | None, float | None, float | None]:
    tem = signal.get("metadata", {}).get("Acquisition_instrument", {}).get("TEM", {})
    return (_positive(tem.get("beam_energy")),
            _positive(tem.get("Detector", {}).get("EELS", {}).get("collection_angle")),
            _positive(tem.get("convergence_angle")))


def _dm_microscope(signal: dict) -> tuple[float | None, float | None, float | None]:
    """(beam energy keV, collection mrad, convergence mrad) from DigitalMicrograph tags; None when absent or 0."""
    original = signal.get("original_metadata", {})
    for image in (original.get("ImageList") or {}).values():
        tags = image.get("ImageTags", {}) if isinstance(image, dict) else {}
        conditions = tags.get("EELS", {}).get("Experimental Conditions", {})
        voltage = tags.get("Microscope Info", {}).get("Voltage")
        if voltage is not None or conditions:
            return (_positive(voltage, 1e-3), _positive(conditions.get("Collection semi-angle (mrad)")),
                    _positive(conditions.get("Convergence semi-angle (mrad)")))
    return None, None, None


# --- plain text and CSV -------------------------------------------------------------------------------------

_ROEST_ENERGY = re.compile(r"(m?)(\d+)d(\d+)eV")


def roest_energy_range(name: str) -> tuple[float, float] | None:
    """(E_min, E_max) in eV from an EELSfitter/Roest file name such as ``(14)_m4d054eV_45d471eV.txt`` or
    ``Position-1-Vacuum_EELS-Spectrum_m0d93eV-to-9d07eV.txt`` (``m`` = minus, ``d`` = decimal point)."""
    found = _ROEST_ENERGY.findall(name)
    if len(found) != 2:
        return None
    low, high = (float(f"{'-' if m else ''}{a}.{b}") for m, a, b in found)
    return (low, high) if high > low else None


def channel_centres(e_min: float, e_max: float, n: int) -> np.ndarray:
    """Centres of ``n`` equal channels spanning [e_min, e_max]: e_min + (e_max - e_min)(i + 0.5)/n (the
    convention of the EELSfitter repository's ``load_data.py``)."""
    return e_min + (e_max - e_min) * (np.arange(n) + 0.5) / n


def read_text(path: str | Path, kind: str | None = None, energy_range: tuple[float, float] | None = None,
              offset: float | None = None, dispersion: float | None = None, energy_unit: str = "eV") -> Spectra:
    """A spectrum from a text file: either two columns (energy, counts) or a single column or row of counts.

    Counts alone need their energy axis: ``energy_range`` (E_min, E_max) with channel centres as in
    ``channel_centres``, or ``offset`` (first channel) and ``dispersion`` (channel width), or, failing both, a
    file name in the EELSfitter/Roest convention (``roest_energy_range``). Values are separated by commas, tabs
    or spaces; lines starting with ``#`` and a header line of names are skipped. ``energy_unit`` applies to
    the energy column and to the energy options (eV, keV or meV).
    """
    path = Path(path)
    unit = ENERGY_UNITS.get(energy_unit.strip().lower())
    if unit is None:
        raise DataError(f"{path}: energy_unit {energy_unit!r} is not one of eV, keV, meV")
    table = _numeric_table(path)
    if table.shape[1] == 2 and table.shape[0] > 2:
        energy, counts = table[:, 0] * unit, table[:, 1]
        if energy_range is not None or offset is not None:
            raise DataError(f"{path}: has an energy column; do not also give energy_range or offset")
    elif 1 in table.shape:
        counts = table.ravel()
        energy = _axis_for_counts(path, counts.size, energy_range, offset, dispersion)
        energy = energy * unit if energy is not None else None
        if energy is None:
            raise DataError(f"{path}: a column of counts needs its energy axis: give energy_range (E_min, E_max) "
                            "or offset and dispersion (or use a name like ..._m4d054eV_45d471eV.txt)")
    else:
        raise DataError(f"{path}: a table of shape {table.shape}; expected one column (or row) of counts or two "
                        "columns energy, counts")
    if counts.size < 2:
        raise DataError(f"{path}: only {counts.size} channel(s)")
    if np.any(np.diff(energy) < 0):
        order = np.argsort(energy)
        energy, counts = energy[order], counts[order]
    return Spectra(energy=energy, counts=counts, source=str(path), kind=kind or kind_from_name(path))


def _axis_for_counts(path: Path, n: int, energy_range, offset, dispersion) -> np.ndarray | None:
    if energy_range is not None:
        low, high = (float(v) for v in energy_range)
        if not high > low:
            raise DataError(f"{path}: energy_range {energy_range} must be (E_min, E_max) with E_max > E_min")
        return channel_centres(low, high, n)
    if offset is not None or dispersion is not None:
        if offset is None or dispersion is None or not float(dispersion) > 0:
            raise DataError(f"{path}: give both offset and a positive dispersion (got {offset}, {dispersion})")
        return float(offset) + float(dispersion) * np.arange(n)
    found = roest_energy_range(path.name)
    return channel_centres(*found, n) if found else None


def _numeric_table(path: Path) -> np.ndarray:
    """The numbers of a text file as a 2-D array (rows, columns); DataError for anything that is not numbers."""
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: cannot be read as text ({exc})") from exc
    rows = []
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        fields = [f for f in re.split(r"[,;\s]+", line) if f]
        try:
            rows.append([float(f) for f in fields])
        except ValueError:
            if not rows and all(re.match(r"^[A-Za-z_\"'(]", f) for f in fields):
                continue                                   # a header line of column names
            raise DataError(f"{path}:{number}: not a number in {line[:60]!r}") from None
    if not rows:
        raise DataError(f"{path}: no numbers found")
    widths = {len(r) for r in rows}
    if len(widths) != 1:
        raise DataError(f"{path}: rows have different numbers of values ({sorted(widths)})")
    table = np.asarray(rows, dtype=np.float64)
    if not np.all(np.isfinite(table)):
        raise DataError(f"{path}: contains NaN or infinite values")
    return table


# --- the EELSfitter repository layout -----------------------------------------------------------------------

def read_roest_folder(folder: str | Path) -> dict[str, Spectra]:
    """All ``*.txt`` spectra of one EELSfitter/Roest specimen folder (e.g. ``eels_roest2021/Specimen_4``),
    stacked by kind: {"specimen": Spectra (m, n), "vacuum": Spectra (k, n)} (a kind without files is absent).
    Files are sorted by the number in their name (``(14)_...``, ``Position-10-...``)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"{folder}: no such folder")
    files = sorted(folder.glob("*.txt"), key=_position)
    if not files:
        raise DataError(f"{folder}: no *.txt spectra")
    by_kind: dict[str, list[Spectra]] = {}
    for f in files:
        s = read_text(f)
        by_kind.setdefault(s.kind, []).append(s)
    return {kind: stack(items, source=f"{folder} ({len(items)} {kind} spectra)") for kind, items in by_kind.items()}


def _position(path: Path) -> tuple[int, str]:
    match = re.search(r"\d+", path.name)
    return (int(match.group()) if match else 1 << 30, path.name)
