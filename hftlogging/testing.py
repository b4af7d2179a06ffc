"""Helpers for tests: capture records thread-safely.

Example::

    from hftlogging.testing import capture

    with capture("orders") as records:
        log.info("filled", order_id=7)
    assert records[0].context["order_id"] == 7

Strict mode makes a broken log call fail the test that made it, as it would under
stdlib logging, while production code keeps its never-raise behaviour. Turn it on for a
whole test run with ``HFTLOGGING_STRICT=1`` (read by ``hftlogging.configure()`` and
``hftlogging.install()``) or ``hftlogging.configure(..., strict=True)``, or for one
block with :func:`strict_mode`::

    from hftlogging.testing import strict_mode

    with strict_mode():
        log.warning("oops", "first", 2)   # fails: stdlib's handleError, pytest reports it
        log.metric("spread", float("nan"))  # raises CallSiteError instead of counting it

What strict mode changes is listed in :mod:`hftlogging.strict` and in the differences
page of the documentation.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator
from typing import overload

from hftlogging import strict as _strict

__all__ = ["CaptureHandler", "capture", "strict_mode"]


class CaptureHandler(logging.Handler):
    """A handler that keeps every record it receives, safe to read from any thread.

    It implements ``emit_batch`` too, so behind a queue it receives whole batches.
    """

    def __init__(self, level: int = logging.NOTSET) -> None:
        super().__init__(level)
        self._records: list[logging.LogRecord] = []
        self._cond = threading.Condition()

    def emit(self, record: logging.LogRecord) -> None:
        """Keep ``record``."""
        with self._cond:
            self._records.append(record)
            self._cond.notify_all()

    def emit_batch(self, records: list[logging.LogRecord]) -> None:
        """Keep a whole batch."""
        with self._cond:
            self._records.extend(records)
            self._cond.notify_all()

    @property
    def records(self) -> list[logging.LogRecord]:
        """A snapshot of the records so far."""
        with self._cond:
            return list(self._records)

    def __len__(self) -> int:
        with self._cond:
            return len(self._records)

    @overload
    def __getitem__(self, index: int) -> logging.LogRecord: ...

    @overload
    def __getitem__(self, index: slice) -> list[logging.LogRecord]: ...

    def __getitem__(self, index: int | slice) -> logging.LogRecord | list[logging.LogRecord]:
        """The record at ``index``, or a list of them for a slice."""
        with self._cond:
            return self._records[index]

    def __iter__(self) -> Iterator[logging.LogRecord]:
        return iter(self.records)

    def messages(self) -> list[str]:
        """``getMessage()`` of each record so far."""
        return [r.getMessage() for r in self.records]

    def of_type(self, log_type: str) -> list[logging.LogRecord]:
        """The records whose ``log_type`` is ``log_type``."""
        return [r for r in self.records if getattr(r, "log_type", "text") == log_type]

    def wait_for(self, count: int, timeout: float = 5.0) -> bool:
        """Block until at least ``count`` records arrived; False on timeout."""
        with self._cond:
            return self._cond.wait_for(lambda: len(self._records) >= count, timeout)

    def clear(self) -> None:
        """Forget the records so far."""
        with self._cond:
            self._records.clear()


@contextlib.contextmanager
def capture(
    logger: str | logging.Logger | None = None, level: int = logging.NOTSET
) -> Iterator[CaptureHandler]:
    """Capture the records reaching ``logger`` (a name or a logger; default the root).

    The logger's level is set to ``level`` for the duration (NOTSET: everything reaching
    it) and restored afterwards; the handler is removed on exit.
    """
    lg = logger if isinstance(logger, logging.Logger) else logging.getLogger(logger)
    handler = CaptureHandler(level)
    old_level = lg.level
    lg.addHandler(handler)
    lg.setLevel(level if level else logging.DEBUG)
    try:
        yield handler
    finally:
        lg.removeHandler(handler)
        lg.setLevel(old_level)


@contextlib.contextmanager
def strict_mode(on: bool = True) -> Iterator[None]:
    """Turn strict mode on (or off) for the block, then restore the previous setting."""
    previous = _strict.set_strict(on)
    try:
        yield
    finally:
        _strict.set_strict(previous)
