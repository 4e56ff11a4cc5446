"""mlhep's eels-fit against EELSfitter 3.1 on the same spectra, network, optimiser and epochs, in one run:
training time per replica and the agreement of the ZLPs and of the bandgap fitted with them.

The spectra are the WS2 specimen spectra of ``runcards/eels-fit-ws2.yaml`` (Roest et al. 2021, from
``$MLHEP_SHARED_DATA``), one cluster. Both codes train EELSfitter's network as EELSfitter 3.1 builds it: inputs
(E, ln N) each scaled to [0.1, 0.9], 2-10-15-5-1 with sigmoid, sigmoid, ReLU, PyTorch's initialisation, Adam,
the monotonic-decrease penalty 10 between dE1 and dE2, its automatic dE1/dE2; ``--replicas`` replicas of
``--epochs`` epochs each. EELSfitter runs in its own environment (``make eelsfitter-venv``) through
``scripts/eelsfitter_reference.py``, one replica after another on one thread (how it runs); mlhep runs
``mlhep fit`` pinned to one core, then with its default (every core), each twice: the first run compiles, the second
loads the compiled program from mlhep's cache (training time as ``mlhep fit`` reports it, both). Both ensembles'
ZLPs then go through the same matching, subtraction and onset fit (mlhep's), so any difference in E_bg comes from
the ZLPs.

    .venv/bin/python scripts/bench_eelsfitter.py [--replicas 20] [--epochs 1000] [--eelsfitter-venv DIR]

``--network mlhep`` instead trains, in both codes, the network of ``runcards/eels-fit-ws2.yaml`` (tanh, E / dE1, no
ln N input, output standardised; Adam at the runcard's rate), the one that fits these spectra: EELSfitter through
``scripts/eelsfitter_reference.py``'s monkeypatches of its perceptron and input scaling, its training loop
otherwise its own. mlhep runs once on one core (compiling) and once with its default (the program from the
cache); each code's own subtraction and bandgap fit are compared (EELSfitter 3.1 ships no bandgap fit: its own
``match_zlp_to_signal``, then scipy's curve_fit of A (E - E_bg)^b, and mlhep's onset fit on the same subtracted
spectra), and the section "Same network" of ``benchmarks/eels-eelsfitter.md`` is (re)written, the rest kept.
"""
from __future__ import annotations

import argparse
import io
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "eels-eelsfitter.md"
EELSFITTER_NET = {"hidden": [10, 15, 5], "activations": ["sigmoid", "sigmoid", "relu"], "energy_scale": "minmax",
                  "intensity_input": True, "torch_init": True, "penalty": 10.0}


def runcard(replicas: int, epochs: int, lr: float | None, network: str = "eelsfitter") -> str:
    """The WS2 example runcard with automatic regions (EELSfitter's), EELSfitter's network (``network``
    "eelsfitter") or the runcard's own ("mlhep"), Adam at ``lr`` (None: the runcard's)."""
    from ruamel.yaml import YAML

    from mlhep.paths import embedded_runcards
    yaml = YAML()
    card = yaml.load(embedded_runcards()["eels-fit-ws2"].read_text())
    card["replicas"] = replicas
    card["engine"]["epochs"] = epochs
    card["engine"]["chunk"] = min(epochs, 250)
    if lr is not None:
        card["engine"]["optimizer"] = {"name": "adam", "learning_rate": lr}
    card["regions"] = {"de1": "auto", "de2": "auto"}
    if network == "eelsfitter":
        card["model"].update(EELSFITTER_NET)
    out = io.StringIO()
    yaml.dump(card, out)
    return out.getvalue()


def training_spectra(card_path: Path):
    """(energy (n,), the cluster's training spectra (m, n), dE1, dE2) exactly as mlhep's fit reads them."""
    from mlhep.registry import load_tasks
    from mlhep.runcard import load_runcard
    from mlhep.task import RunContext
    from mlhep.tasks.eels.inputs import load_problem

    rc = load_runcard(card_path, load_tasks())
    ctx = RunContext(runcard_path=card_path, seed=0, replica_ids=np.arange(1), fail=rc.fail, train=None, quiet=True)
    problem = load_problem(rc.config, ctx)
    return problem.energy, problem.members[0], float(problem.de1[0]), float(problem.de2[0])


