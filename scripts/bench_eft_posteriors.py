"""Posterior methods of eft-fit (binned) side by side with SMEFiT 4.0's nested sampling, in one run.

One problem definition (datasets, coefficients with flat-prior bounds, theory settings) is written both as
mlhep runcards (``fit: nested`` and ``fit: nuts``) and as a SMEFiT runcard (``smefit NS``, ultranest); each is run
as its own process (mlhep from this repository's venv, SMEFiT from its own venv), timed, and the posteriors are
summarised with the same estimators: mean, std, equal-tailed 68% and 95% intervals of the posterior samples, and
log Z with its error. For the linear problem the exact Gaussian log Z (closed form, same convention) is added as
a reference. The section "## Posteriors: mlhep vs SMEFiT 4.0" of benchmarks/eft.md is replaced (or appended);
the rest of the file is kept.

    .venv/bin/python scripts/bench_eft_posteriors.py --smefit /work/envs/smefit/bin/smefit [--variants linear quadratic]

log Z convention (both sides): Z = (1/V) int exp(-chi2/2) dc over the prior box of volume V, chi2 =
(d - t)^T C^-1 (d - t) with no normalisation constant (no -n/2 log 2 pi - log det C / 2).
"""
from __future__ import annotations

import argparse
import json
import math
import os
import platform
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import yaml

REPO = Path(__file__).resolve().parents[1]
SECTION = "## Posteriors: mlhep vs SMEFiT 4.0"

# The one problem definition. Top-quark data and coefficients of runcards/eft-fit-binned-nuts.yaml.
PROBLEM = {
    "order": "NLO",
    "use_theory_covmat": True,
    "use_t0": True,
    "datasets": [
        "ATLAS_tt_8TeV_ljets_Mtt", "CMS_tt_13TeV_ljets_2016_Mtt", "CMS_tt_13TeV_dilep_2016_Mtt",
        "ATLAS_tt_13TeV_asy_2022", "CMS_tt_13TeV_asy", "ATLAS_ttZ_13TeV_pTZ", "CMS_ttZ_13TeV_pTZ",
        "ATLAS_ttW_13TeV_2016", "CMS_ttW_13TeV", "CMS_t_tch_13TeV_inc", "ATLAS_t_tch_13TeV_inc",
        "ATLAS_tW_13TeV_inc", "CMS_tZ_13TeV_pTt", "ATLAS_Whel_13TeV",
    ],
    "coefficients": {"OtG": (-1, 1), "OtW": (-1, 1), "OtZ": (-15, 15), "OpQM": (-20, 20), "O3pQ3": (-5, 5),
                     "Opt": (-30, 30)},
}
NORMALISATION = (
    "Normalisation: neither code includes the Gaussian constant -(N/2) log 2 pi - (1/2) log det C (N data points, "
    "C the fit covariance: experimental + theory, t0); add it to compare with the evidence of a normalised "
    "likelihood. It is the same for both codes and cancels in Bayes factors between EFT hypotheses fitted to the "
    "same data, not between runs with other datasets or other use_t0/use_theory_covmat. Both priors are "
    "normalised (mlhep: log prior = -log V; ultranest: the unit-cube transform), so log Z carries the Occam term "
    "-log V: widening the bound of a constrained coefficient by a factor k lowers log Z by log k.")
LIVE_POINTS = 500                     # both nested samplers (SMEFiT's default nlive)
NUTS = {"chains": 4, "warmup": 500, "samples": 1000}
NESTED = {"live": LIVE_POINTS, "samples": 4000}
# SMEFiT's NS defaults (smefit/optimize/ultranest.py, from_dict), written out so that the card documents them;
# n_samples large so that SMEFiT keeps every equal-weight sample (it truncates to n_samples).
SMEFIT_NS = {"nlive": LIVE_POINTS, "lepsilon": 0.05, "target_evidence_unc": 0.5, "target_post_unc": 0.5,
             "frac_remain": 0.01, "n_samples": 1000000, "store_raw": True}


