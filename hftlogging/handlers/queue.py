"""Non-blocking dispatch: a bounded QueueHandler and a batching QueueListener.

A log call costs the caller the capture and the enqueue. Formatting, I/O, serialisation
and metric updates happen on the listener thread, which drains the queue in batches and
hands each batch to its handlers: ``emit_batch(records)`` where a handler has it (one
write and one flush per batch), ``handle(record)`` otherwise.

Overflow: when the queue holds ``capacity`` records, ``overflow`` decides —
``"drop_newest"`` (default) drops the new record, ``"drop_oldest"`` drops the oldest
queued record that is not an audit record, ``"block"`` waits up to ``block_timeout_ms``
for room and then drops, ``"discard_below"`` drops records below ``discard_threshold``
(WARNING by default) and keeps the others: they wait up to ``block_timeout_ms`` for room,
then are queued past the capacity (up to twice the capacity, counted in
``kept_over_capacity``) and only beyond that dropped. Every drop is counted by log type
and level, and the listener logs one warning "N records dropped since ..." per
``drop_report_interval_s`` through the handlers.

Audit records are never dropped: when the queue is full, an audit call waits up to
``audit_wait_ms`` for room; if there is still none, the record is written synchronously,
on the caller's thread, through the listener's handlers (serialised with the listener).
"""

from __future__ import annotations

import collections
import logging
import logging.handlers
import os
import sys
import threading
import time
import traceback
import weakref
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from hftlogging import internals, lifecycle
from hftlogging import otel as _otel
from hftlogging import strict as _strict
from hftlogging.exceptions import ConfigError
from hftlogging.filters import to_level
from hftlogging.lifecycle import logging_lock_released
from hftlogging.logger import KIND_AUDIT, KIND_METRIC, invalidate_plans
from hftlogging.logger import global_fields as _global_fields
from hftlogging.monitor import get_monitor
from hftlogging.options import check_duration
from hftlogging.record import (
    _START_NS,
    AUDIT,
    IMMUTABLE_FAST,
    METRIC,
    RESERVED_ATTRS,
    TEXT,
    Record,
    _path_info,
    build_record,
    is_immutable,
    snapshot_value,
)

__all__ = ["QueueHandler", "QueueListener", "RecordRing"]

_KIND_NAMES = (TEXT, METRIC, AUDIT)

# Set on a thread while it hands records to handlers (the listener, a drain at stop, a
# synchronous write). A record logged from there — a handler that logs — must never wait
# on the pipeline it is part of: it is queued behind, without waiting.
_pipeline = threading.local()


def in_pipeline() -> bool:
    """Whether this thread is inside a listener's dispatch (a handler is logging)."""
    return getattr(_pipeline, "depth", 0) > 0


_monitor = get_monitor()
_OVERFLOW_POLICIES = ("drop_newest", "drop_oldest", "block", "discard_below")
_CALLER_FIELDS = ("funcName", "lineno", "pathname", "filename", "module")
_monotonic = time.monotonic


def _positive(
    name: str, value: Any, kind: type, *, allow_zero: bool = False, unit: str | None = None
) -> Any:
    ok_types = (int, float) if kind is float else (int,)
    if isinstance(value, bool) or not isinstance(value, ok_types):
        msg = f"{name}: expected {'a number' if kind is float else 'an integer'}, found {value!r}"
        raise ConfigError(msg, key=name)
    if unit is not None:  # a duration: finite and within what a wait accepts
        check_duration(name, value, unit=unit)
    if value < 0 or (value == 0 and not allow_zero):
        msg = f"{name}: expected a value {'>= 0' if allow_zero else '> 0'}, found {value!r}"
        raise ConfigError(msg, key=name)
    return value