def run_mlhep(card_path: Path, out: Path, one_core: bool) -> float:
    """``mlhep fit``'s training seconds (from the results' provenance)."""
    command = [str(ROOT / ".venv" / "bin" / "mlhep"), "fit", str(card_path), "-o", str(out), "--quiet"]
    env = dict(os.environ)
    if one_core:
        command = ["taskset", "-c", "0"] + command
    subprocess.run(command, check=True, env=env)
    from mlhep.io.results import Results
    return float(Results.read(out).provenance["training_seconds"])


def run_eelsfitter(venv: Path, energy, spectra, replicas: int, epochs: int, lr: float, seed: int, work: Path,
                   **extra) -> dict:
    """EELSfitter's training (and, with ``extra``, its subtraction and a bandgap fit) through
    ``scripts/eelsfitter_reference.py`` (its docstring lists the inputs)."""
    source, target = work / "eelsfitter_in.npz", work / "eelsfitter_out.npz"
    np.savez(source, eaxis=energy, spectra_0=spectra, centroids=np.zeros(1), n_replica=replicas, n_epochs=epochs,
             lr=lr, penalty=EELSFITTER_NET["penalty"], seed=seed, **extra)
    start = time.perf_counter()
    subprocess.run([str(venv / "bin" / "python"), str(ROOT / "scripts" / "eelsfitter_reference.py"), str(source),
                    str(target)], check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    return dict(np.load(target)) | {"wall": wall}


def bandgaps(energy, spectrum, zlps, de1, de2, window, bandgap_range):
    """E_bg and b (R,) of ``spectrum`` (n,) minus each matched ZLP of ``zlps`` (R, n), mlhep's fit for both."""
    from mlhep.tasks.eels.onset_fit import fit_onsets
    from mlhep.tasks.eels.subtraction import subtract_zlp
    inelastic = np.stack([subtract_zlp(energy, spectrum, z, de1, de2) for z in zlps])
    fits = fit_onsets(energy, inelastic, window, bandgap_range)
    return fits["bandgap"], fits["exponent"]


def _inside(bandgap, bounds) -> str:
    ok = (bandgap > bounds[0] + 0.01) & (bandgap < bounds[1] - 0.01)
    return f"{int(ok.sum())} of {len(bandgap)}"


def band(x) -> str:
    lo, mid, hi = np.nanpercentile(x, [16, 50, 84])
    return f"{mid:.3f} (+{hi - mid:.3f} -{mid - lo:.3f})"


SECTION = "## Same network: the WS2 runcard's (tanh) network in both codes"
PUBLISHED = "1.6 (+0.3 -0.2)", "1.3 (+0.3 -0.7)"        # Roest et al. 2021: E_bg (eV), b


def _count_inside(values, bounds) -> str:
    ok = np.isfinite(values) & (values > bounds[0] + 0.01) & (values < bounds[1] - 0.01)
    return f"{int(ok.sum())}/{len(values)}"


def _chi2_region1(energy, zlps, median, sigma_log, de1) -> np.ndarray:
    """(R,) chi2 per point of ln ZLP (R, n) against the median spectrum in region I (E < dE1): mlhep's
    ``cluster/chi2``."""
    below = energy < de1
    residual = (np.log(np.clip(zlps, 1e-300, None)) - np.log(np.clip(median, 1.0, None))) / sigma_log
    return np.mean(residual[:, below] ** 2, axis=-1)



def median_difference(a, b, seed: int = 0, n: int = 4000) -> str:
    """median(a) - median(b) of two replica samples, its bootstrap 95% interval and the Mann-Whitney p-value: is
    the difference larger than the replica sampling of the two ensembles allows?"""
    from scipy.stats import mannwhitneyu
    a, b = np.asarray(a)[np.isfinite(a)], np.asarray(b)[np.isfinite(b)]
    rng = np.random.default_rng(seed)
    boots = [np.median(rng.choice(a, a.size)) - np.median(rng.choice(b, b.size)) for _ in range(n)]
    lo, hi = np.percentile(boots, [2.5, 97.5])
    return f"{np.median(a) - np.median(b):+.3f} (bootstrap 95% {lo:+.3f} to {hi:+.3f}; Mann-Whitney p = " \
           f"{mannwhitneyu(a, b).pvalue:.2f})"


def same_network(args) -> None:
    """Both codes train the WS2 runcard's network (module docstring); writes the section ``SECTION``."""
    from ruamel.yaml import YAML

    from mlhep.io.results import Results
    from mlhep.tasks.eels.onset_fit import fit_onsets
    from mlhep.tasks.eels.subtraction import subtract_zlp

    load = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        card_path = work / "ws2-same-network.yaml"
        card_path.write_text(runcard(args.replicas, args.epochs, args.lr, network="mlhep"))
        card = YAML().load(card_path.read_text())
        model, lr = card["model"], float(card["engine"]["optimizer"]["learning_rate"])
        if list(model["hidden"]) != [10, 15, 5] or not model.get("torch_init", True):
            sys.exit("the WS2 runcard's network is no longer EELSfitter's 10-15-5 with PyTorch's initialisation")
        acts = list(model.get("activations") or [model.get("activation", "tanh")] * 3)
        network = (f"{','.join(acts)};{model.get('energy_scale', 'de1')};"
                   f"{int(bool(model.get('intensity_input', True)))};1")
        bg = card["analysis"]["bandgap"]
        window = tuple(float(w) for w in bg["window"])
        search = (max(window[0] - (window[1] - window[0]), 0.0), window[1])   # config.Bandgap.search's default
        exponent_range = (0.1, 3.0)
        energy, spectra, de1, de2 = training_spectra(card_path)
        median = np.median(np.clip(spectra, 1.0, None), axis=0)   # EELSfitter's and mlhep's cluster median
        ref = run_eelsfitter(args.eelsfitter_venv, energy, spectra, args.replicas, args.epochs, lr, 1, work,
                             network=network, analyse=median[None], window=np.array(window),
                             bandgap_range=np.array(search), exponent_range=np.array(exponent_range))
        one_core = run_mlhep(card_path, work / "one_core.h5", one_core=True)     # compiles
        default = run_mlhep(card_path, work / "default.h5", one_core=False)      # the program from the cache
        res = Results.read(work / "default.h5")
        zlp_m = res.replicas["cluster/zlp"][:, 0]
        eb_m, b_m = res.replicas["cluster/bandgap"][:, 0], res.replicas["cluster/exponent"][:, 0]
        chi2_m = res.replicas["cluster/chi2"][:, 0]
        sigma_log = res.summary["cluster/sigma_log"][0]
        median_m = res.summary["cluster/median"][0]
        valid_m = res.stage_train("")["best_valid"]
    if not np.allclose(median_m, median):
        sys.exit("mlhep's cluster median differs from the training spectra's median: the comparison is off")
    zlp_r = np.exp(ref["analysed_log_zlp"][:, 0])
    chi2_r = _chi2_region1(energy, zlp_r, median, sigma_log, de1)
    # EELSfitter's own subtraction, fitted by scipy's curve_fit (in its environment) and by mlhep's onset fit
    eb_rc, b_rc = ref["curve_fit_bandgap"][:, 0], ref["curve_fit_exponent"][:, 0]
    own = fit_onsets(energy, ref["inelastic"][:, 0], window, search, None, exponent_range)
    eb_ro, b_ro = own["bandgap"], own["exponent"]
    # EELSfitter's ZLPs through mlhep's matching and fit: isolates the ZLPs from the matching
    eb_rm, b_rm = bandgaps(energy, median, zlp_r, de1, de2, window, search)
    mlhep_sub = np.stack([subtract_zlp(energy, median, z, de1, de2) for z in zlp_m])
    eb_mo = fit_onsets(energy, mlhep_sub, window, search, None, exponent_range)["bandgap"]
    ok_m, ok_r = np.isfinite(np.log(zlp_m)).all(1), np.isfinite(np.log(zlp_r)).all(1)
    log_m, log_r = np.log(np.median(zlp_m, 0)), np.log(np.median(zlp_r, 0))
    spread_m, spread_r = np.std(np.log(zlp_m[ok_m]), 0), np.std(np.log(zlp_r[ok_r]), 0)
    peak = (energy > -de1) & (energy < de1)
    onset = (energy >= window[0]) & (energy <= window[1])
    (e1,), (b1,) = bandgaps(energy, median, np.median(zlp_m, 0)[None], de1, de2, window, search)
    (e2,), (b2,) = bandgaps(energy, median, np.median(zlp_r, 0)[None], de1, de2, window, search)
    cores = os.cpu_count()
    t_ref = float(ref["train_seconds"])
    act_text = ", ".join(acts)

    def zlp_row(name, mask):
        d = (log_m - log_r)[mask]
        return (f"| {name} | {np.median(d):+.3f} | {np.median(np.abs(d)):.3f} | {np.max(np.abs(d)):.3f} | "
                f"{np.mean(spread_m[mask]):.3f} | {np.mean(spread_r[mask]):.3f} |")

    lines = [
        SECTION, "",
        f"`scripts/bench_eelsfitter.py --network mlhep --replicas {args.replicas} --epochs {args.epochs}` on "
        f"{platform.machine()}, {cores} cores, load average {load[0]:.1f} at the start (shared machine: times are "
        "upper bounds; the ratios come from this one run). Same six Specimen_4 spectra as above, one cluster. Both "
        f"codes: the network of `runcards/eels-fit-ws2.yaml`, 2-10-15-5-1 ({act_text}), PyTorch's initialisation, "
        f"energy input E / dE1, no ln N input (a constant), output xi = mean + std * NN (mean, std of the fitted "
        f"targets); Adam {lr:g}, {args.epochs} full-batch epochs, penalty 10, 25% validation; dE1 = {de1:.3f} eV, "
        f"dE2 = {de2:.3f} eV from each code's own automatic search (EELSfitter: "
        f"{float(np.ravel(ref['de1'])[0]):.3f}, {float(np.ravel(ref['de2'])[0]):.3f}).",
        "",
        "EELSfitter 3.1 trains this network through `scripts/eelsfitter_reference.py`, which monkeypatches three "
        "pieces: `MultilayerPerceptron.forward` (activations, output standardisation), "
        "`TrainZeroLossPeak.scale_eaxis` (E / dE1) and `calc_scale_var_log_int_i` (constant second input). "
        "Unchanged and so still different from mlhep: its replica draw (`random`) and 25% split (sklearn, over all "
        "points; mlhep: within each cluster, the same with one cluster) come from other random streams; it keeps "
        "each replica's FINAL parameters, mlhep the parameters of the lowest validation loss over all epochs "
        "(the engine's look-back); PyTorch float32 vs JAX float32. EELSfitter 3.1 ships no bandgap fit: its side "
        "is its own `SpectralImage.match_zlp_to_signal` subtraction, fitted by scipy's `curve_fit` "
        "(bounded, best of 12 starts) and, to separate the fit routine, by mlhep's grid onset fit.",
        "",
        "| code | training (s) | per replica (s) | vs EELSfitter |", "|---|---:|---:|---:|",
        f"| EELSfitter 3.1 (PyTorch, 1 thread) | {t_ref:.1f} | {t_ref / args.replicas:.3f} | 1.0x |",
        f"| mlhep, 1 core, compiling | {one_core:.1f} | {one_core / args.replicas:.3f} | {t_ref / one_core:.1f}x |",
        f"| mlhep, default ({cores} cores), program from the cache | {default:.1f} | {default / args.replicas:.3f} | "
        f"{t_ref / default:.1f}x |",
        "",
        "Fit quality: chi2 per point of ln ZLP against the median spectrum in region I (E < dE1), median over "
        f"replicas (16-84%): mlhep {band(chi2_m)}, EELSfitter {band(chi2_r)}; validation loss (chi2 + penalty), "
        f"median: mlhep {np.median(valid_m):.3g} (best), EELSfitter {np.median(ref['loss_test']):.3g} (final).",
        "",
        "ZLP agreement, ln of each ensemble's median ZLP at the median spectrum, mlhep minus EELSfitter, against "
        "each code's replica spread (std of ln ZLP over replicas, mean over the channels):", "",
        "| channels | median diff | median abs diff | max abs diff | spread mlhep | spread EELSfitter |",
        "|---|---:|---:|---:|---:|---:|",
        zlp_row(f"region I, peak (-dE1 < E < dE1, {int(peak.sum())})", peak),
        zlp_row(f"bandgap window ({window[0]:g}-{window[1]:g} eV, {int(onset.sum())}: extrapolated ZLP)", onset),
        "",
        f"Bandgap of the median spectrum, A (E - E_bg)^b unweighted in {window[0]:g}-{window[1]:g} eV, b free, "
        f"E_bg searched in {search[0]:g}-{search[1]:g} eV, b in {exponent_range[0]:g}-{exponent_range[1]:g}; median "
        "and 68% interval over the replicas:", "",
        "| ZLPs | subtraction | bandgap fit | E_bg (eV) | b | E_bg inside the search |",
        "|---|---|---|---|---|---:|",
        f"| mlhep | mlhep | mlhep (its results file) | {band(eb_m)} | {band(b_m)} | {_count_inside(eb_m, search)} |",
        f"| EELSfitter | EELSfitter | scipy curve_fit | {band(eb_rc)} | {band(b_rc)} | "
        f"{_count_inside(eb_rc, search)} |",
        f"| EELSfitter | EELSfitter | mlhep | {band(eb_ro)} | {band(b_ro)} | {_count_inside(eb_ro, search)} |",
        f"| EELSfitter | mlhep | mlhep | {band(eb_rm)} | {band(b_rm)} | {_count_inside(eb_rm, search)} |",
        f"| mlhep, ensemble median | mlhep | mlhep | {e1:.3f} | {b1:.3f} | |",
        f"| EELSfitter, ensemble median | mlhep | mlhep | {e2:.3f} | {b2:.3f} | |",
        f"| Roest et al. 2021 (500 replicas, ~30000 epochs, dE1 1.8, dE2 12) | | | {PUBLISHED[0]} | {PUBLISHED[1]} | |",
        ""]
    lines += [f"mlhep minus EELSfitter (each code's own pipeline, rows 1 and 2), median over replicas: E_bg "
              f"{median_difference(eb_m, eb_rc)} eV; b {median_difference(b_m, b_rc)}.", "",
              f"Check: refitting mlhep's subtracted spectra here gives E_bg {band(eb_mo)} (its results file: "
              f"{band(eb_m)}).", ""]
    text = args.out.read_text() if args.out.exists() else ""
    if SECTION in text:
        text = text[:text.index(SECTION)]
    args.out.write_text(text.rstrip("\n") + "\n\n" + "\n".join(lines))
    print("\n".join(lines))
    if args.arrays is None:
        return
    np.savez(args.arrays, energy=energy, median=median, zlp_mlhep=zlp_m,
             zlp_eelsfitter=zlp_r, bandgap_mlhep=eb_m, exponent_mlhep=b_m, bandgap_eelsfitter_curve_fit=eb_rc,
             exponent_eelsfitter_curve_fit=b_rc, bandgap_eelsfitter_mlhep_fit=eb_ro,
             exponent_eelsfitter_mlhep_fit=b_ro, inelastic_eelsfitter=ref["inelastic"][:, 0],
             inelastic_mlhep=mlhep_sub, de1=de1, de2=de2, train_seconds=np.array([t_ref, one_core, default]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--replicas", type=int, default=20)
    parser.add_argument("--epochs", type=int, default=1000)
    parser.add_argument("--lr", type=float, default=None,
                        help="Adam's learning rate (default: EELSfitter's 1e-3 with its network, the runcard's 3e-3 "
                             "with --network mlhep)")
    parser.add_argument("--network", choices=("eelsfitter", "mlhep"), default="eelsfitter",
                        help="the network both codes train: EELSfitter's (sigmoid, sigmoid, ReLU on min-max scaled "
                             "E and ln N) or the WS2 runcard's (tanh, E / dE1, no ln N)")
    parser.add_argument("--eelsfitter-venv", type=Path, default=ROOT / ".venv-eelsfitter")
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--arrays", type=Path, default=None,
                        help="with --network mlhep: also save both codes' ZLPs, subtractions and fits (.npz) here")
    args = parser.parse_args()
    if not (args.eelsfitter_venv / "bin" / "python").exists():
        sys.exit(f"no EELSfitter environment at {args.eelsfitter_venv}: run `make eelsfitter-venv` first")
    if args.network == "mlhep":
        same_network(args)
        return
    args.lr = 1e-3 if args.lr is None else args.lr
    load = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        card_path = work / "ws2-eelsfitter.yaml"
        card_path.write_text(runcard(args.replicas, args.epochs, args.lr))
        energy, spectra, de1, de2 = training_spectra(card_path)
        ref = run_eelsfitter(args.eelsfitter_venv, energy, spectra, args.replicas, args.epochs, args.lr, 1, work)
        # twice each: the first run compiles, the second loads the program from mlhep's compilation cache
        one_core = [run_mlhep(card_path, work / "one_core.h5", one_core=True) for _ in range(2)]
        default = [run_mlhep(card_path, work / "default.h5", one_core=False) for _ in range(2)]
        from mlhep.io.results import Results
        res = Results.read(work / "default.h5")
        zlp_mlhep = res.replicas["cluster/zlp"][:, 0]                     # (R, n) at the cluster median's ln N
        median = res.summary["cluster/median"][0]
        window = tuple(res.summary["bandgap/window"])
    zlp_ref = np.exp(ref["log_zlp"][:, 0])
    bandgap_range = (0.5, window[1])
    eb_m, b_m = bandgaps(energy, median, zlp_mlhep, de1, de2, window, bandgap_range)
    eb_r, b_r = bandgaps(energy, median, zlp_ref, de1, de2, window, bandgap_range)
    # one fit with each ensemble's median ZLP (robust to replicas that did not train)
    (eb_mm,), (b_mm,) = bandgaps(energy, median, np.median(zlp_mlhep, 0)[None], de1, de2, window, bandgap_range)
    (eb_rm,), (b_rm,) = bandgaps(energy, median, np.median(zlp_ref, 0)[None], de1, de2, window, bandgap_range)
    region = (energy > -de1) & (energy < de1)          # where the ZLP is fitted to the data (region I)
    log_m, log_r = np.log(np.median(zlp_mlhep, 0)), np.log(np.median(zlp_ref, 0))
    spread = np.std(np.log(zlp_mlhep), 0)
    tail = (energy > de1) & (energy < window[1])      # what is subtracted under the onset
    cores = os.cpu_count()
    per = {"EELSfitter 3.1 (PyTorch, 1 thread)": ref["train_seconds"], "mlhep, 1 core, compiling": one_core[0],
           "mlhep, 1 core, program from the cache": one_core[1],
           f"mlhep, default ({cores} cores), compiling": default[0],
           f"mlhep, default ({cores} cores), program from the cache": default[1]}
    lines = [
        "# eels-fit vs EELSfitter 3.1 on the same WS2 spectra (one run)", "",
        f"`scripts/bench_eelsfitter.py --replicas {args.replicas} --epochs {args.epochs}` on {platform.machine()}, "
        f"{os.cpu_count()} cores, load average {load[0]:.1f} at the start (shared machine: times are upper bounds; "
        "the ratios come from one run). Roest et al. 2021 Specimen_4, the six specimen spectra, "
        f"{energy.size} channels; both codes: EELSfitter's 2-10-15-5-1 (sigmoid, sigmoid, ReLU; inputs E and ln N "
        f"scaled to [0.1, 0.9]), Adam {args.lr:g}, {args.epochs} epochs, penalty 10; dE1 = {de1:.3f} eV, "
        f"dE2 = {de2:.3f} eV (mlhep's automatic search; EELSfitter's own: {float(np.ravel(ref['de1'])[0]):.3f}, "
        f"{float(np.ravel(ref['de2'])[0]):.3f}).", "",
        "| code | training (s) | per replica (s) | vs EELSfitter |", "|---|---:|---:|---:|"]
    for name, seconds in per.items():
        lines.append(f"| {name} | {seconds:.1f} | {seconds / args.replicas:.3f} | "
                     f"{ref['train_seconds'] / seconds:.1f}x |")
    lines += [
        "", "Agreement (both ensembles' ZLPs through mlhep's matching, subtraction and onset fit on the six "
        f"spectra's median, window {window[0]:g}-{window[1]:g} eV, b free):", "",
        "| | mlhep | EELSfitter 3.1 |", "|---|---|---|",
        f"| E_bg (eV), median (68%) over replicas | {band(eb_m)} | {band(eb_r)} |",
        f"| b | {band(b_m)} | {band(b_r)} |",
        f"| E_bg, b with the ensemble's median ZLP | {eb_mm:.3f}, {b_mm:.3f} | {eb_rm:.3f}, {b_rm:.3f} |",
        f"| replicas whose E_bg is inside the search range ({bandgap_range[0]:g}-{window[1]:g} eV) | "
        f"{_inside(eb_m, bandgap_range)} | {_inside(eb_r, bandgap_range)} |",
        f"| final validation loss, median | {np.median(res.stage_train('')['best_valid']):.4g} | "
        f"{np.median(ref['loss_test']):.4g} (its own definition) |", "",
        f"Median ZLPs: |ln ZLP_mlhep - ln ZLP_EELSfitter| in region I (|E| < dE1): max "
        f"{np.max(np.abs(log_m - log_r)[region]):.3f}, mean {np.mean(np.abs(log_m - log_r)[region]):.3f} "
        f"(mlhep's replica spread of ln ZLP there: mean {np.mean(spread[region]):.3f}); between dE1 and the "
        f"window's end, where the ZLP is extrapolated under the onset: mean {np.mean(np.abs(log_m - log_r)[tail]):.3f}"
        f" (spread {np.mean(spread[tail]):.3f}).", ""]
    args.out.write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
