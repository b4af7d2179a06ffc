"""Strict mode: stdlib's error behaviour for test suites.

In production a log call never raises: a raising filter, a message whose arguments do
not match its format, or bad call-site input is counted and reported instead. A test
suite wants the opposite: a broken log call should fail the test that made it, as it
does under stdlib logging (pytest's logging plugin turns ``Handler.handleError`` into a
failure). Strict mode gives that back:

- every call takes stdlib's path: the record is built at the call, and handlers that
  run in the caller's thread (pytest's capture handler) format it there;
- a message that cannot be formatted raises from ``getMessage``, so the handler that
  formats it calls its ``handleError`` (stdlib's behaviour), also behind the queue;
- a logger-level filter that raises propagates to the caller;
- bad call-site input (a NaN metric, a bad level, a non-mapping ``extra``) raises
  :class:`hftlogging.exceptions.CallSiteError` instead of being counted.

Turn it on with ``hftlogging.configure(..., strict=True)``, the environment variable
``HFTLOGGING_STRICT=1`` (read by :func:`hftlogging.configure` and
:func:`hftlogging.install`), or :func:`hftlogging.testing.strict_mode`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping

from hftlogging.exceptions import ConfigError, describe

__all__ = ["ENV_VAR", "enabled", "from_environment", "is_strict", "on_change", "set_strict"]

ENV_VAR = "HFTLOGGING_STRICT"

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"", "0", "false", "no", "off"})

#: Whether strict mode is on: read as ``strict.enabled`` (an attribute of the module, so
#: always the current value) only where something already went wrong, and once per plan,
#: never per call. Set it with :func:`set_strict`.
enabled = False
_listeners: list[Callable[[], None]] = []


def is_strict() -> bool:
    """Tell whether strict mode is on."""
    return enabled


def set_strict(on: bool) -> bool:
    """Turn strict mode on or off for the whole process; return the previous setting.

    Cached fast-path plans are forgotten, so the change applies to the next call of
    every logger.
    """
    global enabled
    previous = enabled
    enabled = bool(on)
    if previous != enabled:
        for listener in _listeners:
            listener()
    return previous


def on_change(listener: Callable[[], None]) -> None:
    """Have ``listener`` called whenever strict mode is turned on or off.

    The logger module registers the invalidation of its cached plans here, so this
    module imports nothing of the package above :mod:`hftlogging.exceptions`.
    """
    _listeners.append(listener)


def from_environment(environ: Mapping[str, str] | None = None) -> bool | None:
    """Read ``HFTLOGGING_STRICT``: True, False, or None when it is not set.

    Raises:
        ConfigError: the value is not one of 1/true/yes/on or 0/false/no/off.
    """
    value = (os.environ if environ is None else environ).get(ENV_VAR)
    if value is None:
        return None
    text = value.strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    msg = describe(None, "1/true/yes/on or 0/false/no/off", value,
                   f"set the environment variable {ENV_VAR} to 1 to make broken log calls "
                   "raise, or unset it")
    raise ConfigError(msg, key=ENV_VAR)
