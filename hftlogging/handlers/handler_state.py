"""The listener's view of one handler: error counts, circuit breaker, back-off, fallback."""

from __future__ import annotations

import logging
import sys
import threading
from typing import Any

__all__ = ["FALLBACK_FOR", "HandlerState", "default_fallback", "describe_error"]


class HandlerState:
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
FALLBACK_FOR = threading.local()


class _DefaultFallbackFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        failed = getattr(FALLBACK_FOR, "name", None)
        return f"{line} [hftlogging fallback for handler {failed}]" if failed else line


def default_fallback() -> logging.Handler:
    h = logging.StreamHandler(sys.stderr)
    h.setFormatter(_DefaultFallbackFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    return h


def describe_error(exc: Any) -> str:
    if exc is None:
        return "no exception"
    return f"{type(exc).__name__}: {exc}"
