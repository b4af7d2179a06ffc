"""The routing table ``hftlogging check`` prints: where each kind of record goes."""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Sequence
from typing import Any

from hftlogging.config.plan import Plan
from hftlogging.filters import TagFilter, to_level
from hftlogging.logger import AUDIT_LEVEL, METRIC_LEVEL
from hftlogging.record import build_record

__all__ = ["Route", "logger_chain", "routes"]

_ROUTE_LEVELS = (logging.DEBUG, logging.INFO, logging.WARNING, logging.ERROR, logging.CRITICAL)


@dataclasses.dataclass
class Route:
    """Where one kind of record goes, for one logger.

    Attributes:
        logger: the logger name (``"root"`` for the root logger).
        log_type: ``"text"``, ``"metric"`` or ``"audit"``.
        level: the record's level.
        tags: the record's tags for this row (empty: untagged records).
        handlers: the names of the handlers that write it.
        destinations: for each of those, what it writes to.
    """

    logger: str
    log_type: str
    level: int
    tags: tuple[str, ...]
    handlers: list[str]
    destinations: list[str]


def logger_chain(plan: Plan, name: str) -> list[tuple[str, dict[str, Any]]]:
    """The configured loggers a record of ``name`` visits, stopping where propagation ends."""
    loggers = plan.config.get("loggers", {})
    chain = []
    if name != "root":
        cur = name
        while cur:
            if cur in loggers:
                chain.append((cur, loggers[cur]))
                if loggers[cur].get("propagate", True) is False:
                    return chain
            cur = cur.rpartition(".")[0]
    chain.append(("root", plan.config.get("root") or {}))
    return chain


def _effective_level(plan: Plan, name: str) -> int:
    """The level a logger ends up with: its own, else its nearest configured ancestor's.

    Levels are inherited whatever ``propagate`` says; a root without a configured level
    keeps stdlib's default, WARNING.
    """
    loggers = plan.config.get("loggers", {})
    cur = "" if name == "root" else name
    while cur:
        level = (loggers.get(cur) or {}).get("level")
        if level is not None and to_level(level, "level"):
            return to_level(level, "level")
        cur = cur.rpartition(".")[0]
    level = (plan.config.get("root") or {}).get("level")
    return logging.WARNING if level is None else to_level(level, "level")


def _probe_record(name: str, log_type: str, level: int, tags: tuple[str, ...]) -> Any:
    rec = build_record(name, level, "routing probe", (), time.time_ns(), None,
                       log_type=log_type, context={}, tags=list(tags))
    if log_type == "metric":
        rec.__dict__.update(metric_name="probe", metric_value=1, metric_type="counter",
                            metric_tags={}, metric_unit=None)
    elif log_type == "audit":
        rec.__dict__["audit_event"] = "probe"
    return rec


def _passes(plan: Plan, filter_names: Sequence[str], record: Any) -> bool:
    for fname in filter_names:
        flt = plan.filters.get(fname)
        if flt is None:
            continue
        try:
            ok = flt.filter(record) if hasattr(flt, "filter") else flt(record)
        except Exception:
            ok = True  # a filter that cannot judge a probe is shown as passing
        if not ok:
            return False
    return True


def _deliver(plan: Plan, hname: str, record: Any, out: list[str], seen: set[str]) -> None:
    spec = plan.handlers.get(hname)
    if spec is None or hname in seen:
        return
    seen.add(hname)
    if record.levelno < spec.level or not _passes(plan, spec.filters, record):
        return
    if spec.is_queue or spec.targets:  # hftlogging's queue, or stdlib's (3.12+ keys)
        for t in spec.targets:
            _deliver(plan, t, record, out, seen)
        return
    out.append(hname)


def routes(plan: Plan) -> list[Route]:
    """For each configured logger, log type and level: the handlers that receive it.

    Metric and audit records are logged at INFO and, as in :class:`HFTLogger`, are not
    stopped by a logger's level. Filters are run on a probe record; when a
    :class:`~hftlogging.filters.TagFilter` is configured, tagged rows are added where the
    tags change the outcome.
    """
    names = ["root", *plan.config.get("loggers", {})]
    tag_sets: list[tuple[str, ...]] = [()]
    for flt in plan.filters.values():
        if isinstance(flt, TagFilter):
            for t in sorted(flt.tags):
                if (t,) not in tag_sets:
                    tag_sets.append((t,))
    rows = [("text", lv) for lv in _ROUTE_LEVELS] + [("metric", METRIC_LEVEL),
                                                     ("audit", AUDIT_LEVEL)]
    out: list[Route] = []
    for name in names:
        chain = logger_chain(plan, name)
        effective = _effective_level(plan, name)
        for log_type, level in rows:
            seen_result: list[str] | None = None
            for tags in tag_sets:
                got = _route_one(plan, name=name, chain=chain, effective=effective,
                                 log_type=log_type, level=level, tags=tags)
                if tags and got == seen_result:
                    continue
                if not tags:
                    seen_result = got
                dests = [plan.handlers[h].file_for(name) or plan.handlers[h].destination()
                         for h in got]
                out.append(Route(name, log_type, level, tags, got, dests))
    return out


def _route_one(
    plan: Plan,
    *,
    name: str,
    chain: list[tuple[str, dict[str, Any]]],
    effective: int,
    log_type: str,
    level: int,
    tags: tuple[str, ...],
) -> list[str]:
    if log_type == "text" and level < effective:
        return []
    record = _probe_record(name, log_type, level, tags)
    if not _passes(plan, chain[0][1].get("filters") or [], record):
        return []
    got: list[str] = []
    for _, entry in chain:
        for h in entry.get("handlers") or []:
            # A handler attached at two levels of the chain receives the record twice,
            # as stdlib does it: the table shows it twice.
            _deliver(plan, h, record, got, set())
    return got

