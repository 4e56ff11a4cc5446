"""The compiled program of one trainable: the stacked initialisation and a chunk of epochs of every replica.

Every replica's state (parameters, step state, model state, key, stopping tracker) is stacked on a leading
replica axis; the shared data (one copy, not vmapped) and the per-replica data are arguments, not constants
baked into the executable. One epoch of every replica is ``vmap(epoch)``; ``chunk`` epochs run in one
``lax.scan``. A full-batch trainable takes one step per epoch; a minibatch trainable (``example_losses``) takes
one step per minibatch of a pass over its training examples, reshuffled every epoch from its own key.
"""
from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from mlhep.engine import batches, stopping
from mlhep.engine.batches import Layout
from mlhep.engine.config import EngineConfig
from mlhep.engine.step import GradientStep, Step, StepState
from mlhep.task import StepInfo, Trainable


class EngineState(NamedTuple):
    """Everything that evolves during training, per replica (leading axis = replica once stacked)."""

    step: StepState          # parameters and the update rule's state
    model_state: Any         # e.g. batch-norm statistics; () if the model has none
    key: jax.Array           # the replica's training key: shuffles and dropout, folded with epoch and step
    tracker: stopping.Tracker  # its best_params are (parameters, model state)
    train_loss: jax.Array    # () float (float64 under x64): the last epoch's training loss
    valid_loss: jax.Array    # () float (float64 under x64): the last validation loss
    epoch: jax.Array         # () int: epochs this replica has run (replicas start at different times)
    hyper: dict              # the replica's own injected hyperparameters (learning rate...) before schedules


def replica_keys(seed: int, replica_ids: np.ndarray, stage: str | None = None) -> jax.Array:
    """(R, 2) keys: replica i's key depends on the seed, i and the stage's name only."""
    base = jax.random.PRNGKey(seed)
    if stage:   # a later stage must not reuse the first stage's initialisation and pseudo-data keys
        base = jax.random.fold_in(base, _stable_hash(stage))
    return jax.vmap(lambda i: jax.random.fold_in(base, i))(jnp.asarray(replica_ids, dtype=jnp.uint32))


def _stable_hash(name: str) -> int:
    import zlib
    return zlib.crc32(name.encode()) & 0x7FFFFFFF


def split_keys(keys: jax.Array) -> tuple[jax.Array, jax.Array]:
    """(init keys, data keys) of replica keys: what ``Trainable.init`` and ``Trainable.replica_data`` get."""
    pairs = jax.vmap(jax.random.split)(keys)
    return pairs[:, 0], pairs[:, 1]


def training_key(key: jax.Array) -> jax.Array:
    """The key of a replica's minibatch order and dropout (independent of its init and data keys)."""
    return jax.random.fold_in(key, 1)


def shared_data(trainable: Trainable) -> Any:
    return trainable.shared() if hasattr(trainable, "shared") else ()


def is_minibatch(trainable: Trainable) -> bool:
    return hasattr(trainable, "example_losses")


def _tree_where(condition: jax.Array, new: Any, old: Any) -> Any:
    return jax.tree_util.tree_map(lambda a, b: jnp.where(condition, a, b), new, old)


def _float_dtype(tree: Any) -> Any:
    """The dtype of the first floating leaf of a pytree of shapes (None if there is none)."""
    floats = [leaf.dtype for leaf in jax.tree_util.tree_leaves(tree) if jnp.issubdtype(leaf.dtype, jnp.floating)]
    return floats[0] if floats else None


