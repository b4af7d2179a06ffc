"""The file plumbing shared by the rotating and audit handlers.

Opening files for appending (``O_NOFOLLOW``: a planted symlink is refused), locks (an
exclusive ``flock`` on a lock file per file set, a lock on the open file's inode, the
in-process lock of a rotation lock file), torn-tail repair, numbered backups and their
compression, the fork registry of file handlers, and the options and file name templates
both handlers validate. :mod:`hftlogging.handlers.rotating` and
:mod:`hftlogging.handlers.audit` import these by their public names.
"""

from __future__ import annotations

import contextlib
import gzip
import inspect
import os
import re
import shutil
import socket
import string
import sys
import threading
import time
import weakref
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from hftlogging.exceptions import ConfigError, Found, describe
from hftlogging.options import check_duration

__all__ = [
    "APPEND_FLAGS",
    "LOCK_EX",
    "LOCK_EX_NB",
    "LOCK_SH_NB",
    "LOCK_UN",
    "O_CLOEXEC",
    "O_NOFOLLOW",
    "O_NONBLOCK",
    "WHEN",
    "AfterFork",
    "ExclusiveLock",
    "bind_options",
    "check_encoding",
    "check_template",
    "compress_file",
    "directory_option",
    "float_option",
    "flock",
    "host_name",
    "int_option",
    "lock_inode",
    "lockf",
    "mode_option",
    "open_append",
    "per_pid_template",
    "period_bounds",
    "register_for_fork",
    "repair_tail",
    "safe_name",
    "same_file",
    "shift_backups",
    "switch_lock",
    "sync_directory",
    "thread_lock_for",
    "unregister_for_fork",
    "when_option",
    "write_all",
]

flock: Callable[[int, int], Any] | None
lockf: Callable[[int, int], Any] | None
try:
    import fcntl

    flock = fcntl.flock
    lockf = fcntl.lockf
    LOCK_EX_NB = fcntl.LOCK_EX | fcntl.LOCK_NB
    LOCK_SH_NB = fcntl.LOCK_SH | fcntl.LOCK_NB
    LOCK_EX = fcntl.LOCK_EX
    LOCK_UN = fcntl.LOCK_UN
except ImportError:  # pragma: no cover - Windows: no advisory locks, no exclusivity
    flock = lockf = None
    LOCK_EX_NB = LOCK_SH_NB = LOCK_EX = LOCK_UN = 0

O_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
O_NONBLOCK = getattr(os, "O_NONBLOCK", 0)
APPEND_FLAGS = os.O_WRONLY | os.O_APPEND | os.O_CREAT | O_NOFOLLOW | O_CLOEXEC


class AfterFork(Protocol):
    """A handler that resets its own state in a forked child."""

    def after_fork_child(self) -> None:
        """Called in the child after a fork (see :func:`register_for_fork`)."""


WHEN = {"daily": 86_400, "hourly": 3_600}
_FIELDS = frozenset({"component", "worker", "pid", "host"})
_UNSAFE = re.compile(r"[^A-Za-z0-9_.@+-]")


# --- small validated options -------------------------------------------------------------


