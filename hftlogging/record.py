"""The hftlogging LogRecord: contract attributes, safe message rendering, cheap construction.

Records built by hftlogging are instances of :class:`Record`, a :class:`logging.LogRecord`
subclass. Besides the stdlib attributes every record carries the contract attributes:

``log_type``
    ``"text"``, ``"metric"`` or ``"audit"``.
``context``
    dict of structured fields: bound context and call keywords.
``tags``
    the logger's hierarchical tags (a list, empty for non-factory loggers).
``created_ns``
    integer wall-clock timestamp in nanoseconds; ``created`` is derived from it.
``metric_name``, ``metric_value``, ``metric_type``, ``metric_tags``, ``metric_unit``
    on metric records.
``audit_event``
    on audit records.

Keyword fields also become record attributes (as ``extra=`` would), except those that
collide with a built-in attribute: those stay in ``context`` only.
"""

from __future__ import annotations

import copy
import datetime
import decimal
import enum
import fractions
import logging
import os
import sys
import threading
import uuid
from collections.abc import Mapping
from typing import Any

from hftlogging import lifecycle
from hftlogging import strict as _strict

__all__ = [
    "AUDIT",
    "METRIC",
    "RESERVED_ATTRS",
    "START_NS",
    "TEXT",
    "Record",
    "build_record",
    "extra_fields",
    "is_immutable",
    "path_info",
    "record_context",
    "snapshot_fields",
]

TEXT = "text"
METRIC = "metric"
AUDIT = "audit"

#: Attribute names a keyword field may never overwrite on a record.
RESERVED_ATTRS: frozenset[str] = frozenset(
    {
        # stdlib LogRecord
        "name", "msg", "args", "levelname", "levelno", "pathname", "filename", "module",
        "exc_info", "exc_text", "stack_info", "lineno", "funcName", "created", "msecs",
        "relativeCreated", "thread", "threadName", "processName", "process", "taskName",
        "message", "asctime",
        # hftlogging contract
        "log_type", "context", "tags", "created_ns", "metric_name", "metric_value",
        "metric_type", "metric_tags", "metric_unit", "audit_event",
        # methods a field must not shadow
        "getMessage", "__dict__", "__class__",
    }
)

_IMMUTABLE_TYPES: set[type] = {
    str, int, float, bool, type(None), bytes, complex, decimal.Decimal, fractions.Fraction,
    datetime.datetime, datetime.date, datetime.time, datetime.timedelta, datetime.timezone,
    uuid.UUID, range, frozenset,
}


#: The same, frozen: the fast check on the caller's thread (a frozenset probes faster).
IMMUTABLE_FAST: frozenset[type] = frozenset(_IMMUTABLE_TYPES)


def is_immutable(value: object) -> bool:
    """Tell whether ``value`` can be rendered later and still show its value at call time.

    Scalars, Decimals, dates, UUIDs, Enum members and tuples of those are immutable; lists,
    dicts, sets and arbitrary objects are not.
    """
    t = type(value)
    if t in _IMMUTABLE_TYPES:
        return True
    if t is tuple:
        return all(is_immutable(v) for v in value)  # type: ignore[attr-defined]
    if isinstance(value, enum.Enum):
        _IMMUTABLE_TYPES.add(t)  # an Enum class: every later member is known safe
        return True
    return False


def snapshot_value(value: Any) -> Any:
    """Copy a mutable value so a later mutation cannot change what the record shows."""
    if is_immutable(value):
        return value
    try:
        return copy.deepcopy(value)
    except Exception:
        try:
            return repr(value)
        except Exception:
            return f"<unrepresentable {type(value).__name__}>"


def snapshot_fields(fields: dict[str, Any]) -> dict[str, Any]:
    """Return ``fields`` with every mutable value copied (the dict itself is reused)."""
    for k, v in fields.items():
        if type(v) not in IMMUTABLE_FAST and not is_immutable(v):
            fields[k] = snapshot_value(v)
    return fields


def _safe_str(obj: object) -> str:
    try:
        return str(obj)
    except Exception as e:
        try:
            return f"<unprintable {type(obj).__name__}: {type(e).__name__}>"
        except Exception:
            return "<unprintable object>"