class RecordRing:
    """The bounded queue shared by a QueueHandler and its QueueListener.

    A :class:`collections.deque` that callers append to without a lock, with the
    capacity, overflow policy and drop accounting. It also offers the ``queue.Queue``
    methods stdlib code expects (``put_nowait``, ``get_nowait``, ``qsize``, ``empty``).
    """

    def __init__(
        self,
        capacity: int = 10_000,
        overflow: str = "drop_newest",
        block_timeout_ms: float = 100.0,
        audit_wait_ms: float = 500.0,
        discard_threshold: int | str = logging.WARNING,
    ) -> None:
        self.capacity: int = _positive("capacity", capacity, int)
        self.discard_threshold = to_level(discard_threshold, "discard_threshold")
        if overflow not in _OVERFLOW_POLICIES:
            msg = (
                f"overflow: expected one of {', '.join(_OVERFLOW_POLICIES)}, found {overflow!r}"
            )
            raise ConfigError(msg, key="overflow")
        self.overflow_policy = overflow
        self.block_timeout_s = _positive("block_timeout_ms", block_timeout_ms, float,
                                         allow_zero=True, unit="ms") / 1000.0
        self.audit_wait_s = _positive("audit_wait_ms", audit_wait_ms, float,
                                      allow_zero=True, unit="ms") / 1000.0
        self.items: collections.deque[Any] = collections.deque()
        self.listener: QueueListener | None = None
        self._lock = threading.Lock()
        self.reset_counters()

    def reset_counters(self) -> None:
        """Zero the counters (a forked child starts its own accounting)."""
        self.dropped = 0
        self.dropped_by_type: dict[str, int] = {TEXT: 0, METRIC: 0, AUDIT: 0}
        self.dropped_by_level: dict[str, int] = {}
        self.audit_sync_writes = 0
        self.audit_over_capacity = 0
        self.kept_over_capacity = 0
        self.high_water = 0
        self.first_unreported_drop: float | None = None

    def after_fork(self) -> None:
        """In a forked child: forget the parent's queued records and counters."""
        self._lock = threading.Lock()
        self.items.clear()
        self.reset_counters()

    # -- stdlib queue API ------------------------------------------------------------------

    def put_nowait(self, item: Any) -> None:
        """Enqueue ``item`` under the overflow policy (never raises ``queue.Full``)."""
        self.put(item)

    def put(self, item: Any, block: bool = True, timeout: float | None = None) -> None:
        """Enqueue ``item`` under the overflow policy."""
        if len(self.items) < self.capacity:
            self.items.append(item)
        else:
            self.overflow(item)

    def get_nowait(self) -> Any:
        """Dequeue the oldest item; raises ``queue.Empty`` when there is none."""
        try:
            return self.items.popleft()
        except IndexError:
            import queue

            raise queue.Empty from None

    def qsize(self) -> int:
        """Number of queued records."""
        return len(self.items)

    def empty(self) -> bool:
        """Whether nothing is queued."""
        return not self.items

    def full(self) -> bool:
        """Whether the queue holds ``capacity`` records."""
        return len(self.items) >= self.capacity

    # -- overflow --------------------------------------------------------------------------

    def overflow(self, item: Any) -> None:
        """Handle an item that found the queue full (called on the caller's thread)."""
        try:
            kind, level = _kind_level(item)
            if in_pipeline():
                # Logged by a handler while the listener dispatches: only this thread can
                # make room, so waiting would wait on itself. Audit goes past the capacity.
                if kind == AUDIT:
                    with self._lock:
                        self.audit_over_capacity += 1
                    self.items.append(item)
                elif self.overflow_policy == "drop_oldest":
                    self._drop_oldest(item, kind, level)
                else:
                    self._count_drop(kind, level)
                return
            if kind == AUDIT:
                self._overflow_audit(item)
                return
            policy = self.overflow_policy
            if policy == "drop_oldest":
                self._drop_oldest(item, kind, level)
                return
            if policy == "block" and self._wait_for_room(self.block_timeout_s):
                self.items.append(item)
                return
            if policy == "discard_below" and level >= self.discard_threshold:
                self._keep(item)
                return
            self._count_drop(kind, level)
        except Exception:  # accounting must never raise into a log call
            traceback.print_exc(file=sys.stderr)

    def _wait_for_room(self, timeout_s: float) -> bool:
        listener = self.listener
        if listener is not None:
            listener.wake()
        deadline = _monotonic() + timeout_s
        pause = 0.00005
        while len(self.items) >= self.capacity:
            now = _monotonic()
            if now >= deadline:
                return False
            time.sleep(min(pause, deadline - now))
            pause = min(pause * 2, 0.002)
        return True

    def _keep(self, item: Any) -> None:
        """``discard_below``: a record at or above the threshold waits, then goes past the
        capacity (bounded at twice the capacity, then dropped and counted)."""
        if self._wait_for_room(self.block_timeout_s):
            self.items.append(item)
            return
        if len(self.items) < 2 * self.capacity:
            with self._lock:
                self.kept_over_capacity += 1
            self.items.append(item)
            return
        kind, level = _kind_level(item)
        self._count_drop(kind, level)

    def _drop_oldest(self, item: Any, kind: str, level: int) -> None:
        items = self.items
        try:
            oldest = items.popleft()
        except IndexError:  # the listener emptied it meanwhile
            items.append(item)
            return
        okind, olevel = _kind_level(oldest)
        if okind == AUDIT:  # never drop an audit record: keep it, drop the new one
            items.appendleft(oldest)
            self._count_drop(kind, level)
            return
        items.append(item)
        self._count_drop(okind, olevel)

    def _overflow_audit(self, item: Any) -> None:
        """Never drop an audit record, and never wait on a handler that may hang.

        Wait up to ``audit_wait_ms`` for room. Then, if the listener is not in the middle
        of a batch, write the record synchronously through its handlers; if it is (a slow
        or hung handler), queue the record past the capacity: the bound is soft for audit
        records only.
        """
        if self._wait_for_room(self.audit_wait_s):
            self.items.append(item)
            return
        listener = self.listener
        if listener is not None and listener.try_dispatch_now([item]):
            with self._lock:
                self.audit_sync_writes += 1
            return
        with self._lock:
            self.audit_over_capacity += 1
        self.items.append(item)

    def _count_drop(self, kind: str, level: int) -> None:
        lname = logging.getLevelName(level)
        with self._lock:
            self.dropped += 1
            self.dropped_by_type[kind] = self.dropped_by_type.get(kind, 0) + 1
            self.dropped_by_level[lname] = self.dropped_by_level.get(lname, 0) + 1
            if self.first_unreported_drop is None:
                self.first_unreported_drop = time.time()

    def drop_snapshot(self, *, mark_reported: bool) -> tuple[int, dict[str, int], float | None]:
        """Return (total dropped, by type, time of first unreported drop)."""
        with self._lock:
            first = self.first_unreported_drop
            if mark_reported:
                self.first_unreported_drop = None
            return self.dropped, dict(self.dropped_by_type), first


