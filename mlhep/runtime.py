"""Process-wide JAX settings, made by the commands (``mlhep fit``, ``hyperopt``), never by ``import mlhep``.

- Precision is the task's: float64 where the physics needs it (chi2 with large, strongly correlated
  covariances), float32 for network classifiers (``Task.precision``).
- The compiled-program cache on disk (same program -> same executable -> same numbers) is on by default;
  ``MLHEP_JAX_CACHE=0`` switches it off, ``MLHEP_JAX_CACHE=/folder`` moves it.
- On a CPU, a task that trains one replica per core (``Task.replicas_per_cpu_device``, e.g. pdf-fit) gets one
  device per usable core (``use_task``); ``MLHEP_CPU_DEVICES=N`` sets the count for every task. Each device
  then runs the 1-replica program, so the numbers do not depend on the core count. Tasks with wide batches stay
  on one device: jaxlib's batched LAPACK kernels deadlock when two devices run them at once.
"""
from __future__ import annotations

import os

import jax

PRECISIONS = ("float64", "float32")


# jaxlib 0.10's CPU LAPACK kernels (solve, Cholesky, triangular solve...) split a batch over the intra-op thread
# pool and block until it is done; when XLA runs two of them at once (independent operations of one program, e.g.
# vmapped Newton steps), each holds a pool thread waiting for work queued behind the other: on 2 cores the
# program hangs for ever. XLA's memory-optimised schedule does not start them concurrently
# (tests/engine/test_lapack_deadlock.py hangs without this flag).
SERIAL_LAPACK_FLAG = "--xla_cpu_enable_concurrency_optimized_scheduler=false"


def configure_process() -> None:
    """The compilation cache, XLA's CPU flags and the CPU device count; call it first thing in a command's
    process (flags and device count can only be set before JAX computes anything; later they are left as
    they are)."""
    flags = os.environ.get("XLA_FLAGS", "")
    if "xla_cpu_enable_concurrency_optimized_scheduler" not in flags:
        os.environ["XLA_FLAGS"] = f"{flags} {SERIAL_LAPACK_FLAG}".strip()
    if os.environ.get("MLHEP_JAX_CACHE", "") != "0":
        from mlhep.paths import cache_dir
        jax.config.update("jax_compilation_cache_dir", os.environ.get("MLHEP_JAX_CACHE") or str(cache_dir() / "jax"))
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)
    wanted = int(os.environ.get("MLHEP_CPU_DEVICES", "0") or 0)
    if wanted:
        _use_cpu_devices(wanted)


def use_task(task) -> None:
    """A task's settings for this process: its precision and, if it trains one replica per core, one CPU
    device per usable core (unless ``MLHEP_CPU_DEVICES`` chose the count)."""
    use_precision(task.precision)
    if task.replicas_per_cpu_device and not os.environ.get("MLHEP_CPU_DEVICES"):
        _use_cpu_devices(usable_cores())


def _use_cpu_devices(count: int) -> None:
    if "xla_force_host_platform_device_count" in os.environ.get("XLA_FLAGS", ""):
        return                      # the user chose the count with XLA_FLAGS
    try:
        jax.config.update("jax_num_cpu_devices", count)
    except RuntimeError:            # JAX already computed something in this process (tests, notebooks)
        pass


def usable_cores() -> int:
    """The cores this process may run on (a batch job's allocation, not the whole node)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:          # not on Linux
        return os.cpu_count() or 1


def use_precision(precision: str) -> None:
    """Compute in ``precision`` ("float64" or "float32") from now on in this process."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision {precision!r}: valid are {', '.join(PRECISIONS)}")  # a task's bug
    jax.config.update("jax_enable_x64", precision == "float64")
