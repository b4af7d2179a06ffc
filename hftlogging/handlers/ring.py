"""RecordRing: the bounded queue of captured calls and its overflow policies.

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
import queue
import sys
import threading
import time
import traceback
from typing import TYPE_CHECKING, Any

from hftlogging.exceptions import ConfigError, HftLoggingError, describe
from hftlogging.filters import to_level
from hftlogging.monitor import get_monitor
from hftlogging.options import check_duration
from hftlogging.record import (
    AUDIT,
    METRIC,
    TEXT,
)

if TYPE_CHECKING:
    from hftlogging.handlers.listener import QueueListener

__all__ = [
    "ON_LISTENER", "OVERFLOW_POLICIES", "PIPELINE", "FlushMarker", "RecordRing", "RingEmpty",
    "in_pipeline", "kind_level", "positive", "release",
]

_KIND_NAMES = (TEXT, METRIC, AUDIT)
# Set on a thread while it hands records to handlers (the listener, a drain at stop, a
# synchronous write). A record logged from there — a handler that logs — must never wait
# on the pipeline it is part of: it is queued behind, without waiting.
PIPELINE = threading.local()


def in_pipeline() -> bool:
    """Whether this thread is inside a listener's dispatch (a handler is logging)."""
    return getattr(PIPELINE, "depth", 0) > 0


_monitor = get_monitor()
OVERFLOW_POLICIES = ("drop_newest", "drop_oldest", "block", "discard_below")
_monotonic = time.monotonic


def positive(
    name: str, value: Any, kind: type, *, allow_zero: bool = False, unit: str | None = None
) -> Any:
    ok_types = (int, float) if kind is float else (int,)
    if isinstance(value, bool) or not isinstance(value, ok_types):
        msg = describe(name, "a number" if kind is float else "an integer", value,
                       f"give {name} as a plain number")
        raise ConfigError(msg, key=name)
    if unit is not None:  # a duration: finite and within what a wait accepts
        check_duration(name, value, unit=unit)
    if value < 0 or (value == 0 and not allow_zero):
        msg = describe(name, f"a value {'>= 0' if allow_zero else '> 0'}", value,
                       f"raise {name}" if value <= 0 else None)
        raise ConfigError(msg, key=name)
    return value


class RingEmpty(HftLoggingError, queue.Empty):
    """Raised by :meth:`RecordRing.get_nowait` on an empty ring (a ``queue.Empty``)."""


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
        self.capacity: int = positive("capacity", capacity, int)
        self.discard_threshold = to_level(discard_threshold, "discard_threshold")
        if overflow not in OVERFLOW_POLICIES:
            msg = describe("overflow", f"one of {', '.join(OVERFLOW_POLICIES)}", overflow,
                           "drop_newest is the default")
            raise ConfigError(msg, key="overflow")
        self.overflow_policy = overflow
        self.block_timeout_s = positive("block_timeout_ms", block_timeout_ms, float,
                                         allow_zero=True, unit="ms") / 1000.0
        self.audit_wait_s = positive("audit_wait_ms", audit_wait_ms, float,
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
            raise RingEmpty from None

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
            kind, level = kind_level(item)
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
        kind, level = kind_level(item)
        self._count_drop(kind, level)

    def _drop_oldest(self, item: Any, kind: str, level: int) -> None:
        items = self.items
        try:
            oldest = items.popleft()
        except IndexError:  # the listener emptied it meanwhile
            items.append(item)
            return
        okind, olevel = kind_level(oldest)
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



def kind_level(item: Any) -> tuple[str, int]:
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


def release(markers: list[FlushMarker] | None, ok: bool = True) -> None:
    """Wake the callers waiting on ``markers``."""
    for m in markers or ():
        if not ok:
            m.ok = False
        m.done.set()


# Set on listener threads: a flush there would wait for the thread that is asking.
ON_LISTENER = threading.local()
