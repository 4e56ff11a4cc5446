"""jet-tag: boosted top vs QCD jet tagging with a replica ensemble of one of the field's architectures (issue 10).

    setup      the jets (files of either layout, or a generated sample cached once), reduced to the inputs the
               chosen model reads, split into training / validation / test (stratified, fixed by split_seed)
    trainable  ``training.TaggerTrainable``: one replica; the engine trains all of them as one vmapped program
    evaluate   every replica's test scores (``mlhep.engine.predict``: replicas vmapped, test jets in chunks) ->
               AUC, accuracy, 1/eps_B at eps_S = 0.3 and 0.5, ROC on a fixed eps_S grid, background mass
               sculpting at eps_S = 0.5, per replica and for the ensemble mean score (with its per-jet spread)

Runcard: ``runcards/jet-tag-top.yaml``; sections in ``config.py``; ``mlhep tasks -v`` lists every key.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import jax
import numpy as np

from mlhep.task import Outputs, RunContext, Task, TrainResult
from mlhep.tasks.jets import metrics
from mlhep.tasks.jets.config import JetTagConfig
from mlhep.tasks.jets.dataset import Jets, read_jets, split
from mlhep.tasks.jets.inputs import input_shapes
from mlhep.tasks.jets.models import Network, build, options
from mlhep.tasks.jets.models.adversary import MassAdversary
from mlhep.tasks.jets.report import plot_jets, report_jets
from mlhep.tasks.jets.training import Scorer, TaggerTrainable


@dataclass(frozen=True)
class Problem:
    net: Network
    fit_jets: Jets        # training rows (QCD first, then top), then validation rows
    test: Jets
    n_train: int
    n_train_qcd: int
    mass_edges: np.ndarray | None    # adversary mass bins (GeV)
    files: tuple[Path, ...]


def _type_problem(default, value) -> str:
    """Why ``value`` cannot stand in for an option whose default is ``default`` ("" if it can)."""
    if isinstance(default, bool):
        return "" if isinstance(value, bool) else "must be true or false"
    if isinstance(default, int):
        return "" if isinstance(value, int) and not isinstance(value, bool) else "must be an integer"
    if isinstance(default, float):
        return "" if isinstance(value, (int, float)) and not isinstance(value, bool) else "must be a number"
    if isinstance(default, str):
        return "" if isinstance(value, str) else "must be a string"
    if isinstance(default, (tuple, list)):
        return "" if isinstance(value, (tuple, list)) else "must be a list"
    return ""


def _frozen(value):
    """YAML lists as tuples, recursively (flax module fields are hashed)."""
    return tuple(_frozen(v) for v in value) if isinstance(value, (list, tuple)) else value


def check_model(config: JetTagConfig, ctx: RunContext) -> Network:
    """The network of ``model:``, its options checked by name and type and by building it on inputs of the
    runcard's shapes; errors name the option and the valid ones."""
    arch, given = config.model.architecture, config.model.options
    valid = options(arch)
    for name, value in given.items():
        if name not in valid:
            raise ctx.fail(f"model.options.{name}", f"unknown option of {arch} (valid: {', '.join(valid)})")
        why = _type_problem(valid[name], value)
        if why:
            raise ctx.fail(f"model.options.{name}", f"{why} (the default is {_show(valid[name])})")
    net = build(arch, **{k: _frozen(v) for k, v in given.items()})
    d = config.data
    example = {k: jax.ShapeDtypeStruct((2, *shape), dtype)
               for k, (shape, dtype) in input_shapes(net.module.inputs, d.constituents, d.image_pixels).items()}
    try:
        jax.eval_shape(net.init, jax.random.PRNGKey(0), example)
    except Exception as err:   # noqa: BLE001 - whatever the module raises on these options, say so at the key
        raise ctx.fail("model.options", f"{arch} cannot be built with these options "
                                        f"({type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''})")
    return net


def _show(value) -> str:
    return str(list(value)) if isinstance(value, tuple) else repr(value)


def check_files(config: JetTagConfig, ctx: RunContext) -> tuple[Path, ...]:
    """The runcard's data files, resolved, each existing and of a jet layout (DataError naming the file)."""
    from mlhep.tasks.jets.load import file_layout

    paths = []
    for i, name in enumerate(config.data.files):
        path = ctx.resolve(name)
        if not path.is_file():
            raise ctx.fail(f"data.files[{i}]", f"no such file: {path}" if not path.exists() else
                           f"{path} is not a regular file")
        file_layout(path)
        paths.append(path)
    return tuple(paths)


