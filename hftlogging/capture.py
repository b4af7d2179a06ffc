"""The captured call: the tuple a fast log call enqueues, and what a call left out.

A level method on the fast path does not build a LogRecord: it appends one tuple to the
queue handler's ring, and the listener thread builds the record from it
(:func:`hftlogging.handlers.records.materialize`). The tuple has twelve slots, in the
order of :data:`FIELDS`; the capture sites write it as a plain tuple literal (no
namedtuple, no call: the hot path stays as cheap as it is) and the listener unpacks it in
the same order. ``tests/test_capture_layout.py`` checks every literal and every unpacking
against :data:`FIELDS` by reading the source.

Slots: ``kind`` (:data:`KIND_TEXT`, :data:`KIND_METRIC` or :data:`KIND_AUDIT`),
``logger`` (the HFTLogger), ``level``, ``msg``, ``args``, ``fields`` (the call's keyword
fields, or None), ``lctx`` (the logger's merged context), ``cv`` (the ``context()``
fields, or None), ``t_ns`` (``time.time_ns()``), ``tid`` (thread id, or ``(id, name)``),
``caller`` (``(pathname, lineno, funcName)`` or None), ``task`` (task name, or
``(task name, trace ids)``, or None).

This module imports nothing from hftlogging: everything may import it.
"""

from __future__ import annotations

import enum
from types import TracebackType
from typing import Final, Literal, TypeAlias

__all__ = [
    "FIELDS",
    "I_ARGS",
    "I_CALLER",
    "I_CV",
    "I_FIELDS",
    "I_KIND",
    "I_LCTX",
    "I_LEVEL",
    "I_LOGGER",
    "I_MSG",
    "I_TASK",
    "I_TID",
    "I_T_NS",
    "KIND_AUDIT",
    "KIND_METRIC",
    "KIND_TEXT",
    "MISSING",
    "ExcInfo",
    "Missing",
    "Name",
    "Number",
    "TagValue",
]

# Kinds of captured calls (slot ``kind``).
KIND_TEXT = 0
KIND_METRIC = 1
KIND_AUDIT = 2

FIELDS = (
    "kind", "logger", "level", "msg", "args", "fields", "lctx", "cv", "t_ns", "tid",
    "caller", "task",
)
I_KIND = 0
I_LOGGER = 1
I_LEVEL = 2
I_MSG = 3
I_ARGS = 4
I_FIELDS = 5
I_LCTX = 6
I_CV = 7
I_T_NS = 8
I_TID = 9
I_CALLER = 10
I_TASK = 11


class Missing(enum.Enum):
    """The type of :data:`MISSING`: an argument the caller did not pass."""

    MISSING = enum.auto()


MISSING: Final = Missing.MISSING
"""Default of the optional positional arguments of the log methods (``msg``, ``name``...)."""

# Types of the log methods' parameters (a call with other types is still never an error at
# run time: it is counted in ``stats()["bad_input"]``).
TagValue: TypeAlias = str | int | float | bool | None
"""A metric tag's value: a label (None is an empty label)."""
Name: TypeAlias = str | Literal[Missing.MISSING]
"""A metric or audit event name; MISSING when given as a keyword (``name=``) instead."""
Number: TypeAlias = float | Literal[Missing.MISSING]
"""A metric value (an int is a float here); MISSING when given as a keyword instead."""
ExcInfo: TypeAlias = (
    bool
    | BaseException
    | tuple[type[BaseException], BaseException, TracebackType | None]
    | tuple[None, None, None]
    | None
)
"""``exc_info=`` as stdlib takes it."""
