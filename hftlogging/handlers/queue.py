"""Non-blocking dispatch: a bounded QueueHandler and a batching QueueListener.

A log call costs the caller the capture and the enqueue. Formatting, I/O, serialisation
and metric updates happen on the listener thread, which drains the queue in batches and
hands each batch to its handlers: ``emit_batch(records)`` where a handler has it (one
write and one flush per batch), ``handle(record)`` otherwise.

The pieces live in their own modules, re-exported here: the ring and its overflow
policies (:mod:`hftlogging.handlers.ring`), building records from captured calls
(:mod:`hftlogging.handlers.records`), the listener (:mod:`hftlogging.handlers.listener`).
This module holds the handler.
"""

from __future__ import annotations

import logging
import logging.handlers
import sys
import threading
import time
import traceback
from collections.abc import Iterable, Sequence
from typing import Any

from hftlogging import internals, lifecycle
from hftlogging import otel as _otel
from hftlogging import strict as _strict
from hftlogging.contexts import global_fields
from hftlogging.exceptions import ConfigError, Found, describe
from hftlogging.handlers.listener import QueueListener
from hftlogging.handlers.records import add_global_context, free_records, materialize
from hftlogging.handlers.ring import ON_LISTENER, FlushMarker, RecordRing, in_pipeline
from hftlogging.lifecycle import logging_lock_released
from hftlogging.plans import invalidate_plans
from hftlogging.record import (
    IMMUTABLE_FAST,
    RESERVED_ATTRS,
    Record,
    is_immutable,
    snapshot_value,
)

__all__ = [
    "FlushMarker", "QueueHandler", "QueueListener", "RecordRing", "free_records", "in_pipeline",
    "materialize",
]

_CALLER_FIELDS = ("funcName", "lineno", "pathname", "filename", "module")
_monotonic = time.monotonic



# --- the handler ------------------------------------------------------------------------------


