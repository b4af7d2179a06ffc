"""The audit trail: append-only JSON Lines with a SHA-256 hash chain, and its verification.

:class:`JSONAuditHandler` writes one compact JSON object per line
(:class:`AuditFormatter`, a :class:`~hftlogging.formatters.JSONFormatter`)::

    {"timestamp":"2026-11-21T08:15:02.123456Z","event":"order_placed",
     "logger":"orders","level":"INFO","seq":42,"order_id":"o-7","qty":"0.5",
     "correlation_id":"c-1","host":"trade-1","pid":4711,"worker":"worker_open",
     "prev_hash":"9f2c...","hash":"0b4e..."}

The hash chain
    ``seq`` counts the records of the chain from 1. Every line ends with
    ``,"prev_hash":"<hex>","hash":"<hex>"}``: ``prev_hash`` is the previous line's
    ``hash`` (64 zeros before the first record) and ``hash`` the SHA-256 (hex) of the
    line's own UTF-8 bytes with the ``,"hash":"..."`` member removed (the line ending in
    ``}`` there). The line hashed is the line written, serialised once; each line seals
    the whole history before it. Lines of the older format (spaced JSON, hashed over
    :func:`canonical_bytes`) still verify. The chain continues across rotation (the first
    line of a new file links to the last line of the rotated one) and across restarts
    (the handler reads the tail of the existing file, never the whole file). Each writer
    (worker) has its own file and chain; :func:`chain_files` groups files into chains.

Torn lines
    A crash can leave a partial last line. When the handler opens such a file it warns
    on stderr, counts it (:attr:`JSONAuditHandler.torn_lines`), ends the fragment with a
    newline and writes an ``audit_torn_line`` record giving the fragment's offset, length
    and SHA-256; the chain resumes from the last complete line. :func:`verify` accepts
    a fragment only when such a record follows it, and an unterminated last line of the
    last file (a writer that has not restarted yet) is reported, not counted, and does
    not fail verification.

What verification cannot see
    Removing records at the end, or at the start of the first file given (which looks
    like older files rotated away, and is noted), leaves a valid, shorter chain. Keep
    the last ``seq`` and ``hash`` that ``hftlogging audit verify`` prints somewhere else
    (a ticket, another host) and compare: ``verify(paths, expect_last_hash=...)`` does it.

The handler accepts any record, but it is meant for audit records (``log_type ==
"audit"``): put a ``LogTypeFilter`` in front of it in the configuration. Other records
get ``event`` = their log type and a ``message`` key.
"""

from __future__ import annotations

import contextlib
import copy
import gzip
import hashlib
import json
import logging
import os
import re
import socket
import stat
import sys
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import IO, Any

from pythonjsonlogger.json import JsonFormatter as _JsonFormatter

from hftlogging.exceptions import ConfigError
from hftlogging.formatters import (
    _INF,
    _NEG_INF,
    JSONFormatter,
    _orjson_dumps,
    rfc3339_utc,
    to_jsonable,
)
from hftlogging.handlers.rotating import (
    ExclusiveLock,
    _bind,
    _int_option,
    _mode_option,
    _same_file,
    check_template,
    open_append,
    per_pid_template,
    register_for_fork,
    safe_name,
    shift_backups,
    switch_lock,
    sync_directory,
    unregister_for_fork,
    write_all,
)
from hftlogging.worker import get_worker

__all__ = [
    "GENESIS_HASH",
    "AuditFormatter",
    "JSONAuditHandler",
    "VerifyResult",
    "canonical_bytes",
    "chain_files",
    "verify",
    "verify_chains",
    "verify_command",
]

#: ``prev_hash`` of the first record of a chain.
GENESIS_HASH = "0" * 64
TORN_EVENT = "audit_torn_line"
RESET_EVENT = "audit_chain_reset"
_FSYNC_POLICIES = ("always", "batch", "never")
_FIXED = frozenset(
    {"timestamp", "event", "logger", "level", "seq", "host", "pid", "worker", "prev_hash",
     "hash", "message", "exc_info", "exc_type"}
)
_TAIL_BLOCK = 65_536
_fsync = getattr(os, "fdatasync", os.fsync)


