"""Per-component rotating files: one handler, one file per component, worker or process.

:class:`ComponentRotatingFileHandler` writes each record to the file of its component
(``dispatcher.log``, ``worker_open.log``, ...) in one directory, each file with its own
size limit and backup count. Behind a :class:`~hftlogging.handlers.QueueHandler` the
listener hands it whole batches: records are grouped per file and each file gets one
``write`` per batch.

Guarantees:

- One record is one unit on disk: the record's first line, then its traceback lines, each
  starting with ``"  | "``. A unit is never split across two files, lost or duplicated at
  rotation; a unit larger than ``max_bytes`` goes alone into a file.
- Sizes are counted, not measured: one ``fstat`` when a file opens, none per record
  (a shared file is measured once per batch).
- Files are opened lazily with ``O_NOFOLLOW`` (a symlink planted in the directory is
  refused, not followed), ``O_APPEND``, ``O_NONBLOCK`` (a FIFO never blocks) and mode
  ``file_mode``; anything but a regular file is refused; idle files are closed. A file
  found ending in a partial line (a writer killed mid-write) gets a newline first.
- ``exclusive=True`` (default): one writer per file. ``{pid}`` or ``{worker}`` in
  ``filename`` gives each process its own files; otherwise an exclusive lock taken at
  configuration time makes a second process fail with
  :class:`~hftlogging.ConfigError`. A process forked after configuration finds the lock
  held by its parent and switches to per-pid names (``dispatcher.<pid>.log``), saying so
  on stderr. Each open file is also locked itself (its inode), so a second name for it
  (another template, a symlinked directory, ``..``) gets a per-pid file, counted and
  reported, instead of a second writer.
- ``exclusive=False``: any number of processes share the files, rotation included:
  one ``O_APPEND`` write per batch, and the size check, rotation and write of a batch
  as one step under the file's lock (see :meth:`ComponentRotatingFileHandler._write_shared`).

The file plumbing (locks, appending opens, torn-tail repair, numbered backups and their
compression, rotation periods) lives in :mod:`hftlogging.handlers.files`, shared with the
audit handler; choosing a record's component in :mod:`hftlogging.handlers.components`;
the text line of a record in :mod:`hftlogging.handlers.lines`.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import stat
import sys
import threading
import time
import weakref
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from hftlogging import health
from hftlogging import strict as _strict
from hftlogging.exceptions import ConfigError, Found, HftLoggingOSError, describe
from hftlogging.formatters import (
    DEFAULT_TEXT_FORMAT,
    ContextFormatter,
)
from hftlogging.handlers.components import (
    check_components,
    component_matcher,
    make_selector,
    select_logger,
)
from hftlogging.handlers.files import (
    APPEND_FLAGS,
    LOCK_EX,
    O_CLOEXEC,
    O_NOFOLLOW,
    O_NONBLOCK,
    ExclusiveLock,
    bind_options,
    check_encoding,
    check_template,
    compress_file,
    directory_option,
    float_option,
    host_name,
    int_option,
    lock_inode,
    lockf,
    mode_option,
    per_pid_template,
    period_bounds,
    register_for_fork,
    safe_name,
    same_file,
    shift_backups,
    switch_lock,
    thread_lock_for,
    unregister_for_fork,
    when_option,
)
from hftlogging.handlers.lines import contain, make_fast_line
from hftlogging.lifecycle import starting_thread
from hftlogging.worker import get_worker

__all__ = ["ComponentRotatingFileHandler", "component_matcher", "file_stats", "period_bounds"]


# --- counters for hftlogging.stats() --------------------------------------------------------

_live_handlers: weakref.WeakSet[Any] = weakref.WeakSet()
_FILE_COUNTERS = ("rotations", "write_errors", "file_conflicts", "torn_tails")


_closed_totals = dict.fromkeys(_FILE_COUNTERS, 0)


def file_stats() -> dict[str, int]:
    """The file handlers' counters in this process, closed handlers included.

    ``rotations``; ``write_errors`` (failed writes and rotations); ``file_conflicts``
    (files refused: written by a conflicting writer, several hard links, or not a regular
    file); ``torn_tails`` (files found ending in a partial line and repaired on open).
    """
    out = dict(_closed_totals)
    for h in list(_live_handlers):
        for key in _FILE_COUNTERS:
            out[key] += getattr(h, key, 0)
    return out


def _retire(handler: Any) -> None:
    """Keep a closing handler's counts in :func:`file_stats`."""
    if handler in _live_handlers:
        _live_handlers.discard(handler)
        for key in _FILE_COUNTERS:
            _closed_totals[key] += getattr(handler, key, 0)


