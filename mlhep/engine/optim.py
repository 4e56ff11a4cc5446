"""Optax optimizers composed from the runcard: clipping -> weight decay -> update rule -> schedule."""
from __future__ import annotations

import optax

from mlhep.engine.config import OptimizerConfig, ScheduleConfig

# Update rules that take only a learning rate (and, for some, momentum); each returns a GradientTransformation.
_RULES = {
    "adam": lambda lr, c: optax.adam(lr),
    "nadam": lambda lr, c: optax.nadam(lr),
    "adamw": lambda lr, c: optax.adamw(lr, weight_decay=c.weight_decay),
    "amsgrad": lambda lr, c: optax.amsgrad(lr),
    "sgd": lambda lr, c: optax.sgd(lr, momentum=c.momentum or None),
    "rmsprop": lambda lr, c: optax.rmsprop(lr, momentum=c.momentum or None),
    "adagrad": lambda lr, c: optax.adagrad(lr),
    "adadelta": lambda lr, c: optax.adadelta(lr),
    "lion": lambda lr, c: optax.lion(lr),
}


def schedule(lr: float, cfg: ScheduleConfig, total_epochs: int) -> optax.Schedule | float:
    """The learning rate as a function of the step (one step per epoch)."""
    if cfg.kind == "constant":
        return lr
    if cfg.kind == "exponential":
        return optax.exponential_decay(lr, transition_steps=cfg.decay_epochs, decay_rate=cfg.decay_rate)
    if cfg.kind == "cosine":
        return optax.cosine_decay_schedule(lr, decay_steps=total_epochs, alpha=cfg.end_fraction)
    return optax.warmup_cosine_decay_schedule(0.0, lr, warmup_steps=cfg.warmup_epochs,
                                              decay_steps=total_epochs, end_value=lr * cfg.end_fraction)


def build_optimizer(cfg: OptimizerConfig, total_epochs: int) -> optax.GradientTransformation:
    """The optimizer of one replica (the engine vmaps its state over the replica axis)."""
    parts = []
    if cfg.clipnorm is not None:
        parts.append(optax.clip_by_global_norm(cfg.clipnorm))
    if cfg.weight_decay and cfg.name != "adamw":
        parts.append(optax.add_decayed_weights(cfg.weight_decay))
    parts.append(_RULES[cfg.name](schedule(cfg.learning_rate, cfg.schedule, total_epochs), cfg))
    return optax.chain(*parts)
