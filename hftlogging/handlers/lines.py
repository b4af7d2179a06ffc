"""The text line of a record in a component file: one record, one unit.

A record's first line, then its traceback lines, each starting with ``"  | "``
(:data:`CONTINUATION`); and the inlined fast path for the default
:class:`~hftlogging.formatters.ContextFormatter` layout.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from hftlogging.formatters import ContextFormatter, escape_text, render_context
from hftlogging.record import Record

__all__ = ["CONTINUATION", "contain", "make_fast_line"]

CONTINUATION = "  | "


def contain(text: str) -> str:
    """Keep a formatted record one unit: every line after the first becomes a continuation."""
    text = text.replace("\r", "\\r")
    first, _, rest = text.partition("\n")
    lines = [first]
    for line in rest.split("\n"):
        lines.append(line if line.startswith(CONTINUATION) else CONTINUATION + line)
    return "\n".join(lines)


def make_fast_line(
    fmt: ContextFormatter, slow: Callable[[logging.LogRecord], str]
) -> Callable[[logging.LogRecord], str]:
    """ContextFormatter's output for its default format, without the generic %-style
    machinery: the listener formats every record, so this is the handler's main cost.
    A test pins the two outputs equal. ``slow`` formats the records it does not take.
    """
    converter = fmt.converter
    time_format = fmt.default_time_format
    msec_format = str(fmt.default_msec_format)
    strftime = time.strftime
    cache: list[Any] = [-1, "", -1.0, ""]  # second, its text, msecs, the stamp
    plain = (Record, logging.LogRecord)  # getMessage() is ``msg % args``: inlined

    def fast_line(record: logging.LogRecord) -> str:
        d = record.__dict__
        try:
            if d["exc_info"] or d["exc_text"] or d["stack_info"]:
                return slow(record)
            created = d["created"]
            sec = int(created)
            msecs = d["msecs"]
            if sec != cache[0] or msecs != cache[2]:
                if sec != cache[0]:
                    cache[1] = strftime(time_format, converter(sec))
                    cache[0] = sec
                cache[2] = msecs
                cache[3] = msec_format % (cache[1], msecs)
            msg = d["msg"]
            args = d["args"]
            if type(msg) is not str or type(record) not in plain:
                msg = record.getMessage()  # a record class may render its own way
            elif args:
                try:
                    msg = msg % args
                except Exception:
                    msg = record.getMessage()  # says what went wrong, never raises
            if not msg.isprintable():
                msg = escape_text(msg)
            ctx = d["context"]
            if ctx:
                s = f"{cache[3]} {d['levelname']} {d['name']}: {msg} {render_context(ctx)}"
            else:
                s = f"{cache[3]} {d['levelname']} {d['name']}: {msg}"
            if s[-1] == " ":
                s = s.rstrip(" ")
            if not s.isprintable():  # a logger name with a control character
                s = escape_text(s)
            return s
        except Exception:  # an unusual record: the formatter itself decides
            return slow(record)

    return fast_line
