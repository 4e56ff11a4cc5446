"""Process-wide JAX settings, made by the commands (``mlhep fit``, ``hyperopt``), never by ``import mlhep``.

- Precision is the task's: float64 where the physics needs it (chi2 with large, strongly correlated
  covariances), float32 for network classifiers (``Task.precision``).
- The compiled-program cache on disk (same program -> same executable -> same numbers) is on by default;
  ``MLHEP_JAX_CACHE=0`` switches it off, ``MLHEP_JAX_CACHE=/folder`` moves it.
- On a CPU, ``MLHEP_CPU_DEVICES=N`` splits the host into N devices and shards the replica axis over them. It is
  off by default: on 2 cores it did not make a pdf fit faster end to end (benchmarks/pdf.md), and the device
  count changes XLA's vectorisation, hence the last bits of the results.
"""
from __future__ import annotations

import os

import jax

PRECISIONS = ("float64", "float32")


def configure_process() -> None:
    """The compilation cache and the CPU device count; call it first thing in a command's process (the device
    count can only be set before JAX computes anything; later it is left as it is)."""
    if os.environ.get("MLHEP_JAX_CACHE", "") != "0":
        from mlhep.paths import cache_dir
        jax.config.update("jax_compilation_cache_dir", os.environ.get("MLHEP_JAX_CACHE") or str(cache_dir() / "jax"))
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)
    wanted = int(os.environ.get("MLHEP_CPU_DEVICES", "0") or 0)
    if not wanted or "xla_force_host_platform_device_count" in os.environ.get("XLA_FLAGS", ""):
        return                      # one device, or the user chose the count with XLA_FLAGS
    try:
        jax.config.update("jax_num_cpu_devices", wanted)
    except RuntimeError:            # JAX already computed something in this process (tests, notebooks)
        pass


def use_precision(precision: str) -> None:
    """Compute in ``precision`` ("float64" or "float32") from now on in this process."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision {precision!r}: valid are {', '.join(PRECISIONS)}")  # a task's bug
    jax.config.update("jax_enable_x64", precision == "float64")
