"""Train a replica ensemble as ONE jit-compiled program (``engine.program``), in chunks of epochs.

Python only runs between chunks: progress, the all-stopped check, checkpoints, and repacking the batch once half
of it has stopped (a stopped replica is frozen, but inside the batch it would still cost a full epoch).

Replica i draws its keys from ``fold_in(PRNGKey(seed), i)`` only, so its result does not depend on which other
replicas train beside it; ``batch: false`` runs the same program one replica at a time, for honest timing.
"""
from __future__ import annotations

import dataclasses
import sys
import time
import weakref
from contextlib import contextmanager
from typing import Any

import jax
import numpy as np

from mlhep.engine import sharding, stopping
from mlhep.engine.checkpoint import Checkpoint, flatten, unflatten
from mlhep.engine.config import EngineConfig
from mlhep.engine.interrupts import Interrupted, Signals, StopNow, deferred_signals
from mlhep.engine.program import EngineState, Program, replica_keys, shared_data, split_keys
from mlhep.errors import DataError, TrainingFailed
from mlhep.task import Trainable, TrainResult

__all__ = ["train", "replica_keys", "split_keys", "replica_data_keys", "Interrupted"]


def replica_data_keys(seed: int, replica_ids: np.ndarray, stage: str | None = None) -> jax.Array:
    """(R, 2) keys the engine hands to ``replica_data`` (also in ``TrainResult.data_keys``)."""
    return split_keys(replica_keys(seed, replica_ids, stage))[1]


_PROGRAMS: "weakref.WeakKeyDictionary[Any, dict[str, Program]]" = weakref.WeakKeyDictionary()


def _program(trainable: Trainable, cfg: EngineConfig) -> Program:
    """The compiled program of this trainable and engine settings, reused across calls (e.g. hyperopt groups,
    benchmarks) so that jit compiles once per replica-batch shape."""
    key = repr(dataclasses.replace(cfg, batch=True, block_size=None, shard=True, checkpoint_seconds=0.0))
    try:
        cache = _PROGRAMS.setdefault(trainable, {})
    except TypeError:  # unhashable or not weak-referenceable trainable: no reuse
        return Program(trainable, cfg)
    if key not in cache:
        cache[key] = Program(trainable, cfg)
    return cache[key]


def train(trainable: Trainable, replica_ids: np.ndarray, seed: int, cfg: EngineConfig, *,
          progress: bool = False, checkpoint: Checkpoint | None = None, stage: str | None = None,
          hyperparameters: dict[str, np.ndarray] | None = None,
          learning_rates: np.ndarray | None = None, inputs: Any = None) -> TrainResult:
    """Train the replicas ``replica_ids``: batched in one program (block after block of ``cfg.block_size``
    replicas if that is set), or one by one if ``cfg.batch`` is false.

    ``hyperparameters`` optionally gives each replica its own value (R,) of hyperparameters the update rule
    keeps in its state (``learning_rate``, ``weight_decay``: hyperparameter trials); ``learning_rates`` is
    short for ``{"learning_rate": ...}``. ``stage`` names a stage of a multi-stage fit (its keys differ).
    ``inputs`` (a pytree of (R, ...) arrays, rows in the order of ``replica_ids``) hands each replica its own
    row of an earlier stage's results: ``replica_data(key, shared, inputs)``.

    With a ``checkpoint``, the state is saved between chunks (at most every ``cfg.checkpoint_seconds``, and on
    SIGINT/SIGTERM, which then raise ``Interrupted``) and an existing checkpoint is resumed from.

    A replica whose loss becomes non-finite, or that stops without improving on its initial parameters, fails
    (``TrainResult.failed``; a line on stderr says why); ``TrainingFailed`` if every replica failed.
    """
    ids = np.asarray(replica_ids, dtype=np.int64)
    program = _program(trainable, cfg)
    hyper = dict(hyperparameters or {})
    if learning_rates is not None:
        hyper["learning_rate"] = learning_rates
    hyper = {name: np.asarray(values, dtype=float) for name, values in hyper.items()}
    blocks = [(ids, hyper, inputs)]   # one block: the batch is refilled as replicas stop (block_size wide)
    run = _Run(program, seed, cfg, checkpoint, _progress_bar(progress, cfg.epochs * len(ids)), stage)
    start_time = time.perf_counter()
    with deferred_signals() as run.signals:
        try:
            saved = checkpoint.load() if checkpoint is not None else None
            if saved is not None:
                run.restore_finished(blocks, *saved)
            for index in range(len(run.finished), len(blocks)):
                run.finished.append(run.train_block(blocks[index], saved))
                saved = None  # only the first block after a restart resumes mid-way
            run.stop_if_interrupted()
        except StopNow:
            raise Interrupted(f"interrupted twice: stopped at once; {run.checkpoint_note()}") from None
        finally:
            run.bar.close()   # now, not in tqdm's __del__ at exit, where a second Ctrl-C prints a traceback
    result = _collect(run.finished, time.perf_counter() - start_time)
    result.data_keys = np.asarray(replica_data_keys(seed, result.replica_ids, stage))
    result.stage = stage or ""
    _report_failures(result, checkpoint)
    return result