# --- the handler -----------------------------------------------------------------------------


class _File:
    """One component file: its descriptor, counted size, limits and time period."""

    __slots__ = (
        "backup_count", "compress", "compress_job", "fd", "identity", "key", "last_used",
        "locked", "max_bytes", "path", "period_end", "size", "when",
    )

    def __init__(
        self, key: str, path: str, max_bytes: int, backup_count: int, when: str | None,
        compress: bool,
    ) -> None:
        self.key = key
        self.path = path
        self.max_bytes = max_bytes
        self.backup_count = backup_count
        self.when = when
        self.compress = compress
        self.fd: int | None = None
        self.size = 0
        self.period_end: float | None = None
        self.last_used = 0.0
        self.compress_job: threading.Thread | None = None
        self.identity: tuple[int, int] = (0, 0)
        self.locked = False  # this process holds the file's rotation lock (shared files)


class ComponentRotatingFileHandler(logging.Handler):
    """Write each record to its component's file, rotating by size and optionally by time.

    Example (dictConfig / YAML)::

        handlers:
          files:
            class: hftlogging.handlers.ComponentRotatingFileHandler
            directory: logs/provider
            filename: "{component}.log"
            max_bytes: 52428800
            backup_count: 10
            components:
              dispatcher: {max_bytes: 104857600, backup_count: 15}

    Args:
        directory: where the files go; created (mode ``dir_mode``) at configuration time.
        filename: file name template with ``{component}``, ``{worker}``, ``{pid}`` and
            ``{host}``; default ``"{component}.log"``.
        max_bytes: rotate a file before a record would take it past this size; 0 never.
        backup_count: rotated files kept (``name.1`` newest ... ``name.N``); with 0 a
            rotated file is deleted.
        components: per-component overrides, ``{name: {max_bytes, backup_count, when,
            compress}}``.
        component_from: how a record's component is chosen: ``"logger"`` (the logger
            name, default), ``"field"`` (the context field ``component_field``),
            ``"tag"`` (the factory tag at position ``component_tag``) or ``"map"``
            (``component_map``: logger names, ``*.``-suffixes, see
            :func:`component_matcher`). Default:
            ``"map"`` when ``component_map`` is given, else ``"logger"``.
        component_field: the context field for ``component_from="field"``.
        component_tag: the tag position for ``component_from="tag"``.
        component_map: ``{logger name or "*.suffix": component}``; a name key also takes
            the logger's children, ``"*.worker_open"`` any logger ending in
            ``.worker_open`` (and its children), ``""`` every other name.
        default_component: the component of a record the selector has no answer for.
        max_components: most distinct components; records of further ones go to
            ``default_component`` (a context field cannot make a file per value).
        when: ``"daily"``, ``"hourly"`` or None: also rotate when a record belongs to a
            later hour or day than the file (decided by the records' own timestamps).
        utc: periods in UTC rather than local time.
        compress: gzip each rotated file to ``name.1.gz`` on a background thread
            (``hftlogging-compress``), never on the listener's or the caller's path.
        idle_close_s: close a file not written for this many seconds (0: never).
        max_open_files: most files open at once; the least recently used is closed.
        file_mode, dir_mode: permissions of new files and directories.
        exclusive: True: one writer per file (a second process is refused, a second
            name for an open file gets a per-pid file). False: any number of processes
            (forked or spawned) write the same files and rotate them together, once per
            threshold; ``compress`` is then refused.
        encoding: the files' encoding (unencodable characters are backslash-escaped).
        clock: monotonic clock for idle accounting (tests pass a fake one).
        level: the handler level.
        formatter: the formatter (default :class:`~hftlogging.formatters.ContextFormatter`).

    Raises:
        ConfigError: an invalid option, a directory that cannot be created, or files
            already locked by another process.
    """

    def __init__(
        self,
        directory: str | os.PathLike[str] = "logs",
        filename: str = "{component}.log",
        max_bytes: int = 0,
        backup_count: int = 5,
        components: Mapping[str, Mapping[str, int | str | bool | None]] | None = None,
        *,
        component_from: str | None = None,
        component_field: str = "component",
        component_tag: int = 0,
        component_map: Mapping[str, str] | None = None,
        default_component: str = "main",
        max_components: int = 1024,
        when: str | None = None,
        utc: bool = False,
        compress: bool = False,
        idle_close_s: float = 300.0,
        max_open_files: int = 128,
        file_mode: int | str = 0o640,
        dir_mode: int | str = 0o750,
        exclusive: bool = True,
        encoding: str = "utf-8",
        clock: Callable[[], float] | None = None,
        level: int | str = logging.NOTSET,
        formatter: logging.Formatter | None = None,
    ) -> None:
        super().__init__(level)
        self.directory = directory_option(directory)
        self.template, self._fields = check_template(filename)
        self.max_bytes = int_option("max_bytes", max_bytes)
        self.backup_count = int_option("backup_count", backup_count)
        self.when = when_option("when", when)
        self.utc = bool(utc)
        self.compress = bool(compress)
        self.idle_close_s = float_option("idle_close_s", idle_close_s)
        self.max_open_files = int_option("max_open_files", max_open_files, minimum=1)
        self.max_components = int_option("max_components", max_components, minimum=1)
        self.file_mode = mode_option("file_mode", file_mode)
        self.dir_mode = mode_option("dir_mode", dir_mode)
        self.exclusive = bool(exclusive)
        self.encoding = check_encoding(encoding)
        self._ascii_compatible = encoding.lower().replace("_", "-") in ("utf-8", "utf8")
        self._overrides = check_components(components)
        self._check_shared_compress(self.exclusive, self.compress, self._overrides)
        self._timed = self.when is not None or any(o.get("when") for o in self._overrides.values())
        self._select = make_selector(
            component_from, component_field, component_tag, component_map, default_component
        )
        self.default_component = safe_name(default_component)
        self._clock = clock if clock is not None else time.monotonic
        self.setFormatter(formatter if formatter is not None else ContextFormatter())
        # state
        self._files: dict[str, _File] = {}
        self._by_path: dict[str, _File] = {}  # by the path the template gives
        self._by_key: dict[Any, _File] = {}
        self._open: dict[str, _File] = {}
        self._component_names: dict[Any, str] = {}
        self._pid = os.getpid()
        self._worker = get_worker()
        self._active_template = self.template
        self._lock_file: ExclusiveLock | None = None
        self._next_sweep = 0.0
        self._reported: set[str] = set()
        self.rotations = 0
        self.write_errors = 0
        self.file_conflicts = 0
        self.torn_tails = 0
        try:
            os.makedirs(self.directory, mode=self.dir_mode, exist_ok=True)
        except OSError as e:
            msg = describe(
                None, "a log directory that can be created", self.directory,
                f"fix the path or its permissions ({e.strerror})",
            )
            raise ConfigError(msg, key="directory") from e
        if not self._claim():
            msg = describe(
                None, "files no other writer holds (two writers would corrupt each other's "
                "rotation)", Found(
                    f"the files {self.template!r} in {self.directory!r} already written by "
                    "another process (or another handler of this one)"
                ),
                "put {pid} or {worker} in 'filename' (and give each worker its own name "
                "with hftlogging.set_worker or HFTLOGGING_WORKER), or use another directory",
            )
            raise ConfigError(msg, key="filename")
        register_for_fork(self)
        _live_handlers.add(self)

    # -- configuration helpers -------------------------------------------------------------

    @classmethod
    def check_config(cls, options: Mapping[str, object]) -> None:
        """Validate ``options`` (the handler's keywords) without touching the disk.

        Used by :func:`hftlogging.configure` and ``hftlogging check`` before anything
        changes; the directory, the exclusivity lock and the files are checked when the
        handler is built.

        Raises:
            ConfigError: the first invalid option.
        """
        a = bind_options(cls, options)
        directory_option(a["directory"])
        check_template(a["filename"])
        for key in ("max_bytes", "backup_count"):
            int_option(key, a[key])
        for key in ("max_open_files", "max_components"):
            int_option(key, a[key], minimum=1)
        when_option("when", a["when"])
        float_option("idle_close_s", a["idle_close_s"])
        mode_option("file_mode", a["file_mode"])
        mode_option("dir_mode", a["dir_mode"])
        check_encoding(a["encoding"])
        cls._check_shared_compress(bool(a["exclusive"]), bool(a["compress"]),
                                   check_components(a["components"]))
        make_selector(a["component_from"], a["component_field"], a["component_tag"],
                           a["component_map"], a["default_component"])

    @staticmethod
    def _check_shared_compress(
        exclusive: bool, compress: bool, overrides: Mapping[str, Mapping[str, Any]]
    ) -> None:
        if exclusive or not (compress or any(o.get("compress") for o in overrides.values())):
            return
        msg = describe(
            None, "compress: false with exclusive: false (another process may rotate a backup "
            "while it is being compressed)", Found("compress is not available with exclusive: "
            "false"), "compress shared files with logrotate, or give each process its own files",
        )
        raise ConfigError(msg, key="compress")

    # -- process ownership -----------------------------------------------------------------

    def _claim(self) -> bool:
        """Lock the file set of this process's template; False on a conflict."""
        if not self.exclusive or "pid" in self._fields:
            return True
        name = safe_name(
            self._active_template.format(
                component="@", worker=safe_name(self._worker), pid=self._pid, host=host_name()
            )
        )
        ok, self._lock_file = switch_lock(self._lock_file, self.directory, name, self.file_mode)
        return ok

    def _identity_changed(self) -> None:
        """The worker name or the process changed: new file names, new lock."""
        self._close_all()
        self._files.clear()
        self._by_path.clear()
        self._by_key.clear()
        self._worker = get_worker()
        self._pid = os.getpid()
        register_for_fork(self)
        os.makedirs(self.directory, mode=self.dir_mode, exist_ok=True)
        if self._claim():
            return
        # Another process holds these names (our parent, after a fork): use per-pid names.
        if self._lock_file is not None:
            self._lock_file.release()
            self._lock_file = None
        self._active_template = per_pid_template(self._active_template)
        self._fields = self._fields | {"pid"}
        sys.stderr.write(
            f"hftlogging: {self.template!r} in {self.directory!r} is written by another "
            f"process; process {self._pid} writes {self._active_template!r} instead\n"
        )

    def after_fork_child(self) -> None:
        """In a forked child: drop the parent's descriptors, lock and rotation state.

        The files are reopened (under per-pid names if the parent still holds the
        lock) when the child first writes.
        """
        for f in self._files.values():
            f.compress_job = None
            fd, f.fd = f.fd, None
            if fd is not None:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self._open.clear()
        self._files.clear()
        self._by_path.clear()
        self._by_key.clear()
        if self._lock_file is not None:
            self._lock_file.release()
            self._lock_file = None
        self._pid = -1  # makes the next write re-claim

    # -- files -----------------------------------------------------------------------------

    def _file_for(self, key: Any) -> _File:
        comp = self._component_names.get(key)
        if comp is None:
            if len(self._component_names) >= self.max_components:
                comp = self.default_component
                self._report_once(
                    "max_components",
                    f"more than {self.max_components} components; further ones are written "
                    f"to {comp!r}",
                )
            else:
                comp = safe_name(key)
                self._component_names[key] = comp
        f = self._files.get(comp)
        if f is None:
            name = self._active_template.format(
                component=comp, worker=safe_name(self._worker), pid=self._pid, host=host_name()
            )
            path = os.path.join(self.directory, name)
            # Components whose names lead to one file (a template without {component})
            # share one file object: one descriptor, one size, one rotation.
            f = self._by_path.get(path)
            if f is None:
                o = self._overrides.get(comp, {})
                f = self._by_path[path] = _File(
                    comp, path,
                    o.get("max_bytes", self.max_bytes), o.get("backup_count", self.backup_count),
                    o.get("when", self.when), o.get("compress", self.compress),
                )
            self._files[comp] = f
        self._by_key[key] = f
        return f

    def _open_file(self, f: _File) -> int:
        if len(self._open) >= self.max_open_files:
            lru = min(self._open.values(), key=lambda x: x.last_used)
            self._close_file(lru)
        if self.exclusive:
            return self._open_checked(f)
        with self._rotation_lock(f):  # shared openers never see each other's probe lock
            return self._open_checked(f)

    def _open_path(self, path: str) -> int:
        # O_NONBLOCK: a FIFO without a reader fails at once instead of blocking the listener
        # (it has no effect on a regular file).
        flags = APPEND_FLAGS | O_NONBLOCK
        try:
            return os.open(path, flags, self.file_mode)
        except FileNotFoundError:  # the directory was removed under us: make it again
            os.makedirs(self.directory, mode=self.dir_mode, exist_ok=True)
            return os.open(path, flags, self.file_mode)

    def _open_checked(self, f: _File) -> int:
        """Open ``f.path``: a regular file with one name, not locked by a conflicting writer.

        A file another writer holds (two names for one file, or an exclusive writer
        beside a shared one) or a file with several hard links is not written: the
        component goes to a per-pid name beside it, which is counted and reported. A FIFO,
        device or socket is refused with an ``OSError`` (the batch goes to the fallback).
        """
        special = (
            f"{f.path} is not a regular file (a FIFO, device or socket); "
            "its records go to the fallback"
        )
        refused = describe(
            f.path, "a regular file", Found("a FIFO, device or socket"),
            "its records go to the fallback",
        )
        try:
            fd = self._open_path(f.path)
        except OSError as e:
            if e.errno == errno.ENXIO:  # a FIFO without a reader (O_NONBLOCK)
                self.file_conflicts += 1
                self._report_once(f"special:{f.path}", special)
            raise
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                self.file_conflicts += 1
                self._report_once(f"special:{f.path}", special)
                raise HftLoggingOSError(errno.EINVAL, refused)
            problem = None
            own = self._per_pid_path(f.path) == f.path  # this process's own per-pid file
            if st.st_nlink > 1:
                problem = f"has {st.st_nlink} names (hard links)"
            elif not self._lock_data_file(fd, f.path, st.st_size) and not own:
                # A per-pid file of this process can only be held by another handler of
                # this process (an old one still draining during reconfiguration): write.
                problem = (
                    "is already written by another process or handler under this or "
                    "another name" + (" with exclusive: true" if not self.exclusive else "")
                )
            if problem is not None:
                os.close(fd)
                fd = -1
                self.file_conflicts += 1
                redirected = self._per_pid_path(f.path)
                if redirected == f.path:
                    msg = f"{f.path} {problem}; its records go to the fallback"
                    self._report_once(f"conflict:{f.path}", msg)
                    raise HftLoggingOSError(describe(
                        f.path, "a file no other writer holds", Found(problem),
                        "its records go to the fallback",
                    ))
                self._report_once(
                    f"conflict:{f.path}",
                    f"{f.path} {problem}; process {os.getpid()} writes {redirected} instead",
                )
                f.path = redirected
                return self._open_checked(f)
            st = os.fstat(fd)  # a repaired tail changed the size
        except BaseException:
            if fd >= 0:
                os.close(fd)
            raise
        f.fd = fd
        f.identity = (st.st_dev, st.st_ino)
        f.size = st.st_size
        if f.when is not None and st.st_size > 0 and f.period_end is None:
            f.period_end = period_bounds(st.st_mtime, f.when, self.utc)[1]
        self._open[f.path] = f
        return fd

    @staticmethod
    def _per_pid_path(path: str) -> str:
        """``dir/orders.log`` -> ``dir/orders.<pid>.log`` (unchanged if it already is one)."""
        directory, name = os.path.split(path)
        pid = str(os.getpid())
        if f".{pid}." in name or name.endswith(f".{pid}"):
            return path
        return os.path.join(directory, per_pid_template(name).replace("{pid}", pid))

    def _lock_data_file(self, fd: int, path: str, size: int) -> bool:
        """Lock the open file itself (see :func:`~hftlogging.handlers.files.lock_inode`);
        a repaired torn tail is counted (``torn_tails``). Returns False on a conflict."""
        locked, repaired = lock_inode(fd, path, size, self.exclusive)
        if repaired:
            self.torn_tails += 1
        return locked

    @contextlib.contextmanager
    def _rotation_lock(self, f: _File) -> Iterator[None]:
        """Hold the lock of a shared file: around one batch's check, rotation and write,
        and around an open.

        A POSIX record lock (``lockf``) on ``.<file name>.lock`` beside the file: it
        belongs to the process, so a child forked while it is held does not inherit it,
        and the kernel releases it when the process dies. Threads and handlers of one
        process queue on a ``threading.Lock`` per lock file first.
        """
        if f.locked or lockf is None:
            yield
            return
        path = os.path.join(os.path.dirname(f.path), f".{os.path.basename(f.path)}.lock")
        flags = os.O_RDWR | os.O_CREAT | O_NOFOLLOW | O_CLOEXEC
        with thread_lock_for(path):
            try:
                fd = os.open(path, flags, self.file_mode)
            except FileNotFoundError:
                os.makedirs(self.directory, mode=self.dir_mode, exist_ok=True)
                fd = os.open(path, flags, self.file_mode)
            try:
                lockf(fd, LOCK_EX)
                f.locked = True
                yield
            finally:
                f.locked = False
                os.close(fd)  # closing the descriptor releases the lock

    def _close_file(self, f: _File) -> None:
        fd, f.fd = f.fd, None
        self._open.pop(f.path, None)
        if fd is not None:
            try:
                os.close(fd)
            except OSError as e:
                self._report_once(f"close:{f.path}", f"closing {f.path}: {e}")

    def _close_all(self) -> None:
        for f in list(self._open.values()):
            self._close_file(f)
        for f in self._files.values():
            self._join_compress(f)

    def _sweep_idle(self, now: float) -> None:
        limit = now - self.idle_close_s
        for f in list(self._open.values()):
            if f.last_used <= limit:
                self._close_file(f)

    def _write(self, f: _File, data: bytes) -> None:
        fd = f.fd
        if fd is None:
            fd = self._open_file(f)
        view = memoryview(data)
        try:
            while view:
                view = view[os.write(fd, view):]
        except OSError:
            # A partial write (file size limit, disk full) would leave half a line that the
            # next record continues: cut it off; the whole batch goes to the fallback. A
            # shared file may hold other processes' lines after ours: end the fragment with
            # a newline instead of cutting.
            done = len(data) - len(view)
            if done:
                with contextlib.suppress(OSError):
                    if self.exclusive:
                        os.ftruncate(fd, os.fstat(fd).st_size - done)
                    elif data[done - 1:done] != b"\n":
                        os.write(fd, b"\n")
            raise
        f.size += len(data)

    def _rotate(self, f: _File) -> None:
        """Shift the backups, then close (the file reopens on the next write).

        The open file is renamed, not closed first: when the rename fails the handler keeps
        appending to it (no record lost) and retries after another ``max_bytes``.
        """
        self._join_compress(f)
        try:
            rotated = shift_backups(f.path, f.backup_count)
        except OSError as e:
            self.write_errors += 1
            self._report_once(f"rotate:{f.path}", f"cannot rotate {f.path} ({e}); appending")
            f.size = 0
            return
        self._close_file(f)
        self.rotations += 1
        f.size = 0
        if rotated is not None and f.compress:
            job = threading.Thread(
                target=self._compress, args=(rotated,), name="hftlogging-compress", daemon=True
            )
            f.compress_job = job
            with starting_thread():  # see QueueHandler.start
                job.start()

    def _compress(self, path: str) -> None:
        try:
            compress_file(path, self.file_mode)
        except Exception as e:  # the rotated file stays, uncompressed
            with contextlib.suppress(Exception):
                sys.stderr.write(f"hftlogging: could not compress {path}: {e!r}\n")

    @staticmethod
    def _join_compress(f: _File) -> None:
        job, f.compress_job = f.compress_job, None
        if job is not None:
            job.join()

    def _report_once(self, key: str, text: str) -> None:
        if key in self._reported or len(self._reported) > 1000:
            return
        self._reported.add(key)
        with contextlib.suppress(Exception):
            sys.stderr.write(f"hftlogging: {text}\n")

    # -- writing ---------------------------------------------------------------------------

    def setFormatter(self, fmt: logging.Formatter | None) -> None:
        """Set the formatter; the default ContextFormatter layout gets an inlined fast path."""
        super().setFormatter(fmt)
        self._fast = (
            type(fmt) is ContextFormatter
            and getattr(fmt, "_fmt", None) == DEFAULT_TEXT_FORMAT
            and fmt.datefmt is None
            and isinstance(getattr(fmt, "_style", None), logging.PercentStyle)
            and bool(fmt.default_msec_format)
        )
        self._line = make_fast_line(fmt, self._slow_line) if self._fast else self._slow_line  # type: ignore[arg-type]

    def _slow_line(self, record: logging.LogRecord) -> str:
        try:
            s = self.format(record)
        except Exception as e:
            if _strict.enabled:
                self.handleError(record)  # strict mode: reported as stdlib would; kept below
            s = (
                f"{getattr(record, 'levelname', '?')} {getattr(record, 'name', '?')}: "
                f"<record could not be formatted: {type(e).__name__}: {e}> "
                f"msg={record.__dict__.get('msg')!r}"
            )
        if "\n" in s or "\r" in s:
            s = contain(s)
        return s

    def emit_batch(self, records: Iterable[logging.LogRecord]) -> None:
        """Write ``records``: grouped per file, one write per file (more only at rotation).

        Raises:
            OSError: a file could not be opened or written. The other files of the batch
                are written first; the listener then routes the batch to its fallback and
                counts the error.
        """
        if os.getpid() != self._pid or get_worker() != self._worker:
            self._identity_changed()
        groups, times = self._group(records)
        now = self._clock()
        failed: OSError | None = None
        for f, lines in groups.items():
            f.last_used = now
            try:
                self._write_lines(f, lines, times.get(f))
            except OSError as e:  # one bad file must not keep the others' records off disk
                self.write_errors += 1
                failed = failed or e
        if self.idle_close_s and now >= self._next_sweep:
            self._next_sweep = now + self.idle_close_s / 4
            self._sweep_idle(now)
        if failed is not None:
            raise failed

    def _group(
        self, records: Iterable[logging.LogRecord]
    ) -> tuple[dict[_File, list[str]], dict[_File, list[float]]]:
        """Format the records, grouped per file (and their times when rotating by time)."""
        select = self._select
        by_key = self._by_key
        line = self._line
        timed = self._timed
        groups: dict[_File, list[str]] = {}
        times: dict[_File, list[float]] = {}
        if select is select_logger and not timed:
            # The common case, kept tight: consecutive records mostly share a logger.
            last: Any = None
            lines: list[str] = []
            for r in records:
                name = r.name
                if name is not last:
                    f = by_key.get(name)
                    if f is None:
                        f = self._file_for(name)
                    got = groups.get(f)
                    if got is None:
                        groups[f] = got = []
                    lines = got
                    last = name
                lines.append(line(r))
            return groups, times
        for r in records:
            key = select(r)
            f = by_key.get(key)
            if f is None:
                f = self._file_for(key)
            got = groups.get(f)
            if got is None:
                groups[f] = got = []
                if timed:
                    times[f] = []
            got.append(line(r))
            if timed:
                times[f].append(r.created)
        return groups, times

    def _encode(self, text: str) -> bytes:
        return text.encode(self.encoding, "backslashreplace")

    def _write_lines(self, f: _File, lines: list[str], created: list[float] | None) -> None:
        if not self.exclusive:
            self._write_shared(f, lines, created)
            return
        if f.fd is not None and not same_file(f.path, f.identity):
            # Removed, renamed or replaced under us (a directory removed, logrotate, another
            # process's rotation): the descriptor would write where nobody reads. Reopen.
            self._close_file(f)
        if f.fd is None:
            self._open_file(f)  # an existing file's size (and period) are known from here
        data = self._encode("\n".join(lines) + "\n")
        max_bytes = f.max_bytes
        crosses = (
            f.when is not None and created is not None
            and (f.period_end is None or max(created) >= f.period_end)
        )
        if not crosses and (max_bytes <= 0 or f.size + len(data) <= max_bytes):
            self._write(f, data)
            return
        # Rotation inside this batch: decide record by record.
        chunk: list[bytes] = []
        pending = 0
        encode = self._encode
        for i, text in enumerate(lines):
            b = encode(text + "\n")
            n = len(b)
            rotate = False
            if f.when is not None and created is not None:
                t = created[i]
                if f.period_end is None:
                    f.period_end = period_bounds(t, f.when, self.utc)[1]
                elif t >= f.period_end:
                    f.period_end = period_bounds(t, f.when, self.utc)[1]
                    rotate = True
            used = f.size + pending
            if max_bytes > 0 and used > 0 and used + n > max_bytes:
                rotate = True
            if rotate:
                if chunk:
                    self._write(f, b"".join(chunk))
                    chunk = []
                    pending = 0
                if f.size > 0:
                    self._rotate(f)
            chunk.append(b)
            pending += n
        if chunk:
            self._write(f, b"".join(chunk))

    # -- shared files ----------------------------------------------------------------------

    def _write_shared(self, f: _File, lines: list[str], created: list[float] | None) -> None:
        """Append to a file other processes append to as well (``exclusive: false``).

        Every piece is one ``write`` on an ``O_APPEND`` descriptor: the kernel puts it
        whole at the end of the file, so lines of different processes never interleave.
        With a size or time limit, the file's lock is held around one check and one write
        per batch (never per record): the path is checked to still name the open file
        (after another process's rotation it does not: reopen), the file's real size is
        read (``lseek`` to its end), the file is rotated when the piece would take it past
        ``max_bytes`` (or its last write is of an earlier period), and the piece is
        written. Rotation thus happens once per threshold for the whole group and a file
        never exceeds ``max_bytes`` (a batch is split at record boundaries; a single
        record larger than ``max_bytes`` goes alone into a file). Without a limit there
        is nothing to decide and no lock is taken.
        """
        data = self._encode("\n".join(lines) + "\n")
        max_bytes = f.max_bytes
        if max_bytes <= 0 and f.when is None:
            self._reopen_if_moved(f)
            self._write(f, data)
            return
        chunks = [data] if max_bytes <= 0 or len(data) <= max_bytes else self._chunks(
            lines, max_bytes)
        with self._rotation_lock(f):
            fd = self._reopen_if_moved(f)
            if f.when is not None and created and (
                f.period_end is None or max(created) >= f.period_end
            ):
                self._rotate_by_time_locked(f, fd, max(created))
            for chunk in chunks:
                fd = self._reopen_if_moved(f)
                if max_bytes > 0:
                    size = os.lseek(fd, 0, os.SEEK_END)
                    if size > 0 and size + len(chunk) > max_bytes:
                        self._rotate(f)
                        fd = self._reopen_if_moved(f)
                self._write(f, chunk)

    def _chunks(self, lines: list[str], max_bytes: int) -> list[bytes]:
        """Whole lines in pieces of at most ``max_bytes`` (a longer line is a piece alone)."""
        out: list[bytes] = []
        cur: list[bytes] = []
        n = 0
        for text in lines:
            b = self._encode(text + "\n")
            if cur and n + len(b) > max_bytes:
                out.append(b"".join(cur))
                cur = []
                n = 0
            cur.append(b)
            n += len(b)
        if cur:
            out.append(b"".join(cur))
        return out

    def _reopen_if_moved(self, f: _File) -> int:
        if f.fd is not None and not same_file(f.path, f.identity):
            self._close_file(f)  # another process rotated it
        return f.fd if f.fd is not None else self._open_file(f)

    def _rotate_by_time_locked(self, f: _File, fd: int, newest: float) -> None:
        """Rotate when the file's last write belongs to an earlier period than ``newest``."""
        assert f.when is not None
        st = os.fstat(fd)
        if st.st_size > 0 and period_bounds(st.st_mtime, f.when, self.utc)[1] <= newest:
            self._rotate(f)
        f.period_end = period_bounds(newest, f.when, self.utc)[1]

    def emit(self, record: logging.LogRecord) -> None:
        """Write one record (the path without a queue)."""
        try:
            self.emit_batch((record,))
        except Exception:
            self.handleError(record)

    # -- stdlib hooks ----------------------------------------------------------------------

    def flush(self) -> None:
        """Nothing is buffered: every batch is written with ``os.write`` before it returns."""

    def close(self) -> None:
        """Close every file, wait for compression jobs, release the lock."""
        if "_lock_file" not in self.__dict__:
            # Construction failed on an invalid option: the handler is already in logging's
            # list, and logging.shutdown() at exit must be able to close it.
            super().close()
            return
        self.acquire()
        try:
            self._close_all()
            if self._lock_file is not None:
                self._lock_file.release()
                self._lock_file = None
            unregister_for_fork(self)
            _retire(self)
            self._pid = -1  # a record after close claims the files again first
        finally:
            self.release()
            super().close()

    @property
    def open_files(self) -> list[str]:
        """Paths of the files currently open."""
        return list(self._open)

    def path_for(self, component: str) -> str:
        """The path the records of ``component`` currently go to."""
        name = self._active_template.format(
            component=safe_name(component), worker=safe_name(get_worker()),
            pid=os.getpid(), host=host_name(),
        )
        return os.path.join(self.directory, name)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.directory}/{self.template}>"


health.add_stats_source("files", file_stats)
