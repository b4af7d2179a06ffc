"""Building LogRecords from captured calls on the listener thread, and reusing them."""

from __future__ import annotations

import logging
import logging.handlers
import os
import sys
import threading
import weakref
from collections.abc import Mapping
from typing import Any

from hftlogging import lifecycle
from hftlogging.capture import KIND_AUDIT, KIND_METRIC
from hftlogging.contexts import global_fields
from hftlogging.record import (
    AUDIT,
    IMMUTABLE_FAST,
    METRIC,
    RESERVED_ATTRS,
    START_NS,
    Record,
    build_record,
    path_info,
)

__all__ = [
    "UNKNOWN_CALLER", "add_global_context", "free_records", "materialize", "reset_after_fork",
]

def add_global_context(record: logging.LogRecord) -> None:
    """Give a record of a logger that is not an HFTLogger the global context, lowest."""
    d = record.__dict__
    g = global_fields()
    ctx = dict(g)
    for k, v in g.items():
        if k in RESERVED_ATTRS:
            continue
        if k in d:
            ctx[k] = d[k]  # the record's own extra= field wins
        else:
            d[k] = v
    own = d.get("context")
    d["context"] = {**ctx, **own} if isinstance(own, dict) else ctx



# --- building records from captured calls --------------------------------------------------

UNKNOWN_CALLER = ("(unknown file)", 0, "(unknown function)")


def _template(logger: Any) -> dict[str, Any]:
    """The attributes a logger's records share, built once per logger and process.

    A record's ``__dict__`` starts as a copy of this (a dict copy is one C-level clone),
    then the dozen per-call values are written over it.
    """
    pid = os.getpid()
    rec = build_record(logger.name, logging.INFO, "", (), 0, None)
    tmpl = dict(rec.__dict__)
    logger.__dict__["_hft_record_template"] = (pid, tmpl)
    _pid[0] = pid
    return tmpl


_pid: list[Any] = [None]
_weakref_count = weakref.getweakrefcount
_level_names = logging._levelToName
_thread_names = threading._active  # type: ignore[attr-defined]


def materialize(item: Any, pool: list[Any] | None = None) -> logging.LogRecord:
    """Turn a captured call (a tuple from the fast path) into a :class:`Record`.

    ``pool`` holds emptied records nothing else refers to (see :func:`free_records`);
    one is refilled instead of allocating a new record and dict.
    """
    if type(item) is not tuple:
        return item  # type: ignore[no-any-return]
    # hftlogging.capture.FIELDS, in order.
    kind, logger, level, msg, args, fields, lctx, cv, t_ns, tid, caller, task = item
    if cv:
        ctx = {**lctx, **cv}
        if fields:
            ctx.update(fields)
    elif fields:
        ctx = {**lctx, **fields} if lctx else fields
    else:
        ctx = dict(lctx) if lctx else {}
    tmpl = logger.__dict__.get("_hft_record_template")
    base = tmpl[1] if tmpl is not None and tmpl[0] == _pid[0] else _template(logger)
    rec: Any = pool.pop() if pool else None
    if rec is None:
        d = base.copy()
    else:
        d = rec.__dict__
        d.update(base)
    if kind == KIND_METRIC:
        mtype, value, tags, unit = args
        d["msg"] = "metric %s=%s"
        d["args"] = (msg, value)
        d["log_type"] = METRIC
        d["metric_name"] = msg
        d["metric_value"] = value
        d["metric_type"] = mtype
        d["metric_tags"] = tags
        d["metric_unit"] = unit
    elif kind == KIND_AUDIT:
        d["msg"] = "audit %s"
        d["args"] = (msg,)
        d["log_type"] = AUDIT
        d["audit_event"] = msg
    else:
        d["msg"] = msg
        if args and len(args) == 1:
            a0 = args[0]
            if type(a0) not in IMMUTABLE_FAST and isinstance(a0, Mapping) and a0:
                args = a0
        d["args"] = args
    if level != logging.INFO:
        d["levelname"] = _level_names.get(level) or f"Level {level}"
        d["levelno"] = level
    d["created"] = t_ns / 1e9
    d["msecs"] = (t_ns % 1_000_000_000) // 1_000_000 + 0.0
    d["relativeCreated"] = (t_ns - START_NS) / 1e6
    if d["thread"] is not None or logging.logThreads:
        if type(tid) is tuple:  # captured with the name: a formatter shows threadName
            tid, d["threadName"] = tid
        else:
            t = _thread_names.get(tid)
            d["threadName"] = t._name if t is not None else f"Thread-{tid}"
        d["thread"] = tid
    if caller is not None:
        pathname, lineno, func = caller
        d["pathname"] = pathname
        d["lineno"] = lineno
        d["funcName"] = func
        d["filename"], d["module"] = path_info(pathname)
    if task is not None:
        if type(task) is tuple:  # (taskName, trace context) captured at the call
            task, trace = task
            d["otel_trace_id"], d["otel_span_id"], d["otel_trace_flags"] = trace
        if task is not None:
            d["taskName"] = task
    # Contract attributes only when they carry something (Record has class defaults):
    # a stdlib-style call's record holds exactly stdlib's attributes.
    tags = logger._tags
    if tags:
        d["tags"] = tags
    if ctx:
        d["context"] = ctx
        for k, v in ctx.items():
            if k not in RESERVED_ATTRS:
                d[k] = v
    if rec is None:
        rec = Record.__new__(Record)
        rec.__dict__ = d
    rec._created_ns = t_ns
    return rec  # type: ignore[no-any-return]