def canonical_bytes(obj: dict[str, Any]) -> bytes:
    """The bytes the hash of a line of the older format covers (``obj`` without its
    ``hash`` key; lines whose hash does not cover their own bytes); such lines still
    verify."""
    return json.dumps(
        obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8", "surrogatepass")


def _hash(obj: dict[str, Any]) -> str:
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


def _host() -> str:
    if not _raw_host:
        _raw_host.append(socket.gethostname() or "localhost")
    return _raw_host[0]


class _Chain:
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
        self.chain: _Chain | None = None
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
        obj["host"] = _host()
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
        log_data["host"] = _host()
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


# --- the handler ---------------------------------------------------------------------------


def _check_filename(filename: Any) -> tuple[str, str, frozenset[str]]:
    if not isinstance(filename, (str, os.PathLike)):
        msg = f"filename must be a path, got {filename!r}"
        raise ConfigError(msg, key="filename")
    path = os.path.abspath(os.fspath(filename))
    template, fields = check_template(os.path.basename(path))
    if "component" in fields:
        msg = "filename of an audit handler may use {worker}, {pid} and {host}, not {component}"
        raise ConfigError(msg, key="filename")
    return os.path.dirname(path), template, fields


def _check_fsync(fsync: Any) -> str:
    if fsync not in _FSYNC_POLICIES:
        msg = f"fsync must be one of {', '.join(_FSYNC_POLICIES)}, got {fsync!r}"
        raise ConfigError(msg, key="fsync")
    return fsync  # type: ignore[no-any-return]


def _check_rotation(max_bytes: int, backup_count: int) -> None:
    if max_bytes and not backup_count:
        msg = "backup_count must be >= 1 when max_bytes is set: rotation must keep the file"
        raise ConfigError(msg, key="backup_count")


class JSONAuditHandler(logging.Handler):
    """Append audit records to a JSON Lines file with a hash chain.

    Example (dictConfig / YAML)::

        handlers:
          audit:
            class: hftlogging.handlers.JSONAuditHandler
            filename: logs/audit.jsonl
            fsync: batch
            max_bytes: 104857600
            backup_count: 50
            filters: [only_audit]      # a LogTypeFilter for log_type audit

    Args:
        filename: the file; its name may use ``{worker}``, ``{pid}`` and ``{host}``.
            The directory is created at configuration time.
        fsync: ``"always"`` (write and fsync each record), ``"batch"`` (one write and one
            fsync per listener batch, the default) or ``"never"`` (leave it to the OS).
        hash_chain: write ``prev_hash``/``hash`` (default True).
        max_bytes: rotate before a record would take the file past this size; 0 never.
        backup_count: rotated files kept (``audit.jsonl.1`` newest); at least 1 when
            ``max_bytes`` is set, since the chain must survive the rotation.
        file_mode, dir_mode: permissions of new files and directories.
        exclusive: refuse a second writer of the same file (a lock file beside it);
            when ``filename`` has no ``{pid}``, a second process fails with
            :class:`~hftlogging.ConfigError` and a forked child switches to
            ``audit.<pid>.jsonl``.
        level: the handler level.
        formatter: an :class:`AuditFormatter` (the default one if omitted).

    Attributes:
        torn_lines: torn lines found (and marked) when opening files.
        records_written: records written by this handler.
        rotation_errors: rotations that failed (the file then grows past ``max_bytes``).

    Raises:
        ConfigError: an invalid option, or a file that cannot be opened or is locked.
    """

    def __init__(
        self,
        filename: str | os.PathLike[str] = "audit.jsonl",
        fsync: str = "batch",
        hash_chain: bool = True,
        max_bytes: int = 0,
        backup_count: int = 10,
        *,
        file_mode: int | str = 0o640,
        dir_mode: int | str = 0o750,
        exclusive: bool = True,
        level: int | str = logging.NOTSET,
        formatter: logging.Formatter | None = None,
    ) -> None:
        super().__init__(level)
        self.directory, self.template, fields = _check_filename(filename)
        self._fields = fields
        self.fsync = _check_fsync(fsync)
        self.hash_chain = bool(hash_chain)
        self.max_bytes = _int_option("max_bytes", max_bytes)
        self.backup_count = _int_option("backup_count", backup_count)
        _check_rotation(self.max_bytes, self.backup_count)
        self.file_mode = _mode_option("file_mode", file_mode)
        self.dir_mode = _mode_option("dir_mode", dir_mode)
        self.exclusive = bool(exclusive)
        self._chain = _Chain(self.hash_chain)
        self.setFormatter(formatter if formatter is not None else AuditFormatter())
        self._fd: int | None = None
        self._size = 0
        self._pid = os.getpid()
        self._worker = get_worker()
        self._active_template = self.template
        self._lock_file: ExclusiveLock | None = None
        self.path = ""
        self.torn_lines = 0
        self.records_written = 0
        self.rotation_errors = 0
        self._torn_pending: tuple[int, bytes] | None = None
        self._identity = (0, 0)
        try:
            os.makedirs(self.directory, mode=self.dir_mode, exist_ok=True)
        except OSError as e:
            msg = f"cannot create the audit directory {self.directory!r}: {e.strerror}"
            raise ConfigError(msg, key="filename") from e
        if not self._claim():
            msg = (
                f"the audit file {self.template!r} in {self.directory!r} is already written by "
                "another process (or another handler of this one): two writers would break "
                "its hash chain. Put {pid} or {worker} in 'filename' (with distinct worker "
                "names) or use another file"
            )
            raise ConfigError(msg, key="filename")
        try:
            self._open()
        except OSError as e:
            msg = f"cannot open the audit file {self.path!r}: {e}"
            raise ConfigError(msg, key="filename") from e
        register_for_fork(self)

    # -- configuration -----------------------------------------------------------------------

    @classmethod
    def check_config(cls, options: Mapping[str, Any]) -> None:
        """Validate ``options`` (the handler's keywords) without touching the disk.

        Raises:
            ConfigError: the first invalid option.
        """
        a = _bind(cls, options)
        _check_filename(a["filename"])
        _check_fsync(a["fsync"])
        max_bytes = _int_option("max_bytes", a["max_bytes"])
        backup_count = _int_option("backup_count", a["backup_count"])
        _check_rotation(max_bytes, backup_count)
        _mode_option("file_mode", a["file_mode"])
        _mode_option("dir_mode", a["dir_mode"])

    # -- formatter -------------------------------------------------------------------------

    def setFormatter(self, fmt: logging.Formatter | None) -> None:
        """Set an :class:`AuditFormatter` (it is linked to this handler's chain).

        Raises:
            ConfigError: ``fmt`` is not an :class:`AuditFormatter`.
        """
        if not isinstance(fmt, AuditFormatter):
            msg = (
                "the formatter of a JSONAuditHandler must be an "
                f"hftlogging.handlers.audit.AuditFormatter, got {type(fmt).__name__}"
            )
            raise ConfigError(msg, key="formatter")
        if fmt.chain is not None and fmt.chain is not self._chain:
            # dictConfig shares a named formatter between handlers: each chain needs its own.
            fmt = copy.copy(fmt)
        fmt.chain = self._chain
        super().setFormatter(fmt)

    # -- ownership and opening -------------------------------------------------------------

    def _file_name(self) -> str:
        return self._active_template.format(
            worker=safe_name(self._worker), pid=self._pid, host=safe_name(_host()),
            component="",
        )

    def _claim(self) -> bool:
        self.path = os.path.join(self.directory, self._file_name())
        if not self.exclusive or "pid" in self._fields:
            return True
        ok, self._lock_file = switch_lock(
            self._lock_file, self.directory, safe_name(self._file_name()), self.file_mode
        )
        return ok

    def _reclaim(self) -> None:
        """After a fork or a worker rename: new name, new lock, resume that file's chain."""
        self._close_fd()
        self._pid = os.getpid()
        self._worker = get_worker()
        register_for_fork(self)
        if not self._claim():
            self._active_template = per_pid_template(self._active_template)
            self._fields = self._fields | {"pid"}
            self._claim()
            sys.stderr.write(
                f"hftlogging: audit file {self.template!r} is written by another process; "
                f"process {self._pid} writes {self.path!r} instead\n"
            )
        self._chain.seq = 0
        self._chain.hash = GENESIS_HASH
        self._open()

    def _open(self) -> None:
        try:
            fd = open_append(self.path, self.file_mode)
        except FileNotFoundError:  # the directory was removed under us: make it again
            os.makedirs(self.directory, mode=self.dir_mode, exist_ok=True)
            fd = open_append(self.path, self.file_mode)
        try:
            st = os.fstat(fd)
            self._size = st.st_size
            self._identity = (st.st_dev, st.st_ino)
            self._fd = fd
            self._resume()
        except BaseException:
            self._close_fd()
            raise

    def _close_fd(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)

    def _resume(self) -> None:
        """Continue the chain of the existing file (or of its rotated predecessor).

        Starts from the genesis hash when there is nothing to continue; a torn last line
        is marked first, then a last line that is not an audit record is reported with an
        ``audit_chain_reset`` record (verification fails at that line, as it should).
        """
        chain = self._chain
        chain.seq, chain.hash = 0, GENESIS_HASH
        last, torn, torn_offset = read_tail(self.path)
        if last is None and os.path.isfile(self.path + ".1"):
            last, _, _ = read_tail(self.path + ".1")  # rotated just before a stop
        reset: str | None = None
        if last is not None:
            try:
                obj = _load_object(last)
                seq = obj["seq"]
                h = obj.get("hash") if self.hash_chain else GENESIS_HASH
                if type(seq) is not int or not isinstance(h, str):
                    raise ValueError("no seq/hash")
            except (ValueError, KeyError, TypeError) as e:
                reset = str(e) or type(e).__name__
            else:
                chain.seq, chain.hash = seq, h
        if torn is not None:
            self.torn_lines += 1
            sys.stderr.write(
                f"hftlogging: {self.path} ends with a torn line ({len(torn)} bytes at offset "
                f"{torn_offset}, left by a crash); marking it and resuming the chain\n"
            )
            self._torn_pending = (torn_offset, torn)
            self._write_torn_marker()
        if reset is not None:
            sys.stderr.write(
                f"hftlogging: cannot resume the hash chain of {self.path}: its last complete "
                f"line is not an audit record ({reset}); starting a new chain\n"
            )
            self._write_marker(RESET_EVENT, {"reason": reset}, lead=b"")

    def _write_torn_marker(self) -> None:
        if self._fd is None:
            self._open()  # reopening reads the tail and may mark the fragment itself
        pending = self._torn_pending
        if pending is None:
            return
        offset, fragment = pending
        fields = {
            "torn_offset": offset,
            "torn_bytes": len(fragment),
            "torn_sha256": hashlib.sha256(fragment).hexdigest(),
        }
        self._write_marker(TORN_EVENT, fields, lead=b"\n")
        self._torn_pending = None

    def _write_marker(self, event: str, fields: dict[str, Any], *, lead: bytes) -> None:
        obj: dict[str, Any] = {
            "timestamp": rfc3339_utc(time.time_ns()),
            "event": event,
            "logger": "hftlogging.audit",
            "level": "WARNING",
            "seq": None,
            **fields,
            "host": _host(),
            "pid": os.getpid(),
            "worker": get_worker(),
        }
        chain = self._chain
        saved = (chain.seq, chain.hash)
        data = lead + chain.seal(obj) + b"\n"
        try:
            self._write(data)
        except OSError:
            chain.seq, chain.hash = saved
            raise
        if self.fsync != "never" and self._fd is not None:
            _fsync(self._fd)

    def after_fork_child(self) -> None:
        """In a forked child: forget the parent's file; reopen (per pid) on first write."""
        self._close_fd()
        if self._lock_file is not None:
            self._lock_file.release()
            self._lock_file = None
        self._pid = -1

    # -- writing ---------------------------------------------------------------------------

    def _write(self, data: bytes) -> None:
        fd = self._fd
        if fd is None:
            self._open()
            fd = self._fd
            assert fd is not None
        write_all(fd, data)
        self._size += len(data)

    def _rotate(self) -> None:
        """Rename the full file to ``.1`` (shifting the others) and start a new one.

        When the rename fails the records keep going to the current file (an audit
        record is better past the size limit than not written), reported once.
        """
        fd = self._fd
        if fd is not None and self.fsync != "never":
            _fsync(fd)
        try:
            shift_backups(self.path, self.backup_count)
        except OSError as e:
            self.rotation_errors += 1
            if self.rotation_errors == 1:
                sys.stderr.write(f"hftlogging: cannot rotate {self.path} ({e}); appending\n")
            self._size = 0  # retry after another max_bytes, not on every record
            return
        self._close_fd()
        sync_directory(self.directory)
        self._fd = open_append(self.path, self.file_mode)
        st = os.fstat(self._fd)
        self._identity = (st.st_dev, st.st_ino)
        self._size = 0

    def _line(self, record: logging.LogRecord) -> bytes:
        try:
            fmt = self.formatter
            if isinstance(fmt, AuditFormatter):
                return fmt.line(record) + b"\n"
            return self.format(record).encode("utf-8") + b"\n"  # pragma: no cover
        except Exception as e:  # never lose an audit record to a formatting bug
            obj: dict[str, Any] = {
                "timestamp": rfc3339_utc(getattr(record, "created_ns", None) or time.time_ns()),
                "event": "audit_format_error",
                "logger": getattr(record, "name", "?"),
                "level": getattr(record, "levelname", "?"),
                "seq": None,
                "error": f"{type(e).__name__}: {e}",
                "record": to_jsonable(record.__dict__.get("msg")),
                "fields": to_jsonable(record.__dict__.get("context")),
                "host": _host(),
                "pid": os.getpid(),
                "worker": get_worker(),
            }
            return self._chain.seal(obj) + b"\n"

    def emit_batch(self, records: Iterable[logging.LogRecord]) -> None:
        """Write ``records``: one write (more only at rotation), then fsync per policy.

        After a failed write the file is reopened by the next batch and the chain resumes
        from its last complete line, so the chain always links what is on disk.

        Raises:
            OSError: the file could not be written (the listener routes the batch to its
                fallback and counts the error).
        """
        if os.getpid() != self._pid or get_worker() != self._worker:
            self._reclaim()
        if self._fd is not None and not _same_file(self.path, self._identity):
            # Removed or replaced under us: the descriptor would write where nobody reads.
            # Reopen the path; the chain resumes from what that file holds.
            self._close_fd()
        if self._fd is None:
            self._open()  # after a failed write: resume from what reached the file
        if self._torn_pending is not None:
            self._write_torn_marker()
        fmt = self.formatter
        if isinstance(fmt, AuditFormatter):
            fmt.worker = self._worker
        lines = [self._line(r) for r in records]
        if not lines:
            return
        try:
            self._write_lines(lines)
        except OSError:
            # What reached the file is the truth: the next batch reopens it and resumes
            # the chain from its tail, marking a line this failure may have torn.
            self._close_fd()
            self._torn_pending = None
            raise
        self.records_written += len(lines)

    def _write_lines(self, lines: list[bytes]) -> None:
        """Write ``lines``, rotating between lines; counts what reached the file."""
        always = self.fsync == "always"
        max_bytes = self.max_bytes
        if not always and (max_bytes <= 0 or self._size + sum(map(len, lines)) <= max_bytes):
            self._write_chunk(lines)
        else:
            chunk: list[bytes] = []
            pending = 0
            for b in lines:
                used = self._size + pending
                if max_bytes > 0 and used > 0 and used + len(b) > max_bytes:
                    self._write_chunk(chunk)
                    chunk = []
                    pending = 0
                    self._rotate()
                chunk.append(b)
                pending += len(b)
                if always:
                    self._write_chunk(chunk)
                    chunk = []
                    pending = 0
                    if self._fd is not None:
                        _fsync(self._fd)
            self._write_chunk(chunk)
        if self.fsync == "batch" and self._fd is not None:
            _fsync(self._fd)

    def _write_chunk(self, chunk: list[bytes]) -> None:
        if chunk:
            self._write(b"".join(chunk))

    def emit(self, record: logging.LogRecord) -> None:
        """Write one record (the path without a queue), then fsync unless ``"never"``."""
        try:
            self.emit_batch((record,))
        except Exception:
            self.handleError(record)

    # -- stdlib hooks ----------------------------------------------------------------------

    def flush(self) -> None:
        """fsync the file unless the policy is ``"never"`` (writes are never buffered)."""
        fd = self.__dict__.get("_fd")  # None too when construction failed on an option
        if fd is None:
            return
        self.acquire()
        try:
            if self._fd is not None and self.fsync != "never":
                with contextlib.suppress(OSError):
                    _fsync(self._fd)
        finally:
            self.release()

    def close(self) -> None:
        """fsync (unless ``"never"``), close the file and release the lock."""
        if "_lock_file" not in self.__dict__:
            # Construction failed on an invalid option: the handler is already in logging's
            # list, and logging.shutdown() at exit must be able to close it.
            super().close()
            return
        self.acquire()
        try:
            if self._fd is not None and self.fsync != "never":
                with contextlib.suppress(OSError):
                    _fsync(self._fd)
            self._close_fd()
            if self._lock_file is not None:
                self._lock_file.release()
                self._lock_file = None
            unregister_for_fork(self)
            self._pid = -1  # a record after close claims the file again and resumes
        finally:
            self.release()
            super().close()

    @property
    def last_hash(self) -> str:
        """The hash of the last record written (the chain's head)."""
        return self._chain.hash

    @property
    def last_seq(self) -> int:
        """The ``seq`` of the last record written."""
        return self._chain.seq

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.path}>"


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
        block = _TAIL_BLOCK
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
        msg = "duplicate keys"
        raise ValueError(msg)
    return obj


