"""Formatters: ``ContextFormatter`` (text with ``key=value`` context) and ``JSONFormatter``.

Both render everything a caller passes without raising, and neither lets a message forge
a log line: the text formatter escapes newlines and control characters in the message and
the context, and indents traceback lines; JSON escapes them by construction.
"""

from __future__ import annotations

import dataclasses
import datetime
import decimal
import difflib
import enum
import json
import logging
import re
import time
import uuid
from collections.abc import Collection, Mapping
from typing import Any, Literal

from pythonjsonlogger.json import JsonFormatter as _JsonFormatter

from hftlogging import strict as _strict
from hftlogging.exceptions import ConfigError, ConfigTypeError, Found, describe
from hftlogging.record import record_context
from hftlogging.schemas import SCHEMAS

_orjson_dumps: Any
try:  # optional: the JSON formatter's fast serialiser
    from orjson import dumps as _orjson_dumps
except ImportError:  # pragma: no cover - depends on the environment
    _orjson_dumps = None

__all__ = [
    "ContextFormatter",
    "JSONFormatter",
    "escape_text",
    "render_context",
    "rfc3339_utc",
    "to_jsonable",
]

DEFAULT_TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s %(context)s"

# C0 and C1 control characters (a terminal reads 0x9b as CSI), DEL and the Unicode line
# breaks, as visible escapes.
_ESCAPE_TABLE: dict[int, str] = {i: f"\\x{i:02x}" for i in (*range(32), *range(0x7F, 0xA0))}
_ESCAPE_TABLE.update({0x2028: "\\u2028", 0x2029: "\\u2029"})
_ESCAPE_TABLE.update({ord("\n"): "\\n", ord("\r"): "\\r", ord("\t"): "\\t"})


def escape_text(text: str) -> str:
    """Escape newlines and control characters so ``text`` stays on one line."""
    if text.isprintable():
        return text
    return text.translate(_ESCAPE_TABLE)


def _safe_str(value: object) -> str:
    try:
        return value if type(value) is str else str(value)  # type: ignore[return-value,unused-ignore]
    except Exception as e:
        return _unprintable(value, e)


def _render_value(value: object) -> str:
    s = _safe_str(value)
    if s and s.isprintable() and " " not in s and '"' not in s and "=" not in s:
        return s
    s = s.replace("\\", "\\\\").replace('"', '\\"')
    return '"' + s.translate(_ESCAPE_TABLE) + '"'


def _render_key(key: object) -> str:
    s = _safe_str(key)
    if s.isidentifier():
        return s
    return escape_text(s).replace(" ", "_").replace("=", "_") or '""'


def render_context(context: object) -> str:
    """Render a context dict as ``key=value`` pairs, quoting values with spaces."""
    if not context:
        return ""
    if type(context) is not dict and not isinstance(context, Mapping):
        return _render_value(context)  # a ``context`` attribute set by other code
    # One loop, no call per pair in the common case (identifier keys, plain values):
    # this runs for every line a text handler writes.
    parts: list[str] = []
    append = parts.append
    for key, v in context.items():
        k = key if type(key) is str and key.isidentifier() else _render_key(key)
        t = type(v)
        if t is str:
            if v and v.isprintable() and " " not in v and '"' not in v and "=" not in v:
                append(f"{k}={v}")
            else:
                append(f"{k}={_render_value(v)}")
        elif t is float or t is int or t is bool:
            append(f"{k}={v!r}")  # a number's repr needs no quoting
        else:
            append(f"{k}={_render_value(v)}")
    return " ".join(parts)


_CONTEXT_SLOT = "_hft_context_text"
# ``context`` as a whole name only: ``{context_id}`` or ``$context_id`` is another field.
_CONTEXT_PLACEHOLDERS = {
    "%": re.compile(r"%\(context\)"),
    "{": re.compile(r"\{context(?![A-Za-z0-9_])"),
    "$": re.compile(r"\$(?:\{context\}|context(?![A-Za-z0-9_]))"),
}


