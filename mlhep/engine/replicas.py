"""Train a replica ensemble as ONE jit-compiled program.

Parameters, optimizer states and stopping trackers of all replicas are stacked on a leading replica axis;
one epoch of every replica is ``vmap(epoch)``; ``chunk`` epochs run inside one ``lax.scan`` per jitted call.
Python only runs between chunks: progress, the all-stopped check, checkpoints, and repacking the batch once half
of it has stopped (a stopped replica is frozen, but inside the batch it would still cost a full epoch).

Replica i draws its keys from ``fold_in(PRNGKey(seed), i)`` only, so its result does not depend on which other
replicas train beside it; ``batch: false`` runs the same program one replica at a time, for honest timing.
"""
from __future__ import annotations

import dataclasses
import gc
import os
import signal
import sys
import threading
import time
import weakref
from contextlib import contextmanager
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from mlhep.engine import sharding, stopping
from mlhep.engine.checkpoint import Checkpoint, flatten, unflatten
from mlhep.engine.config import EngineConfig
from mlhep.engine.optim import build_optimizer
from mlhep.errors import DataError, TrainingFailed
from mlhep.task import Trainable, TrainResult


class EngineState(NamedTuple):
    """Everything that evolves during training, per replica (leading axis = replica once stacked)."""

    params: Any
    opt_state: Any
    tracker: stopping.Tracker
    train_loss: jax.Array
    valid_loss: jax.Array


def replica_keys(seed: int, replica_ids: np.ndarray) -> jax.Array:
    """(R, 2) keys: replica i's key depends on the seed and i only."""
    base = jax.random.PRNGKey(seed)
    return jax.vmap(lambda i: jax.random.fold_in(base, i))(jnp.asarray(replica_ids, dtype=jnp.uint32))


def split_keys(keys: jax.Array) -> tuple[jax.Array, jax.Array]:
    """(init keys, data keys) of replica keys: what ``Trainable.init`` and ``Trainable.replica_data`` get."""
    pairs = jax.vmap(jax.random.split)(keys)
    return pairs[:, 0], pairs[:, 1]


def replica_data_keys(seed: int, replica_ids: np.ndarray) -> jax.Array:
    """(R, 2) keys the engine hands to ``replica_data``: tasks recreate a replica's pseudo-data with them."""
    return split_keys(replica_keys(seed, replica_ids))[1]


def _tree_where(condition: jax.Array, new: Any, old: Any) -> Any:
    return jax.tree_util.tree_map(lambda a, b: jnp.where(condition, a, b), new, old)