def _load_object(line: bytes) -> dict[str, Any]:
    obj = json.loads(line.decode("utf-8", "surrogatepass"), object_pairs_hook=_no_duplicates)
    if not isinstance(obj, dict):
        msg = "not a JSON object"
        raise ValueError(msg)
    return obj


# --- verification --------------------------------------------------------------------------


class VerifyResult:
    """What :func:`verify` found.

    Attributes:
        ok: the chain is intact (a torn, unterminated last line does not change this).
        records: records verified (up to the first bad line when not ``ok``).
        files: the files, in the order they were checked.
        bad_file, bad_line: where the first bad line is (1-based line in that file).
        reason: what is wrong with it.
        first_seq, last_seq, last_hash: the verified part of the chain.
        notes: torn lines that were accepted, where the chain starts, ...
        writers: ``(host, worker)`` of the verified lines, with the pids seen for each.
    """

    def __init__(self, files: list[str]) -> None:
        self.ok = True
        self.records = 0
        self.files = files
        self.bad_file: str | None = None
        self.bad_line: int | None = None
        self.reason: str | None = None
        self.first_seq: int | None = None
        self.last_seq: int | None = None
        self.last_hash: str | None = None
        self.notes: list[str] = []
        self.writers: dict[tuple[str, str], set[int]] = {}

    def fail(self, file: str, line: int, reason: str) -> VerifyResult:
        """Record the first bad line."""
        self.ok = False
        self.bad_file = file
        self.bad_line = line
        self.reason = reason
        return self

    def __repr__(self) -> str:
        if self.ok:
            return f"<VerifyResult ok records={self.records}>"
        return f"<VerifyResult FAILED {self.bad_file}:{self.bad_line}: {self.reason}>"