class ContextFormatter(logging.Formatter):
    """stdlib ``%``-style formatting plus ``%(context)s`` rendered as ``key=value`` pairs.

    The message and the context are escaped so that one record is always one line;
    traceback and stack lines follow, each indented with ``"  | "``. The timestamp string
    is computed once per second.

    Args:
        fmt: the format; default ``"%(asctime)s %(levelname)s %(name)s: %(message)s
            %(context)s"``.
        datefmt, style, validate: as :class:`logging.Formatter`.
        utc: render ``asctime`` in UTC instead of local time.
    """

    def __init__(
        self,
        fmt: str | None = None,
        datefmt: str | None = None,
        style: str = "%",
        validate: bool = True,
        *,
        utc: bool = False,
        defaults: Mapping[str, Any] | None = None,
    ) -> None:
        fmt = DEFAULT_TEXT_FORMAT if fmt is None else fmt
        # A record logged outside a span has no trace ids: show them empty, not an error.
        trace_defaults = {k: "" for k in ("otel_trace_id", "otel_span_id") if k in fmt}
        super().__init__(fmt, datefmt, style, validate,  # type: ignore[arg-type]
                         defaults={**trace_defaults, **(defaults or {})} or None)
        placeholder = _CONTEXT_PLACEHOLDERS[style]
        self._has_context = placeholder.search(fmt) is not None
        if self._has_context:
            replacement = {
                "%": f"%({_CONTEXT_SLOT})",
                "{": "{" + _CONTEXT_SLOT,
                "$": "${" + _CONTEXT_SLOT + "}",
            }[style]
            self._style._fmt = placeholder.sub(replacement, self._style._fmt)
            if style == "$":
                self._style._tpl = self._style._tpl.__class__(self._style._fmt)  # type: ignore[attr-defined]
        if utc:
            self.converter = time.gmtime
        # Contract attributes a record may read from its class (they are instance
        # attributes only when they carry something): given to the format for the call.
        pattern = _CONTEXT_PLACEHOLDERS[style].pattern
        self._contract = tuple(f for f in ("log_type", "tags", "created_ns")
                               if re.search(pattern.replace("context", f), fmt))
        self._uses_time = self.usesTime()
        self._time_cache: tuple[int, str] = (-1, "")

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        """As stdlib, but the strftime part is computed once per second."""
        if datefmt is not None:
            return super().formatTime(record, datefmt)
        sec = int(record.created)
        cached_sec, text = self._time_cache
        if sec != cached_sec:
            text = time.strftime(self.default_time_format, self.converter(sec))
            self._time_cache = (sec, text)
        return (self.default_msec_format or "%s,%03d") % (text, record.msecs)

    def format(self, record: logging.LogRecord) -> str:
        """Render one record as one line, then any traceback or stack, indented."""
        d = record.__dict__
        try:
            message = record.getMessage()
        except Exception as e:
            if _strict.enabled:
                raise  # strict mode: the handler's handleError, as stdlib
            message = f"{_safe_str(record.msg)} [format error: {type(e).__name__}: {e}]"
        d["message"] = escape_text(message)
        if self._uses_time:
            d["asctime"] = self.formatTime(record, self.datefmt)
        if self._has_context:
            d[_CONTEXT_SLOT] = render_context(record_context(record))
        added = [f for f in self._contract if f not in d]
        for f in added:
            d[f] = getattr(record, f, "")
        try:
            s = self.formatMessage(record)
        finally:
            d.pop(_CONTEXT_SLOT, None)
            for f in added:
                del d[f]
        s = s.rstrip(" ")
        if not s.isprintable():  # a logger name, thread name or extra field with a line break
            s = escape_text(s)
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            s = s + "\n" + _indent(record.exc_text)
        if record.stack_info:
            s = s + "\n" + _indent(self.formatStack(record.stack_info))
        return s


def _indent(block: str) -> str:
    return "\n".join("  | " + escape_text(line) for line in block.splitlines())


# --- JSON ----------------------------------------------------------------------------------

