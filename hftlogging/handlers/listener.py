"""QueueListener: drains a ring in batches into handlers; circuit breaker, hang takeover."""

from __future__ import annotations

import logging
import logging.handlers
import sys
import threading
import time
import traceback
from collections.abc import Iterable, Sequence
from typing import Any

from hftlogging import lifecycle
from hftlogging import strict as _strict
from hftlogging.handlers.handler_state import (
    FALLBACK_FOR,
    HandlerState,
    default_fallback,
    describe_error,
)
from hftlogging.handlers.records import free_records, materialize
from hftlogging.handlers.ring import (
    ON_LISTENER,
    FlushMarker,
    RecordRing,
    in_pipeline,
    kind_level,
    positive,
    release,
)
from hftlogging.handlers.ring import PIPELINE as _pipeline
from hftlogging.lifecycle import logging_lock_released
from hftlogging.monitor import get_monitor
from hftlogging.record import (
    AUDIT,
    build_record,
)

__all__ = ["QueueListener"]

_monitor = get_monitor()
_monotonic = time.monotonic




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
        self.batch_size = positive("batch_size", batch_size, int)
        self.flush_interval_s = positive("flush_interval_ms", flush_interval_ms, float,
                                          unit="ms") / 1000
        self.failure_threshold = positive("failure_threshold", failure_threshold, int)
        self.retry_initial_s = positive("retry_initial_s", retry_initial_s, float, unit="s")
        self.retry_max_s = positive("retry_max_s", retry_max_s, float, unit="s")
        self.drop_report_interval_s = positive(
            "drop_report_interval_s", drop_report_interval_s, float, allow_zero=True, unit="s"
        )
        self.stop_timeout_s = positive("stop_timeout_s", stop_timeout_s, float, unit="s")
        self.hang_timeout_s = positive("hang_timeout_s", hang_timeout_s, float, allow_zero=True,
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
        self.fallback = fallback if fallback is not None else default_fallback()
        self._states = [HandlerState(h, self.retry_initial_s) for h in self.handlers]
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
                record: logging.LogRecord, _st: HandlerState = st, _orig: Any = original
            ) -> None:
                if getattr(self._tls, "current", None) is _st:
                    _st.failed = True
                    self._failed_record(_st, record, sys.exc_info()[1])
                    if _strict.enabled:  # strict mode: the handler's own handleError too
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
        ON_LISTENER.active = True
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
            release(markers, ok=False)
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
            kind, level = kind_level(item)
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
                release(markers, ok)
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

    def _answers(self, st: HandlerState, now: float) -> bool:
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

    def _dispatch_batch(self, st: HandlerState, records: list[logging.LogRecord]) -> None:
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
        self, st: HandlerState, records: list[logging.LogRecord], gen: int | None = None,
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

    def _failed_record(self, st: HandlerState, record: logging.LogRecord, exc: Any) -> None:
        self._failure(st, exc)
        self._to_fallback(st, [record])

    def _failure(self, st: HandlerState, exc: Any) -> None:
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
                st.name, st.consecutive, describe_error(exc),
            )

    def _success(self, st: HandlerState) -> None:
        if st.tripped:
            st.tripped = False
            st.retry_delay = self.retry_initial_s
            self._notice(logging.WARNING, "handler %s recovered after %d failure(s)",
                         st.name, st.consecutive)
        st.consecutive = 0

    def _to_fallback(
        self, st: HandlerState, records: Iterable[logging.LogRecord],
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
                FALLBACK_FOR.name = st.name
                fb.handle(r)
            except Exception:
                pass
            finally:
                FALLBACK_FOR.name = None

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
