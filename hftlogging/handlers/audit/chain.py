"""The audit hash chain: hashing, building a line, and reading a file's tail to resume.

See :mod:`hftlogging.handlers.audit` for the line format and the chain's rules.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import socket
import stat
from collections.abc import Mapping
from typing import Any

from pythonjsonlogger.json import JsonFormatter as _JsonFormatter

from hftlogging.exceptions import Found, HftLoggingError, describe
from hftlogging.formatters import JSONFormatter, rfc3339_utc, to_jsonable
from hftlogging.worker import get_worker

_orjson_dumps: Any
try:  # optional: the fast serialiser of a line
    from orjson import dumps as _orjson_dumps
except ImportError:  # pragma: no cover - depends on the environment
    _orjson_dumps = None

__all__ = [
    "GENESIS_HASH",
    "RESET_EVENT",
    "TAIL_BLOCK",
    "TORN_EVENT",
    "AuditFormatter",
    "AuditLineError",
    "Chain",
    "canonical_bytes",
    "dump_line",
    "hash_object",
    "line_hash_matches",
    "load_object",
    "plain_host_name",
    "read_tail",
    "seal_bytes",
]

class AuditLineError(HftLoggingError, ValueError):
    """A line of an audit file is not a chained audit record (damage, not a crash)."""


#: ``prev_hash`` of the first record of a chain.
GENESIS_HASH = "0" * 64
_INF = float("inf")
_NEG_INF = -_INF
TORN_EVENT = "audit_torn_line"
RESET_EVENT = "audit_chain_reset"
_FIXED = frozenset(
    {"timestamp", "event", "logger", "level", "seq", "host", "pid", "worker", "prev_hash",
     "hash", "message", "exc_info", "exc_type"}
)
TAIL_BLOCK = 65_536




def canonical_bytes(obj: dict[str, Any]) -> bytes:
    """The bytes the hash of a line of the older format covers (``obj`` without its
    ``hash`` key; lines whose hash does not cover their own bytes); such lines still
    verify."""
    return json.dumps(
        obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8", "surrogatepass")


def hash_object(obj: dict[str, Any]) -> str:
    return hashlib.sha256(canonical_bytes(obj)).hexdigest()


_json_compact = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":"))
_json_ascii = json.JSONEncoder(ensure_ascii=True, allow_nan=False, separators=(",", ":"))


def dump_line(obj: dict[str, Any]) -> bytes:
    """``obj`` as one compact JSON object in UTF-8 (orjson when importable).

    ``obj`` holds plain JSON types (see :func:`~hftlogging.formatters.to_jsonable`).
    """
    if _orjson_dumps is not None:
        try:
            return _orjson_dumps(obj)  # type: ignore[no-any-return]
        except Exception:  # a lone surrogate, an int beyond 64 bits: json below
            pass
    try:
        line = _json_compact.encode(obj)
    except ValueError:  # an integer too long for str(): to_jsonable writes it as hex
        obj = to_jsonable(obj)
        line = _json_compact.encode(obj)
    try:
        return line.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates: escaped, still one valid UTF-8 line
        return _json_ascii.encode(obj).encode("ascii")


_HASH_KEY = b',"hash":"'


def seal_bytes(body: bytes) -> tuple[bytes, str]:
    """Append the ``hash`` member to a serialised object; return the line and the hash.

    ``body`` is the object without ``hash`` (its last member is ``prev_hash``); the hash is
    the SHA-256 of exactly these bytes, so the line written is the line hashed.
    """
    h = hashlib.sha256(body).hexdigest()
    return b"".join((body[:-1], _HASH_KEY, h.encode("ascii"), b'"}')), h


def line_hash_matches(raw: bytes, h: str) -> bool:
    """Whether ``raw`` (a line without its newline) carries ``h`` as its own hash.

    The hash covers the line's own bytes with the trailing ``,"hash":"..."`` member
    removed. (Lines of the older format, spaced JSON, hashed the canonical form of the
    parsed object instead, :func:`canonical_bytes`; the verifier checks those apart.)
    """
    tail = b"".join((_HASH_KEY, h.encode("ascii", "replace"), b'"}'))
    if raw.endswith(tail):
        body = raw[: len(raw) - len(tail)] + b"}"
        if hashlib.sha256(body).hexdigest() == h:
            return True
    return False


_raw_host: list[str] = []


def plain_host_name() -> str:
    if not _raw_host:
        _raw_host.append(socket.gethostname() or "localhost")
    return _raw_host[0]


class Chain:
    """Sequence number and last hash of the chain being written."""

    __slots__ = ("enabled", "hash", "seq")

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.seq = 0
        self.hash = GENESIS_HASH

    def seal(self, obj: dict[str, Any]) -> bytes:
        """Number ``obj``, link it to the previous line, hash it; return its JSON line
        (UTF-8, no newline). ``obj`` holds plain JSON types."""
        self.seq += 1
        obj["seq"] = self.seq
        if not self.enabled:
            obj.pop("hash", None)
            return dump_line(obj)
        obj.pop("hash", None)
        obj.pop("prev_hash", None)
        obj["prev_hash"] = self.hash  # last: the line ends with prev_hash, then hash
        line, self.hash = seal_bytes(dump_line(obj))
        return line


# --- the formatter -------------------------------------------------------------------------


class AuditFormatter(JSONFormatter):
    """The audit line layout.

    Keys, in order: ``timestamp``, ``event``, ``logger``, ``level``, ``seq``, the context
    fields (audit fields and correlation ids), any ``extra=`` attributes, ``message``
    (records that are not audit records), ``exc_info``/``exc_type``, ``host``, ``pid``,
    ``worker``, ``prev_hash``, ``hash``. A field named like one of these keys is written
    as ``field_<name>``: a caller cannot overwrite ``seq`` or ``level``. Every value
    goes through :func:`~hftlogging.formatters.to_jsonable`, so anything serialises.

    The object is built straight from the record and serialised once (orjson when
    importable); a ``fmt``, ``static_fields``, python-json-logger options or a subclass
    overriding python-json-logger's hooks take python-json-logger's pipeline instead,
    which lays the object out the same way.

    Used alone it writes unchained lines; :class:`JSONAuditHandler` links it to its
    chain.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.chain: Chain | None = None
        #: the worker name for the lines of the current batch (set by the handler, which
        #: reads it once per batch); None: read it for each line.
        self.worker: str | None = None
        cls = type(self)
        # python-json-logger lists ``message`` as required for an empty fmt; it is written
        # (non-audit records) either way.
        required = [f for f in getattr(self, "_required_fields", ()) if f != "message"]
        self._fast = (
            not required
            and not getattr(self, "defaults", None)
            and not getattr(self, "rename_fields", None)
            and not getattr(self, "timestamp", False)
            and not getattr(self, "prefix", "")
            and all(getattr(cls, hook) is getattr(AuditFormatter, hook)
                    for hook in ("add_fields", "process_log_record", "jsonify_log_record",
                                 "serialize_log_record", "format", "line"))
        )
        self._extra_known: dict[tuple[Any, ...], frozenset[Any]] = {}
        self._skip_frozen: frozenset[Any] = frozenset(self._skip_fields)

    def format(self, record: logging.LogRecord) -> str:
        """Render ``record`` as one audit line (sealed when linked to a chain)."""
        if self._fast and not isinstance(record.msg, dict) and not self.static_fields:
            return self.line(record).decode("utf-8")
        return super().format(record)

    def line(self, record: logging.LogRecord) -> bytes:
        """The audit line of ``record`` as UTF-8 bytes, without a newline."""
        if not self._fast or isinstance(record.msg, dict) or self.static_fields:
            return self.format(record).encode("utf-8")
        obj = self._object(record)
        chain = self.chain
        if chain is None:
            del obj["seq"]
            return dump_line(obj)
        return chain.seal(obj)

    def _object(self, record: logging.LogRecord) -> dict[str, Any]:
        """The audit object, laid out as :meth:`add_fields` lays it out, in one pass."""
        d = record.__dict__
        created_ns = getattr(record, "created_ns", None) or int(record.created * 1e9)
        log_type = d.get("log_type", "text")
        event = d.get("audit_event") if log_type == "audit" else None
        obj: dict[str, Any] = {
            "timestamp": rfc3339_utc(created_ns),
            "event": log_type if event is None else _plain(event),
            "logger": record.name,
            "level": record.levelname,
            "seq": None,
        }
        ctx = d.get("context")
        skip = self._skip_frozen
        known = skip
        if ctx:
            if isinstance(ctx, Mapping):
                for k, v in ctx.items():
                    key = k if type(k) is str else str(to_jsonable(k))
                    if key in _FIXED:
                        key = "field_" + key
                    t = type(v)
                    obj[key] = v if t is str or t is int or t is bool or v is None or (
                        t is float and _NEG_INF < v < _INF) else to_jsonable(v)
                layout = tuple(ctx)
                cached = self._extra_known.get(layout)
                if cached is None:
                    cached = skip.union(layout)
                    if len(self._extra_known) < 1024:
                        self._extra_known[layout] = cached
                known = cached
            else:  # a ``context`` attribute set by other code
                obj["context"] = to_jsonable(ctx)
        if not known.issuperset(d):  # extra= attributes (python-json-logger's rule)
            for k, v in d.items():
                if k in known or (type(k) is str and k.startswith("_")):
                    continue
                key = f"field_{k}" if k in _FIXED else k
                if key not in obj:
                    obj[key] = _plain(v)
        if log_type != "audit":
            message = record.getMessage()
            d["message"] = message
            obj["message"] = message
        exc_info = record.exc_info
        exc_text: Any = record.exc_text
        if exc_info and not exc_text:
            exc_text = self.formatException(exc_info)
        if exc_text:
            obj["exc_info"] = to_jsonable(exc_text)
            if exc_info and exc_info[0] is not None:
                obj["exc_type"] = exc_info[0].__name__
        obj["host"] = plain_host_name()
        obj["pid"] = d.get("process")
        obj["worker"] = self.worker or get_worker()
        return obj

    def add_fields(
        self, log_data: dict[str, Any], record: logging.LogRecord, message_dict: dict[str, Any]
    ) -> None:
        """Lay out one audit object (see the class docstring)."""
        d = record.__dict__
        created_ns = getattr(record, "created_ns", None) or int(record.created * 1e9)
        log_type = d.get("log_type", "text")
        log_data["timestamp"] = rfc3339_utc(created_ns)
        event = d.get("audit_event") if log_type == "audit" else None
        log_data["event"] = to_jsonable(event) if event is not None else log_type
        log_data["logger"] = record.name
        log_data["level"] = record.levelname
        log_data["seq"] = None
        ctx = d.get("context")
        if ctx:
            for k, v in ctx.items():
                key = k if type(k) is str else str(to_jsonable(k))
                log_data[f"field_{key}" if key in _FIXED else key] = to_jsonable(v)
        # python-json-logger's own fields: required ones from fmt, static_fields and
        # extra= attributes (those of hftlogging records are already in the context).
        scratch: dict[str, Any] = {}
        _JsonFormatter.add_fields(self, scratch, record, message_dict)
        for k, v in scratch.items():
            if k in ("exc_info", "stack_info", "message"):
                continue
            key = f"field_{k}" if k in _FIXED else k
            if key not in log_data:
                log_data[key] = to_jsonable(v)
        if log_type != "audit":
            log_data["message"] = d.get("message", "")
        exc_text = message_dict.get("exc_info") or record.exc_text
        if exc_text:
            log_data["exc_info"] = to_jsonable(exc_text)
            if record.exc_info and record.exc_info[0] is not None:
                log_data["exc_type"] = record.exc_info[0].__name__
        log_data["host"] = plain_host_name()
        log_data["pid"] = d.get("process")
        log_data["worker"] = get_worker()

    def jsonify_log_record(self, log_data: dict[str, Any]) -> str:
        """Seal the object into the chain (when attached) and serialise it."""
        obj = to_jsonable(log_data)
        if not isinstance(obj, dict):  # pragma: no cover - to_jsonable keeps dicts
            obj = {"data": obj}
        chain = self.chain
        if chain is None:
            obj.pop("seq", None)
            return dump_line(obj).decode("utf-8")
        return chain.seal(obj).decode("utf-8")