_MAX_DEPTH = 32
_INF = float("inf")
_NEG_INF = -_INF


def to_jsonable(value: Any, _depth: int = 0, _seen: set[int] | None = None) -> Any:
    """Convert anything a user may log into plain JSON types, never raising.

    datetimes become RFC 3339 strings, Decimals strings (exact), Enums their value, sets
    sorted lists, bytes text (UTF-8, invalid bytes escaped), dataclasses dicts, classes
    (dataclass and Enum classes too) their qualified name, integers too long for a JSON
    reader hex strings, recursive structures ``"<recursion>"``, anything else
    ``str(value)``; an object whose ``__str__`` raises becomes
    ``"<unprintable TYPE: ERROR>"``.
    """
    t = type(value)
    if t is str or t is bool or value is None:
        return value
    if t is int:
        return value if -_BIG_INT < value < _BIG_INT else _big_int(value)
    try:
        return _to_jsonable(value, _depth, _seen)
    except Exception as e:  # a container or an object whose methods raise
        return _unprintable(value, e)


# Integers beyond this many digits cannot be read back by most JSON parsers, and Python's
# own ``str(int)`` refuses them (sys.set_int_max_str_digits): written as hex strings.
_BIG_INT = 10**1000


def _big_int(value: int) -> str:
    return f"{'-' if value < 0 else ''}0x{abs(value):x}"


def _unprintable(value: object, e: BaseException) -> str:
    try:
        name = type(value).__name__
    except Exception:  # pragma: no cover - a metaclass that raises
        name = "object"
    return f"<unprintable {name}: {type(e).__name__}>"


def _to_jsonable(value: Any, _depth: int, _seen: set[int] | None) -> Any:
    t = type(value)
    if t is float:
        if value != value or value in (_INF, _NEG_INF):
            return str(value)
        return value
    if _depth > _MAX_DEPTH:
        return "<too deep>"
    if isinstance(value, type):  # a class (dataclass, Enum and exception classes too)
        return f"{value.__module__}.{value.__qualname__}"
    if isinstance(value, (dict, list, tuple, set, frozenset)) or dataclasses.is_dataclass(value):
        seen = _seen if _seen is not None else set()
        if id(value) in seen:
            return "<recursion>"
        seen.add(id(value))
        try:
            if isinstance(value, Mapping):
                return {
                    _safe_str(k) if not isinstance(k, str) else k: to_jsonable(v, _depth + 1, seen)
                    for k, v in value.items()
                }
            if isinstance(value, (set, frozenset)):
                items = [to_jsonable(v, _depth + 1, seen) for v in value]
                try:
                    return sorted(items)
                except TypeError:
                    return sorted(items, key=repr)
            if dataclasses.is_dataclass(value):
                return {
                    f.name: to_jsonable(getattr(value, f.name, None), _depth + 1, seen)
                    for f in dataclasses.fields(value)
                }
            return [to_jsonable(v, _depth + 1, seen) for v in value]
        finally:
            seen.discard(id(value))
    if isinstance(value, Mapping):
        return to_jsonable(dict(value), _depth, _seen)
    if isinstance(value, datetime.datetime):
        if value.tzinfo is None:
            return value.isoformat()
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, (datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, datetime.timedelta):
        return value.total_seconds()
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, enum.Enum):
        return to_jsonable(value.value, _depth + 1, _seen)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).decode("utf-8", "backslashreplace")
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, BaseException):
        return f"{type(value).__name__}: {_safe_str(value)}"
    if isinstance(value, int):  # int subclasses (IntEnum handled above), numpy ints
        return to_jsonable(int(value))
    if isinstance(value, float):
        return to_jsonable(float(value), _depth, _seen)
    return _safe_str(value)


_rfc3339_second: list[tuple[int, str]] = [(-1, "")]  # one slot: swapped atomically