def _add_global_context(record: logging.LogRecord) -> None:
    """Give a record of a logger that is not an HFTLogger the global context, lowest."""
    d = record.__dict__
    g = _global_fields()
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


def _kind_level(item: Any) -> tuple[str, int]:
    if type(item) is tuple:
        return _KIND_NAMES[item[0]], item[2]
    return getattr(item, "log_type", TEXT), getattr(item, "levelno", logging.INFO)


class FlushMarker:
    """Put in a queue by :meth:`QueueHandler.flush`; set once every item before it is written.

    The listener takes it out of its batch (it is never a record), dispatches the records
    ahead of it, flushes the handlers and sets :attr:`done`. It reads as an audit item to
    the overflow policies, so ``drop_oldest`` never drops it.
    """

    __slots__ = ("done", "ok")

    log_type = AUDIT
    levelno = logging.NOTSET

    def __init__(self) -> None:
        self.done = threading.Event()
        self.ok = True


def _release(markers: list[FlushMarker] | None, ok: bool = True) -> None:
    """Wake the callers waiting on ``markers``."""
    for m in markers or ():
        if not ok:
            m.ok = False
        m.done.set()


# Set on listener threads: a flush there would wait for the thread that is asking.
_on_listener = threading.local()


# --- building records from captured calls --------------------------------------------------

_UNKNOWN_CALLER = ("(unknown file)", 0, "(unknown function)")


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
    d["relativeCreated"] = (t_ns - _START_NS) / 1e6
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
        d["filename"], d["module"] = _path_info(pathname)
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


class _HandlerState:
    """Per-handler bookkeeping of the listener: errors, fallback, back-off."""

    __slots__ = (
        "batch", "consecutive", "errors", "failed", "fallbacks", "handler", "hooked", "hung",
        "name", "original_handle_error", "retry_at", "retry_delay", "tripped",
    )

    def __init__(self, handler: logging.Handler, retry_initial_s: float) -> None:
        self.handler = handler
        self.name = handler.get_name() or f"{type(handler).__name__}@{id(handler):x}"
        self.batch = callable(getattr(handler, "emit_batch", None))
        self.errors = 0
        self.fallbacks = 0
        self.consecutive = 0
        self.tripped = False
        self.retry_at = 0.0
        self.retry_delay = retry_initial_s
        self.failed = False
        self.hung = False
        self.hooked = False
        self.original_handle_error: Any = None


# The handler whose records the fallback is writing (set around the call, on the listener's
# thread): outside the record, so a user's fallback formatter never writes it.
_fallback_for = threading.local()


class _DefaultFallbackFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        failed = getattr(_fallback_for, "name", None)
        return f"{line} [hftlogging fallback for handler {failed}]" if failed else line