def _plain(v: Any) -> Any:
    """``v`` if JSON takes it as it is, else :func:`to_jsonable` of it."""
    t = type(v)
    if t is str or t is int or t is bool or v is None or (t is float and _NEG_INF < v < _INF):
        return v
    return to_jsonable(v)


# --- reading -------------------------------------------------------------------------------


def read_tail(path: str) -> tuple[bytes | None, bytes | None, int]:
    """The last complete line of ``path`` and any unterminated fragment after it.

    Reads backwards in blocks from the end; a file is never read whole unless its last
    line is.

    Returns:
        (last complete line without its newline or None, the fragment or None, the
        fragment's offset).
    """
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except FileNotFoundError:
        return None, None, 0
    try:
        st = os.fstat(fd)
        size = st.st_size
        if size == 0 or not stat.S_ISREG(st.st_mode):
            return None, None, 0
        block = TAIL_BLOCK
        while True:
            start = max(0, size - block)
            data = os.pread(fd, size - start, start)
            last_nl = data.rfind(b"\n")
            if last_nl < 0:
                if start > 0:
                    block *= 2
                    continue
                return None, data, 0  # not one complete line
            prev_nl = data.rfind(b"\n", 0, last_nl)
            if prev_nl < 0 and start > 0:
                block *= 2
                continue
            fragment = data[last_nl + 1:]
            return data[prev_nl + 1:last_nl], fragment or None, size - len(fragment)
    finally:
        os.close(fd)


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        msg = describe(None, "a JSON object with unique keys", Found("duplicate keys"),
                       "the line was altered; restore the file from a copy")
        raise AuditLineError(msg)
    return obj


def load_object(line: bytes) -> dict[str, Any]:
    obj = json.loads(line.decode("utf-8", "surrogatepass"), object_pairs_hook=_no_duplicates)
    if not isinstance(obj, dict):
        msg = describe(None, "a JSON object", Found(type(obj).__name__),
                       "the line was altered; restore the file from a copy")
        raise AuditLineError(msg)
    return obj