def rfc3339_utc(created_ns: int) -> str:
    """``2026-11-21T08:15:02.123456Z`` from a nanosecond timestamp.

    The date and time part is rendered once per second (strftime is the costly part).
    """
    sec = created_ns // 1_000_000_000
    cached = _rfc3339_second[0]
    if cached[0] != sec:
        cached = (sec, time.strftime("%Y-%m-%dT%H:%M:%S.", time.gmtime(sec)))
        _rfc3339_second[0] = cached
    return "%s%06dZ" % (cached[1], created_ns % 1_000_000_000 // 1000)  # noqa: UP031 - faster


_JSON_SKIP = frozenset(
    {
        "args", "asctime", "created", "exc_info", "exc_text", "filename", "funcName",
        "levelname", "levelno", "lineno", "module", "msecs", "message", "msg", "name",
        "pathname", "process", "processName", "relativeCreated", "stack_info", "thread",
        "threadName", "taskName", "created_ns", "context", "tags", "log_type",
        "metric_name", "metric_value", "metric_type", "metric_tags", "metric_unit",
        "audit_event",
    }
)


# hftlogging's record contract: always reserved (written as the fixed keys, not as extras).
_CONTRACT_ATTRS = (
    "created_ns", "context", "tags", "log_type", "metric_name", "metric_value", "metric_type",
    "metric_tags", "metric_unit", "audit_event", "message", "asctime",
)
# python-json-logger's constructor options that JSONFormatter passes on (3.1 to 4.x).
_PJL_OPTIONS = frozenset({
    "prefix", "rename_fields", "rename_fields_keep_missing", "reserved_attrs", "timestamp",
    "defaults", "exc_info_as_array", "stack_info_as_array", "json_default", "json_encoder",
    "json_serializer", "json_indent",
})


class JSONFormatter(_JsonFormatter):  # type: ignore[misc,unused-ignore]
    """One JSON object per line, python-json-logger compatible.

    Every object has ``timestamp`` (RFC 3339, UTC, microseconds, from ``created_ns``),
    ``level``, ``logger``, ``message`` and ``log_type``, then the context fields; metric
    records add ``metric_name``/``metric_value``/``metric_type``/``metric_tags``, audit
    records ``event``, factory loggers ``tags``, and exceptions ``exc_info`` (the rendered
    traceback) and ``exc_type``. Values of any type serialise (see :func:`to_jsonable`).

    The object is built directly from the record and serialised with orjson when it is
    importable (``pip install hftlogging[orjson]``), else with :mod:`json`; both give the
    same object. A subclass overriding python-json-logger's hooks (``add_fields``,
    ``process_log_record``, ``jsonify_log_record``, ``serialize_log_record``) goes through
    python-json-logger's own pipeline, hooks included.

    Args:
        fmt: extra stdlib attributes to include, python-json-logger style, e.g.
            ``"%(funcName)s %(lineno)d"``.
        static_fields: fields added to every object (e.g. ``{"service": "mm"}``).
        json_ensure_ascii: escape every non-ASCII character (always through :mod:`json`).
        serializer: ``"auto"`` (orjson when importable), ``"orjson"`` or ``"json"``.
        schema: ``"ecs"`` (Elastic Common Schema) or ``"otel"`` (OpenTelemetry log data
            model) field names instead of the layout above (see :mod:`hftlogging.schemas`);
            it takes ``static_fields`` but no python-json-logger option.
        **options: python-json-logger's own options, with its meaning: ``prefix``,
            ``rename_fields``, ``rename_fields_keep_missing``, ``defaults``,
            ``reserved_attrs`` (hftlogging's contract attributes are always reserved:
            they are written as the fixed keys), ``timestamp``, ``exc_info_as_array``,
            ``stack_info_as_array``, ``json_default``, ``json_encoder``,
            ``json_serializer``, ``json_indent``. With any of them the object goes through
            python-json-logger's pipeline; a custom serialiser that raises falls back to
            hftlogging's, so a line is never lost. The differences that remain are listed
            in docs/configuration.md.

    Raises:
        ConfigTypeError: an option python-json-logger does not have (a ``TypeError``).
        ConfigError: an unknown ``schema`` or ``serializer``, a python-json-logger
            option with ``schema``, or ``serializer="orjson"`` without orjson (a
            ``ValueError``).
    """

    def __init__(
        self,
        fmt: str | None = None,
        datefmt: str | None = None,
        style: str = "%",
        validate: bool = True,
        *,
        static_fields: dict[str, Any] | None = None,
        json_ensure_ascii: bool = False,
        serializer: Literal["auto", "orjson", "json"] = "auto",
        schema: Literal["ecs", "otel"] | None = None,
        **options: Any,
    ) -> None:
        if schema is not None and schema not in SCHEMAS:
            msg = describe(None, f"one of {', '.join(sorted(SCHEMAS))} or None", schema,
                           "leave schema out for hftlogging's own layout")
            raise ConfigError(msg, key="schema")
        if schema is not None and options:
            msg = describe(
                None, f"no python-json-logger option with schema={schema!r} (it lays out its "
                "own field names; it takes static_fields)",
                Found(", ".join(sorted(options))), "remove them, or leave schema out")
            raise ConfigError(msg, key="schema")
        self.schema = schema
        unknown = sorted(set(options) - _PJL_OPTIONS)
        if unknown:
            close = difflib.get_close_matches(unknown[0], _PJL_OPTIONS, n=1)
            msg = describe(
                "JSONFormatter()",
                f"python-json-logger's options ({', '.join(sorted(_PJL_OPTIONS))})",
                Found(f"unexpected keyword argument(s) {', '.join(unknown)}"),
                f"did you mean {close[0]!r}?" if close else "remove them")
            raise ConfigTypeError(msg)
        reserved = options.pop("reserved_attrs", None)
        user_default = options.pop("json_default", None)
        # A serialiser of the user's choosing: python-json-logger's jsonify, as it would.
        self._custom_json = user_default is not None or any(
            options.get(k) is not None for k in ("json_encoder", "json_serializer", "json_indent"))
        super().__init__(
            fmt or "",
            datefmt,
            style,
            validate=False if not fmt else validate,
            static_fields=static_fields,
            reserved_attrs=list(_JSON_SKIP) if reserved is None
            else [*reserved, *_CONTRACT_ATTRS],
            # A json_encoder's own ``default`` is only used when json_default is None.
            json_default=user_default if user_default is not None
            else None if options.get("json_encoder") is not None else to_jsonable,
            json_ensure_ascii=json_ensure_ascii,
            **options,
        )
        if serializer not in ("auto", "orjson", "json"):
            msg = describe(None, "'auto', 'orjson' or 'json'", serializer,
                           "set serializer to 'auto', 'orjson' or 'json'")
            raise ConfigError(msg, key="serializer")
        if serializer == "orjson" and _orjson_dumps is None:
            msg = describe(None, "orjson importable for serializer 'orjson'",
                           Found("no orjson"), "pip install hftlogging[orjson]")
            raise ConfigError(msg, key="serializer")
        self._orjson = (
            _orjson_dumps if serializer != "json" and not json_ensure_ascii else None
        )
        self._encode = json.JSONEncoder(
            default=to_jsonable, ensure_ascii=json_ensure_ascii, allow_nan=False,
            separators=(",", ":"),
        ).encode
        self._direct = self._direct_layout()
        self._known: dict[tuple[Any, ...], frozenset[Any]] = {}
        self._skip_schema = frozenset(self._skip_fields) | {"otel_trace_id", "otel_span_id"}

    def _direct_layout(self) -> tuple[tuple[str, ...], frozenset[str]] | None:
        """What :meth:`format` needs to build objects itself, or None to use the pipeline."""
        cls = type(self)
        for hook in ("add_fields", "process_log_record", "jsonify_log_record",
                     "serialize_log_record", "format"):
            if getattr(cls, hook) is not getattr(JSONFormatter, hook):
                return None
        required = getattr(self, "_required_fields", None)
        skip = getattr(self, "_skip_fields", None)
        if (
            required is None or skip is None
            or getattr(self, "defaults", None) or getattr(self, "rename_fields", None)
            or getattr(self, "timestamp", False) or getattr(self, "prefix", "")
            or getattr(self, "rename_fields_keep_missing", False)
            or getattr(self, "exc_info_as_array", False)
            or getattr(self, "stack_info_as_array", False)
            or self._custom_json
        ):
            return None
        # ``message`` is always written; python-json-logger lists it for an empty fmt.
        return tuple(f for f in required if f != "message"), frozenset(skip)

    def format(self, record: logging.LogRecord) -> str:
        """Render ``record`` as one JSON line."""
        if self.schema is not None:
            build = SCHEMAS[self.schema]
            return self._serialise(
                to_jsonable(build(record, self._skip_schema, self.static_fields)))
        direct = self._direct
        if direct is None or isinstance(record.msg, dict):
            return super().format(record)  # type: ignore[no-any-return,unused-ignore]
        required, skip = direct
        static = self.static_fields  # read per record: it may be changed after construction
        d = record.__dict__
        message = record.getMessage()
        d["message"] = message
        created_ns = getattr(record, "created_ns", None) or int(record.created * 1e9)
        log_type = d.get("log_type", "text")
        obj: dict[str, Any] = {
            "timestamp": rfc3339_utc(created_ns),
            "level": record.levelname,
            "logger": record.name,
            "message": message,
            "log_type": log_type,
        }
        if log_type == "metric":
            for k in ("metric_name", "metric_value", "metric_type", "metric_tags"):
                obj[k] = to_jsonable(d.get(k))
        elif log_type == "audit":
            obj["event"] = to_jsonable(d.get("audit_event"))
        tags = d.get("tags")
        if tags:
            obj["tags"] = to_jsonable(list(tags))
        fixed = len(obj)
        ctx = d.get("context")
        known = skip  # attributes that are not ``extra=`` ones
        if ctx:
            if type(ctx) is dict or isinstance(ctx, Mapping):
                for k, field in ctx.items():
                    key = k if type(k) is str else _safe_str(k)
                    if key in obj:
                        continue
                    # hftlogging copies fields onto the record: one a filter replaced
                    # there wins.
                    v: Any = field if key in skip else d.get(key, field)
                    t = type(v)
                    obj[key] = v if t is str or t is int or t is bool or (
                        t is float and _NEG_INF < v < _INF) else to_jsonable(v)
                # The fields' attributes are not extras; one set per layout of fields.
                layout = tuple(ctx)
                with_fields = self._known.get(layout)
                if with_fields is None:
                    with_fields = skip.union(layout)
                    if len(self._known) < 1024:
                        self._known[layout] = with_fields
                known = with_fields
            else:  # a ``context`` attribute set by other code (extra={"context": ...})
                obj["context"] = to_jsonable(ctx)
        extra = () if known.issuperset(d) else frozenset(k for k in d if k not in known)
        if required or static or extra or record.exc_info or record.exc_text \
                or record.stack_info:
            self._add_rest(obj, record, required, extra, static, fixed)
        return self._serialise(obj)

    def _add_rest(
        self,
        obj: dict[str, Any],
        record: logging.LogRecord,
        required: tuple[str, ...],
        extra: Collection[str],
        static: dict[str, Any],
        fixed: int,
    ) -> None:
        """Required fields, static fields, traceback, stack and ``extra=`` attributes.

        Keys and order as python-json-logger lays them out; a field never replaces one of
        the fixed keys (timestamp, level, logger, message, log_type and the metric keys).
        """
        d = record.__dict__
        fixed_keys = set(list(obj)[:fixed])
        if "asctime" in required:
            d["asctime"] = self.formatTime(record, self.datefmt)
        rest: dict[str, Any] = {f: d.get(f) for f in required}
        for k, v in static.items():  # a field of the call wins over a static one
            if k not in obj:
                rest[k] = v
        exc_info = record.exc_info
        exc_text = record.exc_text  # not cached on the record: other handlers render theirs
        if exc_info and not exc_text:
            text = self.formatException(exc_info)
            exc_text = text if isinstance(text, str) else "\n".join(text)
        if exc_text:
            rest["exc_info"] = exc_text
        elif "exc_info" in rest:  # asked for in fmt, but there is no exception
            del rest["exc_info"]
        if record.stack_info:
            rest["stack_info"] = self.formatStack(record.stack_info)
        if extra:
            for k, v in d.items():
                if k in extra and not (type(k) is str and k.startswith("_")):
                    rest[k] = v
        for k, v in rest.items():
            if k not in fixed_keys:
                obj[k] = to_jsonable(v)
        if exc_info and exc_info[0] is not None:
            obj["exc_type"] = exc_info[0].__name__

    def add_fields(
        self, log_data: dict[str, Any], record: logging.LogRecord, message_dict: dict[str, Any]
    ) -> None:
        """Lay out the object: fixed keys first, then context, then extras."""
        d = record.__dict__
        created_ns = getattr(record, "created_ns", None) or int(record.created * 1e9)
        fixed: dict[str, Any] = {
            "timestamp": rfc3339_utc(created_ns),
            "level": record.levelname,
            "logger": record.name,
            "message": d.get("message", ""),
        }
        log_type = d.get("log_type", "text")
        fixed["log_type"] = log_type
        if log_type == "metric":
            for k in ("metric_name", "metric_value", "metric_type", "metric_tags"):
                fixed[k] = d.get(k)
        elif log_type == "audit":
            fixed["event"] = d.get("audit_event")
        tags = d.get("tags")
        if tags:
            fixed["tags"] = list(tags)
        log_data.update(fixed)
        ctx = d.get("context")
        if isinstance(ctx, Mapping):
            for k, v in ctx.items():
                log_data.setdefault(str(k), to_jsonable(v))
        elif ctx:  # a ``context`` attribute set by other code (extra={"context": ...})
            log_data.setdefault("context", to_jsonable(ctx))
        super().add_fields(log_data, record, message_dict)
        # python-json-logger copies record attributes over: a field named like a fixed key
        # (timestamp, level, event...) must not replace it.
        log_data.update(fixed)
        exc_text: Any = record.exc_text
        if exc_text:
            log_data["exc_info"] = exc_text
        if record.exc_info and record.exc_info[0] is not None:
            log_data["exc_type"] = record.exc_info[0].__name__
            if not exc_text:
                log_data["exc_info"] = self.formatException(record.exc_info)
        elif "exc_info" in log_data and not log_data["exc_info"]:
            del log_data["exc_info"]
        exc_text = log_data.get("exc_info")
        if getattr(self, "exc_info_as_array", False) and isinstance(exc_text, str):
            log_data["exc_info"] = exc_text.splitlines()
        # rename_fields applies to the fixed keys python-json-logger would have named too.
        for src, dst in (getattr(self, "rename_fields", None) or {}).items():
            if src in fixed and src != dst:
                log_data[dst] = log_data.pop(src)

    def jsonify_log_record(self, log_data: dict[str, Any]) -> str:
        """Serialise python-json-logger's object (dict messages, subclasses) as the direct
        path does: the same serialiser, the same compact line; never raises. With a
        ``json_default``, ``json_encoder``, ``json_serializer`` or ``json_indent`` of the
        user's, python-json-logger's own serialisation (and ours if that raises)."""
        if self._custom_json:
            try:
                return super().jsonify_log_record(log_data)
            except Exception:  # never lose the line to a custom serialiser
                pass
        return self._serialise(to_jsonable(log_data))

    def _serialise(self, obj: Any) -> str:
        try:
            dumps = self._orjson
            if dumps is not None:
                return dumps(obj).decode()  # type: ignore[no-any-return]
            return self._encode(obj)
        except Exception:  # a huge int, a lone surrogate, a value to_jsonable left as is
            try:
                return self._encode(obj)
            except Exception:
                return self._encode(to_jsonable(obj))