def int_option(name: str, value: object, *, minimum: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        msg = describe(None, f"an integer >= {minimum}", value,
                       f"use a whole number of {minimum} or more")
        raise ConfigError(msg, key=name)
    if value < minimum:
        msg = describe(None, f"an integer >= {minimum}", value,
                       f"use a whole number of {minimum} or more")
        raise ConfigError(msg, key=name)
    return value


def float_option(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        msg = describe(None, "a number of seconds >= 0", value,
                       "use a number of seconds such as 1.5, or 0")
        raise ConfigError(msg, key=name)
    check_duration(name, value)
    return float(value)


def mode_option(name: str, value: object) -> int:
    if isinstance(value, str):  # YAML users write "0640"
        with contextlib.suppress(ValueError):
            value = int(value, 8)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 0o777:
        msg = describe(None, "a permission mode such as 0o640 or '0640'", value,
                       "write the mode in octal, such as 0o640 or '0640'")
        raise ConfigError(msg, key=name)
    return value


def directory_option(directory: object) -> str:
    if not isinstance(directory, (str, os.PathLike)) or not os.fspath(directory):
        msg = describe(None, "a directory path such as 'logs/app'", directory,
                       "give a directory such as 'logs/app'")
        raise ConfigError(msg, key="directory")
    return os.path.abspath(os.fspath(directory))


def check_encoding(encoding: Any) -> str:
    try:
        "".encode(encoding)
    except (LookupError, TypeError) as e:
        msg = describe(None, "a codec name such as 'utf-8'", encoding,
                       "name a codec Python knows, such as 'utf-8'")
        raise ConfigError(msg, key="encoding") from e
    return encoding  # type: ignore[no-any-return]


def bind_options(cls: type, options: Mapping[str, object]) -> dict[str, object]:
    """The handler's keyword arguments with defaults filled in, or a ConfigError."""
    sig = inspect.signature(cls)
    try:
        bound = sig.bind(**dict(options))
    except TypeError as e:
        names = ", ".join(sig.parameters)
        msg = describe(
            f"options of {cls.__name__}", f"keywords among {names}", Found(str(e)),
            "remove or correct the option",
        )
        raise ConfigError(msg) from e
    bound.apply_defaults()
    return dict(bound.arguments)


def safe_name(text: object) -> str:
    """Make ``text`` usable as part of a file name: no separators, no leading dot."""
    s = _UNSAFE.sub("_", str(text))[:120]
    if not s or s.startswith("."):
        s = "_" + s
    return s


def check_template(template: object, key: str = "filename") -> tuple[str, frozenset[str]]:
    """Validate a file name template; returns it and the placeholders it uses.

    Raises:
        ConfigError: a non-string template, a path separator, or an unknown placeholder.
    """
    if not isinstance(template, str) or not template.strip():
        msg = describe(None, "a non-empty file name template", template,
                       "give a file name such as 'app.log'")
        raise ConfigError(msg, key=key)
    if "/" in template or os.sep in template or template in (".", ".."):
        msg = describe(
            None, "a file name, not a path", template, "put the directory in 'directory'"
        )
        raise ConfigError(msg, key=key)
    try:
        fields = {f for _, f, _, _ in string.Formatter().parse(template) if f is not None}
    except ValueError as e:
        msg = describe(None, "a valid file name template", template, f"fix it: {e}")
        raise ConfigError(msg, key=key) from e
    unknown = fields - _FIELDS
    if unknown:
        msg = describe(
            None, "placeholders among {component}, {worker}, {pid} and {host}", template,
            f"remove the unknown placeholder(s) {sorted(unknown)}",
        )
        raise ConfigError(msg, key=key)
    return template, frozenset(fields)


def per_pid_template(template: str) -> str:
    """``"{component}.log"`` -> ``"{component}.{pid}.log"`` (the fallback after a fork)."""
    stem, dot, ext = template.rpartition(".")
    if not dot or not stem or "{" in ext:
        return template + ".{pid}"
    return f"{stem}.{{pid}}.{ext}"


_host_cache: list[str] = []


def host_name() -> str:
    """This machine's host name, made safe for file names (computed once)."""
    if not _host_cache:
        _host_cache.append(safe_name(socket.gethostname() or "localhost"))
    return _host_cache[0]


# --- fork handling -------------------------------------------------------------------------

_fork_handlers: weakref.WeakSet[AfterFork] = weakref.WeakSet()
_fork_hook_installed = False
_fork_lock = threading.Lock()


def register_for_fork(handler: AfterFork) -> None:
    """Call ``handler.after_fork_child()`` in every forked child (hook installed once)."""
    global _fork_hook_installed
    with _fork_lock:
        _fork_handlers.add(handler)
        if not _fork_hook_installed and hasattr(os, "register_at_fork"):
            os.register_at_fork(after_in_child=_after_fork_child)
            _fork_hook_installed = True


def unregister_for_fork(handler: AfterFork) -> None:
    """Forget ``handler`` (it was closed)."""
    with _fork_lock:
        _fork_handlers.discard(handler)


_path_locks: dict[str, threading.Lock] = {}


def thread_lock_for(path: str) -> threading.Lock:
    """The in-process lock guarding the rotation lock file ``path``."""
    with _fork_lock:
        lock = _path_locks.get(path)
        if lock is None:
            lock = _path_locks[path] = threading.Lock()
        return lock


def _after_fork_child() -> None:
    global _fork_lock
    _fork_lock = threading.Lock()
    _path_locks.clear()  # a parent's thread may have held one at the fork
    for h in list(_fork_handlers):
        try:
            h.after_fork_child()
        except Exception as e:  # a child must start even if one handler cannot reset
            with contextlib.suppress(Exception):
                sys.stderr.write(f"hftlogging: could not reset {h!r} after fork: {e!r}\n")


# --- file helpers ----------------------------------------------------------------------------


class ExclusiveLock:
    """An advisory ``flock`` on ``<directory>/.<name>.lock``, held while a handler lives.

    Locks are per open file, so a second handler in the same process conflicts too.
    The lock file stays on disk (removing it would race with another process taking it).
    """

    def __init__(self, directory: str, name: str, file_mode: int) -> None:
        self.path = os.path.join(directory, f".{name}.lock")
        self.file_mode = file_mode
        self.fd: int | None = None

    def acquire(self) -> bool:
        """Take the lock; False when another process (or handler) holds it."""
        if self.fd is not None:
            return True
        if flock is None:  # pragma: no cover - no advisory locks on this platform
            return True
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | O_NOFOLLOW | O_CLOEXEC, self.file_mode)
        try:
            flock(fd, LOCK_EX_NB)
        except OSError:
            os.close(fd)
            return False
        self.fd = fd
        return True

    def release(self) -> None:
        """Drop the lock (in a forked child: drop the inherited descriptor only)."""
        fd, self.fd = self.fd, None
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)