class QueueHandler(logging.handlers.QueueHandler):
    """A bounded, non-blocking queue in front of the real handlers.

    Configure it as any handler (the keys are those of stdlib 3.12's dictConfig plus
    ours)::

        handlers:
          queue:
            class: hftlogging.handlers.QueueHandler
            handlers: [file, audit]
            capacity: 10000
            overflow: drop_newest
            batch_size: 512
            flush_interval_ms: 5

    Args:
        queue: accepted for stdlib compatibility and ignored: hftlogging always uses its
            own bounded :class:`RecordRing`.
        handlers: the handlers behind the queue, as objects or as configured names.
        capacity: most records queued at once.
        overflow: ``"drop_newest"``, ``"drop_oldest"``, ``"block"`` or
            ``"discard_below"``.
        block_timeout_ms: longest wait of the ``"block"`` policy, and of a record kept
            by ``"discard_below"``.
        discard_threshold: with ``"discard_below"``, the level from which records are
            kept when the queue is full (default ``WARNING``); records below it are
            dropped and counted by level.
        audit_wait_ms: longest wait of an audit record for room before it is written
            synchronously.
        batch_size, flush_interval_ms, fallback, failure_threshold, retry_initial_s,
        retry_max_s, drop_report_interval_s, stop_timeout_s, hang_timeout_s: passed to
            the listener.
        respect_handler_level: apply handler levels on the listener (default True).
        caller_info: ``"auto"`` (capture ``funcName``/``lineno``/``pathname`` only when a
            formatter or filter behind the queue uses them), ``True`` or ``False``.
        drain_on_sigterm: on SIGTERM, when the application has no handler of its own,
            drain the queue before the process ends (default True).
    """

    #: Tells HFTLogger that it may append captured calls to :attr:`ring` directly.
    hft_fast_sink = True

    def __init__(
        self,
        queue: Any = None,
        *,
        handlers: Sequence[logging.Handler | str] = (),
        capacity: int = 10_000,
        overflow: str = "drop_newest",
        block_timeout_ms: float = 100.0,
        audit_wait_ms: float = 500.0,
        discard_threshold: int | str = logging.WARNING,
        batch_size: int = 512,
        flush_interval_ms: float = 5.0,
        respect_handler_level: bool = True,
        caller_info: bool | str = "auto",
        fallback: logging.Handler | str | None = None,
        failure_threshold: int = 3,
        retry_initial_s: float = 0.5,
        retry_max_s: float = 30.0,
        drop_report_interval_s: float = 10.0,
        stop_timeout_s: float = 10.0,
        hang_timeout_s: float = 5.0,
        drain_on_sigterm: bool = True,
        level: int | str = logging.NOTSET,
    ) -> None:
        self._ring = RecordRing(capacity, overflow, block_timeout_ms, audit_wait_ms,
                                discard_threshold)
        # Plain attributes, read by HFTLogger's fast path on every call.
        self.ring = self._ring.items
        self.capacity = self._ring.capacity
        self.capture = caller_info is True
        self._listener: QueueListener | None = None
        logging.Handler.__init__(self, level)
        self.queue = self._ring  # type: ignore[assignment]
        if caller_info not in ("auto", True, False):
            msg = describe("caller_info", "'auto', true or false", caller_info,
                           "true records the call site always, 'auto' when a formatter reads it")
            raise ConfigError(msg, key="caller_info")
        if isinstance(handlers, (str, bytes)) or not isinstance(handlers, Iterable):
            msg = describe("handlers", "a list of handler names", handlers,
                           "list the target handlers, e.g. [file, console]")
            raise ConfigError(msg, key="handlers")
        self._targets: list[logging.Handler | str] = list(handlers)
        self._listener_options: dict[str, Any] = {
            "respect_handler_level": respect_handler_level,
            "batch_size": batch_size,
            "flush_interval_ms": flush_interval_ms,
            "failure_threshold": failure_threshold,
            "retry_initial_s": retry_initial_s,
            "retry_max_s": retry_max_s,
            "drop_report_interval_s": drop_report_interval_s,
            "stop_timeout_s": stop_timeout_s,
            "hang_timeout_s": hang_timeout_s,
        }
        # Validate the listener options now, at configuration time.
        QueueListener(RecordRing(1), **self._listener_options)
        self._fallback = fallback
        self.caller_info = caller_info
        self.drain_on_sigterm = bool(drain_on_sigterm)
        self.needs_caller = caller_info is True
        self.needs_task = False
        self.needs_thread_name = False
        self.needs_trace = False
        self._started = False
        self._closed = False
        self._start_lock = threading.RLock()

    def overflow(self, item: Any) -> None:
        """Apply the overflow policy to an item that found the queue full."""
        self._ring.overflow(item)

    # -- listener wiring -------------------------------------------------------------------

    @property
    def listener(self) -> QueueListener | None:
        """The :class:`QueueListener` draining this handler's queue."""
        return self._listener

    @listener.setter
    def listener(self, value: Any) -> None:
        # Python 3.12+ dictConfig builds a listener itself (stdlib's class by default, on
        # a queue of its own) and assigns it here: adopt its handlers onto our ring.
        if value is None:
            return
        if isinstance(value, QueueListener) and getattr(value, "queue", None) is self._ring:
            self._listener = value
            return
        self._targets = list(getattr(value, "handlers", ()) or self._targets)
        self._listener = None
        if (3, 12, 0) <= sys.version_info[:3] < (3, 12, 4):
            internals.warn_once(
                "dictconfig_3_12_0",
                "on Python 3.12.0-3.12.3, logging.config.dictConfig passes no option but "
                "'handlers' to a QueueHandler given by 'class' (capacity, overflow and the "
                "rest take their defaults): write '()': 'hftlogging.handlers.QueueHandler' "
                "instead of 'class', or use hftlogging.configure()",
            )

    def accepts_fast(self) -> bool:
        """Whether callers may append captured calls to :attr:`ring` directly."""
        return self._started and not self._closed and not self.filters

    def needs_start(self) -> bool:
        """Whether the listener still has to be started (lazily, on first use)."""
        return not self._started and not self._closed

    def start(self, *, lazy: bool = False) -> None:
        """Resolve the target handlers, build the listener and start it. Idempotent.

        Args:
            lazy: a start on first use (by a log call): it never reopens a queue that was
                stopped — only an explicit start (configure) does.

        Never called with ``logging._lock`` held: a starting thread may need that lock.
        """
        with self._start_lock:
            if lazy and self._closed:
                return
            if self._started and self._listener is not None and self._listener.running:
                return
            if self._listener is None:
                targets = self._resolve_targets()
                fallback = self._resolve_fallback()
                self._listener = QueueListener(
                    self._ring, *targets, fallback=fallback, **self._listener_options
                )
                self._decide_capture(targets)
            self._closed = False
            self._listener.start()
            self._started = True
        lifecycle.register(self)
        _move_to_end_of_shutdown_order(self)
        invalidate_plans()

    def _resolve_targets(self) -> list[logging.Handler]:
        out = []
        for t in self._targets:
            if isinstance(t, logging.Handler):
                out.append(t)
                continue
            h = logging._handlers.get(t)  # type: ignore[attr-defined]
            if h is None:
                msg = describe(
                    f"queue handler {self.get_name() or ''!s}".rstrip(),
                    "the names of configured handlers", Found(f"{t!r}, which is not configured"),
                    "add it under 'handlers' or remove it from the list",
                )
                raise ConfigError(msg, key="handlers")
            out.append(h)
        if any(h is self for h in out):
            msg = describe(
                "handlers", "handlers other than the queue handler itself",
                Found(f"{self.get_name() or 'the queue handler'!s} itself"),
                "remove it from its own list",
            )
            raise ConfigError(msg, key="handlers")
        return out

    def _resolve_fallback(self) -> logging.Handler | None:
        fb = self._fallback
        if fb is None or isinstance(fb, logging.Handler):
            return fb
        h = logging._handlers.get(fb)  # type: ignore[attr-defined]
        if h is None:
            msg = describe("fallback", "the name of a configured handler",
                           Found(f"{fb!r}, which is not configured"),
                           "add it under 'handlers' or leave fallback out (stderr)")
            raise ConfigError(msg, key="fallback")
        return h  # type: ignore[no-any-return]

    def _decide_capture(self, targets: Sequence[logging.Handler]) -> None:
        if self.caller_info == "auto":
            self.needs_caller = any(_uses(h, _CALLER_FIELDS) for h in targets)
        else:
            self.needs_caller = bool(self.caller_info)
        self.needs_task = any(_uses(h, ("taskName",)) for h in targets)
        self.needs_thread_name = any(_uses(h, ("threadName",)) for h in targets)
        self.needs_trace = any(_uses_trace(h) for h in targets) and _otel.available()
        self.capture = (self.needs_caller or self.needs_task or self.needs_thread_name
                        or self.needs_trace)

    @property
    def handlers(self) -> list[logging.Handler]:
        """The handlers behind the queue."""
        if self._listener is not None:
            return list(self._listener.handlers)
        return [t for t in self._targets if isinstance(t, logging.Handler)]

    # -- stdlib path -----------------------------------------------------------------------

    def prepare(self, record: logging.LogRecord) -> Any:
        """Keep the record for the listener without formatting it.

        ``msg % args`` is deferred unless an argument is mutable, in which case the
        message is rendered now so the line shows the values at call time. An exception's
        traceback is rendered now into ``exc_text`` and the traceback object released;
        ``exc_info`` keeps the type and a traceback-free copy of the value.
        """
        if global_fields() and "log_type" not in record.__dict__:
            add_global_context(record)  # a plain stdlib logger's record
        args = record.args
        values = (args.values() if isinstance(args, dict) else args) if args else ()
        if not is_immutable(record.msg) or not all(is_immutable(a) for a in values):
            record.msg = record.getMessage() if isinstance(record, Record) else _render(record)
            record.args = None
        if type(record) is not Record:  # hftlogging's records arrive copied
            _snapshot_attributes(record)
        ei = record.exc_info
        if ei:
            if not record.exc_text:
                record.exc_text = _format_exception(ei)
            record.exc_info = (ei[0], _detach(ei[1]), None)  # type: ignore[assignment]
        return record

    def enqueue(self, record: Any) -> None:
        """Append to the ring under the overflow policy (never blocks beyond the policy)."""
        ring = self._ring
        if len(ring.items) < ring.capacity:
            ring.items.append(record)
        else:
            ring.overflow(record)

    def emit(self, record: logging.LogRecord) -> None:
        """Queue a record from the stdlib path; after shutdown, write it synchronously."""
        try:
            if not self._started and not self._closed:
                self.start(lazy=True)
            prepared = self.prepare(record)
            listener = self._listener
            if self._closed and listener is not None and not in_pipeline():
                listener.dispatch_now([prepared])
            else:
                self.enqueue(prepared)
        except Exception:
            self.handleError(record)

    def handle(self, record: logging.LogRecord) -> Any:
        """Filter, then :meth:`emit` — without the handler's lock, which a handler behind
        the queue that logs would otherwise wait on (the ring needs no lock)."""
        rv: Any = self.filter(record)  # a record on 3.12+, where a filter may return one
        if isinstance(rv, logging.LogRecord):
            record = rv
        if rv:
            self.emit(record)
        return rv

    # -- configuration changes invalidate the callers' plans ------------------------------

    def setLevel(self, level: int | str) -> None:
        super().setLevel(level)
        invalidate_plans()

    def addFilter(self, filter: Any) -> None:
        super().addFilter(filter)
        invalidate_plans()

    def removeFilter(self, filter: Any) -> None:
        super().removeFilter(filter)
        invalidate_plans()

    # -- shutdown --------------------------------------------------------------------------

    def stop(self, timeout: float | None = None) -> None:
        """Drain and stop the listener; records logged afterwards are written synchronously."""
        # Serialised with start(); the lock is taken with logging's lock released, since a
        # start in progress may be waiting for it (dictConfig closes handlers holding it).
        with logging_lock_released(), self._start_lock:
            self._closed = True
        invalidate_plans()
        listener = self._listener
        if listener is not None:
            listener.stop(timeout)

    def flush(self, timeout: float | None = None) -> bool:  # type: ignore[override]
        """Wait until every record queued before the call is written and the handlers flushed.

        A marker goes into the queue behind the records already there; the listener sets
        it once it has dispatched them and flushed its handlers.

        Args:
            timeout: seconds to wait at most; None waits as long as it takes (a handler
                that hangs is bypassed by the watchdog after ``hang_timeout_s``). Once the
                queue is stopped, at most ``stop_timeout_s``.

        Returns:
            True when everything was written and flushed; False when the deadline passed,
            a handler is bypassed or failed to flush, the listener stopped before reaching
            the marker, or the call was made on a listener thread (from inside a handler,
            where waiting would wait for itself). Never raises.
        """
        try:
            return self._flush(timeout)
        except Exception:  # flush is called at exit and from handlers: never raise
            return False

    def _flush(self, timeout: float | None) -> bool:
        listener = self._listener
        if listener is None or not listener.running:
            return not self._ring.items
        if getattr(ON_LISTENER, "active", False) or in_pipeline():
            return False  # from a handler: what it waits for is the dispatch it is in
        if self._closed:
            timeout = listener.stop_timeout_s if timeout is None else timeout
        marker = FlushMarker()
        self._ring.items.append(marker)  # past the capacity: a marker is never refused
        listener.wake()
        deadline = None if timeout is None else _monotonic() + timeout
        with logging_lock_released():
            while True:
                step = 0.05
                if deadline is not None:
                    step = min(step, deadline - _monotonic())
                    if step <= 0:
                        return marker.done.is_set() and marker.ok
                if marker.done.wait(step):
                    return marker.ok
                if not _alive(listener):
                    return marker.done.is_set() and marker.ok

    def close(self) -> None:
        """Drain and stop the listener, then close as stdlib handlers do."""
        self.stop()
        super().close()

    def after_fork(self) -> None:
        """In a forked child: drop the parent's queued records; restart lazily on use."""
        self._ring.after_fork()
        self._start_lock = threading.RLock()
        if self._listener is not None:
            self._listener.after_fork()
        self._started = False

    # -- observability ---------------------------------------------------------------------

    def stats(self) -> dict[str, Any]:
        """This queue's counters (see :func:`hftlogging.stats`)."""
        ring = self._ring
        listener = self._listener
        written = listener.written if listener else 0
        batches = listener.batches if listener else 0
        depth = len(ring.items)
        return {
            "name": self.get_name(),
            "queue_depth": depth,
            "capacity": ring.capacity,
            "high_water": max(ring.high_water, depth),
            "enqueued": written + depth,
            "written": written,
            "dropped": ring.dropped,
            "dropped_by_type": dict(ring.dropped_by_type),
            "dropped_by_level": dict(ring.dropped_by_level),
            "handler_errors": listener.handler_errors() if listener else {},
            "handler_fallbacks": listener.handler_fallbacks() if listener else {},
            "tripped_handlers": listener.tripped_handlers() if listener else [],
            "batches": batches,
            "mean_batch_size": written / batches if batches else 0.0,
            "audit_sync_writes": ring.audit_sync_writes,
            "audit_over_capacity": ring.audit_over_capacity,
            "kept_over_capacity": ring.kept_over_capacity,
            "drop_reports": listener.drop_reports if listener else 0,
            "listener_errors": listener.listener_errors if listener else 0,
            "listener_takeovers": listener.takeovers if listener else 0,
            "unfinished_stops": listener.unfinished_stops if listener else 0,
            "dropped_at_stop": listener.dropped_at_stop if listener else 0,
            "audit_left_at_stop": listener.audit_left_at_stop if listener else 0,
            "listeners": 1 if listener is not None and listener.running else 0,
            "overflow": ring.overflow_policy,
            "caller_info": self.needs_caller,
        }