_ROTATED = re.compile(r"^(?P<base>.*)\.(?P<n>\d+)(?P<gz>\.gz)?$")


def order_files(paths: Sequence[str]) -> list[str]:
    """Put rotated files in chain order: ``F.N`` ... ``F.1`` then ``F``.

    Files of one rotation family are kept together, at the place the first of them was
    given; other files keep their order.
    """
    families: dict[str, list[tuple[int, str]]] = {}
    order: list[str] = []
    for p in paths:
        m = _ROTATED.match(p)
        base, n = (m.group("base"), int(m.group("n"))) if m else (p, 0)
        if base not in families:
            families[base] = []
            order.append(base)
        families[base].append((n, p))
    out: list[str] = []
    for base in order:
        out.extend(p for _, p in sorted(families[base], key=lambda np: -np[0]))
    return out


def chain_files(paths: Sequence[str]) -> list[list[str]]:
    """Group audit files into chains, each in chain order (see :func:`order_files`).

    A chain is one rotation family: ``F`` with its rotated ``F.1``, ``F.2.gz``, ...
    Each writer (a host's worker, or one process when the name has ``{pid}``) writes its
    own file, so the files of different workers are different chains. Chains keep the
    order in which their first file was given.
    """
    families: dict[str, list[str]] = {}
    for p in order_files(paths):
        m = _ROTATED.match(p)
        families.setdefault(m.group("base") if m else p, []).append(p)
    return list(families.values())