class JetTagTask(Task):
    name = "jet-tag"
    description = "boosted top vs QCD jet tagging: dense, CNN, EFN/PFN, ParticleNet, ParT, LoLa, RNN ensembles"
    Config = JetTagConfig
    precision = "float32"

    def validate(self, config: JetTagConfig, ctx: RunContext) -> None:
        """``mlhep check``: the model options and the files (a sample to generate is not generated)."""
        check_model(config, ctx)
        if config.data.files is not None:
            check_files(config, ctx)
        else:
            from mlhep.tasks.jets.cache import cached_path, plan_for
            g = config.data.generate
            path = cached_path(plan_for(g.jets_per_class, g.seed, g.detector, g.pthat_min))
            ctx.log(f"jet-tag: data.generate: {'cached at' if path.is_file() else 'fit will generate into'} {path}")

    def _files(self, config: JetTagConfig, ctx: RunContext) -> tuple[Path, ...]:
        if config.data.files is not None:
            return check_files(config, ctx)
        from mlhep.tasks.jets.cache import ensure_sample, plan_for
        g = config.data.generate
        plan = plan_for(g.jets_per_class, g.seed, g.detector, g.pthat_min)
        return (ensure_sample(plan, g.workers, ctx.log, progress=not ctx.quiet),)

    def setup(self, config: JetTagConfig, ctx: RunContext) -> Problem:
        net = check_model(config, ctx)
        files = self._files(config, ctx)
        d = config.data
        start = time.perf_counter()
        jets = read_jets(list(files), net.module.inputs, d.constituents, d.image_pixels, d.image_half_width,
                         d.max_jets_per_file)
        n_qcd, n_top = jets.counts()
        ctx.log(f"jet-tag: {len(jets)} jets ({n_top} top, {n_qcd} QCD) from {len(files)} file(s); inputs "
                f"{', '.join(net.module.inputs)} in {time.perf_counter() - start:.1f} s")
        try:
            parts = split(jets.label, d.validation_fraction, d.test_fraction, d.split_seed)
        except ValueError as err:
            raise ctx.fail("data", str(err)) from None
        fit_jets = jets.take(np.concatenate([parts.train, parts.valid]))
        edges = None
        if config.decorrelation.method == "adversary":   # equally populated by the training QCD jets
            qcd_mass = jets.mass[parts.train[:parts.n_train_qcd]]
            edges = np.quantile(qcd_mass, np.linspace(0, 1, config.decorrelation.adversary_bins + 1))
        return Problem(net, fit_jets, jets.take(parts.test), parts.train.size, parts.n_train_qcd, edges, files)

    def trainable(self, problem: Problem, config: JetTagConfig) -> TaggerTrainable:
        dec = config.decorrelation
        adversary = (MassAdversary(dec.adversary_bins, tuple(dec.adversary_hidden))
                     if dec.method == "adversary" else None)
        return TaggerTrainable(problem.net, problem.fit_jets, problem.n_train, problem.n_train_qcd,
                               config.ensemble.bootstrap, dec.method, dec.strength, adversary, problem.mass_edges)

    def evaluate(self, problem: Problem, config: JetTagConfig, result: TrainResult) -> Outputs:
        from mlhep.engine.predict import predict

        test, ev = problem.test, config.evaluation
        start = time.perf_counter()
        state = result.model_state if result.model_state is not None else {}
        scores = predict(Scorer(problem.net), (result.params, state), test.inputs, ev.chunk).astype(np.float32)
        edges = np.linspace(*ev.mass_range, ev.mass_bins + 1)
        label = test.label.astype(np.int8)
        failed = np.asarray(result.failed, dtype=bool) | ~np.all(np.isfinite(scores), axis=1)
        per = [None if bad else metrics.summary(s, label, test.mass, edges) for s, bad in zip(scores, failed)]
        some = next((p for p in per if p is not None), None)

        def stacked(key):
            fill = np.full(np.shape(some[key]) if some else (), np.nan)
            return np.stack([fill if p is None else np.asarray(p[key], dtype=np.float64) for p in per])
        keys = ("auc", "accuracy", "rejection_30", "rejection_50", "roc_eps_b", "mass_after", "jsd_50")
        replicas = {"test_score": scores, **{k: stacked(k) for k in keys}}
        qcd = label == 0
        summary = {"test_label": label, "test_mass": test.mass, "roc_eps_s": metrics.EPS_S_GRID,
                   "mass_edges": edges, "mass_before_cut": metrics.mass_histogram(test.mass[qcd], edges),
                   "architecture": config.model.architecture, "constituents": config.data.constituents,
                   "n_parameters": sum(int(np.prod(a.shape[1:])) for a in jax.tree_util.tree_leaves(
                       result.params["tagger"])),
                   "n_train": problem.n_train, "n_valid": len(problem.fit_jets) - problem.n_train,
                   "decorrelation": (config.decorrelation.method if config.decorrelation.method == "none" else
                                     f"{config.decorrelation.method}, lambda {config.decorrelation.strength:g}"),
                   "bootstrap": config.ensemble.bootstrap}
        if (~failed).any():   # the ensemble of this run's replicas (``mlhep report`` recomputes it after a merge)
            summary |= {f"ensemble/{k}": v for k, v in metrics.ensemble(scores[~failed], label, test.mass,
                                                                          edges).items()}
        summary["evaluation_seconds"] = time.perf_counter() - start
        return Outputs(replicas=replicas, summary=summary)

    def run(self, config: JetTagConfig, ctx: RunContext) -> Outputs:
        problem = self.setup(config, ctx)
        result = ctx.train(self.trainable(problem, config))
        outputs = self.evaluate(problem, config, result)
        outputs.train = result
        auc, s = outputs.replicas["auc"], outputs.summary
        ctx.log(f"jet-tag: test AUC {np.nanmean(auc):.4f} (replicas {np.nanmin(auc):.4f} .. {np.nanmax(auc):.4f}), "
                f"ensemble mean score {s.get('ensemble/auc', float('nan')):.4f}; {len(s['test_label'])} test jets "
                f"evaluated in {s['evaluation_seconds']:.1f} s")
        return outputs

    def report(self, results) -> str:
        return report_jets(results)

    def plot(self, results, outdir: Path) -> list[Path]:
        return plot_jets(results, outdir)


TASK = JetTagTask()
