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


def runcard(replicas: int, epochs: int, lr: float) -> str:
    """The WS2 example runcard with EELSfitter's network, optimiser and automatic regions."""
    from ruamel.yaml import YAML

    from mlhep.paths import embedded_runcards
    yaml = YAML()
    card = yaml.load(embedded_runcards()["eels-fit-ws2"].read_text())
    card["replicas"] = replicas
    card["engine"]["epochs"] = epochs
    card["engine"]["chunk"] = min(epochs, 250)
    card["engine"]["optimizer"] = {"name": "adam", "learning_rate": lr}
    card["regions"] = {"de1": "auto", "de2": "auto"}
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


def run_eelsfitter(venv: Path, energy, spectra, replicas: int, epochs: int, lr: float, seed: int, work: Path) -> dict:
    source, target = work / "eelsfitter_in.npz", work / "eelsfitter_out.npz"
    np.savez(source, eaxis=energy, spectra_0=spectra, centroids=np.zeros(1), n_replica=replicas, n_epochs=epochs,
             lr=lr, penalty=EELSFITTER_NET["penalty"], seed=seed)
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--replicas", type=int, default=20)
    parser.add_argument("--epochs", type=int, default=1000)
    parser.add_argument("--lr", type=float, default=1e-3, help="Adam's learning rate (EELSfitter's default)")
    parser.add_argument("--eelsfitter-venv", type=Path, default=ROOT / ".venv-eelsfitter")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    if not (args.eelsfitter_venv / "bin" / "python").exists():
        sys.exit(f"no EELSfitter environment at {args.eelsfitter_venv}: run `make eelsfitter-venv` first")
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
