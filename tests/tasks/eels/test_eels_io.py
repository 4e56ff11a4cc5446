"""Readers of EELS spectra: text/CSV written here and read back, clear errors naming bad files, and (with
../shared/data) the two real Gatan DM files and all WS2 spectra of Roest et al. 2021."""
from __future__ import annotations

import numpy as np
import pytest

from mlhep.errors import DataError
from mlhep.tasks.eels import io
from mlhep.tasks.eels.spectra import check_low_loss, peak_energy


def _peak(energy):
    return 1e5 * np.exp(-0.5 * (energy / 0.1) ** 2) + 10.0


def test_two_column_csv_round_trip(tmp_path):
    energy = np.linspace(-1.0, 5.0, 121)
    counts = _peak(energy)
    path = tmp_path / "spectrum.csv"
    np.savetxt(path, np.column_stack([energy, counts]), delimiter=",", header="energy_eV,counts", comments="")
    s = io.read_spectra(path)
    np.testing.assert_allclose(s.energy, energy)
    np.testing.assert_allclose(s.counts, counts)
    assert s.kind == "specimen" and s.source == str(path) and s.pixel_shape == ()
    assert s.dispersion == pytest.approx(0.05)


def test_one_column_with_energy_range_and_offset(tmp_path):
    counts = _peak(np.linspace(-1, 5, 50))
    path = tmp_path / "vacuum_spectrum.txt"
    np.savetxt(path, counts)
    s = io.read_text(path, energy_range=(-1.0, 4.0))
    np.testing.assert_allclose(s.energy, -1.0 + 5.0 * (np.arange(50) + 0.5) / 50)   # channel centres
    assert s.kind == "vacuum"                                                        # from the name
    s = io.read_text(path, offset=-0.5, dispersion=0.01, energy_unit="keV", kind="specimen")
    np.testing.assert_allclose(s.energy, (-0.5 + 0.01 * np.arange(50)) * 1e3)
    assert s.kind == "specimen"


def test_roest_names_give_the_energy_range(tmp_path):
    assert io.roest_energy_range("(14)_m4d054eV_45d471eV.txt") == (-4.054, 45.471)
    assert io.roest_energy_range("Position-1-Vacuum_EELS-Spectrum_m0d93eV-to-9d07eV.txt") == (-0.93, 9.07)
    assert io.roest_energy_range("spectrum.txt") is None
    path = tmp_path / "(3)_Vacuum_m1d0eV_3d0eV.txt"
    path.write_text("\t".join(str(v) for v in range(1, 9)) + "\t\n")               # one row, like the real files
    s = io.read_spectra(path)
    assert s.kind == "vacuum"
    np.testing.assert_allclose(s.energy, -1.0 + 4.0 * (np.arange(8) + 0.5) / 8)


@pytest.mark.parametrize("content, message", [
    ("1 2 3\n4 5\n", "rows have different numbers"),
    ("1,2,3\n4,5,6\n7,8,9\n", "table of shape"),
    ("1\nnan\n3\n", "NaN or infinite"),
    ("0.1 5\n0.2 x\n0.3 7\n", "not a number"),
    ("", "no numbers"),
])
def test_bad_text_files_are_refused_naming_the_file(tmp_path, content, message):
    path = tmp_path / "bad.txt"
    path.write_text(content)
    with pytest.raises(DataError, match=message) as err:
        io.read_text(path, energy_range=(0, 1))
    assert str(path) in str(err.value)


def test_counts_without_an_energy_axis_are_refused(tmp_path):
    path = tmp_path / "counts.txt"
    np.savetxt(path, np.arange(10.0))
    with pytest.raises(DataError, match="needs its energy axis") as err:
        io.read_text(path)
    assert str(path) in str(err.value)


@pytest.mark.parametrize("name", ["broken.dm3", "broken.dm4"])
def test_corrupt_dm_file_gives_a_data_error_naming_it(tmp_path, name):
    path = tmp_path / name
    path.write_bytes(b"this is not a DigitalMicrograph file" * 10)
    with pytest.raises(DataError, match="cannot be read as a Gatan DigitalMicrograph file") as err:
        io.read_spectra(path)
    assert str(path) in str(err.value)


def test_unknown_suffix_and_missing_file(tmp_path):
    with pytest.raises(DataError, match="unknown spectrum file type"):
        io.read_spectra(tmp_path / "image.png")
    with pytest.raises(DataError, match="no such file"):
        io.read_spectra(tmp_path / "absent.dm4")


@pytest.mark.shared_data
def test_shipped_dm3_spectrum(shared_data):
    path = shared_data / "dm_rosettasciio" / "test-EELS_spectrum.dm3"
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    s = io.read_spectra(path)
    assert s.counts.shape == (2048,)
    assert s.energy[0] == pytest.approx(-100.0) and s.dispersion == pytest.approx(0.5)
    assert s.energy[-1] == pytest.approx(923.5)
    assert s.beam_energy_kev == pytest.approx(200.0) and s.convergence_mrad == pytest.approx(21.0)
    assert s.collection_mrad is None                    # the file says 0 mrad: unset
    # Its counts are noise about 0 (dark-corrected, no beam): there is no zero-loss peak to fit.
    with pytest.raises(DataError, match="no zero-loss peak") as err:
        check_low_loss(s)
    assert str(path) in str(err.value)