_BLOCK_FIELDS = ("ids", "best_epoch", "best_valid", "stopped", "history", "failure", "failed_epoch")


class _Run:
    """The blocks trained so far (all replicas in batch mode, one each otherwise) and checkpointing."""

    def __init__(self, program: Program, seed: int, cfg: EngineConfig, checkpoint: Checkpoint | None, bar,
                 stage: str | None):
        self.program, self.seed, self.cfg, self.checkpoint, self.bar = program, seed, cfg, checkpoint, bar
        self.stage = stage
        self.finished: list[dict] = []
        self.signals = Signals()
        self.n_devices = sharding.replica_devices(cfg.shard and cfg.batch)   # one by one: one replica, one device
        # the initialisation runs on one device; the chunks read the shared data replicated on every device
        self.shared_host = shared_data(program.trainable)
        self.shared = sharding.replicate(self.shared_host, self.n_devices)
        self.compile_start: float | None = None   # when the compilation being reported began

    def _start(self, block: tuple):
        """Initial state, data and epoch layout of a block of (replica ids, hyperparameters), padded for
        sharding."""
        ids, hyper, inputs = block
        extra = sharding.padded_count(len(ids), self.n_devices) - len(ids)
        padded = np.concatenate([ids, ids[-1] + 1 + np.arange(extra)])
        if inputs is not None:
            inputs = jax.tree_util.tree_map(lambda a: np.concatenate([a, np.repeat(a[-1:], extra, axis=0)]), inputs)
        state, data = self.program.init(replica_keys(self.seed, padded, self.stage), self.shared_host, inputs)
        counts = np.asarray(self.program.counts(data))[:len(ids)]
        self._refuse_empty_training(ids, counts[:, 0])
        if hyper:
            step = self.program.make_step()
            values = {k: np.concatenate([v, np.repeat(v[-1:], extra)]) for k, v in hyper.items()}
            stepped = step.set_hyperparameters(state.step, values)
            state = state._replace(step=stepped, hyper=dict(step.hyperparameters(stepped)))
        # The block's full state and data live on the host; only the batch of rows training now is placed on
        # the devices. Moving rows between batches on the host needs no cross-device gather (which can
        # deadlock XLA's CPU devices when every core already runs one of them).
        return _on_host(state), _on_host(data), self.program.layout(counts)

    def _refuse_empty_training(self, ids: np.ndarray, points: np.ndarray) -> None:
        """A replica without a training point would "train" on nothing; the task should have refused it."""
        empty = ids[(points == 0)]
        if len(empty):
            raise DataError(f"replica {_id_list(empty)} would train on no data point: the task's "
                            "training/validation split left its training set empty (raise the training "
                            "fraction, or keep more data points)")

    def restore_finished(self, blocks: list[np.ndarray], arrays: dict, meta: dict) -> None:
        like = self._start(blocks[0])[0]
        like_params, like_model_state = like.tracker.best_params
        with self._broken_checkpoint():
            for k, epochs in enumerate(meta["finished_epochs"]):
                block = {f: arrays[f"finished{k}/{f}"] for f in _BLOCK_FIELDS}
                block["params"] = unflatten(like_params, arrays, f"finished{k}/params", check_shapes=False)
                block["model_state"] = unflatten(like_model_state, arrays, f"finished{k}/model_state",
                                                 check_shapes=False)
                block["step_state"] = unflatten(like.step, arrays, f"finished{k}/step_state", check_shapes=False)
                block["epochs"] = epochs
                self.finished.append(block)

    def _resume_block(self, full: EngineState, saved: tuple):
        """(state, batch members, chunks run, histories) of a block interrupted mid-way, from its checkpoint."""
        arrays, meta = saved
        with self._broken_checkpoint():
            full = unflatten(full, arrays, "state")
            return (full, arrays["running/members"], meta["epoch"],
                    _histories_from(arrays["running/history"], arrays["running/history_length"]))

    @contextmanager
    def _broken_checkpoint(self):
        """A checkpoint that lacks an entry: say which file, and what to do."""
        try:
            yield
        except KeyError as missing:
            raise self.checkpoint.damaged(f"it has no entry {missing.args[0]}") from None

    def width(self, rows: int) -> int:
        """How many replicas train at once: ``engine.block_size`` (all by default; one with ``batch: false``),
        a multiple of the device count."""
        wanted = (self.cfg.block_size or rows) if self.cfg.batch else 1
        return min(rows, sharding.padded_count(wanted, self.n_devices))

    def train_block(self, block: tuple, saved: tuple | None) -> dict:
        """Train a block of replicas to the end; returns its finished record (best parameters, history...).

        ``full`` holds every replica of the block; the batch holds its rows ``members``, at most ``width`` of
        them. Between chunks a replica that has stopped leaves the batch and the next replica that has not
        started takes its row, so the batch stays full until the last replicas run; then, once at most half of
        the batch is still active, the batch is repacked smaller (one compilation per size): stopped replicas
        are frozen, but in the batch they would still cost a full epoch each. Each replica counts its own
        epochs, so its result does not depend on when it joined the batch.
        """
        cfg, program = self.cfg, self.program
        self.stop_if_interrupted()
        rows = sharding.padded_count(len(block[0]), self.n_devices)
        if ("init", rows) not in program.compiled:   # the initialisation compiles too, as long as a chunk may
            self._compiling(self.width(rows))
        full, data, layout = self._start(block)
        program.compiled.add(("init", rows))
        chunk = program.chunk(layout)
        n = len(block[0])   # rows from n on only pad the batch for the devices
        members, chunks, histories = np.arange(self.width(rows)), 0, [[] for _ in range(n)]
        if saved is not None and saved[1]["epoch"] > 0:
            full, members, chunks, histories = self._resume_block(full, saved)
        last_save, saved_chunks = time.monotonic(), chunks
        failed = set(np.flatnonzero(np.asarray(full.tracker.failure)[:n]))
        self.bar.update(int(np.sum(np.asarray(full.epoch)[:n])))
        state, batch_data = self._gather(full, data, members)
        while np.asarray(full.tracker.active)[:n].any():
            self._compile(chunk, state, batch_data)
            unsaved = (full, histories, members, chunks) if chunks > saved_chunks else None
            self.stop_if_interrupted(unsaved)
            running = np.asarray(state.tracker.active)
            before = np.asarray(state.epoch)
            state = chunk(state, self.shared, batch_data)
            chunks += 1
            full = _scatter(full, state, members)
            _record(histories, members, running, full, n)
            failed |= self._report_new_failures(block[0], full.tracker, failed)
            self.bar.update(int(np.sum((np.asarray(state.epoch) - before)[members < n])))
            active = np.flatnonzero(np.asarray(full.tracker.active)[:n])
            self.bar.set_postfix(active=len(active),
                                 best_valid=f"{float(np.median(np.asarray(full.tracker.best_valid)[:n])):.4g}")
            chosen = _next_members(members, active, self.width(rows), rows, self.n_devices)
            if not np.array_equal(chosen, members):
                members = chosen
                state, batch_data = self._gather(full, data, members)
            due = time.monotonic() - last_save >= cfg.checkpoint_seconds
            more = len(active) > 0
            if self.checkpoint is not None and (self.signals or due) and more:
                self._save_running(full, histories, members, chunks)
                last_save, saved_chunks = time.monotonic(), chunks
            if more:   # else the block is complete: it is saved below as finished
                self.stop_if_interrupted((full, histories, members, chunks) if chunks > saved_chunks else None)
        if np.asarray(stopping.ran_out(full.tracker))[:n].any():
            # validate the parameters after the last epoch (one pass on one device, from the host copies)
            full = _on_host(program.finish(layout)(full, self.shared_host, data))
        self._compiled()
        tracker = jax.tree_util.tree_map(lambda a: np.asarray(a)[:n], full.tracker)
        params, model_state = tracker.best_params
        step_state = jax.tree_util.tree_map(lambda a: np.asarray(a)[:n], full.step)
        result = dict(ids=block[0], params=params, model_state=model_state, step_state=step_state,
                      best_epoch=tracker.best_epoch, best_valid=tracker.best_valid, stopped=tracker.stopped,
                      epochs=int(np.max(np.asarray(full.epoch)[:n])), failure=tracker.failure,
                      failed_epoch=tracker.failed_epoch, history=_history_array(histories))
        if self.checkpoint is not None:
            self.finished.append(result)
            self._save({}, 0)
            self.finished.pop()
        return result

    def stop_if_interrupted(self, unsaved: tuple | None = None) -> None:
        """After SIGINT/SIGTERM: save the progress not yet in the checkpoint (``unsaved`` = (state, histories,
        batch members, chunks run) of the running block), then raise ``Interrupted``."""
        if not self.signals:
            return
        if unsaved is not None and self.checkpoint is not None:
            self._save_running(*unsaved)
        self.signals.stopping = True
        where = f" at epoch {int(np.max(np.asarray(unsaved[0].epoch)))}" if unsaved is not None else ""
        raise Interrupted(f"interrupted{where}; {self.checkpoint_note()}")

    def checkpoint_note(self) -> str:
        if self.checkpoint is None:
            return "no checkpoint (no output file)"
        if not self.checkpoint.path.exists():
            return "no checkpoint written (training had not begun)"
        return f"checkpoint: {self.checkpoint.path}"

    def _compile(self, chunk, state: EngineState, data: Any) -> None:
        """Compile the chunk for this batch shape ahead of the call, saying so: the first chunk of a run can
        take long to compile, and a silent pause looks like a hang. The call then reuses the executable."""
        if self.bar.disable:
            return
        args = (state, self.shared, data)
        signature = tuple((jax.typeof(leaf), getattr(leaf, "sharding", None))
                          for leaf in jax.tree_util.tree_leaves(args))
        if signature not in self.program.compiled:
            self._compiling(len(state.train_loss))
            chunk.lower(*args).compile()
            self.program.compiled.add(signature)
        self._compiled()

    def _compiling(self, rows: int) -> None:
        """Say that a compilation starts (once until ``_compiled``), unless quiet."""
        if self.bar.disable or self.compile_start is not None:
            return
        self._say(f"compiling the batched program for {rows} replicas..." if rows > 1 else
                  "compiling the program for 1 replica...")
        self.compile_start = time.perf_counter()

    def _compiled(self) -> None:
        if self.compile_start is not None:
            self._say(f"compiled in {time.perf_counter() - self.compile_start:.1f} s")
            self.compile_start = None

    def _say(self, message: str) -> None:
        from tqdm import tqdm
        tqdm.write(message, file=sys.stdout)
        sys.stdout.flush()

    @staticmethod
    def _report_new_failures(ids: np.ndarray, tracker: stopping.Tracker, known: set) -> set:
        """Print one line per replica that failed since the last chunk; returns the rows that failed."""
        failure, at = np.asarray(tracker.failure)[:len(ids)], np.asarray(tracker.failed_epoch)[:len(ids)]
        new = {int(row) for row in np.flatnonzero(failure)} - known
        for row in sorted(new):
            _warn(f"replica {ids[row]} failed at epoch {at[row]}: {stopping.FAILURE_REASONS[failure[row]]}")
        return new

    def _gather(self, full: EngineState, data: Any, members: np.ndarray) -> tuple[EngineState, Any]:
        """The batch of rows ``members`` of the block's state and data (on the host), placed on the devices."""
        if len(members) < len(full.train_loss):
            full, data = jax.tree_util.tree_map(lambda a: a[members], (full, data))
        return sharding.shard((full, data), self.n_devices)

    def _save_running(self, full: EngineState, histories: list, members: np.ndarray, chunks: int) -> None:
        history, length = _padded(histories)
        self._save(flatten(full, "state") | {"running/history": history, "running/history_length": length,
                                             "running/members": members}, chunks)

    def _save(self, running: dict, epoch: int) -> None:
        arrays = dict(running)
        for k, block in enumerate(self.finished):
            arrays |= {f"finished{k}/{f}": np.asarray(block[f]) for f in _BLOCK_FIELDS}
            arrays |= flatten(block["params"], f"finished{k}/params")
            arrays |= flatten(block["model_state"], f"finished{k}/model_state")
            arrays |= flatten(block["step_state"], f"finished{k}/step_state")
        self.checkpoint.save(arrays, {"epoch": epoch, "finished_epochs": [b["epochs"] for b in self.finished]})