def _read_lines(path: str) -> Iterator[tuple[int, bytes, bool]]:
    """(line number, line without newline, terminated) for every line of ``path``."""
    f: IO[bytes] = (
        gzip.open(path, "rb") if path.endswith(".gz") else open(path, "rb")  # type: ignore[assignment]  # noqa: SIM115
    )
    with f:
        for n, raw in enumerate(f, 1):
            if raw.endswith(b"\n"):
                yield n, raw[:-1], True
            else:
                yield n, raw, False


def _all_lines(paths: list[str]) -> Iterator[tuple[str, int, bytes, bool, bool]]:
    """(file, line number, line, terminated, last line of the last file)."""
    prev: tuple[str, int, bytes, bool] | None = None
    for path in paths:
        for n, line, terminated in _read_lines(path):
            if prev is not None:
                yield (*prev, False)
            prev = (path, n, line, terminated)
    if prev is not None:
        yield (*prev, True)


def verify(paths: Sequence[str], *, expect_last_hash: str | None = None) -> VerifyResult:
    """Check the hash chain of audit files, in chain order (see :func:`order_files`).

    Every line must be a JSON object whose ``hash`` matches its canonical content,
    whose ``prev_hash`` is the previous line's ``hash`` and whose ``seq`` is one more
    than the previous line's. The first line may start mid-chain (older files rotated
    away); that is noted. A line that is not JSON is accepted only as a torn line
    followed by its ``audit_torn_line`` record, or as the unterminated last line.

    Args:
        paths: the files (plain or ``.gz``).
        expect_last_hash: if given, the chain must end with this hash (detects records
            removed from the end).

    Returns:
        A :class:`VerifyResult`.

    Raises:
        OSError: a file cannot be read.
    """
    files = order_files(list(paths))
    res = _Verifier(VerifyResult(files), _all_lines(files)).run()
    if res.ok and expect_last_hash is not None and res.last_hash != expect_last_hash:
        res.fail(files[-1] if files else "?", -1,
                 f"the chain ends with {res.last_hash} (seq {res.last_seq}), not the expected "
                 f"{expect_last_hash}: records were removed from the end")
    return res


