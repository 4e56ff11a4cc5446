"""The task registry: every installed distribution can add tasks through the entry-point group
``mlhep.tasks`` (name = task name, value = ``module:object``, a ``mlhep.task.Task`` instance)."""
from __future__ import annotations

from functools import lru_cache
from importlib.metadata import entry_points

GROUP = "mlhep.tasks"


@lru_cache(maxsize=None)
def _scan() -> tuple[dict, dict]:
    loaded, broken = {}, {}
    for ep in entry_points(group=GROUP):
        # A task whose dependencies are missing must not break the others; any other exception is a bug in
        # that task's module and keeps its traceback.
        try:
            loaded[ep.name] = ep.load()
        except ImportError as exc:
            broken[ep.name] = f"{type(exc).__name__}: {exc}"
    return loaded, broken


def load_tasks() -> dict:
    """Registered tasks that import, by name."""
    return dict(_scan()[0])


def broken_tasks() -> dict[str, str]:
    """Registered tasks that failed to import, with the reason."""
    return dict(_scan()[1])
