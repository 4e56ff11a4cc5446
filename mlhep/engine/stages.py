"""The training stages of one fit: what ``ctx.train`` is bound to.

A task trains in one stage (``ctx.train(trainable)``) or in several named ones (``ctx.train(flow,
stage="flow")``, then ``ctx.train(classifier, stage="classifier")``). Each stage trains once, with its own
engine settings (``engine.stages.<name>`` over the ``engine:`` defaults), its own checkpoint file
(``OUTPUT.<name>.ckpt.npz``; ``OUTPUT.ckpt.npz`` for a single stage) and its own results group. A finished
stage's checkpoint holds its finished blocks until the results file is written, so ``--resume`` after a kill in
stage 2 returns stage 1's result without training it again, and resumes stage 2 where it was.
"""
from __future__ import annotations

import hashlib
import re
from pathlib import Path

import numpy as np

from mlhep.engine.checkpoint import Checkpoint
from mlhep.engine.replicas import train
from mlhep.errors import ResultsError
from mlhep.task import Trainable, TrainResult

STAGE_NAME = re.compile(r"[a-z][a-z0-9_-]{0,39}")


class Stages:
    def __init__(self, runcard, replica_ids: np.ndarray, output: Path, quiet: bool):
        self.runcard, self.ids, self.output, self.quiet = runcard, replica_ids, Path(output), quiet
        self.results: dict[str, TrainResult] = {}

    def checkpoint(self, stage: str) -> Checkpoint:
        """The checkpoint of ``stage`` ("" for a single-stage fit), fingerprinted with the runcard, the replica
        ids, the engine mode and the stage: another stage's or another run's file is refused, never reused."""
        name = f"{self.output.name}.{stage}.ckpt.npz" if stage else f"{self.output.name}.ckpt.npz"
        text = f"{self.runcard.sha256}|{self.ids.tolist()}|{self.runcard.engine.batch}"
        fingerprint = hashlib.sha256((text + (f"|stage={stage}" if stage else "")).encode()).hexdigest()
        return Checkpoint(self.output.with_name(name), fingerprint)

    def existing(self) -> list[Path]:
        """Every checkpoint file of this output (all stages)."""
        folder = self.output.parent if str(self.output.parent) else Path(".")
        pattern = re.compile(rf"{re.escape(self.output.name)}(\.{STAGE_NAME.pattern})?\.ckpt\.npz")
        return sorted(p for p in folder.glob(f"{self.output.name}*.ckpt.npz") if pattern.fullmatch(p.name))

    def check_checkpoints(self, resume: bool) -> None:
        """Without --resume an existing checkpoint is refused (it would be lost); with it, each is read now, so a
        damaged or foreign one is reported before the data are loaded."""
        found = self.existing()
        if not found:
            if resume:
                self._say(f"no checkpoint of {self.output}: starting from the beginning")
            return
        if not resume:
            raise ResultsError(f"{found[0]} holds an interrupted run of this output: continue it with --resume, "
                               "or delete it to start afresh")
        for path in found:
            stage = path.name[len(self.output.name):-len(".ckpt.npz")].lstrip(".")
            self.checkpoint(stage).load()   # damaged, foreign or of another runcard: an error naming the file

    def train(self, trainable: Trainable, stage: str | None = None, engine=None, inputs=None) -> TrainResult:
        """Train one stage (``ctx.train``): all replicas of this run as one program. ``engine`` replaces the
        runcard's settings for a stage whose update rule has its own (e.g. Newton: epochs = iterations);
        ``inputs`` (arrays (R, ...) in the order of ``ctx.replica_ids``, e.g. samples of each replica's
        earlier-stage model) reach each replica as ``replica_data(key, shared, inputs)``."""
        name = stage or ""
        if name and not STAGE_NAME.fullmatch(name):
            raise ValueError(f"stage name {stage!r}: use lower-case letters, digits, '_' and '-'")
        if name in self.results or (name == "" and self.results) or ("" in self.results):
            # a programming error of the task: a second call would silently share the first's checkpoint
            raise RuntimeError(f"ctx.train called twice for stage {stage!r}: give every stage its own name")
        cfg = engine or self.runcard.engine.for_stage(name)
        result = train(trainable, self.ids, self.runcard.seed, cfg, progress=not self.quiet,
                       checkpoint=self.checkpoint(name), stage=stage, inputs=inputs)
        self.results[name] = result
        return result

    def remove_checkpoints(self) -> None:
        for path in self.existing():
            path.unlink(missing_ok=True)

    def _say(self, message: str) -> None:
        if not self.quiet:
            print(message, flush=True)
