"""Trace context of the calling code, for records built later on the listener thread.

When ``opentelemetry-api`` is importable and a handler or formatter behind the queue uses
the trace context (``OTLPHandler``, a format naming ``%(otel_trace_id)s``...), each call
reads the current span on the caller's thread: one context lookup. Records then carry
``otel_trace_id`` and ``otel_span_id`` (lower-case hex, the names OpenTelemetry's own
logging instrumentation uses) and ``otel_trace_flags``, when the span is valid. Nothing is
imported until a configuration asks for it; without OpenTelemetry, or without such a
handler, a call costs what it costs without this module.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from typing import Any

__all__ = ["ATTRIBUTES", "available", "get_current_span", "trace_ids"]

#: The record attributes set when a span is active at the call.
ATTRIBUTES = ("otel_trace_id", "otel_span_id", "otel_trace_flags")

#: opentelemetry's ``trace.get_current_span`` once :func:`available` found it, else None.
get_current_span: Callable[[], Any] | None = None
_available: bool | None = None


def available() -> bool:
    """Whether ``opentelemetry-api`` can be imported (imports it, once, if so)."""
    global _available, get_current_span
    if _available is None:
        if importlib.util.find_spec("opentelemetry") is None:
            _available = False
        else:
            try:
                from opentelemetry import trace
            except ImportError:
                _available = False
            else:
                get_current_span = trace.get_current_span
                _available = True
    return _available


def trace_ids() -> tuple[str, str, int] | None:
    """(trace id, span id, flags) of the span current on this thread or task, or None."""
    get = get_current_span
    if get is None:
        return None
    try:
        ctx = get().get_span_context()
        if not ctx.is_valid:
            return None
        return format(ctx.trace_id, "032x"), format(ctx.span_id, "016x"), int(ctx.trace_flags)
    except Exception:  # a broken tracer must not break a log call
        return None
