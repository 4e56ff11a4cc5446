"""Optax optimizers composed from the runcard: clipping -> weight decay -> update rule -> schedule."""
from __future__ import annotations

import optax

from mlhep.engine.config import OptimizerConfig, ScheduleConfig

# Update rules that take only a learning rate (and, for some, momentum); each returns a GradientTransformation.
_RULES = {
    "adam": lambda lr, wd, c: optax.adam(lr),
    "nadam": lambda lr, wd, c: optax.nadam(lr),
    "adamw": lambda lr, wd, c: optax.adamw(lr, weight_decay=wd),
    "amsgrad": lambda lr, wd, c: optax.amsgrad(lr),
    "sgd": lambda lr, wd, c: optax.sgd(lr, momentum=c.momentum or None),
    "rmsprop": lambda lr, wd, c: optax.rmsprop(lr, momentum=c.momentum or None),
    "adagrad": lambda lr, wd, c: optax.adagrad(lr),
    "adadelta": lambda lr, wd, c: optax.adadelta(lr),
    "lion": lambda lr, wd, c: optax.lion(lr),
}


def schedule(lr: float, cfg: ScheduleConfig, total_epochs: int) -> optax.Schedule | float:
    """The learning rate as a function of the epoch (full batch: one optimizer step per epoch)."""
    if cfg.kind == "constant":
        return lr
    if cfg.kind == "exponential":
        return optax.exponential_decay(lr, transition_steps=cfg.decay_epochs,
                                       decay_rate=cfg.decay_rate)
    if cfg.kind == "cosine":
        return optax.cosine_decay_schedule(lr, decay_steps=total_epochs, alpha=cfg.end_fraction)
    return optax.warmup_cosine_decay_schedule(0.0, lr, warmup_steps=cfg.warmup_epochs,
                                              decay_steps=total_epochs,
                                              end_value=lr * cfg.end_fraction)


def build_optimizer(cfg: OptimizerConfig, total_epochs: int, learning_rate=None,
                    weight_decay=None) -> optax.GradientTransformation:
    """The optimizer of one replica (the engine vmaps its state over the replica axis). ``learning_rate`` and
    ``weight_decay`` override the runcard's values (arrays injected into the state, see ``engine.step``)."""
    lr = cfg.learning_rate if learning_rate is None else learning_rate
    wd = cfg.weight_decay if weight_decay is None else weight_decay
    parts = []
    if cfg.clipnorm is not None:
        parts.append(optax.clip_by_global_norm(cfg.clipnorm))
    if cfg.weight_decay and cfg.name != "adamw":
        parts.append(optax.add_decayed_weights(wd))
    parts.append(_RULES[cfg.name](schedule(lr, cfg.schedule, total_epochs), wd, cfg))
    return optax.chain(*parts)
