"""bump-hunt: weakly supervised resonance search in the LHC Olympics 2020 R&D setting (Kasieczka et al.,
arXiv:2101.08320): CATHODE, ANODE, CWoLa hunting, and the idealised and supervised references on dijet events,
then a bump hunt in m_jj after a cut on each method's anomaly score.

Stages (``engine.stages.<name>``): ``flow_sb`` the sideband flow p_SB(x | m_jj), trained once and shared by
CATHODE and ANODE; ``cathode`` its classifier; ``flow_sr`` ANODE's signal-region flow; ``cwola``, ``idealised``,
``supervised`` the classifiers of those methods. Every stage is one vmapped ensemble, replica r holding out fold
r % k (``methods/``). Per method: the SIC curve, max SIC and the rejection at eps_S = 0.2, 0.5 on the out-of-fold
signal-region scores (where truth labels exist), and the bump hunt of ``analysis.py`` at each cut efficiency.
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from mlhep.errors import DataError
from mlhep.task import Outputs, RunContext, Task
from mlhep.tasks.bumphunt import analysis, surrogate
from mlhep.tasks.bumphunt.config import BumpHuntConfig
from mlhep.tasks.bumphunt.events import Events, inject, signal_region_mask
from mlhep.tasks.bumphunt.metrics import MIN_BACKGROUND, max_sic, rejection_at, sic_curve

EPS_S = (0.2, 0.5)
SIC_POINTS = 400


def _check_files(names, key: str, ctx: RunContext) -> list[Path]:
    from mlhep.tasks.bumphunt import generate, lhco
    paths = []
    for i, name in enumerate(names or ()):
        path = ctx.resolve(name)
        if not path.is_file():
            raise ctx.fail(f"{key}[{i}]", f"no such file: {path}" if not path.exists() else
                           f"{path} is not a regular file")
        if not generate.is_generated(path):
            lhco.file_layout(path)      # a DataError naming the file if it is no event layout
        paths.append(path)
    return paths


def _read(paths, limit) -> Events:
    from mlhep.tasks.bumphunt.lhco import load_events
    return Events.concatenate([load_events(p, stop=limit) for p in paths])


def _check_regions(config: BumpHuntConfig, ctx: RunContext) -> np.ndarray:
    """The m_jj bin edges, checked against the signal region (it must lie inside the binned range, with
    sideband bins on both sides, and be tiled by whole bins)."""
    edges, (lo, hi) = config.significance.edges(), config.data.signal_region
    if not edges[0] < lo < hi < edges[-1]:
        raise ctx.fail("data.signal_region", f"{config.data.signal_region} TeV must lie inside significance."
                       f"mjj_range {config.significance.mjj_range} with sideband bins on both sides")
    for value in (lo, hi):
        if np.min(np.abs(edges - value)) > 1e-6:
            raise ctx.fail("data.signal_region", f"the edge {value} TeV is not a bin edge of significance.mjj_range "
                           f"{config.significance.mjj_range} in steps of {config.significance.bin_width}: the bins "
                           "must tile the signal region")
    if config.data.files is not None and "idealised" in config.methods and config.data.template_files is None:
        raise ctx.fail("methods", "the idealised detector needs background-only template events: give "
                                  "data.template_files (or use data.surrogate)")
    return edges


def _has_labels(labels: np.ndarray) -> bool:
    return bool(np.all((labels == 0) | (labels == 1)) and (labels == 1).any() and (labels == 0).any())


class BumpHuntTask(Task):
    name = "bump-hunt"
    description = "weakly supervised bump hunt in m_jj (LHCO R&D): CATHODE, ANODE, CWoLa, idealised, supervised"
    Config = BumpHuntConfig
    stages = ("flow_sb", "cathode", "flow_sr", "cwola", "idealised", "supervised")
    precision = "float32"   # flows and classifiers; the fits and significances are numpy float64

    def validate(self, config: BumpHuntConfig, ctx: RunContext) -> None:
        """``mlhep check``: the regions and binning, and every file (its layout; the events are not read)."""
        _check_regions(config, ctx)
        for key in ("files", "signal_files", "template_files"):
            _check_files(getattr(config.data, key), f"data.{key}", ctx)

    def setup(self, config: BumpHuntConfig, ctx: RunContext) -> tuple[Events, Events | None]:
        """(the data events, background-only template events for the idealised detector or None)."""
        _check_regions(config, ctx)
        d, sr = config.data, config.data.signal_region
        start = time.perf_counter()
        if d.surrogate is not None:
            s = d.surrogate
            if s.s_over_b is None:
                events = surrogate.generate(s.n_background, s.n_signal or 0, s.seed)
            else:   # a signal pool of its own stream (the surrogate's streams 0-2 are background, signal, shuffle)
                pool_size = int(s.s_over_b * s.n_background * 0.2) + 1000
                pool = surrogate.signal(np.random.default_rng([s.seed, 3]), pool_size)
                events = inject(surrogate.generate(s.n_background, 0, s.seed), pool, s_over_b_in_sr=s.s_over_b,
                                signal_region=sr, seed=s.seed)
            template = None
            if "idealised" in config.methods:
                template = surrogate.background(np.random.default_rng([s.seed, 4]), s.template or s.n_background)
        else:
            files = _check_files(d.files, "data.files", ctx)
            events = _read(files, d.max_events_per_file)
            if d.signal_files is not None:
                pool = _read(_check_files(d.signal_files, "data.signal_files", ctx), d.max_events_per_file)
                pool, background = pool.select(pool.label == 1), events.select(events.label == 0)
                try:
                    events = inject(background, pool, n_signal=d.inject.n_signal,
                                    s_over_b_in_sr=d.inject.s_over_b_in_sr, signal_region=sr, seed=d.inject.seed)
                except ValueError as err:
                    raise ctx.fail("data.inject", str(err)) from None
            template = None
            if d.template_files is not None:
                template = _read(_check_files(d.template_files, "data.template_files", ctx), d.max_events_per_file)
                template = template.select(template.label == 0)
        inside = signal_region_mask(events, sr)
        ctx.log(f"bump-hunt: {len(events)} events ({int((events.label == 1).sum())} labelled signal), "
                f"{int(inside.sum())} in the signal region {sr} TeV ({int((events.label[inside] == 1).sum())} "
                f"signal) in {time.perf_counter() - start:.1f} s")
        return events, template

    def run(self, config: BumpHuntConfig, ctx: RunContext) -> Outputs:
        from mlhep.tasks.bumphunt import methods as m
        from mlhep.tasks.bumphunt.methods.common import regions, replica_folds
        events, template = self.setup(config, ctx)
        settings = config.method_settings()
        if "supervised" in config.methods and not _has_labels(events.label[signal_region_mask(
                events, settings.signal_region)]):
            raise ctx.fail("methods", "the supervised classifier needs truth labels (0 and 1) of the signal-region "
                                      "events, and these events have none or only one class")
        try:
            replica_folds(ctx, settings.folds)
        except ValueError as err:
            raise ctx.fail("model.folds", f"{err} (use replicas: a multiple of model.folds)") from None
        try:
            regions(events, settings)
        except DataError as err:
            raise ctx.fail("data.signal_region", str(err)) from None
        sideband = (m.train_sideband_flow(events, settings, ctx)
                    if {"cathode", "anode"} & set(config.methods) else None)
        results = {}
        for name in config.methods:    # one ensemble per method (each is a vmapped program)
            if name == "cathode":
                results[name] = m.run_cathode(events, settings, ctx, sideband=sideband)
            elif name == "anode":
                results[name] = m.run_anode(events, settings, ctx, sideband=sideband)
            elif name == "cwola":
                results[name] = m.run_cwola(events, settings, ctx)
            elif name == "idealised":
                results[name] = m.run_idealised(events, template, settings, ctx)
            else:
                results[name] = m.run_supervised(events, settings, ctx)
        outputs = self.evaluate(events, config, results, ctx)
        ctx.log(report_table(outputs.summary))
        return outputs

    def evaluate(self, events: Events, config: BumpHuntConfig, results: dict, ctx: RunContext) -> Outputs:
        """Outputs of every method (module docstring): summary ``<method>/...`` and per-replica scores."""
        sig, settings = config.significance, config.method_settings()
        edges, sr = sig.edges(), tuple(config.data.signal_region)
        in_range = (events.mjj >= edges[0]) & (events.mjj < edges[-1])
        bh = dict(n_params=sig.n_params, method=sig.method, widths=sig.widths, n_pseudo=sig.pseudo_experiments,
                  seed=ctx.seed)
        uncut = analysis.hunt(events.mjj[in_range], events.weights[in_range], edges, sr, **bh)
        summary = {"methods": ",".join(results), "edges": edges, "signal_region": np.asarray(sr),
                   "efficiencies": np.asarray(sig.efficiencies), "eps_s": np.asarray(EPS_S),
                   "n_events": len(events), "n_signal_region": int(signal_region_mask(events, sr).sum()),
                   "n_signal_region_signal": int((events.label[signal_region_mask(events, sr)] == 1).sum())}
        summary |= _cut_summary("uncut", [uncut])
        replicas = {}
        for name, res in results.items():
            start = time.perf_counter()
            if _has_labels(res.labels):
                curve = sic_curve(res.scores, res.labels, events.weights[signal_region_mask(events, sr)],
                                  min_background=MIN_BACKGROUND)     # the cuts max SIC considers
                pick = np.unique(np.linspace(0, len(curve.eps_s) - 1, SIC_POINTS).astype(int))
                summary |= {f"{name}/sic_eps_s": curve.eps_s[pick], f"{name}/sic": curve.sic[pick],
                            f"{name}/max_sic": _or_nan(max_sic, res.scores, res.labels),
                            f"{name}/rejection": np.array([rejection_at(res.scores, res.labels, e) for e in EPS_S])}
            cuts = self._cuts(name, res, events, in_range, settings, sig, edges, sr, uncut, bh)
            summary |= _cut_summary(name, cuts)
            replicas[f"{name}/scores"] = res.replica_scores.astype(np.float32)
            replicas[f"{name}/fold"] = res.replica_folds
            summary[f"{name}/seconds"] = time.perf_counter() - start
        return Outputs(replicas=replicas, summary=summary)

    @staticmethod
    def _cuts(name, res, events, in_range, settings, sig, edges, sr, uncut, bh) -> list:
        from mlhep.tasks.bumphunt.methods.common import (Standardiser, classifier_scores, event_folds, features,
                                                         out_of_fold)
        sr_mask = signal_region_mask(events, sr)
        thresholds = [analysis.threshold_for(res.scores, e) for e in sig.efficiencies]
        if name == "anode":
            from mlhep.tasks.bumphunt.methods.anode import log_ratio
            from mlhep.tasks.bumphunt.methods.density import scott_bandwidth
            sb_flow, sb_result = res.stages["flow_sb"]
            sr_flow, sr_result = res.stages["flow_sr"]
            m_sr = events.mjj[sr_mask]
            x, mass = analysis.background_samples(sb_flow.flow, sb_result.params, sb_result.data_keys, m_sr,
                                                  settings.oversample * len(m_sr),
                                                  settings.kde_bandwidth or scott_bandwidth(m_sr), sr, bh["seed"])
            samples = Events(mjj=mass, mj1=x[:, 0], dmj=x[:, 1], tau21_1=x[:, 2], tau21_2=x[:, 3],
                             label=np.zeros(len(mass), np.int8))
            per_replica = log_ratio(sr_flow, sr_result, sb_flow, sb_result, samples)
            folds = event_folds(len(samples), settings.folds, settings.fold_seed + 1)
            sample_scores = out_of_fold(per_replica, res.replica_folds, folds)
            return [analysis.anode_cut(res.scores, events.weights[sr_mask], sample_scores, t, uncut.background,
                                       uncut.background_error, len(edges) - 1, sig.method) for t in thresholds]
        trainable, result = res.stages[name]       # the classifier stage (named after its method)
        scale = Standardiser.fit(features(events)[sr_mask])      # the methods standardise with the SR features
        inside = events.select(in_range)
        per_replica = classifier_scores(trainable, result, scale(features(inside)))
        folds = event_folds(len(events), settings.folds, settings.fold_seed)[in_range]
        scores = out_of_fold(per_replica, res.replica_folds, folds)
        return [analysis.hunt(inside.mjj[scores >= t], inside.weights[scores >= t], edges, sr, threshold=t, **bh)
                for t in thresholds]

    def report(self, results) -> str:
        from mlhep.tasks.bumphunt.report import report
        return report(results)

    def plot(self, results, outdir: Path) -> list[Path]:
        from mlhep.tasks.bumphunt.report import plot
        return plot(results, outdir)


def _or_nan(fn, *args) -> float:
    try:
        return fn(*args)
    except ValueError:          # e.g. fewer than 25 background events in the signal region
        return float("nan")


def _cut_summary(prefix: str, cuts: list) -> dict:
    """Arrays over the cuts (leading axis = efficiency) of every field of ``analysis.CutResult``."""
    names = ("threshold", "counts", "expected", "params", "chi2", "ndf", "observed", "background",
             "background_error", "z_local", "valid", "p_global", "z_global", "window")
    return {f"{prefix}/{n}": np.array([np.asarray(getattr(c, n), dtype=np.float64) for c in cuts]) for n in names}


def report_table(summary) -> str:
    from mlhep.tasks.bumphunt.report import table
    return table(summary)


TASK = BumpHuntTask()
