"""Exceptions raised by hftlogging, and the one grammar of their messages.

Every exception the package raises is a :class:`HftLoggingError` and also the built-in
a caller would expect (``ValueError`` for a bad value, ``TypeError`` for a value of the
wrong type, ``OSError`` for a file or socket, ``RuntimeError`` for a state the process is
in), so ``except ValueError`` keeps working and ``except HftLoggingError`` catches all.

Every message follows one grammar, built by :func:`describe`::

    <where>: expected <what was expected>, found <what was found>; <what to do>

``<where>`` is the file and key for a configuration, the parameter or option name for a
constructor argument. Outside strict mode (:mod:`hftlogging.strict`) these are raised only
at configuration time, never from a log call.
"""

from __future__ import annotations

import reprlib

__all__ = [
    "CallSiteError",
    "ConfigError",
    "ConfigTypeError",
    "Found",
    "HftLoggingError",
    "HftLoggingOSError",
    "StateError",
    "describe",
    "show",
]

_SHOW = reprlib.Repr()
_SHOW.maxstring = 80
_SHOW.maxother = 80


def show(value: object) -> str:
    """``repr(value)`` cut to a readable length (a message never carries a megabyte)."""
    try:
        return _SHOW.repr(value)
    except Exception:  # a repr that raises still gets a message
        return f"<{type(value).__name__} object with a failing repr>"


def describe(where: str | None, expected: str, found: object, fix: str | None = None) -> str:
    """One error message in the package's grammar.

    Args:
        where: the file and key, or the parameter name; None when the caller adds it
            (:class:`ConfigError` prefixes its ``path`` and ``key``).
        expected: what was expected, in words (``"a number > 0"``).
        found: the value found; shown with :func:`show` unless it is already a
            :class:`Found` description.
        fix: what to do, when it is not obvious from ``expected``.
    """
    text = found if isinstance(found, Found) else show(found)
    message = f"expected {expected}, found {text}"
    if where:
        message = f"{where}: {message}"
    return f"{message}; {fix}" if fix else message


class Found(str):
    """A description of what was found, used as is by :func:`describe` (no repr)."""

    __slots__ = ()


class HftLoggingError(Exception):
    """Base of every exception hftlogging raises."""


class ConfigError(HftLoggingError, ValueError):
    """A configuration, or an argument to a constructor, is invalid.

    The message names the file (when there is one), the key path, what was expected,
    what was found and what to do.

    Attributes:
        path: the configuration file, or None for a dict or a constructor argument.
        key: the dotted key path, e.g. ``handlers.audit.fsync``, or None.
    """

    def __init__(self, message: str, *, path: str | None = None, key: str | None = None) -> None:
        self.path = path
        self.key = key
        self.message = message
        #: The single errors of a :meth:`combined` error (empty for a single one).
        self.errors: list[ConfigError] = []
        where = ", ".join(p for p in (path, f"key {key}" if key else None) if p)
        super().__init__(f"{where}: {message}" if where else message)

    def restated(self, *, before: str = "", after: str = "") -> ConfigError:
        """This error (same class, file and key) with words before or after its message,
        e.g. the variable a value came from; raise it ``from`` this one."""
        return type(self)(f"{before}{self.message}{after}", path=self.path, key=self.key)

    @classmethod
    def combined(cls, errors: list[ConfigError], *, path: str | None = None) -> ConfigError:
        """One error listing several (each already in the grammar), one per line."""
        lines = [f"  key {e.key}: {e.message}" if e.key else f"  {e.message}" for e in errors]
        err = cls(f"{len(errors)} problems:\n" + "\n".join(lines), path=path)
        err.errors = list(errors)
        return err


class ConfigTypeError(ConfigError, TypeError):
    """A configuration value, or a constructor argument, has the wrong type."""


class HftLoggingOSError(HftLoggingError, OSError):
    """A file, directory or socket hftlogging needs cannot be used."""


class StateError(HftLoggingError, RuntimeError):
    """The process is not in a state the operation needs (for example, a Python whose
    internals changed)."""


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