# A batch of at most this many rows per device is not repacked: its idle rows cost less than compiling the
# smaller program (several seconds), e.g. the last 8 replicas of a pdf-fit run ~10 ms per chunk of 100 epochs.
SMALLEST_REPACK = 8


def _next_members(members: np.ndarray, active: np.ndarray, width: int, rows: int, n_devices: int) -> np.ndarray:
    """The batch rows for the next chunk: the first active rows (the replicas already training come first,
    since replicas start in row order), as many as the batch holds, padded with frozen rows to keep its shape.
    The batch keeps its size while it can be filled, and is repacked smaller (a new compilation) once at most
    half of it would be active, unless it is already small (``SMALLEST_REPACK``)."""
    size = len(members)
    wanted = sharding.padded_count(min(len(active), width), n_devices)
    if 0 < wanted <= size // 2 and size > SMALLEST_REPACK * n_devices:
        size = wanted
    elif np.isin(active[:size], members).all():
        return members                  # nobody waits for a row: keep the batch as it is (no copy)
    chosen = active[:size]
    spare = np.concatenate([np.setdiff1d(members, chosen), np.setdiff1d(np.arange(rows), np.union1d(members, chosen))])
    return np.sort(np.concatenate([chosen, spare[:size - len(chosen)]]))


def _record(histories: list, members: np.ndarray, running: np.ndarray, full: EngineState, n: int) -> None:
    """Append (training, validation loss) to the history of each replica that trained in this chunk."""
    train, valid = np.asarray(full.train_loss), np.asarray(full.valid_loss)
    for row, ran in zip(members, running):
        if ran and row < n:
            histories[row].append((train[row], valid[row]))


