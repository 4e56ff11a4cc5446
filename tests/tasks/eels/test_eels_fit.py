"""eels-fit end to end: closure on a small synthetic spectrum image and on synthetic single spectra read from text
files (with a vacuum spectrum), through ``mlhep fit`` and ``mlhep report``; replicas batched == one by one."""
from __future__ import annotations

import numpy as np
import pytest

from mlhep.io.results import Results
from mlhep.tasks.eels import synthetic as syn

IMAGE = """\
task: eels-fit
seed: 5
replicas: 4
engine:
  epochs: 1500
  chunk: 500
  checkpoint_seconds: 0
  optimizer: {name: adam, learning_rate: 5.0e-3}
  stopping: {patience: 100000}
data:
  synthetic: {pixels: [8, 8], energy: [-0.6, 6.0, 0.05]}
clustering: {k: 2}
analysis:
  bandgap: {window: [1.3, 2.8]}
  deconvolution: {enabled: true}
  dielectric: true
  thickness: {kramers_kronig: true, refractive_index: 4.0}
  images: {pixel_chunk: 24, keep_pixel_replicas: 0}
"""


@pytest.fixture(scope="module")
def image(tmp_path_factory):
    folder = tmp_path_factory.mktemp("image")
    card = folder / "image.yaml"
    card.write_text(IMAGE)
    from mlhep.cli import main
    assert main(["fit", str(card), "-o", str(folder / "fit.h5"), "-q"]) == 0
    return folder, Results.read(folder / "fit.h5")


def test_image_closure_thickness(image):
    """Truth: ln(total / I0) of the noiseless pixel on the axis (the log-ratio's own target; the generator's t/lambda
    counts losses beyond the axis too). Every replica's ZLP gives it within 0.002 in every pixel (measured <= 1e-4:
    near the peak the matched ZLP is the spectrum itself, further out the model is a small share of I0)."""
    s = image[1].summary
    assert s["map/thickness/median"].shape == (8, 8)
    assert np.max(np.abs(s["map/thickness/median"] - s["truth/thickness_on_axis"])) < 0.002
    assert np.all(s["map/thickness/low"] <= s["map/thickness/median"])
    assert np.all(s["map/thickness/median"] <= s["map/thickness/high"])


@pytest.mark.parametrize("quantity, scatter_max", [("bandgap", 0.1), ("exponent", 0.3)])
def test_image_closure_bandgap(image, quantity, scatter_max):
    """Truth: the same fit (window 1.3-2.8 eV, unweighted) on each pixel's noiseless inelastic signal. Over the 64
    pixels the recovered values scatter by the pixel's Poisson noise (measured sd 0.04 eV in E_bg, 0.1 in b, below
    ``scatter_max``); their mean must lie within 3 standard errors (+ the fit's 0.005 resolution) of the truth's.
    The generator's E_bg = 1.6, b = 1.5 differ from that target by the ZLP's broadening of the onset (FWHM 0.25 eV:
    1.556 and 1.57), within 0.1 and 0.2."""
    s = image[1].summary
    diff = (s[f"map/{quantity}/median"] - s[f"truth/{quantity}_fit"]).ravel()
    assert np.all(np.isfinite(diff))
    spread = np.std(diff)
    assert spread < scatter_max
    assert abs(np.mean(diff)) < 3 * spread / np.sqrt(diff.size) + 0.005
    truth = float(s[f"truth/{quantity}"])
    assert abs(np.median(s[f"truth/{quantity}_fit"]) - truth) < (0.1 if quantity == "bandgap" else 0.2)


def test_image_single_scattering_and_dielectric(image):
    """Fourier-log deconvolution reconvolved with the ZLP keeps the zero frequency (Egerton eq. 4.10 at nu = 0):
    sum(SSD) = I0 ln(J/I0), J the sum of the spectrum as deconvolved (its last 20 channels tapered by a half Hann
    window) and I0 = J_total exp(-t), t the replica's log-ratio t/lambda; within 3%, as the SSD is cut at the axis
    end (what falls into the FFT's zero padding: measured 0.7% and 1.9% on the two clusters). The Kramers-Kronig
    analysis gives finite eps and a positive thickness for every specimen cluster."""
    r, s = image[1].replicas, image[1].summary
    spectra = s["cluster/median"]
    taper = np.ones(spectra.shape[-1])
    taper[-20:] = np.hanning(40)[20:]
    i0 = spectra.sum(-1) * np.exp(-np.median(r["cluster/thickness"], axis=0))
    expected = i0 * np.log((spectra * taper).sum(-1) / i0)
    np.testing.assert_allclose(s["cluster/ssd/median"].sum(-1), expected, rtol=0.03)
    assert np.all(np.isfinite(s["cluster/eps1/median"])) and np.all(np.isfinite(s["cluster/eps2/median"]))
    assert np.all(r["cluster/thickness_kk"] > 0)


