"""Exceptions raised by hftlogging (only ever at configuration time, never from a log call)."""

from __future__ import annotations

__all__ = ["ConfigError", "HftLoggingError"]


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