def switch_lock(
    held: ExclusiveLock | None, directory: str, name: str, file_mode: int
) -> tuple[bool, ExclusiveLock | None]:
    """Hold the lock for file set ``name`` instead of ``held``.

    Returns:
        (True, the lock now held) — ``held`` itself when it already is that lock, else a
        new one, ``held`` being released; or (False, ``held``) when another process (or
        handler) holds the new lock, ``held`` being kept.
    """
    lock = ExclusiveLock(directory, name, file_mode)
    if held is not None and held.path == lock.path:
        return True, held  # already ours (the name did not change)
    if not lock.acquire():
        return False, held
    if held is not None:
        held.release()
    return True, lock


def open_append(path: str, file_mode: int) -> int:
    """Open ``path`` for appending, refusing a symlink; returns the descriptor.

    Raises:
        OSError: ``ELOOP`` when ``path`` is a symlink, or any other open error.
    """
    return os.open(path, APPEND_FLAGS, file_mode)


def write_all(fd: int, data: bytes) -> None:
    """``os.write`` until every byte is written (a regular file may take a partial write)."""
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def shift_backups(path: str, backup_count: int) -> str | None:
    """Rotate ``path`` to ``path.1``, shifting ``path.N`` (and ``path.N.gz``) up by one.

    The oldest backup beyond ``backup_count`` is removed. With ``backup_count == 0``
    the file is removed. Returns the new ``path.1`` (or None when nothing was kept).
    """
    if backup_count <= 0:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        return None
    for suffix in ("", ".gz"):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(f"{path}.{backup_count}{suffix}")
    # Backups are numbered without gaps: find the last one rather than trying every number.
    top = 0
    while top < backup_count - 1 and (
        os.path.lexists(f"{path}.{top + 1}") or os.path.lexists(f"{path}.{top + 1}.gz")
    ):
        top += 1
    for i in range(top, 0, -1):
        for suffix in ("", ".gz"):
            with contextlib.suppress(FileNotFoundError):
                os.replace(f"{path}.{i}{suffix}", f"{path}.{i + 1}{suffix}")
    os.replace(path, f"{path}.1")
    return f"{path}.1"


def sync_directory(directory: str) -> None:
    """fsync a directory so a rename in it survives a crash (best effort)."""
    try:
        fd = os.open(directory, os.O_RDONLY | O_CLOEXEC)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def compress_file(src: str, file_mode: int) -> None:
    """gzip ``src`` into ``src.gz`` (written to a temporary name, then renamed), remove ``src``."""
    dst = src + ".gz"
    tmp = dst + ".tmp"
    with contextlib.suppress(FileNotFoundError):
        os.unlink(tmp)
    fd_in = os.open(src, os.O_RDONLY | O_NOFOLLOW | O_CLOEXEC)
    with open(fd_in, "rb") as fin:
        fd_out = os.open(
            tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | O_NOFOLLOW | O_CLOEXEC, file_mode
        )
        with open(fd_out, "wb") as fout, gzip.GzipFile(
            filename=os.path.basename(src), mode="wb", fileobj=fout, compresslevel=6
        ) as gz:
            shutil.copyfileobj(fin, gz, 1 << 20)
    os.replace(tmp, dst)
    os.unlink(src)