class Record(logging.LogRecord):
    """A LogRecord whose message rendering never raises.

    ``getMessage`` behaves as stdlib's (``str(msg) % args``); when the format and the
    arguments do not match, or ``__str__`` raises, the message says so instead of raising
    into a handler (in strict mode it raises, as stdlib's does).

    hftlogging's own bookkeeping (which redaction settings already masked the record)
    lives in a slot, outside ``__dict__``: no formatter or handler that walks the
    record's attributes can write it.

    A record of a stdlib-style call (no keyword fields, no bound or global context, no
    tags, a text record) has exactly the instance attributes stdlib gives a record: the
    contract attributes ``log_type``, ``tags`` and ``context`` then read their defaults
    (``"text"``, an empty dict, an empty list) from the class, and ``created_ns`` is a
    property over a slot. They are instance attributes only when they carry
    something.
    """

    __slots__ = ("_created_ns", "hft_extra_keys", "hft_redacted")
    hft_redacted: Any
    #: The ``extra=`` keys a stdlib-style call set as attributes (and nowhere else), for
    #: :attr:`context` to show; unset on other records.
    hft_extra_keys: tuple[str, ...]
    log_type: str = TEXT

    @property
    def context(self) -> dict[str, Any]:
        """The structured fields; an empty dict that joins the record once written to."""
        ctx = self.__dict__.get("context")
        return _AbsentContext(self) if ctx is None else ctx

    @context.setter
    def context(self, value: dict[str, Any]) -> None:
        self.__dict__["context"] = value

    @property
    def tags(self) -> list[str]:
        """The logger's hierarchical tags; a new empty list when it has none."""
        tags = self.__dict__.get("tags")
        return [] if tags is None else tags

    @tags.setter
    def tags(self, value: list[str]) -> None:
        self.__dict__["tags"] = value

    @property
    def created_ns(self) -> int:
        """Wall-clock time of the call in nanoseconds (``created`` is derived from it)."""
        try:
            return self._created_ns
        except AttributeError:  # built without it (copied from a plain LogRecord)
            return int(self.created * 1e9)

    @created_ns.setter
    def created_ns(self, value: int) -> None:
        self._created_ns = value

    def getMessage(self) -> str:
        msg = self.msg if type(self.msg) is str else _safe_str(self.msg)
        args = self.args
        if args:
            try:
                msg = msg % args
            except Exception as e:
                if _strict.enabled:
                    raise  # strict mode: the formatting handler's handleError, as stdlib
                msg = f"{msg} {_safe_args(args)} [format error: {type(e).__name__}: {e}]"
        return msg


class _AbsentContext(dict):  # type: ignore[type-arg]
    """``record.context`` of a record without one: empty, and stored on the record by the
    first write (a filter that adds a field), so nothing is written for a record that
    carries no context and nothing written to it is lost."""

    __slots__ = ("_record",)

    def __init__(self, record: logging.LogRecord) -> None:
        extra = extra_fields(record)
        if extra:
            super().__init__(extra)
        else:
            super().__init__()
        self._record = record

    def _attach(self) -> None:
        self._record.__dict__.setdefault("context", self)

    def __setitem__(self, key: Any, value: Any) -> None:
        self._attach()
        super().__setitem__(key, value)

    def update(self, *args: Any, **kwargs: Any) -> None:
        self._attach()
        super().update(*args, **kwargs)

    def setdefault(self, key: Any, default: Any = None) -> Any:
        self._attach()
        return super().setdefault(key, default)


def extra_fields(record: logging.LogRecord) -> dict[str, Any] | None:
    """The ``extra=`` fields of a stdlib-style call, or None.

    A call with ``extra=`` and no other field (no keyword fields, no bound, task or
    global context) gets stdlib's record: the ``extra`` keys are attributes and nothing
    else, so a formatter that walks the record's attributes writes each once. Such a
    record carries no ``context`` attribute; this gives the fields it would hold.
    """
    try:
        keys = record.hft_extra_keys  # type: ignore[attr-defined]
    except AttributeError:
        return None
    d = record.__dict__
    return {k: d[k] for k in keys if k in d}


def record_context(record: logging.LogRecord) -> Any:
    """``record.context`` as formatters and handlers read it: the ``context`` attribute,
    else the ``extra=`` fields of a stdlib-style call (:func:`extra_fields`), else None."""
    ctx = record.__dict__.get("context")
    return ctx if ctx is not None else extra_fields(record)


def _safe_args(args: object) -> str:
    try:
        return repr(args)
    except Exception:
        return "<unrepresentable args>"


def render_message(msg: object, args: tuple[Any, ...] | Mapping[str, Any]) -> str:
    """Format ``msg % args`` now, as :meth:`Record.getMessage` would later."""
    # LogRecord.__init__ takes a lone non-empty mapping as the arguments themselves
    # (``log.info("%(a)s", {"a": 1})``); render it the same way.
    if args and len(args) == 1 and isinstance(args[0], Mapping) and args[0]:  # type: ignore[index]
        args = args[0]  # type: ignore[index]
    rec = Record.__new__(Record)
    rec.msg = msg
    rec.args = args
    return rec.getMessage()


# --- cheap construction -----------------------------------------------------------------

_stdlib: Any = logging  # private stdlib state, read once
if isinstance(_stdlib._startTime, int):  # 3.13+: nanoseconds
    START_NS: int = _stdlib._startTime
else:
    START_NS = int(_stdlib._startTime * 1e9)

_HAS_TASKNAME = sys.version_info >= (3, 12)
_level_names = logging._levelToName
_path_parts: dict[str, tuple[str, str]] = {}
_process_info: list[Any] = [None, None]  # (pid, processName), refreshed after fork