def verify_chains(paths: Sequence[str]) -> list[VerifyResult]:
    """Verify every chain among ``paths`` on its own (see :func:`chain_files`).

    Returns:
        One :class:`VerifyResult` per chain, in the order of :func:`chain_files`.

    Raises:
        OSError: a file cannot be read.
    """
    return [verify(files) for files in chain_files(paths)]


class _Verifier:
    """Walks the lines once; reads ahead only to name the edit at a break."""

    def __init__(
        self, res: VerifyResult, lines: Iterator[tuple[str, int, bytes, bool, bool]]
    ) -> None:
        self.res = res
        self.lines = lines
        self.expected_seq: int | None = None
        self.last_hash: str | None = None
        self.torn: tuple[str, int, bytes] | None = None

    def run(self) -> VerifyResult:
        res = self.res
        for path, n, raw, terminated, is_last in self.lines:
            obj: dict[str, Any] | None = None
            if terminated:
                with contextlib.suppress(ValueError):
                    obj = _load_object(raw)
            if obj is None:
                if not terminated and is_last:
                    res.notes.append(
                        f"{path} line {n}: incomplete last line ({len(raw)} bytes), a write "
                        "cut short by a crash; not counted"
                    )
                    break
                if self.torn is not None:
                    break
                self.torn = (path, n, raw)
                continue
            if not self.accept_torn(obj, n) or not self.check(path, n, obj, raw):
                return res
        if self.torn is not None:
            return res.fail(self.torn[0], self.torn[1], "not a valid audit record (altered or "
                            "truncated, and no audit_torn_line record marks it as torn)")
        return res

    def accept_torn(self, obj: dict[str, Any], n: int) -> bool:
        torn = self.torn
        if torn is None:
            return True
        self.torn = None
        if (
            obj.get("event") != TORN_EVENT
            or obj.get("torn_sha256") != hashlib.sha256(torn[2]).hexdigest()
            or obj.get("torn_bytes") != len(torn[2])
        ):
            self.res.fail(torn[0], torn[1], "not a valid audit record (altered or truncated, "
                          "and no audit_torn_line record marks it as torn)")
            return False
        self.res.notes.append(f"{torn[0]} line {torn[1]}: torn line left by a crash, marked "
                              f"by the next line ({n})")
        return True

    def check(self, path: str, n: int, obj: dict[str, Any], raw: bytes) -> bool:
        res = self.res
        h = obj.pop("hash", None)
        seq = obj.get("seq")
        prev = obj.get("prev_hash")
        if not isinstance(h, str) or not isinstance(prev, str) or type(seq) is not int:
            res.fail(path, n, "not a chained audit record (no seq, prev_hash or hash)")
            return False
        if line_hash_matches(raw, h):
            actual = h
        else:  # a line written before the hash covered the line's own bytes
            try:
                actual = _hash(obj)
            except (TypeError, ValueError):
                actual = ""
        if actual != h:
            res.fail(path, n, "altered: its content does not match its hash")
            return False
        if self.expected_seq is None:
            if seq == 1 and prev != GENESIS_HASH:
                res.fail(path, n, "altered: seq 1 must start from the genesis hash")
                return False
            if seq != 1:
                res.notes.append(f"the chain starts at seq {seq} ({path} line {n}); earlier "
                                 "records are in files not given")
            res.first_seq = seq
        elif seq != self.expected_seq or prev != self.last_hash:
            res.fail(path, n, _diagnose(seq, self.expected_seq, h, self.lines))
            return False
        self.expected_seq = seq + 1
        self.last_hash = h
        writer = (str(obj.get("host")), str(obj.get("worker")))
        pid = obj.get("pid")
        pids = res.writers.get(writer)
        if pids is None:
            pids = res.writers[writer] = set()
        if type(pid) is int and pid not in pids:
            pids.add(pid)
        res.records += 1
        res.last_seq = seq
        res.last_hash = h
        return True