def _reference_counts(records: list[Any]) -> tuple[int, int, int]:
    """References to a batch list, a record in it and its dict, seen the way
    :func:`free_records` sees them (calibrates it for this interpreter)."""
    grc = sys.getrefcount
    n_list = grc(records)
    n_rec = n_dict = 0
    for r in records:
        n_rec = grc(r)
        d = r.__dict__
        n_dict = grc(d)
    return n_list, n_rec, n_dict


def _calibrate() -> tuple[int, int, int] | None:
    """The counts of a record nothing else holds, or None where reuse is not safe.

    Reuse relies on CPython's exact reference counts under the GIL: it is off on other
    implementations, on free-threaded builds and on versions after 3.13 (whose counts
    may skip references), and off if an extra reference does not change the counts.
    """
    if (
        sys.implementation.name != "cpython"
        or sys.version_info >= (3, 14)
        or not getattr(sys, "_is_gil_enabled", lambda: True)()
        or not hasattr(sys, "getrefcount")
    ):
        return None
    probe = Record.__new__(Record)
    probe.__dict__ = {}
    records = [probe]
    del probe
    counts = _reference_counts(records)
    held = records[0], records[0].__dict__, records  # one more reference to each
    if any(a == b for a, b in zip(_reference_counts(records), counts, strict=True)):
        return None
    del held
    return counts


_FREE_COUNTS = _calibrate()


def free_records(records: list[Any], pool: list[Any], limit: int) -> None:
    """Empty the records of a written batch that nothing else refers to, into ``pool``.

    A record is reused only when the batch list, the record and its ``__dict__`` have no
    reference but the listener's own and no weak reference exists: a handler, filter or
    fallback that kept any of them (in a list, a buffer, a weakref) keeps it unchanged.
    Reuse keeps the listener from allocating two garbage-collected objects per record,
    which on a busy listener is most of the collector's work.
    """
    if _FREE_COUNTS is None:
        return
    grc = sys.getrefcount
    n_list, n_rec, n_dict = _FREE_COUNTS
    if grc(records) != n_list:
        return  # a handler kept the batch list itself
    room = limit - len(pool)
    for r in records:
        if room <= 0:
            return
        if type(r) is Record and grc(r) == n_rec:
            d = r.__dict__
            if grc(d) == n_dict and not _weakref_count(r):
                d.clear()  # the user's objects are released now, not at reuse
                r.hft_redacted = None  # the next record is not redacted yet
                pool.append(r)
                room -= 1


def reset_after_fork() -> None:
    """Forget the cached process id: the templates are rebuilt for the child."""
    _pid[0] = None


# --- listener ---------------------------------------------------------------------------------


lifecycle.add_after_fork_child(reset_after_fork)
