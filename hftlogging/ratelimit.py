"""Rate limits for log storms: per call site on the caller, per key behind the queue.

``log.every(1.0).warning("feed stale: %s", sym)`` lets through at most one record per
call site (the code location of the call, not the message text) per second; the next
record that passes carries the keyword field ``suppressed=N``, the number of calls held
back since the previous one. ``log.once()`` lets each call site through once.

A suppressed call captures and enqueues nothing. What it does: stdlib's cached level
answer (one dictionary lookup), one frame lookup, one number from the call site's counter
and one clock read, with no lock; the counts stay exact when many threads hit one site.

:class:`hftlogging.filters.RateLimitFilter` does the same for code that cannot be
changed, configured with ``dictConfig``. It runs where filters run: on the logger
(before the queue, so the suppressed records are never captured) or on a handler behind
the queue (after capture: it saves the disk and the downstream, not the caller's time or
the queue's room).
"""

from __future__ import annotations

import itertools
import logging
import math
import sys
import threading
import time
import weakref
from typing import Any

from hftlogging import health
from hftlogging.exceptions import StateError, describe
from hftlogging.filters import positive_seconds, rate_limit_filters

__all__ = ["RateLimitedLogger", "suppressed_counts", "view"]

_monotonic = time.monotonic
_getframe = sys._getframe  # documented as CPython-specific; guarded below

try:  # a Python without frame access: every call counts as one call site per method
    _getframe(0)
except (AttributeError, ValueError):  # pragma: no cover - CPython always has it
    _getframe = None  # type: ignore[assignment]

_views: weakref.WeakSet[RateLimitedLogger] = weakref.WeakSet()


def suppressed_counts() -> dict[str, int]:
    """Held-back calls per logger name, summed over every rate-limited view and filter."""
    out: dict[str, int] = {}
    for view in list(_views):
        for name, n in view.counts().items():
            out[name] = out.get(name, 0) + n
    for flt in rate_limit_filters():
        for name, n in flt.counts().items():
            out[name] = out.get(name, 0) + n
    return out


health.add_stats_source("suppressed", suppressed_counts)


def _calls(counter: itertools.count[int]) -> int:
    """How many numbers ``counter`` has handed out (read without taking one).

    ``itertools.count`` offers no way to read its value but its repr (``count(5)``),
    which is checked: a different repr raises (``stats()`` then says the figure is
    unavailable) rather than giving a wrong count.
    """
    text = repr(counter)
    if not (text.startswith("count(") and text.endswith(")") and text[6:-1].isdigit()):
        msg = describe("itertools.count's repr", "count(N)", text,
                       "the held-back counts cannot be read on this Python")
        raise StateError(msg)
    return int(text[6:-1])


def _level_method(level: int, name: str) -> Any:
    def method(self: RateLimitedLogger, msg: Any, /, *args: Any, **kw: Any) -> None:
        # Enabled? stdlib's own cached answer (a dict lookup; cleared in place by every
        # level, handler or disable change), else isEnabledFor, which fills it.
        enabled = self._base._cache.get(level)
        if enabled is None:
            enabled = self._base.isEnabledFor(level)
        if not enabled:
            return  # a disabled call is not a held-back one
        f = _getframe(1) if _getframe is not None else None
        site = (id(f.f_code), f.f_lasti) if f is not None else name
        state = self._sites.get(site) or self._new_site(site)
        n = next(state[1])  # this call's number at the site (atomic: one C call)
        if _monotonic() < state[0]:
            return  # held back: no lock, no capture, no enqueue
        held = self._admit(state, n)
        if held < 0:
            return
        if held:
            kw["suppressed"] = held
        self.logger.log(level, msg, *args, **kw)

    method.__name__ = method.__qualname__ = name
    method.__doc__ = (
        f"Log at {logging.getLevelName(level)} unless this call site was let through "
        "less than the interval ago."
    )
    return method