def _history_array(histories: list) -> np.ndarray:
    """(2, R, chunks) losses at the end of each replica's own chunks; a replica that stopped earlier keeps its
    last values."""
    length = max((len(h) for h in histories), default=0)
    out = np.zeros((2, len(histories), length))
    for row, h in enumerate(histories):
        if h:
            values = np.asarray(h).T
            out[:, row, :len(h)] = values
            out[:, row, len(h):] = values[:, -1:]
    return out


def _padded(histories: list) -> tuple[np.ndarray, np.ndarray]:
    """Ragged histories as a (R, L, 2) array (NaN-padded) and their lengths, for the checkpoint."""
    length = np.array([len(h) for h in histories])
    out = np.full((len(histories), max(length.max(initial=0), 1), 2), np.nan)
    for row, h in enumerate(histories):
        if h:
            out[row, :len(h)] = h
    return out, length


def _histories_from(array: np.ndarray, length: np.ndarray) -> list:
    return [[tuple(pair) for pair in array[row, :count]] for row, count in enumerate(length)]


def _on_host(tree: Any) -> Any:
    """Writable host copies of every leaf."""
    return jax.tree_util.tree_map(np.array, tree)


def _scatter(full: EngineState, batch: EngineState, members: np.ndarray) -> EngineState:
    """``full`` (host) with rows ``members`` replaced by the batch (devices): exact copies."""
    if len(members) == len(full.train_loss):
        return _on_host(batch)

    def put(f, b):
        f[members] = np.asarray(b)
        return f
    return jax.tree_util.tree_map(put, full, batch)