def path_info(pathname: str) -> tuple[str, str]:
    try:
        return _path_parts[pathname]
    except KeyError:
        filename = os.path.basename(pathname)
        module = os.path.splitext(filename)[0]
        if len(_path_parts) < 10_000:
            _path_parts[pathname] = (filename, module)
        return filename, module


def _process() -> tuple[int, str]:
    """This process's id and name, looked up once per process (reset after fork)."""
    pid = os.getpid()
    if _process_info[0] != pid:
        name = "MainProcess"
        mp = sys.modules.get("multiprocessing")
        if mp is not None:
            try:
                name = mp.current_process().name
            except Exception:  # pragma: no cover - as stdlib does
                pass
        _process_info[0] = pid
        _process_info[1] = name
    return _process_info[0], _process_info[1]


def _thread_name(ident: int) -> str:
    t = threading._active.get(ident)  # type: ignore[attr-defined]
    if t is None:
        return f"Thread-{ident}"
    return str(t.name)


def build_record(
    name: str,
    level: int,
    msg: object,
    args: Any,
    created_ns: int,
    thread_ident: int | None,
    *,
    pathname: str = "(unknown file)",
    lineno: int = 0,
    func: str | None = "(unknown function)",
    exc_info: Any = None,
    exc_text: str | None = None,
    sinfo: str | None = None,
    thread_name: str | None = None,
    task_name: str | None = None,
    log_type: str = TEXT,
    context: dict[str, Any] | None = None,
    tags: list[str] | None = None,
) -> Record:
    """Build a :class:`Record` without the cost of ``LogRecord.__init__``.

    Every stdlib attribute is filled as ``LogRecord.__init__`` would fill it, with the
    time, thread and caller captured on the caller's thread and passed in.
    """
    if args and len(args) == 1:
        a0 = args[0]
        if type(a0) not in IMMUTABLE_FAST and isinstance(a0, Mapping) and a0:
            args = a0
    filename, module = path_info(pathname)
    pid, pname = _process_info
    if pid is None:
        pid, pname = _process()
    if thread_ident is None or not logging.logThreads:
        thread_ident = thread_name = None
    elif thread_name is None:
        thread_name = _thread_name(thread_ident)
    if not logging.logProcesses:
        pid = pname = None
    elif not logging.logMultiprocessing:
        pname = None
    rec = Record.__new__(Record)
    # One dict display instead of two dozen item assignments: this runs once per record
    # on the listener thread and bounds its throughput.
    d = {
        "name": name,
        "msg": msg,
        "args": args,
        "levelname": _level_names.get(level) or f"Level {level}",
        "levelno": level,
        "pathname": pathname,
        "filename": filename,
        "module": module,
        "exc_info": exc_info,
        "exc_text": exc_text,
        "stack_info": sinfo,
        "lineno": lineno,
        "funcName": func,
        "created": created_ns / 1e9,
        "msecs": (created_ns % 1_000_000_000) // 1_000_000 + 0.0,
        "relativeCreated": (created_ns - START_NS) / 1e6,
        "thread": thread_ident,
        "threadName": thread_name,
        "processName": pname,
        "process": pid,
    }
    if _HAS_TASKNAME:
        d["taskName"] = task_name
    # Contract attributes only when they carry something: otherwise the class defaults.
    if log_type != TEXT:
        d["log_type"] = log_type
    if tags:
        d["tags"] = tags
    if context:
        d["context"] = context
        for k, v in context.items():
            if k not in RESERVED_ATTRS:
                d[k] = v
    rec.__dict__ = d
    rec._created_ns = created_ns
    return rec


def attach_contract(
    record: logging.LogRecord,
    log_type: str,
    context: dict[str, Any],
    tags: list[str],
    created_ns: int | None = None,
) -> None:
    """Set the contract attributes on a record built by a LogRecord factory.

    On a :class:`Record` only those that carry something become instance attributes
    (the others read the class defaults); on records of other factories all of them.
    """
    d = record.__dict__
    if isinstance(record, Record):
        if created_ns is not None:
            record.created_ns = created_ns
        elif "created_ns" in d:
            record.created_ns = d.pop("created_ns")
        for key, value, default in (("log_type", log_type, TEXT), ("tags", tags, None),
                                    ("context", context, None)):
            if value and value != default:
                d[key] = value
            elif key in d:
                del d[key]
    else:
        if created_ns is None:
            created_ns = d.get("created_ns") or int(record.created * 1e9)
        d["created_ns"] = created_ns
        d["log_type"] = log_type
        d["tags"] = tags
        d["context"] = context
    for k, v in context.items():
        if k not in RESERVED_ATTRS and k not in d:
            d[k] = v


def reset_after_fork() -> None:
    """Forget the cached process id and name (called in a forked child)."""
    _process_info[0] = None


lifecycle.add_after_fork_child(reset_after_fork)
