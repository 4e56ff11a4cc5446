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
import signal
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
            tracker = stopping.update(state.tracker, state.params, valid, ok, n, **stop)
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
        self.chunk = jax.jit(chunk, donate_argnums=0)


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
    """Training stopped by SIGINT/SIGTERM after a checkpoint was written."""


@contextmanager
def _deferred_signals():
    """Turn SIGINT/SIGTERM into a flag checked between chunks, so a checkpoint is never half-written."""
    received = []
    if threading.current_thread() is not threading.main_thread():  # signals reach the main thread only
        yield received
        return
    handler = lambda signum, frame: received.append(signum)  # noqa: E731
    previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield received
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


def train(trainable: Trainable, replica_ids: np.ndarray, seed: int, cfg: EngineConfig, *,
          progress: bool = False, checkpoint: Checkpoint | None = None,
          learning_rates: np.ndarray | None = None) -> TrainResult:
    """Train the replicas ``replica_ids``: batched in one program (block after block of ``cfg.block_size``
    replicas if that is set), or one by one if ``cfg.batch`` is false.

    ``learning_rates`` (R,) optionally gives each replica its own learning rate (hyperparameter trials).

    With a ``checkpoint``, the state is saved between chunks (at most every ``cfg.checkpoint_seconds``, and on
    SIGINT/SIGTERM, which then raise ``Interrupted``) and an existing checkpoint is resumed from.
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
        saved = checkpoint.load() if checkpoint is not None else None
        if saved is not None:
            run.restore_finished(blocks, *saved)
        for index in range(len(run.finished), len(blocks)):
            run.finished.append(run.train_block(blocks[index], saved))
            saved = None  # only the first block after a restart resumes mid-way
    run.bar.close()
    return _collect(run.finished, time.perf_counter() - start_time)


_BLOCK_FIELDS = ("ids", "best_epoch", "best_valid", "stopped", "history")


class _Run:
    """The blocks trained so far (all replicas in batch mode, one each otherwise) and checkpointing."""

    def __init__(self, program: _Program, seed: int, cfg: EngineConfig, checkpoint: Checkpoint | None, bar):
        self.program, self.seed, self.cfg, self.checkpoint, self.bar = program, seed, cfg, checkpoint, bar
        self.finished: list[dict] = []
        self.signals: list = []
        self.n_devices = sharding.replica_devices(cfg.shard)

    def _start(self, block: tuple[np.ndarray, np.ndarray]):
        """Initial state and data of a block of (replica ids, learning-rate factors), padded for sharding."""
        ids, scales = block
        extra = sharding.padded_count(len(ids), self.n_devices) - len(ids)
        padded = np.concatenate([ids, ids[-1] + 1 + np.arange(extra)])
        state, data = self.program.init(replica_keys(self.seed, padded))
        scale = jnp.asarray(np.concatenate([scales, np.ones(extra)]))
        return sharding.shard((state, (data, scale)), self.n_devices)

    def restore_finished(self, blocks: list[np.ndarray], arrays: dict, meta: dict) -> None:
        like, _ = self._start(blocks[0])
        for k, epochs in enumerate(meta["finished_epochs"]):
            block = {f: arrays[f"finished{k}/{f}"] for f in _BLOCK_FIELDS}
            block["params"] = unflatten(like.params, arrays, f"finished{k}/params", check_shapes=False)
            block["epochs"] = epochs
            self.finished.append(block)
            self.bar.update(self.cfg.epochs)

    def train_block(self, block: tuple[np.ndarray, np.ndarray], saved: tuple | None) -> dict:
        """Train one block of replicas to the end; returns its finished record (best parameters, history...).

        Once at most half of the batch is still active, the active replicas are repacked into a smaller batch
        (one new compilation per size): stopped replicas are frozen, but in the batch they still cost a full
        epoch each. ``full`` keeps every replica of the block, the batch holds rows ``members`` of it.
        """
        cfg, program = self.cfg, self.program
        full, data = self._start(block)
        members, epoch, history, last_save = np.arange(len(full.train_loss)), 0, [], time.monotonic()
        if saved is not None and saved[1]["epoch"] > 0:
            arrays, meta = saved
            full = unflatten(full, arrays, "state")
            members = arrays.get("running/members", members)
            epoch, history = meta["epoch"], list(arrays["running/history"])
            self.bar.update(epoch)
        n = len(block[0])   # rows from n on only pad the batch for the devices
        state, batch_data = self._gather(full, data, members)
        while epoch < cfg.epochs and np.asarray(state.tracker.active)[members < n].any():
            state = program.chunk(state, *batch_data, jnp.asarray(epoch))
            epoch += cfg.chunk
            full = _scatter(full, state, members)
            history.append(np.stack([np.asarray(full.train_loss)[:n], np.asarray(full.valid_loss)[:n]]))
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
                self._save(flatten(full, "state") | {"running/history": np.stack(history),
                                                     "running/members": members}, epoch)
                last_save = time.monotonic()
            if self.signals:
                where = self.checkpoint.path if self.checkpoint else "none written (no output file)"
                raise Interrupted(f"interrupted at epoch {epoch}; checkpoint: {where}")
        tracker = jax.tree_util.tree_map(lambda a: np.asarray(a)[:n], full.tracker)
        result = dict(ids=block[0], params=tracker.best_params, best_epoch=tracker.best_epoch,
                      best_valid=tracker.best_valid, stopped=tracker.stopped, epochs=epoch,
                      history=np.stack(history, axis=-1) if history else np.zeros((2, n, 0)))
        if self.checkpoint is not None:
            self.finished.append(result)
            self._save({}, 0)
            self.finished.pop()
        return result

    def _gather(self, full: EngineState, data: Any, members: np.ndarray) -> tuple[EngineState, Any]:
        """The batch of rows ``members`` of the block's state and data, placed on the devices."""
        if len(members) < len(full.train_loss):
            rows = jnp.asarray(members)
            full, data = jax.tree_util.tree_map(lambda a: a[rows], (full, data))
        return sharding.shard((full, data), self.n_devices)

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
    rows = jnp.asarray(members)
    return jax.tree_util.tree_map(lambda f, b: jnp.asarray(f).at[rows].set(b), full, batch)


def _collect(finished: list[dict], wall: float) -> TrainResult:
    """Concatenate blocks; histories of blocks that stopped early are padded with their last values."""
    chunks = max(f["history"].shape[-1] for f in finished)
    pad = lambda h: np.pad(h, [(0, 0), (0, 0), (0, chunks - h.shape[-1])], mode="edge") if h.shape[-1] else h  # noqa
    history = np.concatenate([pad(f["history"]) for f in finished], axis=1)
    cat = lambda key: np.concatenate([np.asarray(f[key]) for f in finished])  # noqa: E731
    params = jax.tree_util.tree_map(lambda *leaves: np.concatenate(leaves), *[f["params"] for f in finished])
    return TrainResult(
        replica_ids=cat("ids"), params=params, best_epoch=cat("best_epoch"), best_valid=cat("best_valid"),
        stopped=cat("stopped"), history_train=history[0], history_valid=history[1],
        epochs_run=max(f["epochs"] for f in finished), wall_seconds=wall)


def _progress_bar(enabled: bool, total: int):
    import sys

    from tqdm import tqdm
    # In a batch job's log (no terminal) a line every 30 s instead of a redrawn bar.
    interval = 0.1 if sys.stderr.isatty() else 30.0
    return tqdm(total=total, disable=not enabled, unit="epoch", dynamic_ncols=True, mininterval=interval,
                leave=False)