def test_image_outputs_report_and_plots(image, run_cli):
    folder, res = image
    r, s = res.replicas, res.summary
    assert list(s["cluster/names"]) == ["cluster 0", "cluster 1"]
    assert r["cluster/zlp"].shape == (4, 2, s["energy"].size) and r["cluster/bandgap"].shape == (4, 2)
    assert np.all(r["selected"]) and np.all(np.median(r["cluster/chi2"], axis=0) < 5)
    assert "pixel/bandgap" not in r                     # keep_pixel_replicas: 0
    code, out, err = run_cli("report", folder / "fit.h5", "--plot", folder / "plots")
    assert code == 0, err
    for text in ("eels-fit on synthetic 8x8 image", "cluster 0", "Kramers-Kronig thickness", "maps (8 x 8 pixels)",
                 "synthetic truth: E_bg 1.6 eV"):
        assert text in out
    for name in ("eels_zlp", "eels_bandgap", "eels_maps", "eels_single_scattering"):
        assert (folder / "plots" / f"{name}.png").stat().st_size > 1000


SPECTRA = """\
task: eels-fit
seed: 2
replicas: 2
engine:
  epochs: 1200
  chunk: 400
  checkpoint_seconds: 0
  optimizer: {{name: adam, learning_rate: 5.0e-3}}
  stopping: {{patience: 100000}}
  batch: {batch}
data:
  files: [{files}]
  vacuum_files: [vacuum.txt]
model: {{validation_fraction: 0.2}}
analysis:
  bandgap: {{window: [1.3, 2.8], exponent: 1.5}}
"""
THICKNESS = np.array([0.6, 0.8, 1.0, 1.2, 1.4])


def _write_spectra(folder) -> list[str]:
    """Five specimen spectra (t/lambda 0.6-1.4) and one vacuum spectrum as two-column text files; returns the
    specimen files' names. The truth: the generator's noiseless spectra."""
    energy = np.arange(-0.6, 6.0, 0.05)
    sample = syn.Sample(onset_weight=0.2)
    zlp = syn.ZLPShape(fwhm=0.25, tail_fraction=0.0002)
    dose = 1e7 * np.array([1.0, 0.97, 1.04, 0.95, 1.02])
    spec = syn.simulate(energy, sample, THICKNESS, zlp=zlp, electrons=dose, seed=4)
    vac = syn.vacuum(energy, zlp=zlp, electrons=1e7, seed=5)
    names = []
    for i, counts in enumerate(spec.spectra.counts):
        names.append(f"spectrum_{i}.txt")
        np.savetxt(folder / names[-1], np.column_stack([energy, counts]), header="energy counts")
    np.savetxt(folder / "vacuum.txt", np.column_stack([energy, vac.spectra.counts]))
    np.save(folder / "truth.npy", np.log(spec.expected.sum(-1) / spec.zlp.sum(-1)))
    return names


@pytest.fixture(scope="module")
def spectra_fits(tmp_path_factory):
    """The same runcard fitted batched and one replica at a time."""
    from mlhep.cli import main
    folder = tmp_path_factory.mktemp("spectra")
    names = _write_spectra(folder)
    fits = {}
    for batch in ("true", "false"):
        card = folder / f"spectra_{batch}.yaml"
        card.write_text(SPECTRA.format(batch=batch, files=", ".join(names)))
        assert main(["fit", str(card), "-o", str(folder / f"{batch}.h5"), "-q"]) == 0
        fits[batch] = Results.read(folder / f"{batch}.h5")
    return folder, fits


def test_batched_replicas_equal_sequential(spectra_fits):
    """The engine's promise: replica i's numbers do not depend on training beside others (float32: to rounding)."""
    batched, sequential = spectra_fits[1]["true"], spectra_fits[1]["false"]
    assert set(batched.replicas) == set(sequential.replicas)
    for key in ("cluster/zlp", "pixel/thickness", "pixel/bandgap", "cluster/chi2"):
        np.testing.assert_allclose(batched.replicas[key], sequential.replicas[key], rtol=2e-4, atol=1e-6,
                                   err_msg=key)
    for key in batched.params:
        np.testing.assert_allclose(batched.params[key], sequential.params[key], rtol=2e-4, atol=1e-6, err_msg=key)


def test_spectra_closure_from_text_files(spectra_fits):
    """Single spectra and a vacuum spectrum read from text files: the vacuum is a cluster of its own (first), the
    five spectra one cluster; each spectrum's log-ratio t/lambda is its noiseless ln(total/I0) within 0.002, and
    with b fixed at 1.5 its E_bg is within 0.1 eV of the generator's 1.6 (Poisson noise of one spectrum, sd
    ~0.03, and the ZLP broadening, -0.03)."""
    folder, fits = spectra_fits
    r, s = fits["true"].replicas, fits["true"].summary
    assert list(s["cluster/names"]) == ["vacuum", "cluster 0"]
    assert list(s["pixel_cluster"]) == [1] * 5
    truth = np.load(folder / "truth.npy")
    assert np.max(np.abs(np.median(r["pixel/thickness"], axis=0) - truth)) < 0.002
    assert np.max(np.abs(np.median(r["pixel/bandgap"], axis=0) - 1.6)) < 0.1
    assert np.all(np.isnan(r["cluster/bandgap"][:, 0]))          # no bandgap of the vacuum cluster
    assert s["pixel/inelastic/median"].shape == (5, s["energy"].size)
