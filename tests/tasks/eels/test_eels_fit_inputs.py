"""Bad eels-fit runcards and files: each is refused by ``mlhep check`` (and so by ``fit``, before any training) with
the runcard's file:line and key, or the data file's name, and what is valid; never a traceback."""
from __future__ import annotations

import numpy as np
import pytest

from mlhep.tasks.eels import synthetic as syn

TINY = "task: eels-fit\nreplicas: 2\n"
SYNTHETIC = "data:\n  synthetic: {pixels: [4, 4], energy: [-0.6, 4.0, 0.05]}\n"


@pytest.mark.parametrize("body, key, message", [
    ("data:\n  files: [a.txt]\n  synthetic: {pixels: [4, 4]}\n", "data", "exactly one of files, roest_folder"),
    ("data:\n  files: [missing.dm4]\n", "data.files[0]", "no such file"),
    ("data:\n  roest_folder: nowhere\n", "data.roest_folder", "no such folder"),
    ("data:\n  synthetic: {energy: [0.5, 4.0, 0.05]}\n", "data.synthetic", "the zero-loss peak at 0"),
    (SYNTHETIC + "regions: {de1: [0.5, 0.6, 0.7]}\n", "regions.de1", "3 values for 1 clusters"),
    (SYNTHETIC + "regions: {de1: 2.0, de2: 1.0}\n", "regions", "must satisfy 0 < dE1 < dE2"),
    (SYNTHETIC + "clustering: {k: 20}\n", "clustering.k", "20 clusters of 16 specimen spectra"),
    (SYNTHETIC + "analysis:\n  bandgap: {window: [8.0, 9.0]}\n", "analysis.bandgap.window", "holds 0 channels"),
    (SYNTHETIC + "analysis:\n  bandgap: {window: [2.0, 1.0]}\n", "analysis.bandgap", "0 < E_min < E_max"),
    (SYNTHETIC + "analysis: {dielectric: true}\n", "analysis.dielectric", "deconvolution.enabled: true"),
    (SYNTHETIC + "analysis:\n  deconvolution: {enabled: true}\n  thickness: {kramers_kronig: true}\n",
     "analysis.thickness.refractive_index", "needs the specimen's refractive index"),
    (SYNTHETIC + "model: {activations: [tanh]}\n", "model", "activations has 1 entries for 3 hidden layers"),
    (SYNTHETIC + "model: {activation: softmax}\n", "model.activation", "must be one of"),
    (SYNTHETIC + "regions: {de1: automatic}\n", "regions.de1", "must be"),
])
def test_bad_runcard_values(tmp_path, run_cli, body, key, message):
    card = tmp_path / "eels.yaml"
    card.write_text(TINY + body)
    code, _, err = run_cli("check", card)
    assert code == 2 and "eels.yaml:" in err and key in err and message in err, err
    assert "Traceback" not in err


def _spectrum_file(folder, name, energy, counts):
    path = folder / name
    np.savetxt(path, np.column_stack([energy, counts]))
    return path


def test_a_spectrum_without_zero_loss_peak_is_refused_naming_the_file(tmp_path, run_cli):
    """A core-loss spectrum (axis from 300 eV) and a spectrum whose peak is far from 0: DataError (exit 4) naming
    the file and why a ZLP fit needs low-loss spectra."""
    energy = np.arange(300.0, 400.0, 0.5)
    _spectrum_file(tmp_path, "core.txt", energy, 1000 * np.exp(-(energy - 300) / 50))
    energy = np.arange(-1.0, 30.0, 0.05)
    _spectrum_file(tmp_path, "plasmon.txt", energy, 100 + 1e4 * np.exp(-0.5 * ((energy - 20) / 3) ** 2))
    for name, why in (("core.txt", "does not contain the zero-loss peak"), ("plasmon.txt", "no zero-loss peak")):
        card = tmp_path / "eels.yaml"
        card.write_text(TINY + f"data: {{files: [{name}]}}\n")
        code, _, err = run_cli("check", card)
        assert code == 4 and name in err and why in err, err


