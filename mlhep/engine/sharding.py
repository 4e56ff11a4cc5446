"""Spread the replica axis over all local devices (GPUs, or CPU devices forced with
``XLA_FLAGS=--xla_force_host_platform_device_count=N``). jit then runs each device's block of replicas where
its data lives; nothing else in the engine changes."""
from __future__ import annotations

from typing import Any

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec


def replica_devices(enabled: bool) -> int:
    """How many devices the replica axis is split over (1 = no sharding)."""
    return len(jax.local_devices()) if enabled else 1


def cpu_block_size(per_device: int | None) -> int | None:
    """``engine.block_size`` for a task that trains ``per_device`` replicas per CPU device
    (``Task.replicas_per_cpu_device``): that many times the device count on a CPU; None (all replicas at once)
    on an accelerator, where vmapping is what fills the device, or when the task does not say."""
    if not per_device or jax.local_devices()[0].platform != "cpu":
        return None
    return per_device * len(jax.local_devices())


def padded_count(n_replicas: int, n_devices: int) -> int:
    """Replicas are padded to a multiple of the device count; the padding is dropped after training."""
    return -(-n_replicas // n_devices) * n_devices


def shard(tree: Any, n_devices: int) -> Any:
    """Place every leaf (leading axis = replica) split over the devices along that axis (on the default device
    when there is one: host arrays become device arrays once, not at every call)."""
    if n_devices <= 1:
        return jax.device_put(tree)
    mesh = Mesh(np.array(jax.local_devices()[:n_devices]), ("replica",))
    sharding = NamedSharding(mesh, PartitionSpec("replica"))
    return jax.tree_util.tree_map(lambda leaf: jax.device_put(leaf, sharding), tree)


def replicate(tree: Any, n_devices: int) -> Any:
    """Place every leaf whole on each device (the shared data every replica reads)."""
    if n_devices <= 1:
        return tree
    mesh = Mesh(np.array(jax.local_devices()[:n_devices]), ("replica",))
    sharding = NamedSharding(mesh, PartitionSpec())
    return jax.tree_util.tree_map(lambda leaf: jax.device_put(leaf, sharding), tree)