@pytest.mark.shared_data
def test_shipped_dm4_core_loss_image_is_read_and_refused_for_zlp_fits(shared_data):
    path = shared_data / "dm_rosettasciio" / "EELS_SI.dm4"
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    s = io.read_spectra(path)
    assert s.counts.shape == (2, 2, 2048) and s.pixel_shape == (2, 2)     # energy axis moved last
    assert s.energy[0] == pytest.approx(300.0) and s.dispersion == pytest.approx(1.0)
    assert (s.beam_energy_kev, s.collection_mrad, s.convergence_mrad) == pytest.approx((200.0, 62.0, 21.0))
    with pytest.raises(DataError, match="core-loss") as err:
        check_low_loss(s)
    assert str(path) in str(err.value) and "300" in str(err.value)


@pytest.mark.shared_data
@pytest.mark.parametrize("specimen, n, e_min, e_max, n_specimen, n_vacuum", [
    ("Specimen_3", 2000, -0.93, 9.07, 10, 3),
    ("Specimen_4", 1981, -4.054, 45.471, 6, 3),
])
def test_all_roest_ws2_spectra(shared_data, specimen, n, e_min, e_max, n_specimen, n_vacuum):
    folder = shared_data / "eels_roest2021" / specimen
    if not folder.is_dir():
        pytest.skip(f"{folder} is absent")
    by_kind = io.read_roest_folder(folder)
    assert by_kind["specimen"].counts.shape == (n_specimen, n)
    assert by_kind["vacuum"].counts.shape == (n_vacuum, n)
    for s in by_kind.values():
        np.testing.assert_allclose(s.energy, io.channel_centres(e_min, e_max, n))
        assert all(("Vacuum" in label) == (s.kind == "vacuum") for label in s.labels)
        check_low_loss(s)                                   # every one has its ZLP within a channel of 0
        assert np.all(np.abs(peak_energy(s)) < 2 * s.dispersion)


def _signal(shape, units, signal_type="EELS"):
    axes = [{"size": n, "index_in_array": i, "scale": 0.5, "offset": -10.0, "units": u}
            for i, (n, u) in enumerate(zip(shape, units))]
    return {"data": np.ones(shape, dtype=np.float32), "axes": axes,
            "metadata": {"Signal": {"signal_type": signal_type}}, "original_metadata": {}}


@pytest.mark.parametrize("signals, message", [
    ([_signal((4, 5), ("nm", "nm"), "")], "not an EELS file"),
    ([_signal((100,), ("eV",), "EDS_TEM")], "EDS_TEM signal, not EELS"),
    ([_signal((2, 2, 2, 100), ("nm", "nm", "nm", "eV"))], "4-dimensional"),
    ([_signal((100,), ("eV",)), _signal((3, 100), ("nm", "eV"))], "2 EELS signals"),
])
def test_dm_contents_that_are_not_eels_spectra(tmp_path, monkeypatch, signals, message):
    """What the DM reader refuses, with rosettasciio's output replaced by crafted signals (no open-source tool
    writes DM files)."""
    import rsciio.digitalmicrograph as dm
    monkeypatch.setattr(dm, "file_reader", lambda path: signals)
    path = tmp_path / "crafted.dm4"
    path.write_bytes(b"")
    with pytest.raises(DataError, match=message) as err:
        io.read_dm(path)
    assert str(path) in str(err.value)


def test_dm_energy_axis_is_found_by_its_units_and_converted(tmp_path, monkeypatch):
    import rsciio.digitalmicrograph as dm
    signal = _signal((100, 3), ("keV", "nm"))                 # energy first, in keV, as in EELS_SI.dm4
    signal["data"] = np.arange(300, dtype=np.float32).reshape(100, 3)
    monkeypatch.setattr(dm, "file_reader", lambda path: [signal])
    path = tmp_path / "si.dm3"
    path.write_bytes(b"")
    s = io.read_dm(path)
    assert s.counts.shape == (3, 100)
    np.testing.assert_allclose(s.energy, (-10.0 + 0.5 * np.arange(100)) * 1e3)
    np.testing.assert_allclose(s.counts[1], np.arange(100) * 3 + 1)


def test_hspy_round_trip_of_a_synthetic_image(tmp_path):
    from mlhep.tasks.eels import synthetic as syn
    energy = np.arange(-1.0, 20.0, 0.05)
    s = syn.simulate(energy, syn.Sample(), syn.thickness_map((3, 4)), electrons=1e4, seed=1).spectra
    s = s.replace(beam_energy_kev=200.0, collection_mrad=10.0, kind="vacuum")
    path = io.write_hspy(tmp_path / "image.hspy", s)
    back = io.read_spectra(path)
    np.testing.assert_allclose(back.energy, energy, atol=1e-9)
    np.testing.assert_array_equal(back.counts, s.counts)
    assert (back.kind, back.beam_energy_kev, back.collection_mrad, back.convergence_mrad) == ("vacuum", 200.0, 10.0,
                                                                                              None)
    (tmp_path / "bad.hspy").write_bytes(b"not hdf5")
    with pytest.raises(DataError, match="cannot be read as a HyperSpy"):
        io.read_spectra(tmp_path / "bad.hspy")