class _Program:
    """The jitted pieces for one trainable: stacked initialisation and a chunk of epochs."""

    def __init__(self, trainable: Trainable, cfg: EngineConfig):
        optimizer = build_optimizer(cfg.optimizer, cfg.epochs)
        stop = dict(patience=cfg.stopping.patience, min_delta=cfg.stopping.min_delta,
                    min_epochs=cfg.stopping.min_epochs, max_epochs=cfg.epochs)

        def init(key):
            init_key, data_key = jax.random.split(key)  # the same split as split_keys
            params = trainable.init(init_key)
            data = trainable.replica_data(data_key)
            loss = jnp.asarray(trainable.train_loss(params, data, jnp.asarray(0)), dtype=jnp.float64)
            valid, _ = trainable.validation(params, data)
            state = EngineState(params, optimizer.init(params), stopping.start(params), loss,
                                jnp.asarray(valid, dtype=jnp.float64))
            return state, data

        def epoch(state: EngineState, data: Any, lr_scale: jax.Array, n: jax.Array) -> EngineState:
            # Validation is taken on the parameters this epoch starts from (n updates so far), inside the
            # same differentiated function as the training loss: XLA then evaluates the model once for both.
            def objective(params):
                return trainable.train_loss(params, data, n), trainable.validation(params, data)

            (loss, (valid, ok)), grads = jax.value_and_grad(objective, has_aux=True)(state.params)
            running = state.tracker.active
            tracker = stopping.update(state.tracker, state.params, loss, valid, ok, n, **stop)
            updates, opt_state = optimizer.update(grads, state.opt_state, state.params)
            # Every optax update rule is linear in its learning rate: scaling the update by lr_i / lr is
            # training with lr_i. This lets hyperparameter trials with different rates share one program.
            updates = jax.tree_util.tree_map(lambda u: u * lr_scale, updates)
            params = _tree_where(tracker.active, optax.apply_updates(state.params, updates), state.params)
            opt_state = _tree_where(tracker.active, opt_state, state.opt_state)
            return EngineState(params, opt_state, tracker, jnp.where(running, loss, state.train_loss),
                               jnp.where(running, jnp.asarray(valid, dtype=jnp.float64), state.valid_loss))

        every_replica = jax.vmap(epoch, in_axes=(0, 0, 0, None))

        def chunk(state: EngineState, data: Any, lr_scale: jax.Array, first: jax.Array) -> EngineState:
            body = lambda s, n: (every_replica(s, data, lr_scale, n), None)  # noqa: E731
            return jax.lax.scan(body, state, first + jnp.arange(cfg.chunk))[0]

        self.init = jax.jit(jax.vmap(init))
        self.chunk = self.jitted_chunk = jax.jit(chunk, donate_argnums=0)
        self.compiled: set = set()     # argument signatures of chunk already compiled
        counter = getattr(trainable, "training_points", None)
        self.training_points = jax.jit(jax.vmap(counter)) if counter is not None else None


_PROGRAMS: "weakref.WeakKeyDictionary[Any, dict[str, _Program]]" = weakref.WeakKeyDictionary()


def _program(trainable: Trainable, cfg: EngineConfig) -> _Program:
    """The compiled program of this trainable and engine settings, reused across calls (e.g. hyperopt groups,
    benchmarks) so that jit compiles once per replica-batch shape."""
    key = repr(dataclasses.replace(cfg, batch=True, block_size=None, shard=True, checkpoint_seconds=0.0))
    try:
        cache = _PROGRAMS.setdefault(trainable, {})
    except TypeError:  # unhashable or not weak-referenceable trainable: no reuse
        return _Program(trainable, cfg)
    if key not in cache:
        cache[key] = _Program(trainable, cfg)
    return cache[key]


class Interrupted(Exception):
    """Training stopped by SIGINT/SIGTERM (after a checkpoint was written, if training had begun)."""


class _StopNow(KeyboardInterrupt):
    """A second SIGINT/SIGTERM during training: stop at once, without waiting for the chunk or a checkpoint."""


def _in_gc_callback(frame) -> bool:
    """Whether ``frame`` runs inside a garbage-collector callback: Python prints an exception raised there as
    "Exception ignored" and drops it. JAX registers such a callback, so a Ctrl-C that arrived while it ran
    used to vanish and the fit ran to its end."""
    codes = {getattr(callback, "__code__", None) for callback in gc.callbacks}
    while frame is not None:
        if frame.f_code in codes:
            return True
        frame = frame.f_back
    return False


def _deliver_again(signum: int) -> None:
    """Send ``signum`` to this process again in a moment, once the gc callback it landed in has returned."""
    threading.Timer(0.01, os.kill, (os.getpid(), signum)).start()


def _keyboard_interrupt(signum, frame):
    """Python's default SIGINT behaviour (raise KeyboardInterrupt), except that an interrupt landing in a gc
    callback, where it would be swallowed, is delivered again instead."""
    if _in_gc_callback(frame):
        _deliver_again(signum)
        return
    raise KeyboardInterrupt


# Installed for the whole process (main thread, default handler only): the command's setup before training
# must not lose a Ctrl-C either. Behaves exactly like the default handler otherwise.
if threading.current_thread() is threading.main_thread() and \
        signal.getsignal(signal.SIGINT) is signal.default_int_handler:
    signal.signal(signal.SIGINT, _keyboard_interrupt)