def _default_fallback() -> logging.Handler:
    h = logging.StreamHandler(sys.stderr)
    h.setFormatter(_DefaultFallbackFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    return h


class QueueListener(logging.handlers.QueueListener):
    """Drain a :class:`RecordRing` in batches into handlers, on a background thread.

    Args:
        queue: the :class:`RecordRing` to drain (any object with ``get_nowait`` also works).
        *handlers: the handlers records go to.
        respect_handler_level: apply each handler's level before handing it a record.
        batch_size: most records taken per batch.
        flush_interval_ms: how long the listener waits for a batch to fill when fewer than
            ``batch_size`` records are queued; the longest a record waits to be written.
        fallback: handler for the records of a failing handler (default: stderr).
        failure_threshold: consecutive failures after which a handler is bypassed (its
            records go to ``fallback``) and retried with exponential back-off.
        retry_initial_s, retry_max_s: the back-off range.
        drop_report_interval_s: at most one "records dropped" warning per interval.
        stop_timeout_s: default deadline of :meth:`stop`.
        hang_timeout_s: a handler call that has not returned after this long is bypassed
            and a new listener thread takes over (see :meth:`check_hung`); 0 disables.
    """

    def __init__(
        self,
        queue: Any,
        *handlers: logging.Handler,
        respect_handler_level: bool = True,
        batch_size: int = 512,
        flush_interval_ms: float = 5.0,
        fallback: logging.Handler | None = None,
        failure_threshold: int = 3,
        retry_initial_s: float = 0.5,
        retry_max_s: float = 30.0,
        drop_report_interval_s: float = 10.0,
        stop_timeout_s: float = 10.0,
        hang_timeout_s: float = 5.0,
    ) -> None:
        super().__init__(queue, *handlers, respect_handler_level=respect_handler_level)
        self.batch_size = _positive("batch_size", batch_size, int)
        self.flush_interval_s = _positive("flush_interval_ms", flush_interval_ms, float,
                                          unit="ms") / 1000
        self.failure_threshold = _positive("failure_threshold", failure_threshold, int)
        self.retry_initial_s = _positive("retry_initial_s", retry_initial_s, float, unit="s")
        self.retry_max_s = _positive("retry_max_s", retry_max_s, float, unit="s")
        self.drop_report_interval_s = _positive(
            "drop_report_interval_s", drop_report_interval_s, float, allow_zero=True, unit="s"
        )
        self.stop_timeout_s = _positive("stop_timeout_s", stop_timeout_s, float, unit="s")
        self.hang_timeout_s = _positive("hang_timeout_s", hang_timeout_s, float, allow_zero=True,
                                        unit="s")
        # Hang supervision: the generation of the thread that owns dispatch, what it is
        # doing now (handler state, since when, generation, batch, handler index), and
        # the rest of a batch a replacement thread must finish.
        self._gen = 0
        self._busy: tuple[Any, ...] | None = None
        self._resume: tuple[list[logging.LogRecord], int] | None = None
        # Flush markers of the batch in dispatch, and of a batch a takeover finishes.
        self._open_markers: list[FlushMarker] | None = None
        self._resume_markers: list[FlushMarker] | None = None
        self._pool: list[Any] = []  # emptied records the listener thread refills
        self._takeover_lock = threading.RLock()
        self.takeovers = 0
        self.fallback = fallback if fallback is not None else _default_fallback()
        self._states = [_HandlerState(h, self.retry_initial_s) for h in self.handlers]
        self._tls = threading.local()
        self._dispatch_lock = threading.Lock()
        self._wake_event = threading.Event()
        self._stopping = False
        self._thread: threading.Thread | None = None
        self.written = 0
        self.batches = 0
        self.in_flight = 0
        self.listener_errors = 0
        self.drop_reports = 0
        self._gave_up = False  # a stop returned while the thread was stuck in a handler
        self._stop_from_listener = False  # a handler on the listener thread called stop()
        self.unfinished_stops = 0  # stops that left records queued
        self.dropped_at_stop = 0  # records those stops counted as dropped
        self.audit_left_at_stop = 0  # audit records the last of them left queued
        self._reported_dropped = 0
        self._last_report = _monotonic()
        if isinstance(queue, RecordRing):
            queue.listener = self
        self._hook_handlers()

    # -- handler error hooks ---------------------------------------------------------------

    def _hook_handlers(self) -> None:
        """Route each handler's ``handleError`` through the listener while it dispatches.

        stdlib handlers catch their own emit errors and call ``handleError``; hooking it is
        how the listener learns that a handler failed, without changing what happens when
        the handler is used elsewhere.
        """
        for st in self._states:
            if st.batch:
                continue
            h = st.handler
            original = h.handleError

            def hook(
                record: logging.LogRecord, _st: _HandlerState = st, _orig: Any = original
            ) -> None:
                if getattr(self._tls, "current", None) is _st:
                    _st.failed = True
                    self._failed_record(_st, record, sys.exc_info()[1])
                    if _strict._on:  # strict mode: the handler's own handleError too
                        try:
                            _orig(record)
                        except Exception:  # on the listener there is no caller to fail
                            pass
                else:
                    _orig(record)

            st.original_handle_error = original
            h.handleError = hook  # type: ignore[method-assign]
            st.hooked = True

    def _unhook_handlers(self) -> None:
        for st in self._states:
            if st.hooked:
                try:
                    del st.handler.handleError
                except AttributeError:
                    pass
                st.hooked = False

    # -- lifecycle -------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        """Whether the listener thread is alive."""
        t = self._thread
        return t is not None and t.is_alive()

    def start(self) -> None:
        """Start the listener thread (a daemon: exit drains it through :mod:`atexit`)."""
        if self.running:
            return
        self._gave_up = False
        self._stop_from_listener = False
        self._stopping = False
        self._wake_event.clear()
        self._start_thread()

    def _start_thread(self) -> None:
        # Under the takeover lock, so stop() never sees a thread that is not started yet.
        with self._takeover_lock:
            t = threading.Thread(target=self._run, args=(self._gen,),
                                 name="hftlogging-listener", daemon=True)
            with lifecycle.starting_thread():
                t.start()
            self._thread = t

    def wake(self) -> None:
        """Make the listener look at the queue now instead of after its flush interval."""
        self._wake_event.set()

    def stop(self, timeout: float | None = None) -> None:
        """Drain every queued record, then stop the thread.

        Safe to call twice. Returns when the queue is drained or after ``timeout``
        seconds (default ``stop_timeout_s``); on a missed deadline the number of records
        still queued is reported on stderr.
        """
        with self._takeover_lock:
            t = self._thread
            if t is not None:
                self._stopping = True
        if t is None:
            self._drain_now()
            return
        self._wake_event.set()
        if t is threading.current_thread():
            # A handler on the listener thread asked for the stop: the thread drains (within
            # its bound, counting what it leaves) and ends once that handler returns.
            self._stop_from_listener = True
            return
        with logging_lock_released():
            t.join(self.stop_timeout_s if timeout is None else timeout)
        if t.is_alive():
            self._gave_up = True
            self._unfinished("listener did not drain within its deadline (a handler is "
                             "blocking)")
            return
        self._thread = None
        self._drain_now()
        self._report_drops(force=True)
        self._drain_now()  # what the handlers logged about the report
        if self._pending():
            self._unfinished("the queue's handlers log as fast as they write")
            self._report_drops(force=True)
            self._abandon_queued()  # what the handlers logged about that report

    def _unfinished(self, why: str) -> None:
        """A stop that leaves records queued: count them and say so on stderr."""
        self.unfinished_stops += 1
        before = self.dropped_at_stop
        left = self._abandon_queued()
        sys.stderr.write(
            f"hftlogging: {why}; the drain stopped with {left} record(s) queued: "
            f"{self.dropped_at_stop - before} counted as dropped, audit records kept for "
            "the next drain\n"
        )

    def after_fork(self) -> None:
        """In a forked child: the thread is gone and locks may be held; start afresh."""
        self._thread = None
        self._stopping = False
        self._dispatch_lock = threading.Lock()
        self._takeover_lock = threading.RLock()
        self._wake_event = threading.Event()
        self._tls = threading.local()
        self._busy = None
        self._resume = None
        self.written = 0
        self.batches = 0
        self._reported_dropped = 0
        for st in self._states:
            st.errors = st.fallbacks = st.consecutive = 0
            st.tripped = False
        self._hook_handlers_refresh()

    def _hook_handlers_refresh(self) -> None:
        self._unhook_handlers()
        self._hook_handlers()

    def before_fork(self) -> None:
        """Hold the dispatch lock across fork so no batch is half written in the child.

        A handler stuck for over a second does not block the fork: the child then gets a
        fresh lock and may see that handler's unflushed buffer.
        """
        self._held_for_fork = self._dispatch_lock.acquire(timeout=1.0)

    def after_fork_parent(self) -> None:
        """Release what :meth:`before_fork` took."""
        if getattr(self, "_held_for_fork", False):
            self._held_for_fork = False
            self._dispatch_lock.release()

    # -- the thread ------------------------------------------------------------------------

    def _take(self, limit: int) -> list[Any]:
        q = self.queue
        # Marked before popping and cleared after dispatch: flush() waits on it, so it
        # cannot return while a batch is off the queue but not yet in the handlers.
        self.in_flight = 1
        if isinstance(q, RecordRing):
            items = q.items
            n = min(len(items), limit)
            popleft = items.popleft
            batch = []
            try:
                for _ in range(n):
                    batch.append(popleft())
            except IndexError:  # a drop_oldest producer took one meanwhile
                pass
            return batch
        batch = []
        generic: Any = q  # any object with get_nowait()
        try:
            while len(batch) < limit:
                item = generic.get_nowait()
                if item is None:  # stdlib's sentinel
                    continue
                batch.append(item)
        except Exception:  # queue.Empty
            pass
        return batch

    def _pending(self) -> int:
        q = self.queue
        if isinstance(q, RecordRing):
            return len(q.items)
        try:
            return int(q.qsize())  # type: ignore[attr-defined]
        except Exception:
            return 0

    def _run(self, gen: int) -> None:
        self._tls.gen = gen
        _on_listener.active = True
        wait = self._wake_event.wait
        clear = self._wake_event.clear
        batch_size = self.batch_size
        resume = self._resume
        if resume is not None:  # a takeover: finish the batch the stuck thread left
            self._resume = None
            records, start = resume
            markers, self._resume_markers = self._resume_markers, None
            with self._dispatch_lock:
                self._dispatch(records, start)
                # The stuck handler was not flushed: the flush reports False.
                self._flush_handlers(markers, gen)
            _release(markers, ok=False)
            self.in_flight = 0
        budget: int | None = None  # records the final drain may still take
        while True:
            if self._gen != gen:
                return  # replaced after a hang: the new thread owns the queue
            if self._stopping and budget is None:
                budget = self._drain_budget()
            try:
                if isinstance(self.queue, RecordRing):
                    depth = len(self.queue.items)
                    self.queue.high_water = max(self.queue.high_water, depth)
                if budget is not None and budget <= 0:
                    self.in_flight = 0
                    if self._stop_from_listener and self._pending():  # no stop() to count it
                        self._unfinished("the queue's handlers log as fast as they write")
                    return
                batch = self._take(batch_size if budget is None else min(batch_size, budget))
                if batch:
                    if budget is not None:
                        budget -= len(batch)
                    try:
                        self._process(batch, gen)
                    finally:
                        if self._gen == gen:
                            self.in_flight = 0
                    if self._pending() >= batch_size:
                        continue
                else:
                    self.in_flight = 0
                    if self._stopping:
                        return
                if self._stopping:
                    continue
                self._report_drops(force=False)
                wait(self.flush_interval_s)
                if not self._stopping:
                    clear()
            except Exception:  # the listener must survive anything
                self.listener_errors += 1
                try:
                    traceback.print_exc(file=sys.stderr)
                except Exception:
                    pass

    def _drain_now(self) -> None:
        """Write what is queued now, on this thread.

        Bounded: callers whose plan still pointed at this queue when it closed can append
        a few more records meanwhile; the drain takes what was queued when it began plus a
        margin, so producers can never keep it going forever. Whatever arrives later is
        picked up by the next drain (every stop, shutdown and exit drains again).
        """
        if in_pipeline():
            return  # called by a handler: the drain this thread is in goes on after it
        budget = self._drain_budget()
        try:
            while budget > 0:
                batch = self._take(min(self.batch_size, budget))
                if not batch:
                    return
                budget -= len(batch)
                self._process(batch)
        finally:
            self.in_flight = 0

    def _drain_budget(self) -> int:
        """Records a final drain takes: those queued now, plus a margin for latecomers."""
        return self._pending() + 10 * int(self.batch_size)

    def _abandon_queued(self) -> int:
        """Count what a drain that could not finish leaves queued; returns how many.

        Text and metric records are taken off the queue and counted as dropped (by type
        and level, reported like any drop); audit records are never dropped: they stay
        queued for the next drain (a later stop, the exit) and are counted as left.
        """
        q = self.queue
        if not isinstance(q, RecordRing):
            return self._pending()
        kept: list[Any] = []
        left = 0
        while True:
            try:
                item = q.items.popleft()
            except IndexError:
                break
            left += 1
            kind, level = _kind_level(item)
            if kind == AUDIT:
                kept.append(item)
            else:
                q._count_drop(kind, level)
                self.dropped_at_stop += 1
        q.items.extendleft(reversed(kept))
        self.audit_left_at_stop = len(kept)
        return left

    # -- dispatch --------------------------------------------------------------------------

    def dispatch_now(self, items: Sequence[Any]) -> None:
        """Write ``items`` through the handlers on the calling thread (after shutdown).

        Records that the handlers log meanwhile are queued behind (see
        :func:`in_pipeline`) and written here too, within a bound; what exceeds it is
        counted. From inside a dispatch, or while a listener thread that missed its stop
        deadline still holds the handlers, the items are queued instead of waited for.
        """
        if in_pipeline() or (self._gave_up and self.running):
            ring = self.queue
            for item in items:
                ring.put_nowait(item)
            return
        self._process(list(items))
        if self._pending():
            self._drain_now()
            if self._pending():
                self._abandon_queued()
                self._report_drops(force=True)

    def try_dispatch_now(self, items: Sequence[Any]) -> bool:
        """Write ``items`` on the calling thread if no batch is in dispatch; else False."""
        records = [materialize(item) for item in items]
        if not self._dispatch_lock.acquire(blocking=False):
            return False
        try:
            self.written += len(records)
            self.batches += 1
            self._dispatch(records)
        finally:
            self._dispatch_lock.release()
        return True

    def _process(self, batch: list[Any], gen: int | None = None) -> None:
        """Build and dispatch a batch; ``gen``: called by that listener thread, whose
        record pool is used (never by another thread, or by one replaced after a hang)."""
        pool = self._pool if gen is not None else None
        records: list[logging.LogRecord] = []
        markers: list[FlushMarker] | None = None
        ok = True
        for item in batch:
            if type(item) is FlushMarker:
                if markers is None:
                    markers = []
                markers.append(item)
                continue
            try:
                records.append(materialize(item, pool))
            except Exception as e:
                self.listener_errors += 1
                sys.stderr.write(f"hftlogging: could not build a record: {e!r}\n")
        last = batch[-1] if batch else None
        if markers is not None:  # the monitor wants the latest call, not a marker
            last = next((i for i in reversed(batch) if type(i) is not FlushMarker), None)
        batch.clear()
        if markers is not None and gen is not None:
            self._open_markers = markers
        try:
            with self._dispatch_lock:
                self.written += len(records)
                self.batches += 1
                self._dispatch(records)
                if markers is not None:
                    ok = self._flush_handlers(markers, gen)
            if records:
                _monitor.after_batch(len(records), last)
        finally:
            # A thread replaced meanwhile leaves its markers to the new one, which
            # releases them when it has finished the batch.
            if markers is not None and (gen is None or gen == self._gen):
                if gen is not None:
                    self._open_markers = None
                _release(markers, ok)
        if pool is not None and gen == self._gen:
            free_records(records, pool, 2 * self.batch_size)

    def _flush_handlers(self, markers: Any, gen: int | None) -> bool:
        """Flush every handler that is not bypassed; False if one failed or was skipped.

        Supervised like a dispatch: a ``flush()`` that hangs is taken over by the watchdog.
        """
        ok = True
        n = len(self._states)
        for st in self._states:
            if st.tripped or st.hung:
                ok = False
                continue
            if gen is not None:
                if gen != self._gen:
                    return False
                self._busy = (st, _monotonic(), gen, [], n)
            try:
                st.handler.flush()
            except Exception:
                st.errors += 1
                ok = False
        if gen is not None and gen == self._gen:
            self._busy = None
        return ok

    def handle(self, record: logging.LogRecord) -> None:
        """Dispatch one record (stdlib's per-record entry point)."""
        with self._dispatch_lock:
            self._dispatch([record])

    def _dispatch(self, records: list[logging.LogRecord], start: int = 0) -> None:
        _pipeline.depth = getattr(_pipeline, "depth", 0) + 1
        try:
            self._dispatch_all(records, start)
        finally:
            _pipeline.depth -= 1

    def _dispatch_all(self, records: list[logging.LogRecord], start: int) -> None:
        respect = self.respect_handler_level
        now = _monotonic()
        gen = getattr(self._tls, "gen", None)  # None: a caller's thread, never supervised
        states = self._states
        for idx in range(start, len(states)):
            if gen is not None:
                if gen != self._gen:
                    return  # this thread was replaced while stuck in a handler
                self._busy = (states[idx], now, gen, records, idx)
            st = states[idx]
            h = st.handler
            if respect and h.level:
                lvl = h.level
                selected = [r for r in records if r.levelno >= lvl]
            else:
                selected = records
            if not selected:
                continue
            if st.tripped and (now < st.retry_at or (st.hung and not self._answers(st, now))):
                self._to_fallback(st, selected, count_only_matching=True)
                continue
            if st.batch:
                self._dispatch_batch(st, selected)
            else:
                self._dispatch_each(st, selected, gen, idx)
            now = _monotonic()
        if gen is not None and gen == self._gen:
            self._busy = None

    def _answers(self, st: _HandlerState, now: float) -> bool:
        """Whether a handler that hung has returned (its lock is free): retry it then."""
        lock = st.handler.lock
        if lock is None or lock.acquire(blocking=False):
            if lock is not None:
                lock.release()
            st.hung = False
            return True
        st.retry_delay = min(st.retry_delay * 2, self.retry_max_s)
        st.retry_at = now + st.retry_delay
        return False

    def check_hung(self, now: float) -> bool:
        """Called periodically by the watchdog: replace a thread stuck in a handler.

        When a handler call has not returned for ``hang_timeout_s``, that handler is
        bypassed (its records go to the fallback, it is retried with back-off once it
        returns), and a new listener thread takes over: it finishes the batch for the
        other handlers and goes on with the queue. The stuck thread exits if the handler
        ever returns. Returns whether a takeover happened.
        """
        busy = self._busy
        if self.hang_timeout_s <= 0 or busy is None:
            return False
        st, since, gen, records, idx = busy
        if gen != self._gen or now - since < self.hang_timeout_s or self._stopping:
            return False
        with self._takeover_lock:
            if self._busy is not busy:
                return False
            self._gen = gen + 1
            self._busy = None
            st.errors += 1
            st.hung = True
            st.tripped = True
            st.consecutive = max(st.consecutive, self.failure_threshold)
            st.retry_delay = self.retry_initial_s
            st.retry_at = now + st.retry_delay
            self.takeovers += 1
            self._dispatch_lock = threading.Lock()  # the stuck thread keeps the old one
            self._resume = (records, idx + 1)
            self._resume_markers, self._open_markers = self._open_markers, None
            self._notice(
                logging.ERROR,
                "handler %s has not returned for %.1fs; a new listener thread takes over and "
                "its records go to the fallback until it answers again",
                st.name, now - since,
            )
            self._start_thread()
        return True

    def _dispatch_batch(self, st: _HandlerState, records: list[logging.LogRecord]) -> None:
        h = st.handler
        try:
            if h.filters:
                kept = []
                for r in records:
                    rv = h.filter(r)
                    if rv:
                        kept.append(rv if isinstance(rv, logging.LogRecord) else r)
                records = kept
                if not records:
                    return
            h.acquire()
            try:
                h.emit_batch(records)  # type: ignore[attr-defined]
            finally:
                h.release()
        except Exception as e:
            self._failure(st, e)
            self._to_fallback(st, records)
        else:
            self._success(st)

    def _dispatch_each(
        self, st: _HandlerState, records: list[logging.LogRecord], gen: int | None = None,
        idx: int = 0,
    ) -> None:
        h = st.handler
        tls = self._tls
        tls.current = st
        try:
            for i, r in enumerate(records):
                if gen is not None:
                    if gen != self._gen:
                        return
                    self._busy = (st, _monotonic(), gen, records, idx)
                st.failed = False
                try:
                    h.handle(r)
                except Exception as e:  # a handler whose handle() itself raises
                    st.failed = True
                    self._failed_record(st, r, e)
                if not st.failed:
                    self._success(st)
                elif st.tripped:
                    self._to_fallback(st, records[i + 1:], count_only_matching=True)
                    return
        finally:
            tls.current = None

    def _failed_record(self, st: _HandlerState, record: logging.LogRecord, exc: Any) -> None:
        self._failure(st, exc)
        self._to_fallback(st, [record])

    def _failure(self, st: _HandlerState, exc: Any) -> None:
        st.errors += 1
        st.consecutive += 1
        now = _monotonic()
        if st.tripped:
            st.retry_delay = min(st.retry_delay * 2, self.retry_max_s)
            st.retry_at = now + st.retry_delay
        elif st.consecutive >= self.failure_threshold:
            st.tripped = True
            st.retry_delay = self.retry_initial_s
            st.retry_at = now + st.retry_delay
            self._notice(
                logging.ERROR,
                "handler %s failed %d times in a row (%s); its records go to the fallback "
                "and it is retried with back-off",
                st.name, st.consecutive, _describe(exc),
            )

    def _success(self, st: _HandlerState) -> None:
        if st.tripped:
            st.tripped = False
            st.retry_delay = self.retry_initial_s
            self._notice(logging.WARNING, "handler %s recovered after %d failure(s)",
                         st.name, st.consecutive)
        st.consecutive = 0

    def _to_fallback(
        self, st: _HandlerState, records: Iterable[logging.LogRecord],
        count_only_matching: bool = False,
    ) -> None:
        fb = self.fallback
        for r in records:
            if count_only_matching and st.handler.filters:
                try:
                    wanted = st.handler.filter(r)
                except Exception:  # a filter that raises must not lose the batch
                    wanted = True
                if not wanted:
                    continue
            st.fallbacks += 1
            try:
                _fallback_for.name = st.name
                fb.handle(r)
            except Exception:
                pass
            finally:
                _fallback_for.name = None

    def _notice(self, level: int, msg: str, *args: Any) -> None:
        """Tell the user about the pipeline itself, through the fallback (never the queue)."""
        rec = build_record("hftlogging", level, msg, args, time.time_ns(),
                           threading.get_ident(), func=None)
        try:
            self.fallback.handle(rec)
        except Exception:
            pass

    def _report_drops(self, *, force: bool) -> None:
        q = self.queue
        if not isinstance(q, RecordRing):
            return
        if q.dropped == self._reported_dropped:
            return
        now = _monotonic()
        if not force and now - self._last_report < self.drop_report_interval_s:
            return
        total, by_type, first = q.drop_snapshot(mark_reported=True)
        new = total - self._reported_dropped
        if new <= 0:
            return
        self._reported_dropped = total
        self._last_report = now
        since = (
            time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(first)) if first else "start"
        )
        kinds = ", ".join(f"{k}={v}" for k, v in sorted(by_type.items()) if v)
        rec = build_record(
            "hftlogging", logging.WARNING,
            "%d records dropped since %s (queue full; totals: %s)", (new, since, kinds),
            time.time_ns(), threading.get_ident(), func=None,
            context={"dropped": new, "dropped_total": total, "dropped_by_type": by_type},
        )
        self.drop_reports += 1
        with self._dispatch_lock:
            self._dispatch([rec])

    # -- observability ---------------------------------------------------------------------

    def handler_errors(self) -> dict[str, int]:
        """Errors per handler name."""
        return {st.name: st.errors for st in self._states}

    def handler_fallbacks(self) -> dict[str, int]:
        """Records routed to the fallback, per handler name."""
        return {st.name: st.fallbacks for st in self._states}

    def tripped_handlers(self) -> list[str]:
        """Names of the handlers currently bypassed."""
        return [st.name for st in self._states if st.tripped]