def _diagnose(
    seq: int, expected: int, h: str, rest: Iterator[tuple[str, int, bytes, bool, bool]]
) -> str:
    """Name the edit that broke the chain at this line (reads ahead for the missing seq)."""
    if seq == expected:
        return ("chain broken: prev_hash does not match the previous line's hash (the "
                "previous line was altered and re-hashed, or this line was forged)")
    if seq < expected:
        return (f"inserted or reordered: seq {seq} follows seq {expected - 1} (a line "
                "copied or moved here)")
    later_expected: str | None = None
    later_same: str | None = None
    for path, n, raw, terminated, _ in rest:
        if not terminated:
            continue
        try:
            obj = _load_object(raw)
        except ValueError:
            continue
        s = obj.get("seq")
        if later_same is None and s == seq and obj.get("hash") == h:
            later_same = f"{path} line {n}"
        if later_expected is None and type(s) is int and expected <= s < seq:
            later_expected = f"{path} line {n}"
        if later_same and later_expected:
            break
    if later_same is not None:
        return f"inserted: a copy of {later_same} (seq {seq}) where seq {expected} belongs"
    if later_expected is not None:
        return (f"reordered: seq {seq} where seq {expected} belongs; seq {expected} comes "
                f"later, at {later_expected}")
    missing = seq - expected
    return (f"deleted: {missing} record(s) missing before this line (seq {expected}"
            f"{'' if missing == 1 else f' to {seq - 1}'})")