def test_unreadable_and_mismatched_files_name_the_file(tmp_path, run_cli):
    (tmp_path / "words.txt").write_text("counts\n12\nnot-a-number\n")
    energy = np.arange(-1.0, 5.0, 0.05)
    spectrum = syn.simulate(energy, syn.Sample(), 0.5, electrons=1e6).spectra.counts
    _spectrum_file(tmp_path, "good.txt", energy, spectrum)
    _spectrum_file(tmp_path, "other_axis.txt", energy[:-10], spectrum[:-10])
    _spectrum_file(tmp_path, "vacuum_other.txt", energy[5:], spectrum[5:])
    cases = [("data: {files: [words.txt]}", "words.txt:3: not a number"),
             ("data: {files: [good.txt, other_axis.txt]}", "other_axis.txt: its energy axis differs"),
             ("data: {files: [good.txt], vacuum_files: [vacuum_other.txt]}", "vacuum spectra's energy axis differs"),
             ("data: {files: [spectrum.xyz]}", "spectrum.xyz")]
    (tmp_path / "spectrum.xyz").write_text("1 2 3\n")
    for data, message in cases:
        card = tmp_path / "eels.yaml"
        card.write_text(TINY + data + "\n")
        code, _, err = run_cli("check", card)
        assert code in (2, 4) and message in err, err
        assert "Traceback" not in err


def test_pooling_needs_a_spectrum_image(tmp_path, run_cli):
    energy = np.arange(-1.0, 5.0, 0.05)
    for i in range(3):
        counts = syn.simulate(energy, syn.Sample(), 0.5, electrons=1e6, seed=i).spectra.counts
        _spectrum_file(tmp_path, f"s{i}.txt", energy, counts)
    card = tmp_path / "eels.yaml"
    card.write_text(TINY + "data: {files: [s0.txt, s1.txt, s2.txt]}\nclustering: {pooling: {area: 3}}\n")
    code, _, err = run_cli("check", card)
    assert code == 2 and "clustering.pooling.area" in err and "single spectra" in err, err
    card.write_text(TINY + "data: {files: [s0.txt, s1.txt, s2.txt]}\n")
    code, out, err = run_cli("check", card)
    assert code == 0 and "OK" in out, err


@pytest.mark.shared_data
def test_the_shipped_dm_files_hold_no_zero_loss_peak(shared_data, tmp_path, run_cli):
    """Both shipped DigitalMicrograph files are readable EELS (rosettasciio) but neither is a low-loss spectrum
    with a ZLP in range: the single spectrum is refused for its missing peak, the 2 x 2 image for its core-loss
    axis (from 300 eV), each naming the file."""
    folder = shared_data / "dm_rosettasciio"
    for name, why in (("test-EELS_spectrum.dm3", "zero-loss peak"), ("EELS_SI.dm4", "core-loss spectrum")):
        card = tmp_path / "eels.yaml"
        card.write_text(TINY + f"data: {{files: ['{folder / name}']}}\n")
        code, _, err = run_cli("check", card)
        assert code == 4 and name in err and why in err, err


@pytest.mark.shared_data
def test_ws2_regions_found_automatically(shared_data):
    """EELSfitter's recipe on the six WS2 specimen spectra of Roest et al. 2021 (Specimen_4): dE1 = 1.725 eV, dE2 =
    13.75 eV (Roest et al. set 1.8 and 12 by hand); the vacuum spectra form their own cluster, first."""
    from pathlib import Path

    from mlhep.task import RunContext
    from mlhep.tasks.eels.config import EelsData, EelsFitConfig
    from mlhep.tasks.eels.inputs import load_problem
    ctx = RunContext(runcard_path=Path("card.yaml"), seed=0, replica_ids=np.arange(1),
                     fail=lambda key, why: AssertionError(f"{key}: {why}"), train=None)
    config = EelsFitConfig(data=EelsData(roest_folder=str(shared_data / "eels_roest2021" / "Specimen_4")))
    problem = load_problem(config, ctx)
    assert problem.names == ("vacuum", "cluster 0")
    assert [len(m) for m in problem.members] == [3, 6] and problem.pixels.shape == (6, 1981)
    assert problem.de1[1] == pytest.approx(1.725, abs=1e-6) and problem.de2[1] == pytest.approx(13.75, abs=1e-6)
    assert abs(problem.energy[np.argmax(problem.median[1])]) < 1e-9        # centred on the ZLP
