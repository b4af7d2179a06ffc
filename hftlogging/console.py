"""Console output for development: :class:`ConsoleFormatter`, coloured by level."""

from __future__ import annotations

import logging
import os
import sys
from typing import Literal

from hftlogging.exceptions import ConfigError, describe
from hftlogging.formatters import ContextFormatter

__all__ = ["ConsoleFormatter"]

DEFAULT_CONSOLE_FORMAT = "%(asctime)s %(levelname)-8s %(name)s: %(message)s %(context)s"

_RESET = "\x1b[0m"
_COLOURS = {
    logging.DEBUG: "\x1b[2m",  # dim
    logging.INFO: "\x1b[32m",  # green
    logging.WARNING: "\x1b[33m",  # yellow
    logging.ERROR: "\x1b[31m",  # red
    logging.CRITICAL: "\x1b[1;41m",  # bold on red
}


def _stream_is_tty(stream: str) -> bool:
    target = sys.stderr if stream == "stderr" else sys.stdout
    try:
        return bool(target.isatty())
    except (AttributeError, ValueError):
        return False


class ConsoleFormatter(ContextFormatter):
    """A :class:`~hftlogging.formatters.ContextFormatter` that colours the level name.

    The colour wraps the whole line up to the message; the message and the context stay
    escaped as in ``ContextFormatter`` (one record, one line).

    Args:
        fmt, datefmt, style, validate, utc: as :class:`ContextFormatter`; the default
            format pads the level name to eight characters.
        color: ``"auto"`` (colour when ``stream`` is a terminal, unless ``NO_COLOR`` is
            set; ``FORCE_COLOR`` forces it), ``True`` or ``False``.
        stream: ``"stdout"`` or ``"stderr"``: the stream ``"auto"`` looks at.

    Raises:
        ConfigError: an invalid ``color`` or ``stream``.
    """

    def __init__(
        self,
        fmt: str | None = None,
        datefmt: str | None = None,
        style: str = "%",
        validate: bool = True,
        *,
        utc: bool = False,
        color: bool | Literal["auto"] = "auto",
        stream: Literal["stdout", "stderr"] = "stdout",
    ) -> None:
        super().__init__(DEFAULT_CONSOLE_FORMAT if fmt is None else fmt, datefmt, style,
                         validate, utc=utc)
        if color not in ("auto", True, False):
            msg = describe(None, "'auto', true or false", color,
                           "set color to 'auto', true or false")
            raise ConfigError(msg, key="color")
        if stream not in ("stdout", "stderr"):
            msg = describe(None, "'stdout' or 'stderr'", stream,
                           "set stream to 'stdout' or 'stderr'")
            raise ConfigError(msg, key="stream")
        if color == "auto":
            if os.environ.get("NO_COLOR"):
                color = False
            elif os.environ.get("FORCE_COLOR"):
                color = True
            else:
                color = _stream_is_tty(stream)
        self.color = bool(color)

    def format(self, record: logging.LogRecord) -> str:
        """Render as ``ContextFormatter`` does, then colour the first line by level."""
        line = super().format(record)
        if not self.color:
            return line
        colour = _COLOURS.get(record.levelno)
        if colour is None:
            colour = _COLOURS[max(lv for lv in _COLOURS if lv <= record.levelno)] \
                if record.levelno >= logging.DEBUG else _COLOURS[logging.DEBUG]
        first, sep, rest = line.partition("\n")
        return f"{colour}{first}{_RESET}{sep}{rest}"

    def __repr__(self) -> str:
        return f"<ConsoleFormatter color={self.color}>"
