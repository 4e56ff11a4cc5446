"""The batched replica engine: physics-agnostic training of a replica ensemble as one JAX program."""
from mlhep.engine.config import EngineConfig

__all__ = ["EngineConfig", "train"]


def __getattr__(name):
    if name == "train":
        from mlhep.engine.replicas import train
        return train
    raise AttributeError(name)