class _Signals:
    """SIGINT/SIGTERM received during training; true once one came. ``stopping``: the run is already ending
    (``Interrupted`` raised), so further signals are ignored."""

    def __init__(self):
        self.received: list[int] = []
        self.stopping = False

    def __bool__(self) -> bool:
        return bool(self.received)


@contextmanager
def _deferred_signals():
    """Turn the first SIGINT/SIGTERM into a flag checked between chunks, so that training stops at a chunk
    boundary with a complete checkpoint; a second one raises ``_StopNow`` at once (the checkpoint on disk stays
    the previous complete one: it is replaced atomically)."""
    signals = _Signals()
    if threading.current_thread() is not threading.main_thread():  # signals reach the main thread only
        yield signals
        return

    def handler(signum, frame):
        if signals.stopping:
            return
        if not signals.received:
            signals.received.append(signum)
        elif _in_gc_callback(frame):
            _deliver_again(signum)
        else:
            signals.stopping = True
            raise _StopNow
    previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield signals
    finally:
        if signals:
            _wind_down(previous)
        else:
            for s, h in previous.items():
                signal.signal(s, h)


_WIND_DOWN_SECONDS = 5.0


def _wind_down(previous: dict) -> None:
    """After an interruption the program is stopping: for a few seconds further SIGINT/SIGTERM (an impatient
    second Ctrl-C) are ignored, else they would break the exit with a traceback in an arbitrary place (the
    message, JAX's atexit clean-up). The first signal after that restores ``previous`` and is handled by it."""
    until = time.monotonic() + _WIND_DOWN_SECONDS

    def handler(signum, frame):
        if time.monotonic() < until:
            return
        for s, h in previous.items():
            signal.signal(s, h)
        os.kill(os.getpid(), signum)
    for s in previous:
        signal.signal(s, handler)


def train(trainable: Trainable, replica_ids: np.ndarray, seed: int, cfg: EngineConfig, *,
          progress: bool = False, checkpoint: Checkpoint | None = None,
          learning_rates: np.ndarray | None = None) -> TrainResult:
    """Train the replicas ``replica_ids``: batched in one program (block after block of ``cfg.block_size``
    replicas if that is set), or one by one if ``cfg.batch`` is false.

    ``learning_rates`` (R,) optionally gives each replica its own learning rate (hyperparameter trials).

    With a ``checkpoint``, the state is saved between chunks (at most every ``cfg.checkpoint_seconds``, and on
    SIGINT/SIGTERM, which then raise ``Interrupted``) and an existing checkpoint is resumed from.

    A replica whose loss becomes non-finite, or that stops without improving on its initial parameters, fails
    (``TrainResult.failed``; a line on stderr says why); ``TrainingFailed`` if every replica failed.
    """
    ids = np.asarray(replica_ids, dtype=np.int64)
    program = _program(trainable, cfg)
    rates = np.full(len(ids), cfg.optimizer.learning_rate) if learning_rates is None else learning_rates
    scales = np.asarray(rates, dtype=float) / cfg.optimizer.learning_rate
    size = (cfg.block_size or len(ids)) if cfg.batch else 1
    blocks = [(ids[i:i + size], scales[i:i + size]) for i in range(0, len(ids), size)]
    run = _Run(program, seed, cfg, checkpoint, _progress_bar(progress, cfg.epochs * len(blocks)))
    start_time = time.perf_counter()
    with _deferred_signals() as run.signals:
        try:
            saved = checkpoint.load() if checkpoint is not None else None
            if saved is not None:
                run.restore_finished(blocks, *saved)
            for index in range(len(run.finished), len(blocks)):
                run.finished.append(run.train_block(blocks[index], saved))
                saved = None  # only the first block after a restart resumes mid-way
            run.stop_if_interrupted()
        except _StopNow:
            raise Interrupted(f"interrupted twice: stopped at once; {run.checkpoint_note()}") from None
        finally:
            run.bar.close()   # now, not in tqdm's __del__ at exit, where a second Ctrl-C prints a traceback
    result = _collect(run.finished, time.perf_counter() - start_time)
    _report_failures(result, checkpoint)
    return result