class Program:
    """The jitted pieces for one trainable and engine settings."""

    def __init__(self, trainable: Trainable, cfg: EngineConfig):
        self.trainable, self.cfg = trainable, cfg
        self.minibatch = is_minibatch(trainable)
        self.stop = dict(patience=cfg.stopping.patience, min_delta=cfg.stopping.min_delta,
                         min_epochs=cfg.stopping.min_epochs, max_epochs=cfg.epochs, every=cfg.validate_every)
        shared = shared_data(trainable)
        key = jax.random.PRNGKey(0)
        self.dtype = _float_dtype(jax.eval_shape(trainable.init, key, shared))
        init = jax.jit(jax.vmap(self._init, in_axes=(0, None, 0)))
        self.init = lambda keys, shared, inputs=None: init(keys, shared, inputs)  # noqa: E731
        self._chunks: dict[Layout | None, Any] = {}
        self._finishers: dict[Layout | None, Any] = {}
        self.compiled: set = set()     # argument signatures already compiled (to say "compiling...")
        self.counts = jax.jit(jax.vmap(self._counts))

    def make_step(self) -> Step:
        """The update rule: the trainable's own (``Trainable.step``) or gradient descent with the optimizer
        (its schedule evaluated per epoch when the trainable takes several steps per epoch)."""
        if hasattr(self.trainable, "step"):
            return self.trainable.step(self.cfg)
        return GradientStep(self.cfg.optimizer, self.cfg.epochs, self.dtype, per_epoch=self.minibatch)

    # -- initialisation ------------------------------------------------------------------------------------
    def _init(self, key: jax.Array, shared: Any, inputs: Any = None) -> tuple[EngineState, Any]:
        t = self.trainable
        init_key, data_key = jax.random.split(key)  # the same split as split_keys
        params = t.init(init_key, shared)
        # ``inputs``: the replica's own row of what an earlier stage produced (ctx.train(..., inputs=...))
        data = t.replica_data(data_key, shared) if inputs is None else t.replica_data(data_key, shared, inputs)
        model_state = t.init_state(init_key, shared) if hasattr(t, "init_state") else ()
        nan = jnp.array(jnp.nan, dtype=float)
        rule = self.make_step()
        step = rule.init(params)
        state = EngineState(step, model_state, training_key(key), stopping.start((params, model_state)), nan, nan,
                            jnp.array(0, dtype=int), dict(rule.hyperparameters(step)))
        if not self.minibatch:   # the initial losses, shown before the first chunk ends
            loss = jnp.asarray(t.train_loss(params, shared, data, jnp.asarray(0)), dtype=float)
            valid, _ = t.validation(params, shared, data)
            state = state._replace(train_loss=loss, valid_loss=jnp.asarray(valid, dtype=float))
        return state, data

    def _counts(self, data: Any) -> jax.Array:
        """(training points or examples, validation examples) of one replica; -1 where the task does not say."""
        t = self.trainable
        if self.minibatch:
            train, valid = t.weights(data)
            return jnp.stack([jnp.sum(train > 0), jnp.sum(valid > 0)])
        counter = getattr(t, "training_points", None)
        return jnp.stack([counter(data) if counter else jnp.array(-1), jnp.array(-1)])

    def layout(self, counts: np.ndarray) -> Layout | None:
        """The static epoch shape for replicas with these (R, 2) counts (None: full batch)."""
        if not self.minibatch:
            return None
        size = self.cfg.minibatch_size or getattr(self.trainable, "minibatch_size", None)
        n_train, n_valid = np.max(counts, axis=0)
        return Layout.for_counts(int(n_train), int(n_valid) or int(n_train), size)

    # -- training --------------------------------------------------------------------------------------------
    def chunk(self, layout: Layout | None):
        """The jitted ``chunk(state, shared, data) -> state``: ``cfg.chunk`` epochs of every replica, each at
        its own epoch count (a replica may have joined the batch later than the others)."""
        if layout not in self._chunks:
            epoch = self._full_batch_epoch() if layout is None else self._minibatch_epoch(layout)

            def one_replica(state: EngineState, shared: Any, data: Any) -> EngineState:
                running = state.tracker.active
                new = epoch(state, shared, data, state.epoch)
                return new._replace(epoch=state.epoch + running.astype(state.epoch.dtype))
            every_replica = jax.vmap(one_replica, in_axes=(0, None, 0))

            def chunk(state, shared, data):
                return jax.lax.scan(lambda s, _: (every_replica(s, shared, data), None), state, None,
                                    length=self.cfg.chunk)[0]
            self._chunks[layout] = jax.jit(chunk, donate_argnums=0)
        return self._chunks[layout]

    def _full_batch_epoch(self):
        t, step, stop = self.trainable, self.make_step(), self.stop

        def epoch(state: EngineState, shared: Any, data: Any, n: jax.Array) -> EngineState:
            # Validation is taken on the parameters this epoch starts from (n updates so far), inside the
            # same differentiated function as the training loss: XLA then evaluates the model once for both.
            # The parameters after the last epoch are validated by ``finish``.
            def objective(params):
                return t.train_loss(params, shared, data, n), t.validation(params, shared, data)

            running = state.tracker.active
            updated, loss, (valid, ok) = step.update(state.step, objective)
            tracker = stopping.update(state.tracker, (state.step.params, state.model_state), loss, valid, ok, n,
                                       **stop, due=(n % self.cfg.validate_every) == 0)
            if hasattr(step, "finished"):   # an update rule that knows it has converged (Newton) stops the replica
                done = tracker.active & step.finished(state.step)
                tracker = tracker._replace(active=tracker.active & ~done, stopped=tracker.stopped | done)
            return state._replace(
                step=_tree_where(stopping.keeps_update(running, tracker), updated, state.step), tracker=tracker,
                train_loss=jnp.where(running, loss, state.train_loss),
                valid_loss=jnp.where(running, jnp.asarray(valid, dtype=float), state.valid_loss))
        return epoch

    def _validation(self, layout: Layout | None):
        """``validate(params, model_state, shared, data, n) -> (loss, accepted)`` of one replica."""
        t = self.trainable
        if layout is None:
            return lambda params, model_state, shared, data, n: t.validation(params, shared, data)
        losses = self._example_losses()

        def validate(params, model_state, shared, data, n):
            train_w, valid_w = t.weights(data)
            weight = jnp.where(jnp.any(valid_w > 0), valid_w, train_w)   # no validation set: the training set
            rows, w = batches.validation_rows(weight, layout)
            info = StepInfo(n, jax.random.PRNGKey(0), model_state, False)

            def body(acc, batch):
                part = batches.weighted_mean(losses(params, shared, data, batch[0], info)[0], batch[1])
                return (acc[0] + part[0], acc[1] + part[1]), None
            zero = jnp.zeros((), float)
            (total, weight_sum), _ = jax.lax.scan(body, (zero, zero), (rows, w))
            accepted = t.accept(params, shared, data) if hasattr(t, "accept") else jnp.array(True)
            return total / jnp.maximum(weight_sum, 1e-300), accepted
        return validate

    def _example_losses(self):
        """The trainable's per-example losses and new model state (a stateless trainable keeps its state)."""
        t = self.trainable
        stateful = hasattr(t, "init_state")

        def losses(params, shared, data, rows, info: StepInfo):
            out = t.example_losses(params, shared, data, rows, info)
            return out if stateful else (out, info.model_state)
        return losses

    def finish(self, layout: Layout | None):
        """The jitted ``finish(state, shared, data) -> state``: every epoch validates the parameters it starts
        from, so the parameters after a replica's last epoch are validated here, once its epochs ran out
        (replicas stopped by patience or failed are unchanged)."""
        if layout not in self._finishers:
            validate = self._validation(layout)

            def one_replica(state: EngineState, shared: Any, data: Any) -> EngineState:
                valid, ok = validate(state.step.params, state.model_state, shared, data, state.epoch)
                tracker = stopping.conclude(state.tracker, (state.step.params, state.model_state), valid, ok,
                                            state.epoch, min_delta=self.cfg.stopping.min_delta)
                ran_out = stopping.ran_out(state.tracker)
                return state._replace(tracker=tracker, valid_loss=jnp.where(ran_out, jnp.asarray(valid, dtype=float),
                                                                            state.valid_loss))
            self._finishers[layout] = jax.jit(jax.vmap(one_replica, in_axes=(0, None, 0)))
        return self._finishers[layout]

    def _minibatch_epoch(self, layout: Layout):
        t, step, stop = self.trainable, self.make_step(), self.stop
        losses, validate = self._example_losses(), self._validation(layout)

        def epoch(state: EngineState, shared: Any, data: Any, n: jax.Array) -> EngineState:
            running = state.tracker.active
            due = (n % self.cfg.validate_every) == 0
            valid, ok = jax.lax.cond(due, lambda: validate(state.step.params, state.model_state, shared, data, n),
                                     lambda: (state.valid_loss, jnp.array(False)))
            shuffle_key, step_key = jax.random.split(jax.random.fold_in(state.key, n))
            rows, w = batches.epoch_rows(shuffle_key, t.weights(data)[0], layout)

            def one_step(carry, batch):
                step_state, model_state, total, weight_sum = carry
                batch_rows, batch_w, i = batch
                info = StepInfo(n, jax.random.fold_in(step_key, i), model_state, True)

                def objective(params):
                    example, new_model_state = losses(params, shared, data, batch_rows, info)
                    part, norm = batches.weighted_mean(example, batch_w)
                    return part / jnp.maximum(norm, 1e-30), new_model_state
                updated, loss, new_model_state = step.update(step_state, objective)
                has = jnp.sum(batch_w) > 0     # an all-padding step changes nothing (not even Adam's moments)
                norm = jnp.sum(batch_w)
                return (_tree_where(has, updated, step_state), _tree_where(has, new_model_state, model_state),
                        total + jnp.where(has, loss * norm, 0.0), weight_sum + norm), None

            zero = jnp.zeros((), float)
            start = step.at_epoch(state.step, state.hyper, n) if hasattr(step, "at_epoch") else state.step
            carry = (start, state.model_state, zero, zero)
            (after, model_state, total, weight_sum), _ = jax.lax.scan(
                one_step, carry, (rows, w, jnp.arange(layout.steps)))
            loss = total / jnp.maximum(weight_sum, 1e-300)
            tracker = stopping.update(state.tracker, (state.step.params, state.model_state), loss, valid, ok, n,
                                       **stop, due=due)
            keep = stopping.keeps_update(running, tracker)
            return state._replace(
                step=_tree_where(keep, after, state.step),
                model_state=_tree_where(keep, model_state, state.model_state), tracker=tracker,
                train_loss=jnp.where(running, loss, state.train_loss),
                valid_loss=jnp.where(running & due, jnp.asarray(valid, dtype=float), state.valid_loss))
        return epoch
