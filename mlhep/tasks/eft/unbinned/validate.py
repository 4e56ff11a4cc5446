"""Semantic checks of the ``unbinned:`` section (types and ranges are checked by the runcard loader).

``validate_unbinned`` is everything ``run_unbinned`` checks before generating events, for ``mlhep check``."""
from __future__ import annotations

import dataclasses
import math

import numpy as np

from mlhep.task import RunContext
from mlhep.tasks.eft.unbinned.config import UnbinnedConfig


def check_config(config: UnbinnedConfig, ctx: RunContext, key: str) -> None:
    """Raise ``ctx.fail(<key path>, why)`` for the first inconsistent setting."""
    bad = first_non_finite(config, key)
    if bad is not None:
        raise ctx.fail(bad[0], f"must be a finite number (got {bad[1]})")
    th, col, tr, b = config.theory, config.collider, config.training, config.binning
    threshold = 2.0 * th.m_t
    if not threshold < th.m_tt_max < col.sqrts:
        raise ctx.fail(f"{key}.theory.m_tt_max", f"must lie between the tt̄ threshold 2 m_t = {threshold:g} GeV "
                       f"and sqrt(S) = {col.sqrts:g} GeV (got {th.m_tt_max:g})")
    c_values = np.asarray(tr.c_values, dtype=float)
    if np.any(c_values == 0) or len(set(tr.c_values)) != len(tr.c_values) or len(tr.c_values) < 2:
        raise ctx.fail(f"{key}.training.c_values", "need at least two distinct non-zero c_tG values (the SM "
                       f"sample is always made), e.g. [-3, 3]; got {list(tr.c_values)}")
    if any(h < 1 for h in config.network.hidden):
        raise ctx.fail(f"{key}.network.hidden", f"layer widths must be >= 1 (got {list(config.network.hidden)})")
    edges = np.asarray(b.m_tt_edges, dtype=float)
    if len(edges) < 2 or np.any(np.diff(edges) <= 0):
        raise ctx.fail(f"{key}.binning.m_tt_edges", "need at least two strictly ascending edges")
    if edges[0] < threshold * (1 - 1e-9) or edges[-1] > th.m_tt_max * (1 + 1e-9):
        raise ctx.fail(f"{key}.binning.m_tt_edges", f"edges must lie inside [2 m_t, m_tt_max] = [{threshold:g}, "
                       f"{th.m_tt_max:g}] GeV (got {edges[0]:g} ... {edges[-1]:g})")
    y_edges = np.asarray(b.abs_y_tt_edges, dtype=float)
    if len(y_edges) < 2 or y_edges[0] != 0 or np.any(np.diff(y_edges) <= 0):
        raise ctx.fail(f"{key}.binning.abs_y_tt_edges", "need strictly ascending |y_tt| edges starting at 0, "
                       f"e.g. [0, 0.5, 1, 1.5, 10] (got {list(y_edges)})")
    if config.bounds.c_min > config.bounds.c_max:
        raise ctx.fail(f"{key}.bounds.c_min", f"c_min = {config.bounds.c_min} exceeds c_max = "
                       f"{config.bounds.c_max} (set both to 0 for an automatic range)")
    if tr.n_events - round(tr.validation_fraction * tr.n_events) < 2:
        raise ctx.fail(f"{key}.training.validation_fraction", "leaves fewer than 2 training events per sample")
    check_pdf_scales(config, ctx, key)


def check_pdf_scales(config: UnbinnedConfig, ctx: RunContext, key: str) -> None:
    """The evolved toy PDF is tabulated between Q0 and the highest scale of its eko nodes: factorisation scales
    outside are a runcard mistake, named before any event is generated."""
    th = config.theory
    if th.pdf != "lh_toy_evolved":
        return
    from mlhep.physics.lh_toy import Q0, lh_nodes
    from mlhep.tasks.eft.unbinned.physics import pdf_scales
    scales, q_max = pdf_scales(config), max(q for q, _ in lh_nodes(th.pdf_order))
    too_low = scales.min() < Q0 * (1 - 1e-12)
    if not too_low and scales.max() <= q_max:
        return
    where = "mu_f_fixed" if th.mu_f == "fixed" else "m_t" if too_low else "m_tt_max"
    span = " to ".join(dict.fromkeys(f"{q:g}" for q in (scales.min(), scales.max())))
    raise ctx.fail(f"{key}.theory.{where}", f"factorisation scales (mu_f: {th.mu_f}) of {span} GeV leave the range "
                   f"of the evolved toy PDF, [{Q0:.4g}, {q_max:g}] GeV (or use pdf: lh_toy_q0, scale independent)")


def check_pseudo_experiments(config: UnbinnedConfig, ctx: RunContext, key: str, nu_sm: float) -> None:
    b = config.bounds
    if b.pseudo_experiments and nu_sm > b.max_events_per_experiment:
        raise ctx.fail(f"{key}.bounds.pseudo_experiments",
                       f"each pseudo-experiment would hold ~{nu_sm:.3g} events, more than "
                       f"bounds.max_events_per_experiment = {b.max_events_per_experiment}; lower "
                       "collider.luminosity or collider.efficiency, raise the limit, or use 0 (Asimov only)")


def validate_unbinned(config: UnbinnedConfig, ctx: RunContext, key: str) -> None:
    """The checks of ``run_unbinned`` without its work. The pseudo-experiment size needs sigma_SM: it is
    computed when the PDF is at hand (``lh_toy_q0``, or the evolved toy already in the cache: a few seconds),
    never by running eko; otherwise that one check is left to ``fit``."""
    check_config(config, ctx, key)
    if config.bounds.pseudo_experiments and _spectrum_is_cheap(config):
        from mlhep.tasks.eft.unbinned.physics import build_spectrum
        check_pseudo_experiments(config, ctx, key, float(build_spectrum(config).expected_events(0.0)))


def _spectrum_is_cheap(config: UnbinnedConfig) -> bool:
    if config.theory.pdf == "lh_toy_q0":
        return True
    from mlhep.physics.lh_toy import lh_cache_ready
    return lh_cache_ready(config.theory.pdf_order)


def first_non_finite(section, key: str) -> tuple[str, float] | None:
    """(key path, value) of the first NaN or infinite number in a config dataclass (floats and lists of
    floats, nested sections included), or None. The loader's range checks let inf through (inf > 0)."""
    for field in dataclasses.fields(section):
        value, path = getattr(section, field.name), f"{key}.{field.name}"
        if dataclasses.is_dataclass(value):
            found = first_non_finite(value, path)
            if found is not None:
                return found
        elif isinstance(value, float) and not math.isfinite(value):
            return path, value
        elif isinstance(value, (list, tuple)):
            for i, item in enumerate(value):
                if isinstance(item, float) and not math.isfinite(item):
                    return f"{path}[{i}]", item
    return None
