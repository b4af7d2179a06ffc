"""Field-name presets of :class:`~hftlogging.formatters.JSONFormatter` for log shippers.

``schema="ecs"``: Elastic Common Schema, laid out as the ``ecs-logging`` package lays it
out (``@timestamp``, ``log.level``, ``message``, ``ecs.version``, then ``log``,
``process`` and ``error`` objects)::

    {"@timestamp":"2026-11-21T08:15:02.123Z","log.level":"info","message":"order filled",
     "ecs.version":"1.6.0","log":{"logger":"orders","origin":{...}},
     "process":{"pid":4711,"name":"MainProcess","thread":{"id":1402,"name":"MainThread"}},
     "order_id":"o-7"}

``schema="otel"``: the OpenTelemetry log data model in snake_case::

    {"timestamp":1795248902123456789,"severity_text":"INFO","severity_number":9,
     "body":"order filled","attributes":{"order_id":"o-7","code.function":"place"},
     "resource":{"process.pid":4711,"host.name":"trade-1"},
     "instrumentation_scope":{"name":"orders"}}

Context fields (keyword fields, bound and global context, ``extra=``) are written as they
are (ECS: at the top level; OTel: in ``attributes``); a field named like a fixed key is
written as ``field_<name>``. Values of any type serialise.
"""

from __future__ import annotations

import logging
import socket
import time
import traceback
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["ECS_VERSION", "SCHEMAS", "ecs_object", "otel_object"]

#: The ECS version written in ``ecs.version`` (the one ``ecs-logging`` writes).
ECS_VERSION = "1.6.0"
_ECS_FIXED = frozenset({"@timestamp", "log.level", "message", "ecs.version", "log", "process",
                        "error", "event", "metric"})
_OTEL_SEVERITY = {logging.DEBUG: 5, logging.INFO: 9, logging.WARNING: 13, logging.ERROR: 17,
                  logging.CRITICAL: 21}
_host: list[str] = []


def _host_name() -> str:
    if not _host:
        _host.append(socket.gethostname() or "localhost")
    return _host[0]


def _fields(record: logging.LogRecord, skip: frozenset[str]) -> dict[str, Any]:
    """Context fields, then ``extra=`` attributes (python-json-logger's rule)."""
    d = record.__dict__
    out: dict[str, Any] = {}
    ctx = d.get("context")
    if isinstance(ctx, Mapping):
        for k, v in ctx.items():
            out[str(k)] = v
    for k, v in d.items():
        if k not in skip and k not in out and not (type(k) is str and k.startswith("_")):
            out[k] = v
    return out


def _exception(record: logging.LogRecord) -> tuple[str, str, str] | None:
    """(type, message, stack trace) of the record's exception, if any.

    The stack trace is the traceback's frames, as ecs-logging writes them; a record whose
    traceback was released on the caller's thread (behind hftlogging's queue) gives its
    rendered traceback instead.
    """
    ei = record.exc_info
    if not ei or ei[0] is None:
        return None
    try:
        message = str(ei[1])
    except Exception as e:
        message = f"<unprintable {type(ei[1]).__name__}: {type(e).__name__}>"
    tb = ei[2]
    stack = "".join(traceback.format_tb(tb)) if tb is not None else (record.exc_text or "")
    return ei[0].__name__, message, stack


def ecs_object(record: logging.LogRecord, skip: frozenset[str],
               static: Mapping[str, Any]) -> dict[str, Any]:
    """The ECS object of ``record`` (values not yet made JSON-safe)."""
    created_ns = getattr(record, "created_ns", None) or int(record.created * 1e9)
    message = record.getMessage()
    obj: dict[str, Any] = {
        "@timestamp": _millis(created_ns),
        "log.level": record.levelname.lower(),
        "message": message,
        "ecs.version": ECS_VERSION,
    }
    log: dict[str, Any] = {"logger": record.name, "original": message}
    if record.pathname != "(unknown file)":
        log["origin"] = {"file": {"line": record.lineno, "name": record.filename},
                         "function": record.funcName}
    obj["log"] = log
    process: dict[str, Any] = {"pid": record.process, "name": record.processName}
    if record.thread is not None:
        process["thread"] = {"id": record.thread, "name": record.threadName}
    obj["process"] = process
    exc = _exception(record)
    if exc is not None:
        obj["error"] = {"type": exc[0], "message": exc[1], "stack_trace": exc[2]}
    log_type = getattr(record, "log_type", "text")
    if log_type == "audit":
        obj["event"] = {"kind": "event", "action": record.__dict__.get("audit_event")}
    elif log_type == "metric":
        d = record.__dict__
        obj["metric"] = {"name": d.get("metric_name"), "value": d.get("metric_value"),
                         "type": d.get("metric_type"), "tags": d.get("metric_tags")}
    for k, v in static.items():
        obj.setdefault(k, v)
    for k, v in _fields(record, skip).items():
        obj[f"field_{k}" if k in _ECS_FIXED else k] = v
    return obj


def otel_object(record: logging.LogRecord, skip: frozenset[str],
                static: Mapping[str, Any]) -> dict[str, Any]:
    """The OpenTelemetry log data model object of ``record`` (snake_case names)."""
    created_ns = getattr(record, "created_ns", None) or int(record.created * 1e9)
    level = record.levelno
    severity = _OTEL_SEVERITY.get(level) or max(1, min(24, level // 10 * 4 + 1))
    attributes: dict[str, Any] = dict(_fields(record, skip))
    attributes["code.function"] = record.funcName
    attributes["code.filepath"] = record.pathname
    attributes["code.lineno"] = record.lineno
    if record.thread is not None:
        attributes["thread.id"] = record.thread
        attributes["thread.name"] = record.threadName
    log_type = getattr(record, "log_type", "text")
    if log_type != "text":
        attributes["log_type"] = log_type
        for k in ("audit_event", "metric_name", "metric_value", "metric_type", "metric_tags"):
            if k in record.__dict__:
                attributes[k] = record.__dict__[k]
    exc = _exception(record)
    if exc is not None:
        attributes["exception.type"], attributes["exception.message"] = exc[0], exc[1]
        attributes["exception.stacktrace"] = exc[2]
    obj: dict[str, Any] = {
        "timestamp": created_ns,
        "severity_text": record.levelname,
        "severity_number": severity,
        "body": record.getMessage(),
        "attributes": attributes,
        "resource": {"process.pid": record.process, "host.name": _host_name(), **static},
        "instrumentation_scope": {"name": record.name},
    }
    d = record.__dict__
    if d.get("otel_trace_id"):
        obj["trace_id"] = d["otel_trace_id"]
        obj["span_id"] = d.get("otel_span_id")
    return obj


def _millis(created_ns: int) -> str:
    """``2026-11-21T08:15:02.123Z`` (milliseconds, as ecs-logging writes it)."""
    sec, rest = divmod(created_ns, 1_000_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sec)) + f".{rest // 1_000_000:03d}Z"


#: schema name -> builder(record, attributes not to write as fields, static fields)
SCHEMAS: dict[str, Callable[[logging.LogRecord, frozenset[str], Mapping[str, Any]],
                            dict[str, Any]]] = {"ecs": ecs_object, "otel": otel_object}