def _alive(listener: QueueListener) -> bool:
    """Whether the listener thread still runs (read afresh at every call)."""
    return listener.running


def _uses(handler: logging.Handler, fields: Sequence[str]) -> bool:
    """Whether a handler (its formatter and filters) may read any of ``fields``.

    A handler, formatter or filter may declare ``uses_caller_info = True/False``. Otherwise
    a stdlib-style formatter is judged by its format string; a formatter with its own
    ``format()`` from outside hftlogging and python-json-logger, or a filter that is not a
    plain name filter, is assumed to read anything.
    """
    caller = fields is _CALLER_FIELDS
    declared = getattr(handler, "uses_caller_info", None)
    if caller and declared is not None:
        return bool(declared)
    fmt = handler.formatter
    if fmt is not None:
        declared = getattr(fmt, "uses_caller_info", None)
        if caller and declared is not None:
            if declared:
                return True
        else:
            own_format = type(fmt).format is not logging.Formatter.format
            known = type(fmt).__module__.startswith(("hftlogging", "pythonjsonlogger"))
            if own_format and not known:
                return True
            # Formatter keeps its format string in ``_fmt`` (private, every version so far);
            # without it the formatter is assumed to read anything.
            text = getattr(fmt, "_fmt", None)
            if not isinstance(text, str):
                internals.warn_once(
                    "formatter_fmt",
                    f"{type(fmt).__name__} has no format string in _fmt on this Python: "
                    "caller information and thread names are taken for every record",
                )
                return True
            if any(f in text for f in fields):
                return True
    for flt in handler.filters:
        declared = getattr(flt, "uses_caller_info", None)
        if declared is not None:
            if declared and caller:
                return True
        elif type(flt) is not logging.Filter:
            return True
    return False