_BLOCK_FIELDS = ("ids", "best_epoch", "best_valid", "stopped", "history", "failure", "failed_epoch")


class _Run:
    """The blocks trained so far (all replicas in batch mode, one each otherwise) and checkpointing."""

    def __init__(self, program: _Program, seed: int, cfg: EngineConfig, checkpoint: Checkpoint | None, bar):
        self.program, self.seed, self.cfg, self.checkpoint, self.bar = program, seed, cfg, checkpoint, bar
        self.finished: list[dict] = []
        self.signals = _Signals()
        self.n_devices = sharding.replica_devices(cfg.shard)
        self.compile_start: float | None = None   # when the compilation being reported began

    def _start(self, block: tuple[np.ndarray, np.ndarray]):
        """Initial state and data of a block of (replica ids, learning-rate factors), padded for sharding."""
        ids, scales = block
        extra = sharding.padded_count(len(ids), self.n_devices) - len(ids)
        padded = np.concatenate([ids, ids[-1] + 1 + np.arange(extra)])
        state, data = self.program.init(replica_keys(self.seed, padded))
        self._refuse_empty_training(ids, data)
        scale = jnp.asarray(np.concatenate([scales, np.ones(extra)]))
        return sharding.shard((state, (data, scale)), self.n_devices)

    def _refuse_empty_training(self, ids: np.ndarray, data: Any) -> None:
        """A replica without a training point would "train" on nothing; the task should have refused it."""
        if self.program.training_points is None:
            return
        empty = ids[np.asarray(self.program.training_points(data))[:len(ids)] <= 0]
        if len(empty):
            raise DataError(f"replica {_id_list(empty)} would train on no data point: the task's "
                            "training/validation split left its training set empty (raise the training "
                            "fraction, or keep more data points)")

    def restore_finished(self, blocks: list[np.ndarray], arrays: dict, meta: dict) -> None:
        like, _ = self._start(blocks[0])
        with self._broken_checkpoint():
            for k, epochs in enumerate(meta["finished_epochs"]):
                block = {f: arrays[f"finished{k}/{f}"] for f in _BLOCK_FIELDS}
                block["params"] = unflatten(like.params, arrays, f"finished{k}/params", check_shapes=False)
                block["epochs"] = epochs
                self.finished.append(block)
                self.bar.update(self.cfg.epochs)

    def _resume_block(self, full: EngineState, members: np.ndarray, saved: tuple):
        """(state, batch members, epoch, history) of a block interrupted mid-way, from its checkpoint."""
        arrays, meta = saved
        with self._broken_checkpoint():
            full = unflatten(full, arrays, "state")
            return full, arrays.get("running/members", members), meta["epoch"], list(arrays["running/history"])

    @contextmanager
    def _broken_checkpoint(self):
        """A checkpoint that lacks an entry: say which file, and what to do."""
        try:
            yield
        except KeyError as missing:
            raise self.checkpoint.damaged(f"it has no entry {missing.args[0]}") from None

    def train_block(self, block: tuple[np.ndarray, np.ndarray], saved: tuple | None) -> dict:
        """Train one block of replicas to the end; returns its finished record (best parameters, history...).

        Once at most half of the batch is still active, the active replicas are repacked into a smaller batch
        (one new compilation per size): stopped replicas are frozen, but in the batch they still cost a full
        epoch each. ``full`` keeps every replica of the block, the batch holds rows ``members`` of it.
        """
        cfg, program = self.cfg, self.program
        self.stop_if_interrupted()
        rows = sharding.padded_count(len(block[0]), self.n_devices)
        if ("init", rows) not in program.compiled:
            self._compiling(rows)   # the vmapped initialisation compiles too, and can take as long as a chunk
        full, data = self._start(block)
        program.compiled.add(("init", rows))
        members, epoch, history, last_save = np.arange(len(full.train_loss)), 0, [], time.monotonic()
        if saved is not None and saved[1]["epoch"] > 0:
            full, members, epoch, history = self._resume_block(full, members, saved)
            self.bar.update(epoch)
        n = len(block[0])   # rows from n on only pad the batch for the devices
        saved_epoch, failed = epoch, set(np.flatnonzero(np.asarray(full.tracker.failure)[:n]))
        state, batch_data = self._gather(full, data, members)
        while epoch < cfg.epochs and np.asarray(state.tracker.active)[members < n].any():
            self._compile(state, batch_data, epoch)
            self.stop_if_interrupted(epoch, (full, history, members) if epoch > saved_epoch else None)
            state = program.chunk(state, *batch_data, jnp.asarray(epoch))
            epoch += cfg.chunk
            full = _scatter(full, state, members)
            history.append(np.stack([np.asarray(full.train_loss)[:n], np.asarray(full.valid_loss)[:n]]))
            failed |= self._report_new_failures(block[0], full.tracker, failed)
            active = np.asarray(state.tracker.active) & (members < n)
            self.bar.update(cfg.chunk - max(0, epoch - cfg.epochs))
            self.bar.set_postfix(active=int(active.sum()),
                                 best_valid=f"{float(np.median(np.asarray(full.tracker.best_valid)[:n])):.4g}")
            size = sharding.padded_count(int(active.sum()), self.n_devices)
            if 0 < size <= len(members) // 2:
                # the active replicas first, then (frozen) stopped ones as padding for the devices
                members = np.sort(np.concatenate([members[active], members[~active][:size - active.sum()]]))
                state, batch_data = self._gather(full, data, members)
            due = time.monotonic() - last_save >= cfg.checkpoint_seconds
            if self.checkpoint is not None and (self.signals or due) and epoch < cfg.epochs:
                self._save_running(full, history, members, epoch)
                last_save, saved_epoch = time.monotonic(), epoch
            if epoch < cfg.epochs:   # else the block is complete: it is saved below as finished
                self.stop_if_interrupted(epoch, (full, history, members) if epoch > saved_epoch else None)
        self._compiled()
        tracker = jax.tree_util.tree_map(lambda a: np.asarray(a)[:n], full.tracker)
        result = dict(ids=block[0], params=tracker.best_params, best_epoch=tracker.best_epoch,
                      best_valid=tracker.best_valid, stopped=tracker.stopped, epochs=epoch,
                      failure=tracker.failure, failed_epoch=tracker.failed_epoch,
                      history=np.stack(history, axis=-1) if history else np.zeros((2, n, 0)))
        if self.checkpoint is not None:
            self.finished.append(result)
            self._save({}, 0)
            self.finished.pop()
        return result

    def stop_if_interrupted(self, epoch: int = 0, unsaved: tuple | None = None) -> None:
        """After SIGINT/SIGTERM: save the progress not yet in the checkpoint (``unsaved`` = (state, history,
        batch members) of the running block at ``epoch``), then raise ``Interrupted``."""
        if not self.signals:
            return
        if unsaved is not None and self.checkpoint is not None:
            self._save_running(*unsaved, epoch)
        self.signals.stopping = True
        raise Interrupted(f"interrupted{f' at epoch {epoch}' if epoch else ''}; {self.checkpoint_note()}")

    def checkpoint_note(self) -> str:
        if self.checkpoint is None:
            return "no checkpoint (no output file)"
        if not self.checkpoint.path.exists():
            return "no checkpoint written (training had not begun)"
        return f"checkpoint: {self.checkpoint.path}"

    def _compile(self, state: EngineState, batch_data: tuple, epoch: int) -> None:
        """Compile the chunk for this batch shape ahead of the call, saying so: the first chunk of a run can
        take long to compile, and a silent pause looks like a hang. The call then reuses the executable."""
        if self.bar.disable:
            return
        args = (state, *batch_data, jnp.asarray(epoch))
        signature = tuple((jax.typeof(leaf), getattr(leaf, "sharding", None))
                          for leaf in jax.tree_util.tree_leaves(args))
        if signature not in self.program.compiled:
            self._compiling(len(state.train_loss))
            self.program.jitted_chunk.lower(*args).compile()
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
        """The batch of rows ``members`` of the block's state and data, placed on the devices."""
        if len(members) < len(full.train_loss):
            full, data = _take_rows((full, data), jnp.asarray(members))
        return sharding.shard((full, data), self.n_devices)

    def _save_running(self, full: EngineState, history: list, members: np.ndarray, epoch: int) -> None:
        self._save(flatten(full, "state") | {"running/history": np.stack(history), "running/members": members},
                   epoch)

    def _save(self, running: dict, epoch: int) -> None:
        arrays = dict(running)
        for k, block in enumerate(self.finished):
            arrays |= {f"finished{k}/{f}": np.asarray(block[f]) for f in _BLOCK_FIELDS}
            arrays |= flatten(block["params"], f"finished{k}/params")
        self.checkpoint.save(arrays, {"epoch": epoch, "finished_epochs": [b["epochs"] for b in self.finished]})