# Run with SMEFiT's python: SMEFiT's own chi2 (smefit.chi2.compute_chi2 on smefit.loader.load_datasets) of the
# SMEFiT runcard at given points, to check that both sides integrate the same likelihood.
SMEFIT_CHI2 = """
import json, sys, yaml, numpy as np, jax
jax.config.update("jax_enable_x64", True)
from smefit.loader import load_datasets
from smefit.coefficients import CoefficientManager
from smefit import chi2
card = yaml.safe_load(open(sys.argv[1])); points = json.loads(sys.argv[2])
ds = load_datasets(card["data_path"], card["datasets"], card["coefficients"], card["use_quad"],
                   card["use_theory_covmat"], card["use_t0"], False, card["default_order"], card["theory_path"])
names = CoefficientManager.from_dict(card["coefficients"]).name
print(json.dumps([float(chi2.compute_chi2(ds, np.array([p[n] for n in names]), card["use_quad"], False))
                  for p in points]))
"""


def smefit_chi2(smefit: str, card_path: Path, points: list[dict]) -> list[float]:
    proc = subprocess.run([str(Path(smefit).with_name("python")), "-c", SMEFIT_CHI2, str(card_path),
                           json.dumps(points)], capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"SMEFiT chi2 check failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def mlhep_card(database: Path, quadratic: bool, fit: str, seed: int) -> dict:
    binned = {"database": str(database), "order": PROBLEM["order"], "use_quadratic": quadratic,
              "use_theory_covmat": PROBLEM["use_theory_covmat"], "use_t0": PROBLEM["use_t0"], "fit": fit,
              "datasets": list(PROBLEM["datasets"]),
              "coefficients": {k: {"min": lo, "max": hi} for k, (lo, hi) in PROBLEM["coefficients"].items()}}
    binned.update({"nested": dict(NESTED)} if fit == "nested" else {"nuts": dict(NUTS)})
    return {"task": "eft-fit", "description": f"posterior benchmark vs SMEFiT ({fit})", "seed": seed,
            "replicas": 1, "mode": "binned", "binned": binned}


def smefit_card(database: Path, quadratic: bool, result_path: Path, result_id: str) -> dict:
    sys.path.insert(0, str(REPO))
    from mlhep.tasks.eft.binned.loader import read_theory   # the order each dataset falls back to (LO if no NLO)
    datasets = []
    for name in PROBLEM["datasets"]:
        order = read_theory(database / "theory" / f"{name}.json", PROBLEM["order"])[2]
        datasets.append({"name": name, "order": order})
    return {"result_ID": result_id, "result_path": str(result_path), "data_path": str(database / "commondata"),
            "theory_path": str(database / "theory"), "use_theory_covmat": PROBLEM["use_theory_covmat"],
            "use_t0": PROBLEM["use_t0"], "use_quad": quadratic, "default_order": PROBLEM["order"],
            **SMEFIT_NS, "datasets": datasets,
            "coefficients": {k: {"min": lo, "max": hi} for k, (lo, hi) in PROBLEM["coefficients"].items()}}


def sample_stats(samples: np.ndarray) -> dict:
    """(S, F) equal-weight posterior samples -> the estimators mlhep's summary uses."""
    return {"mean": samples.mean(axis=0), "std": samples.std(axis=0, ddof=1),
            "b68": np.percentile(samples, [15.865, 84.135], axis=0).T,
            "b95": np.percentile(samples, [2.5, 97.5], axis=0).T, "n": samples.shape[0]}


def run_mlhep(mlhep: str, card: dict, workdir: Path, tag: str, cache: Path) -> dict:
    """``mlhep fit`` of ``card`` as its own process, with JAX's persistent compilation cache in ``cache`` (an
    empty folder: the time includes every compilation, as SMEFiT's, which has no persistent cache)."""
    path, out = workdir / f"mlhep-{tag}.yaml", workdir / f"mlhep-{tag}.h5"
    path.write_text(yaml.safe_dump(card, sort_keys=False))
    out.unlink(missing_ok=True)
    start = time.perf_counter()
    proc = subprocess.run([mlhep, "fit", str(path), "-o", str(out)], capture_output=True, text=True,
                          env={**os.environ, "MLHEP_JAX_CACHE": str(cache)})
    wall = time.perf_counter() - start
    (workdir / f"mlhep-{tag}.log").write_text(proc.stdout + proc.stderr)
    if proc.returncode != 0:
        raise SystemExit(f"mlhep fit {path} failed ({proc.returncode}):\n{(proc.stdout + proc.stderr)[-3000:]}")
    with h5py.File(out, "r") as f:
        s = f["summary"]
        names = [n.decode() if isinstance(n, bytes) else str(n) for n in s["coefficients/names"][()]]
        free = [n.decode() if isinstance(n, bytes) else str(n) for n in s["coefficients/free"][()]]
        cols = [names.index(n) for n in free]
        row = sample_stats(np.asarray(s["posterior/samples"][()])[:, cols])
        row.update(wall=wall, fit_seconds=float(s["timing/fit_seconds"][()]), names=free)
        if "posterior/log_evidence" in s:
            row["logz"] = float(s["posterior/log_evidence"][()])
            row["logz_err"] = float(s["posterior/log_evidence_error"][()])
            row["dead"] = int(s["posterior/dead_points"][()])
            row["nested_ess"] = float(s["posterior/nested_ess"][()])
        if "posterior/rhat" in s:
            row["rhat"] = float(np.nanmax(s["posterior/rhat"][()]))
            row["ess"] = float(np.min(s["posterior/ess"][()]))
        cov = np.atleast_2d(s["analytic/covariance"][()])
        row["chi2_best"] = float(s["chi2/total_best"][()])
        row["chi2_sm"] = float(s["chi2/total_sm"][()])
        row["best"] = dict(zip(free, map(float, s["best_fit"][()][cols])))
        row["gauss"] = {"chi2_min": float(s["analytic/chi2"][()]), "cov": cov, "best": s["analytic/best"][()][cols]}
    return row


def run_smefit(smefit: str, card: dict, workdir: Path, repeat: int = 0) -> dict:
    """``smefit NS`` of ``card`` in SMEFiT's venv (ultranest draws from numpy's unseeded global generator: every
    run differs)."""
    card = {**card, "result_ID": f"{card['result_ID']}-{repeat}"}
    folder = Path(card["result_path"]) / card["result_ID"]
    shutil.rmtree(folder, ignore_errors=True)       # SMEFiT resumes ultranest from an old log folder otherwise
    path = workdir / f"{card['result_ID']}.yaml"
    path.write_text(yaml.safe_dump(card, sort_keys=False))
    start = time.perf_counter()
    proc = subprocess.run([smefit, "NS", str(path)], capture_output=True, text=True)
    wall = time.perf_counter() - start
    log = proc.stdout + proc.stderr
    (workdir / f"{card['result_ID']}.log").write_text(log)
    results = folder / "fit_results.json"
    if not results.exists():
        raise SystemExit(f"smefit NS {path} failed ({proc.returncode}):\n{log[-3000:]}")
    fit = json.loads(results.read_text())
    names = list(PROBLEM["coefficients"])
    row = sample_stats(np.array([fit["samples"][n] for n in names]).T)
    info = json.loads((folder / "ultranest_log" / "info" / "results.json").read_text())
    found = re.search(r"Time\s*:\s*([0-9.]+)\s*minutes", log)
    row.update(wall=wall, fit_seconds=60 * float(found.group(1)) if found else math.nan, names=names,
               logz=float(fit["logz"]), logz_err=float(info["logzerr"]), ncall=int(info["ncall"]))
    return row


def exact_linear(g: dict, lower: np.ndarray, upper: np.ndarray, draws: int, seed: int) -> dict:
    """The exact posterior of the linear fit: chi2 = chi2_min + d^T F d is Gaussian, so the posterior is the
    Gaussian N(best, F^-1) truncated to the prior box. Sampled exactly by rejection (draws from the Gaussian kept
    inside the box); log Z = -chi2_min/2 + (n/2) log 2 pi + log det(F^-1)/2 - log V + log P(inside), with
    P(inside) the accepted fraction (its binomial error is the error of log Z)."""
    rng = np.random.default_rng(seed)
    x = rng.multivariate_normal(g["best"], g["cov"], size=draws, method="cholesky")
    inside = np.all((x >= lower) & (x <= upper), axis=1)
    accepted = inside.mean()
    _, logdet = np.linalg.slogdet(g["cov"])
    n = g["cov"].shape[0]
    logz = (-0.5 * g["chi2_min"] + 0.5 * n * math.log(2 * math.pi) + 0.5 * logdet
            - float(np.sum(np.log(upper - lower))) + math.log(accepted))
    row = sample_stats(x[inside])
    row.update(logz=logz, logz_err=math.sqrt((1 - accepted) / (accepted * draws)), accepted=float(accepted))
    return row


def versions(smefit: str) -> str:
    mine = subprocess.run([sys.executable, "-c", "import jax, blackjax, mlhep; print(jax.__version__, "
                           "blackjax.__version__)"], capture_output=True, text=True).stdout.split()
    pip = str(Path(smefit).with_name("pip"))
    theirs = subprocess.run([pip, "freeze"], capture_output=True, text=True).stdout.split()
    pins = {p.split("==")[0].lower(): p.split("==")[1] for p in theirs if "==" in p}
    return (f"mlhep: jax {mine[0] if mine else '?'}, blackjax {mine[1] if len(mine) > 1 else '?'}; SMEFiT venv: "
            + ", ".join(f"{k} {pins.get(k, '?')}" for k in ("smefit", "ultranest", "jax", "numpy", "scipy")))


def fmt(x: float) -> str:
    return f"{x:.3g}" if abs(x) >= 1e-3 or x == 0 else f"{x:.2e}"


def interval(b) -> str:
    return f"[{fmt(b[0])}, {fmt(b[1])}]"


def variant_section(label: str, rows: dict, repeats: dict, notes: list[str]) -> list[str]:
    names = rows["mlhep nested"]["names"]
    lines = [f"### {label}", "", "| coefficient | method | mean | std | 68% | 95% |", "|---|---|---|---|---|---|"]
    for i, name in enumerate(names):
        for method, r in rows.items():
            lines.append(f"| {name} | {method} | {fmt(r['mean'][i])} | {fmt(r['std'][i])} | "
                         f"{interval(r['b68'][i])} | {interval(r['b95'][i])} |")
    lines += ["", "| method | log Z | samples | fit time | process wall time |", "|---|---|---|---|---|"]
    for method, r in rows.items():
        logz = f"{r['logz']:.3f} +- {r['logz_err']:.3f}" if "logz" in r else "-"
        detail = (f"; {r['dead']} dead points, ESS {r['nested_ess']:.0f}" if "dead" in r else
                  f"; {r['ncall']} likelihood calls" if "ncall" in r else
                  f"; max R-hat {r['rhat']:.3f}, min ESS {r['ess']:.0f}" if "rhat" in r else
                  f" accepted of {r['n'] / r['accepted']:.0f} Gaussian draws" if "accepted" in r else "")
        warm = f" ({', '.join(f'{t:.1f}' for t in r['warm'])} s warm cache)" if r.get("warm") else ""
        times = (f"{r['fit_seconds']:.1f} s{warm} | {r['wall']:.1f} s" if "wall" in r else "- | -")
        lines.append(f"| {method} | {logz} | {r['n']}{detail} | {times} |")
    if len(repeats["mlhep nested"]) > 1:
        lines.append("")
        for method, runs in repeats.items():
            z = np.array([r["logz"] for r in runs])
            lines.append(f"- log Z of {len(runs)} {method} runs: "
                         + ", ".join(f"{r['logz']:.3f} +- {r['logz_err']:.3f}" for r in runs)
                         + f" (mean {z.mean():.3f}, spread {z.std(ddof=1):.3f}; "
                         + ", ".join(f"{r['fit_seconds']:.1f}" for r in runs) + " s).")
    for note in notes:
        lines += ["", note]
    lines.append("")
    return lines


def write_section(out: Path, body: list[str]) -> None:
    text = out.read_text() if out.exists() else ""
    start = text.find(SECTION)
    block = "\n".join([SECTION, "", *body]).rstrip() + "\n"
    if start < 0:
        text = text.rstrip() + "\n\n" + block
    else:
        following = text.find("\n## ", start + len(SECTION))
        text = text[:start] + block + ("" if following < 0 else "\n" + text[following + 1:])
    out.write_text(text)


def uptime() -> str:
    """The 1, 5 and 15 minute load averages (2 cores)."""
    out = subprocess.run(["uptime"], capture_output=True, text=True).stdout
    return out.split("load average:")[-1].strip()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smefit", required=True, help="the smefit executable of SMEFiT's own venv")
    parser.add_argument("--mlhep", default=str(REPO / ".venv" / "bin" / "mlhep"))
    parser.add_argument("--database", type=Path, default=REPO.parent / "shared" / "data" / "smefit_database")
    parser.add_argument("--variants", nargs="+", choices=("linear", "quadratic"), default=["linear", "quadratic"])
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/bench_eft_posteriors"))
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=1, help="runs of each sampler (mlhep: seeds seed, seed+1, "
                        "...; later runs reuse the compilation cache); the tables show the first, log Z all")
    parser.add_argument("--exact-draws", type=int, default=2000000, help="Gaussian draws for the exact linear "
                                                                         "posterior (rejection sampling)")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "eft.md")
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    database = args.database.resolve()
    lower = np.array([lo for lo, _ in PROBLEM["coefficients"].values()], float)
    upper = np.array([hi for _, hi in PROBLEM["coefficients"].values()], float)
    started = time.perf_counter()
    body = [
        f"Command: `.venv/bin/python scripts/bench_eft_posteriors.py --smefit {args.smefit}` "
        f"({platform.machine()}, 2 cores shared with other jobs; {versions(args.smefit)}).", "",
        f"Problem (one definition, written as both runcards): {len(PROBLEM['datasets'])} top datasets and "
        f"{len(PROBLEM['coefficients'])} coefficients of runcards/eft-fit-binned-nuts.yaml, EFT at "
        f"{PROBLEM['order']} (LO where the table has no NLO), theory covariance "
        f"{'on' if PROBLEM['use_theory_covmat'] else 'off'}, t0 {'on' if PROBLEM['use_t0'] else 'off'}, flat "
        "priors on " + ", ".join(f"{k} [{lo}, {hi}]" for k, (lo, hi) in PROBLEM["coefficients"].items()) + ".",
        f"mlhep nested: blackjax nested slice sampler, {NESTED['live']} live points, stop when the live points "
        f"add < 0.01 to log Z, {NESTED['samples']} resampled draws; mlhep NUTS: {NUTS['chains']} chains x "
        f"{NUTS['samples']} after {NUTS['warmup']} warm-up steps; SMEFiT NS: ultranest ReactiveNestedSampler with "
        f"SMEFiT's defaults (nlive {SMEFIT_NS['nlive']}, dlogz {SMEFIT_NS['target_evidence_unc']}, frac_remain "
        f"{SMEFIT_NS['frac_remain']}, Lepsilon {SMEFIT_NS['lepsilon']}, not vectorized), all its equal-weight "
        "samples kept.",
        "Statistics: the same estimators on every sample set (mean, std, equal-tailed 68% and 95% intervals). "
        "log Z convention on both sides: Z = (1/V) x integral of exp(-chi2/2) over the prior box (V its volume), "
        "chi2 without normalisation constants; mlhep's error is the spread over simulated volume shrinkages, "
        "SMEFiT's is ultranest's logzerr (bootstrap and tail combined).",
        NORMALISATION,
        "Times: 'fit time' is the sampler alone (mlhep: timing/fit_seconds, from after data loading to the "
        "summary, including the best-fit search and every JIT compilation: the first run starts from an empty "
        "JAX compilation cache; later runs, other seeds, reuse it: 'warm cache'; SMEFiT: its own 'Time' log "
        "line around ultranest's run, including the first-call JIT; it has no persistent cache); 'process wall "
        "time' is the whole command (Python and JAX imports, data loading, writing results; SMEFiT also makes "
        "ultranest's plots, since store_raw is needed for logzerr). Each method runs as its own process, one "
        "after the other (never two at once).", ""]
    for variant in args.variants:
        quadratic = variant == "quadratic"
        machine_before = uptime()
        rows, repeats = {}, {"mlhep nested": [], "SMEFiT 4.0 NS": []}
        for fit in ("nested", "nuts"):
            cache = args.workdir / f"jax-cache-{variant}-{fit}"
            shutil.rmtree(cache, ignore_errors=True)          # cold: compilation included in the first run
            runs = [run_mlhep(args.mlhep, mlhep_card(database, quadratic, fit, args.seed + k), args.workdir,
                              f"{variant}-{fit}-{k}", cache) for k in range(args.repeats)]
            rows[f"mlhep {fit}"] = {**runs[0], "warm": [r["fit_seconds"] for r in runs[1:]]}
            if fit == "nested":
                repeats["mlhep nested"] = runs
            print(f"{variant} mlhep {fit}: {[round(r['wall'], 1) for r in runs]} s", flush=True)
        card = smefit_card(database, quadratic, args.workdir / "smefit_results", f"smefit-ns-{variant}")
        repeats["SMEFiT 4.0 NS"] = [run_smefit(args.smefit, card, args.workdir, k) for k in range(args.repeats)]
        rows["SMEFiT 4.0 NS"] = repeats["SMEFiT 4.0 NS"][0]
        print(f"{variant} SMEFiT NS: {[round(r['wall'], 1) for r in repeats['SMEFiT 4.0 NS']]} s", flush=True)
        best = rows["mlhep nested"]
        check = smefit_chi2(args.smefit, args.workdir / f"{card['result_ID']}-0.yaml",
                            [best["best"], {k: 0.0 for k in best["best"]}])
        chi2_check = (f"SMEFiT's own chi2 of its runcard at mlhep's best fit and at the SM: {check[0]:.6f} and "
                      f"{check[1]:.6f}; mlhep's: {best['chi2_best']:.6f} and {best['chi2_sm']:.6f} (differences "
                      f"{check[0] - best['chi2_best']:+.1e} and {check[1] - best['chi2_sm']:+.1e}).")
        if not quadratic:
            rows["exact (truncated Gaussian)"] = exact_linear(rows["mlhep nested"]["gauss"], lower, upper,
                                                              args.exact_draws, args.seed)
        label = ("Linear EFT (O(1/Lambda^2))" if not quadratic else
                 "Linear + quadratic EFT (O(1/Lambda^4))")
        body += variant_section(label, rows, repeats, [
            chi2_check, f"Load average during this variant: {machine_before} before, {uptime()} after."])
    body += [f"Whole benchmark: {time.perf_counter() - started:.0f} s.", ""]
    write_section(args.out, body)
    print("\n".join(body))


if __name__ == "__main__":
    main()