def _collect(finished: list[dict], wall: float) -> TrainResult:
    """Concatenate blocks; histories of blocks that stopped early are padded with their last values.

    A failed replica keeps the best parameters it had before failing; one that never had any gets NaN
    parameters, so that nothing downstream mistakes its initial parameters for a fit."""
    chunks = max(f["history"].shape[-1] for f in finished)
    pad = lambda h: np.pad(h, [(0, 0), (0, 0), (0, chunks - h.shape[-1])], mode="edge") if h.shape[-1] else h  # noqa
    history = np.concatenate([pad(f["history"]) for f in finished], axis=1)
    cat = lambda key: np.concatenate([np.asarray(f[key]) for f in finished])  # noqa: E731
    stack = lambda key: jax.tree_util.tree_map(lambda *leaves: np.concatenate(leaves),  # noqa: E731
                                               *[f[key] for f in finished])
    params = stack("params")
    failure, best_epoch = cat("failure"), cat("best_epoch")
    params = _blank(params, (failure != stopping.NOT_FAILED) & (best_epoch < 0))
    return TrainResult(
        replica_ids=cat("ids"), params=params, best_epoch=best_epoch, best_valid=cat("best_valid"),
        stopped=cat("stopped"), history_train=history[0], history_valid=history[1],
        epochs_run=max(f["epochs"] for f in finished), wall_seconds=wall,
        failed=failure != stopping.NOT_FAILED, failed_epoch=cat("failed_epoch"),
        failure=np.array([stopping.FAILURE_REASONS[code] for code in failure], dtype=str),
        model_state=stack("model_state"), step_state=stack("step_state"))