def lock_inode(fd: int, path: str, size: int, exclusive: bool) -> tuple[bool, bool]:
    """Lock the open file itself (its inode, whatever name reached it).

    An exclusive writer holds ``LOCK_EX``; shared writers hold ``LOCK_SH``, so any two
    names for one file meet on one lock. Whoever gets ``LOCK_EX`` is alone on the file
    and may repair a torn tail (:func:`repair_tail`).

    Returns:
        (locked, repaired): locked is False on a conflict; repaired is True when a torn
        tail was ended with a newline.
    """
    if flock is None:  # pragma: no cover - no advisory locks on this platform
        return True, False
    try:
        flock(fd, LOCK_EX_NB)
    except OSError:
        if exclusive:
            return False, False
        try:
            flock(fd, LOCK_SH_NB)  # other shared writers have it open
        except OSError:
            return False, False  # an exclusive writer holds it
        return True, False
    repaired = size > 0 and repair_tail(fd, path, size)
    if exclusive:
        return True, repaired
    try:
        flock(fd, LOCK_SH_NB)  # downgrade, so the other shared writers can join
    except OSError:
        return False, repaired
    return True, repaired


def repair_tail(fd: int, path: str, size: int) -> bool:
    """End a file whose last line is torn (a writer killed mid-write) with a newline.

    The fragment stays in the file as a line of its own, so the next record starts
    on a new line instead of continuing it; it is reported on stderr with its length.

    Returns:
        True when the tail was torn and repaired (the caller counts it).
    """
    try:
        rfd = os.open(path, os.O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK)
    except OSError:
        return False  # not readable by us: nothing can be checked
    try:
        if os.fstat(rfd)[1:3] != os.fstat(fd)[1:3]:  # (inode, device): the same file?
            return False
        start = max(0, size - 65536)
        tail = os.pread(rfd, size - start, start)
    except OSError:
        return False
    finally:
        os.close(rfd)
    if not tail or tail.endswith(b"\n"):
        return False
    cut = tail.rfind(b"\n")
    length = f"{len(tail) - cut - 1} bytes" if cut >= 0 or start == 0 else "over 64 KiB"
    write_all(fd, b"\n")
    with contextlib.suppress(Exception):
        sys.stderr.write(
            f"hftlogging: {path} ended in a partial line ({length}, left by a writer "
            "stopped mid-record); ended it with a newline so the next record starts on "
            "its own line\n"
        )
    return True


def same_file(path: str, identity: tuple[int, int]) -> bool:
    """Whether ``path`` still names the file (device, inode) that was opened."""
    try:
        st = os.stat(path, follow_symlinks=False)
    except OSError:
        return False
    return (st.st_dev, st.st_ino) == identity


def when_option(name: str, value: Any) -> str | None:
    if value is None or value in WHEN:
        return value  # type: ignore[no-any-return]
    msg = describe(None, "'daily', 'hourly' or null", value, "use 'daily', 'hourly' or null")
    raise ConfigError(msg, key=name)


# --- time periods ----------------------------------------------------------------------------


def period_bounds(sec: float, when: str, utc: bool) -> tuple[float, float]:
    """Start and end (epoch seconds) of the hour or day holding ``sec``."""
    if utc:
        length = WHEN[when]
        start = float(int(sec // length) * length)
        return start, start + length
    t = time.localtime(sec)
    if when == "hourly":
        start = float(int(sec) - t.tm_min * 60 - t.tm_sec)
        return start, start + 3600.0
    start = time.mktime((t.tm_year, t.tm_mon, t.tm_mday, 0, 0, 0, 0, 0, -1))
    end = time.mktime((t.tm_year, t.tm_mon, t.tm_mday + 1, 0, 0, 0, 0, 0, -1))
    return start, end
