"""Checks of option values shared by the handlers: durations and paths.

A value that passes here cannot break the pipeline later: a duration is a finite number
that the clock and thread primitives accept (NaN makes an idle listener spin, infinity
overflows a deadline), a path can be opened by the kernel (no NUL byte, no name longer
than the filesystem allows).
"""

from __future__ import annotations

import math
import os
import threading

from hftlogging.exceptions import ConfigError, Found, describe

__all__ = ["MAX_SECONDS", "check_duration", "check_path"]

#: Longest duration any option may name: a day. Longer waits are never meant, and
#: anything up to it is accepted by every wait and sleep on every platform.
MAX_SECONDS = min(86_400.0, threading.TIMEOUT_MAX)

_NAME_MAX_DEFAULT = 255
_PATH_MAX_DEFAULT = 4096


def check_duration(name: str, value: float, *, unit: str = "s") -> None:
    """Refuse a duration that is NaN, infinite or longer than :data:`MAX_SECONDS`.

    Args:
        name: the option, named in the message and as the error's key.
        value: the number given (its type was checked by the caller).
        unit: ``"s"`` or ``"ms"``, the option's unit.

    Raises:
        ConfigError: the value is not a finite duration in range.
    """
    limit = MAX_SECONDS * (1000 if unit == "ms" else 1)
    if isinstance(value, float) and not math.isfinite(value):
        msg = describe(None, f"a finite number of {_UNITS[unit]} (0 to {limit:g})", value,
                       f"write a number such as {_EXAMPLE[unit]}")
        raise ConfigError(msg, key=name)
    if value > limit:
        msg = describe(None, f"at most {limit:g} {_UNITS[unit]} (one day)", value,
                       "write a shorter duration")
        raise ConfigError(msg, key=name)


_UNITS = {"s": "seconds", "ms": "milliseconds"}
_EXAMPLE = {"s": "10", "ms": "100"}


def _limit(directory: str, which: str, default: int) -> int:
    probe = directory or "."
    while probe and not os.path.isdir(probe):
        parent = os.path.dirname(probe.rstrip(os.sep)) or (os.sep if probe.startswith(os.sep)
                                                           else ".")
        if parent == probe:
            break
        probe = parent
    try:
        return int(os.pathconf(probe or ".", which))
    except (OSError, ValueError, AttributeError):
        return default


def check_path(name: str, value: object) -> None:
    """Refuse a file or directory path the kernel would refuse to open.

    A NUL byte, a component longer than the filesystem's NAME_MAX, or a path longer than
    PATH_MAX. ``{placeholders}`` of a template are measured as written (what they expand
    to is checked when the file is opened). Other types are left to the caller.

    Raises:
        ConfigError: naming the option, what is wrong and what to do.
    """
    if isinstance(value, os.PathLike):
        value = os.fspath(value)
    if isinstance(value, bytes):
        value = os.fsdecode(value)
    if not isinstance(value, str):
        return
    if "\x00" in value:
        msg = describe(None, "a path without NUL bytes", value,
                       "remove the \\0 (often an escaped string in YAML)")
        raise ConfigError(msg, key=name)
    parent = os.path.dirname(value)
    name_max = _limit(parent, "PC_NAME_MAX", _NAME_MAX_DEFAULT)
    for part in value.split(os.sep):
        if len(os.fsencode(part)) > name_max:
            msg = describe(None, f"file and directory names of at most {name_max} bytes",
                           Found(f"one of {len(os.fsencode(part))} ({part[:40]!r}...)"),
                           "shorten it")
            raise ConfigError(msg, key=name)
    path_max = _limit(parent, "PC_PATH_MAX", _PATH_MAX_DEFAULT)
    if len(os.fsencode(value)) >= path_max:
        msg = describe(None, f"a path shorter than {path_max} bytes",
                       Found(f"{len(os.fsencode(value))}"), "use a shorter directory")
        raise ConfigError(msg, key=name)