def _describe(exc: Any) -> str:
    if exc is None:
        return "no exception"
    return f"{type(exc).__name__}: {exc}"


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
            msg = f"caller_info: expected 'auto', true or false, found {caller_info!r}"
            raise ConfigError(msg, key="caller_info")
        if isinstance(handlers, (str, bytes)) or not isinstance(handlers, Iterable):
            msg = f"handlers: expected a list of handler names, found {handlers!r}"
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
                msg = (
                    f"queue handler {self.get_name() or ''!s} names handler {t!r}, "
                    "which is not configured; add it under 'handlers' or remove it from the list"
                )
                raise ConfigError(msg, key="handlers")
            out.append(h)
        if any(h is self for h in out):
            raise ConfigError("a queue handler cannot list itself as a target", key="handlers")
        return out

    def _resolve_fallback(self) -> logging.Handler | None:
        fb = self._fallback
        if fb is None or isinstance(fb, logging.Handler):
            return fb
        h = logging._handlers.get(fb)  # type: ignore[attr-defined]
        if h is None:
            msg = f"fallback names handler {fb!r}, which is not configured"
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
        if _global_fields() and "log_type" not in record.__dict__:
            _add_global_context(record)  # a plain stdlib logger's record
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
        if getattr(_on_listener, "active", False) or in_pipeline():
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
        if _strict._on:
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