def _uses_trace(handler: logging.Handler) -> bool:
    """Whether a handler exports or shows the trace context (``uses_trace_context`` on
    the handler or its formatter, or a format naming ``otel_trace_id``/``otel_span_id``)."""
    if getattr(handler, "uses_trace_context", False):
        return True
    fmt = handler.formatter
    if fmt is None:
        return False
    if getattr(fmt, "uses_trace_context", False):
        return True
    text = getattr(fmt, "_fmt", None) or ""
    return "otel_trace_id" in text or "otel_span_id" in text


def _snapshot_attributes(record: logging.LogRecord) -> None:
    """Copy the mutable attributes ``extra=`` (or a filter) put on a record, as keyword
    fields are copied: the queue writes it later, when a dict may have changed and an
    exception would keep its frames alive."""
    d = record.__dict__
    for k, v in d.items():
        if k not in RESERVED_ATTRS and type(v) not in IMMUTABLE_FAST and not is_immutable(v):
            d[k] = snapshot_value(v)


def _render(record: logging.LogRecord) -> str:
    try:
        return record.getMessage()
    except Exception as e:
        if _strict.enabled:
            raise  # strict mode: the handler's handleError, as stdlib
        return f"{record.msg!r} {record.args!r} [format error: {type(e).__name__}: {e}]"


def _format_exception(ei: Any) -> str:
    try:
        text = "".join(traceback.format_exception(*ei))
    except Exception as e:
        return f"<traceback could not be rendered: {e!r}>"
    return text[:-1] if text.endswith("\n") else text


def _detach(exc: Any) -> Any:
    """A copy of ``exc`` without its traceback (so no frame stays alive in the queue)."""
    if exc is None:
        return None
    try:
        import copy

        clone = copy.copy(exc)
        clone.__traceback__ = None
        clone.__cause__ = None
        clone.__context__ = None
        return clone
    except Exception:
        return RuntimeError(f"{type(exc).__name__}: {exc}")


def _move_to_end_of_shutdown_order(handler: logging.Handler) -> None:
    """Make stdlib's ``logging.shutdown`` close this handler before its targets.

    ``logging.shutdown`` closes handlers newest first; a queue handler created before its
    targets (names resolved late) would otherwise drain into closed files.
    """
    import weakref

    with logging._lock:  # type: ignore[attr-defined]
        refs = logging._handlerList  # type: ignore[attr-defined]
        for i, ref in enumerate(refs):
            if ref() is handler:
                del refs[i]
                refs.append(ref if isinstance(ref, weakref.ref) else weakref.ref(handler))
                break