def _describe_chain(res: VerifyResult) -> str:
    files = res.files
    head = files[-1] if files else "?"
    rotated = f" (+{len(files) - 1} rotated)" if len(files) > 1 else ""
    writers = "; ".join(
        f"host {host}, worker {worker}, pid {', '.join(map(str, sorted(pids))) or '?'}"
        for (host, worker), pids in sorted(res.writers.items())
    )
    return f"chain {head}{rotated}" + (f": {writers}" if writers else "")


def verify_command(files: list[str], expect_last_hash: str | None = None) -> int:
    """``hftlogging audit verify FILE...``: one result line per chain; exit 0, 1 or 2.

    The files are grouped into chains (:func:`chain_files`: one per writer, rotated files
    in rotation order) and each chain is verified on its own.

    Args:
        files: the audit files (any order, any number of writers).
        expect_last_hash: the hash the chain must end with (see :func:`verify`); only
            with the files of one chain.

    Returns:
        0 when every chain is intact (one ``OK`` line per chain with its number of
        verified records), 1 when one is not (its ``FAILED`` line names the file and line
        of the first bad record), 2 when a file cannot be read or ``expect_last_hash``
        is given with several chains.
    """
    for f in files:
        if not os.path.isfile(f) or not os.access(f, os.R_OK):
            print(f"hftlogging audit verify: cannot read {f}", file=sys.stderr)
            return 2
    chains = chain_files(files)
    if expect_last_hash is not None and len(chains) != 1:
        print(f"hftlogging audit verify: an expected last hash needs the files of one chain; "
              f"these are {len(chains)} chains", file=sys.stderr)
        return 2
    try:
        results = [verify(c, expect_last_hash=expect_last_hash) for c in chains]
    except (OSError, EOFError, gzip.BadGzipFile) as e:
        print(f"hftlogging audit verify: cannot read the files: {e}", file=sys.stderr)
        return 2
    failed = 0
    for res in results:
        for note in res.notes:
            print(f"note: {note}")
        if res.ok:
            print(f"OK: {res.records} records verified in {len(res.files)} file(s) "
                  f"[{_describe_chain(res)}]"
                  + (f"; seq {res.first_seq}..{res.last_seq}, last hash {res.last_hash}"
                     if res.records else ""))
        else:
            failed += 1
            print(f"FAILED: {res.bad_file} line {res.bad_line}: {res.reason} "
                  f"({res.records} records verified before it) [{_describe_chain(res)}]")
    return 1 if failed else 0
