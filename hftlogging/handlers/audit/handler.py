"""The audit handler: :class:`JSONAuditHandler` appends hash-chained JSON lines.

See :mod:`hftlogging.handlers.audit` for the line format, torn lines and rotation.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import logging
import os
import sys
import time
from collections.abc import Iterable, Mapping
from typing import Any

from hftlogging.exceptions import ConfigError, Found, describe
from hftlogging.formatters import (
    rfc3339_utc,
    to_jsonable,
)
from hftlogging.handlers.audit.chain import (
    GENESIS_HASH,
    RESET_EVENT,
    TORN_EVENT,
    AuditFormatter,
    AuditLineError,
    Chain,
    load_object,
    plain_host_name,
    read_tail,
)
from hftlogging.handlers.files import (
    ExclusiveLock,
    bind_options,
    check_template,
    int_option,
    mode_option,
    open_append,
    per_pid_template,
    register_for_fork,
    safe_name,
    same_file,
    shift_backups,
    switch_lock,
    sync_directory,
    unregister_for_fork,
    write_all,
)
from hftlogging.worker import get_worker

__all__ = ["JSONAuditHandler"]

_FSYNC_POLICIES = ("always", "batch", "never")
_fsync = getattr(os, "fdatasync", os.fsync)


# --- the handler ---------------------------------------------------------------------------


def _check_filename(filename: Any) -> tuple[str, str, frozenset[str]]:
    if not isinstance(filename, (str, os.PathLike)):
        msg = describe(None, "a file path", filename, "give a file path such as 'logs/audit.log'")
        raise ConfigError(msg, key="filename")
    path = os.path.abspath(os.fspath(filename))
    template, fields = check_template(os.path.basename(path))
    if "component" in fields:
        msg = describe(
            None, "a file name using {worker}, {pid} and {host} only",
            Found("{component}, which an audit file cannot use"), "remove {component}",
        )
        raise ConfigError(msg, key="filename")
    return os.path.dirname(path), template, fields


def _check_fsync(fsync: Any) -> str:
    if fsync not in _FSYNC_POLICIES:
        msg = describe(None, f"one of {', '.join(_FSYNC_POLICIES)}", fsync,
                       f"name one of: {', '.join(_FSYNC_POLICIES)}")
        raise ConfigError(msg, key="fsync")
    return fsync  # type: ignore[no-any-return]


def _check_rotation(max_bytes: int, backup_count: int) -> None:
    if max_bytes and not backup_count:
        msg = describe(
            None, "backup_count >= 1 when max_bytes is set", backup_count,
            "rotation must keep the file: set backup_count to 1 or more",
        )
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
        self.max_bytes = int_option("max_bytes", max_bytes)
        self.backup_count = int_option("backup_count", backup_count)
        _check_rotation(self.max_bytes, self.backup_count)
        self.file_mode = mode_option("file_mode", file_mode)
        self.dir_mode = mode_option("dir_mode", dir_mode)
        self.exclusive = bool(exclusive)
        self._chain = Chain(self.hash_chain)
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
            msg = describe(
                None, "an audit directory that can be created", self.directory,
                f"fix the path or its permissions ({e.strerror})",
            )
            raise ConfigError(msg, key="filename") from e
        if not self._claim():
            msg = describe(
                None, "an audit file no other writer holds (two writers would break its hash "
                "chain)", Found(
                    f"the audit file {self.template!r} in {self.directory!r} already written "
                    "by another process (or another handler of this one)"
                ),
                "put {pid} or {worker} in 'filename' (with distinct worker names) or use "
                "another file",
            )
            raise ConfigError(msg, key="filename")
        try:
            self._open()
        except OSError as e:
            msg = describe(
                None, "an audit file that can be opened", self.path,
                f"fix the path or its permissions ({e})",
            )
            raise ConfigError(msg, key="filename") from e
        register_for_fork(self)

    # -- configuration -----------------------------------------------------------------------

    @classmethod
    def check_config(cls, options: Mapping[str, object]) -> None:
        """Validate ``options`` (the handler's keywords) without touching the disk.

        Raises:
            ConfigError: the first invalid option.
        """
        a = bind_options(cls, options)
        _check_filename(a["filename"])
        _check_fsync(a["fsync"])
        max_bytes = int_option("max_bytes", a["max_bytes"])
        backup_count = int_option("backup_count", a["backup_count"])
        _check_rotation(max_bytes, backup_count)
        mode_option("file_mode", a["file_mode"])
        mode_option("dir_mode", a["dir_mode"])

    # -- formatter -------------------------------------------------------------------------

    def setFormatter(self, fmt: logging.Formatter | None) -> None:
        """Set an :class:`AuditFormatter` (it is linked to this handler's chain).

        Raises:
            ConfigError: ``fmt`` is not an :class:`AuditFormatter`.
        """
        if not isinstance(fmt, AuditFormatter):
            msg = describe(
                None, "an hftlogging.handlers.audit.AuditFormatter",
                Found(type(fmt).__name__), "give the audit handler an AuditFormatter",
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
            worker=safe_name(self._worker), pid=self._pid, host=safe_name(plain_host_name()),
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
                obj = load_object(last)
                seq = obj["seq"]
                h = obj.get("hash") if self.hash_chain else GENESIS_HASH
                if type(seq) is not int or not isinstance(h, str):
                    msg = describe(None, "seq and hash", obj, "check the file for edits")
                    raise AuditLineError(msg)
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
            "host": plain_host_name(),
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
                "host": plain_host_name(),
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
        if self._fd is not None and not same_file(self.path, self._identity):
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