def _scatter(full: EngineState, batch: EngineState, members: np.ndarray) -> EngineState:
    """``full`` with rows ``members`` replaced by the batch."""
    if len(members) == len(full.train_loss):
        return batch
    return _put_rows(full, batch, jnp.asarray(members))


# One compiled program per repack instead of one tiny eager compilation per leaf (exact copies either way).
_take_rows = jax.jit(lambda tree, rows: jax.tree_util.tree_map(lambda a: a[rows], tree))
_put_rows = jax.jit(lambda full, batch, rows: jax.tree_util.tree_map(lambda f, b: f.at[rows].set(b), full, batch))


def _collect(finished: list[dict], wall: float) -> TrainResult:
    """Concatenate blocks; histories of blocks that stopped early are padded with their last values.

    A failed replica keeps the best parameters it had before failing; one that never had any gets NaN
    parameters, so that nothing downstream mistakes its initial parameters for a fit."""
    chunks = max(f["history"].shape[-1] for f in finished)
    pad = lambda h: np.pad(h, [(0, 0), (0, 0), (0, chunks - h.shape[-1])], mode="edge") if h.shape[-1] else h  # noqa
    history = np.concatenate([pad(f["history"]) for f in finished], axis=1)
    cat = lambda key: np.concatenate([np.asarray(f[key]) for f in finished])  # noqa: E731
    params = jax.tree_util.tree_map(lambda *leaves: np.concatenate(leaves), *[f["params"] for f in finished])
    failure, best_epoch = cat("failure"), cat("best_epoch")
    params = _blank(params, (failure != stopping.NOT_FAILED) & (best_epoch < 0))
    return TrainResult(
        replica_ids=cat("ids"), params=params, best_epoch=best_epoch, best_valid=cat("best_valid"),
        stopped=cat("stopped"), history_train=history[0], history_valid=history[1],
        epochs_run=max(f["epochs"] for f in finished), wall_seconds=wall,
        failed=failure != stopping.NOT_FAILED, failed_epoch=cat("failed_epoch"),
        failure=np.array([stopping.FAILURE_REASONS[code] for code in failure], dtype=str))


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
    return tqdm(total=total, disable=not enabled, unit="epoch", dynamic_ncols=True, mininterval=interval,
                leave=False)
