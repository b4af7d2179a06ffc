"""Exceptions raised by hftlogging.

Outside strict mode (:mod:`hftlogging.strict`) they are raised only at configuration
time, never from a log call.
"""

from __future__ import annotations

__all__ = ["CallSiteError", "ConfigError", "HftLoggingError"]


class HftLoggingError(Exception):
    """Base of every exception hftlogging raises."""


class ConfigError(HftLoggingError, ValueError):
    """A configuration is invalid.

    The message names the file (when there is one), the key path, what was expected,
    what was found and what to do.

    Attributes:
        path: the configuration file, or None for a dict.
        key: the dotted key path, e.g. ``handlers.audit.fsync``, or None.
    """

    def __init__(self, message: str, *, path: str | None = None, key: str | None = None) -> None:
        self.path = path
        self.key = key
        self.message = message
        where = ", ".join(p for p in (path, f"key {key}" if key else None) if p)
        super().__init__(f"{where}: {message}" if where else message)


class CallSiteError(HftLoggingError, ValueError):
    """A log call was given bad input, and strict mode is on.

    Outside strict mode the same input is counted in ``stats()["bad_input"]`` and the
    call returns; see :mod:`hftlogging.strict`.

    Attributes:
        reason: the counter the input would have been counted under, e.g. ``"metric_value"``.
    """

    def __init__(self, reason: str, detail: str) -> None:
        self.reason = reason
        super().__init__(f"bad log call ({reason}): {detail}")