def _blank(params: Any, rows: np.ndarray) -> Any:
    """``params`` with the replicas ``rows`` (bool (R,)) set to NaN (floating leaves only)."""
    if not rows.any():
        return params

    def blank(leaf):
        leaf = np.asarray(leaf)
        if not np.issubdtype(leaf.dtype, np.floating):
            return leaf
        return np.where(rows.reshape((-1,) + (1,) * (leaf.ndim - 1)), np.nan, leaf)
    return jax.tree_util.tree_map(blank, params)


def _report_failures(result: TrainResult, checkpoint: Checkpoint | None) -> None:
    """A summary line if some replicas failed; ``TrainingFailed`` (and no checkpoint left) if all did."""
    failed_ids = result.replica_ids[result.failed]
    if not len(failed_ids):
        return
    if len(failed_ids) < len(result.replica_ids):
        _warn(f"{len(failed_ids)} of {len(result.replica_ids)} replicas failed ({_id_list(failed_ids)}); they "
              "are marked in train/failed and keep their last finite best parameters (NaN if none)")
        return
    if checkpoint is not None:
        checkpoint.remove()   # a finished (if failed) run: nothing to resume
    reasons = {}
    for replica, why in zip(result.replica_ids, result.failure):
        reasons.setdefault(why, []).append(replica)
    listing = "; ".join(f"{why}: {_id_list(np.array(ids))}" for why, ids in reasons.items())
    error = TrainingFailed(f"every replica failed ({listing}); no results written: lower "
                           "engine.optimizer.learning_rate (or set engine.optimizer.clipnorm), and check the data "
                           "for NaN or infinite values")
    error.result = result
    raise error


def _id_list(ids: np.ndarray) -> str:
    """'replica 3' or 'replicas 0, 1, 2' (at most 10 ids listed)."""
    shown = ", ".join(map(str, ids[:10])) + (f", ... ({len(ids)} in all)" if len(ids) > 10 else "")
    return f"replica{'s' if len(ids) > 1 else ''} {shown}"


def _warn(message: str) -> None:
    """A line on stderr even with --quiet (failures are results, not progress), above any progress bar."""
    from tqdm import tqdm
    tqdm.write(f"mlhep: {message}", file=sys.stderr)
    sys.stderr.flush()


def _progress_bar(enabled: bool, total: int):
    from tqdm import tqdm
    # In a batch job's log (no terminal) a line every 30 s instead of a redrawn bar.
    interval = 0.1 if sys.stderr.isatty() else 30.0
    return tqdm(total=total, disable=not enabled, unit="replica-epoch", dynamic_ncols=True, mininterval=interval,
                leave=False)