class RateLimitedLogger:
    """A view of a logger whose level methods let each call site through once per interval.

    Made by ``log.every(seconds)`` and ``log.once()``; views are cached per logger and
    interval, so ``log.every(1.0).warning(...)`` in a loop keeps its state between calls.

    Each call site numbers its calls with an ``itertools.count`` (one atomic C call); a
    held-back call takes its number and compares the clock, nothing else. The lock is
    taken only when the interval has passed, to let exactly one call through and to
    report how many numbers were held back since the last one let through. The counts
    are exact across threads.

    Attributes:
        logger: the logger (or bound view) the records go to.
        interval_s: the interval; ``inf`` for ``once()``.
    """

    __slots__ = ("__weakref__", "_base", "_lock", "_sites", "interval_s", "logger")

    def __init__(self, logger: Any, interval_s: float) -> None:
        self.logger = logger
        # The logger whose level decides (a bound view's underlying logger).
        self._base: Any = logger if isinstance(logger, logging.Logger) else logger.logger
        self.interval_s = positive_seconds(interval_s, "every")
        self._lock = threading.Lock()
        # call site -> [time the next record may pass, call numbers, last number let
        # through, records let through]
        self._sites: dict[Any, list[Any]] = {}
        _views.add(self)

    def _new_site(self, site: Any) -> list[Any]:
        with self._lock:
            return self._sites.setdefault(site, [-math.inf, itertools.count(), -1, 0])

    def _admit(self, state: list[Any], n: int) -> int:
        """-1 to hold call ``n`` back, else how many calls were held back before it."""
        with self._lock:
            now = _monotonic()
            if now < state[0] or n < state[2]:
                # Another thread let a call through meanwhile (a later number, which
                # already reported this one as held back).
                return -1
            held = n - state[2] - 1
            state[0] = now + self.interval_s
            state[2] = n
            state[3] += 1
            return held  # type: ignore[no-any-return]

    def _site_figures(self) -> list[tuple[int, int, int]]:
        """(calls, last number let through, let through) per call site."""
        with self._lock:
            return [(_calls(st[1]), st[2], st[3]) for st in self._sites.values()]

    def pending(self) -> int:
        """Calls held back since the last record that passed, not yet reported on one."""
        return sum(calls - last - 1 for calls, last, _ in self._site_figures())

    def held_back(self) -> int:
        """Every call this view held back."""
        return sum(calls - passed for calls, _, passed in self._site_figures())

    def counts(self) -> dict[str, int]:
        """Held-back calls of this view, by logger name."""
        n = self.held_back()
        return {self.logger.name: n} if n else {}

    debug = _level_method(logging.DEBUG, "debug")
    info = _level_method(logging.INFO, "info")
    warning = _level_method(logging.WARNING, "warning")
    error = _level_method(logging.ERROR, "error")
    critical = _level_method(logging.CRITICAL, "critical")

    def exception(self, msg: Any, /, *args: Any, exc_info: Any = True, **kw: Any) -> None:
        """Log at ERROR with the current exception, rate limited like :meth:`error`."""
        if not self._base.isEnabledFor(logging.ERROR):
            return
        f = _getframe(1) if _getframe is not None else None
        site = (id(f.f_code), f.f_lasti) if f is not None else "exception"
        state = self._sites.get(site) or self._new_site(site)
        n = next(state[1])
        if _monotonic() < state[0]:
            return
        held = self._admit(state, n)
        if held < 0:
            return
        if held:
            kw["suppressed"] = held
        self.logger.log(logging.ERROR, msg, *args, exc_info=exc_info, **kw)


def view(logger: Any, seconds: float) -> RateLimitedLogger:
    """The cached rate-limited view of ``logger`` for ``seconds`` (made on first use)."""
    views: dict[float, RateLimitedLogger] | None = logger.__dict__.get("_hft_rate_views")
    if views is None:
        views = logger.__dict__.setdefault("_hft_rate_views", {})
    try:
        return views[seconds]
    except (KeyError, TypeError):
        v = RateLimitedLogger(logger, seconds)
        try:
            views[seconds] = v
        except TypeError:
            pass
        return v
