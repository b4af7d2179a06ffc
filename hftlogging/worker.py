"""The worker name of this process, used in file names (``{worker}``) and audit lines.

The name is :func:`set_worker`'s, else ``$HFTLOGGING_WORKER``, else derived: the first
process of a log directory is ``main``, the next ones ``main-2``, ``main-3``... Each
derived name is claimed with an advisory lock held for the life of the process, so two
processes started the same way never share a name (and so never share a file, an audit
chain or a metrics label). A name frees when its process ends; a restarted service gets
the same names again, so its files continue.

Claims live in a directory private to the user (``$XDG_RUNTIME_DIR``, else the temporary
directory), one set per log directory (``$HFTLOGGING_DIR``, else the working directory):
services writing different directories do not take names from each other.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import stat
import tempfile
import threading
from typing import Any

from hftlogging.exceptions import (
    ConfigError,
    ConfigTypeError,
    Found,
    HftLoggingOSError,
    describe,
)

__all__ = ["get_worker", "runtime_dir", "set_worker"]

ENV_VAR = "HFTLOGGING_WORKER"
DEFAULT = "main"
_MAX_CLAIMS = 1000
_worker: str | None = None

fcntl: Any
try:
    import fcntl
except ImportError:  # pragma: no cover - no advisory locks (Windows)
    fcntl = None


class _Derived:
    """The derived name of this process and the descriptor that holds its claim."""

    lock = threading.Lock()
    name: str | None = None
    fd: int | None = None
    hook = False


def set_worker(name: str | None) -> None:
    """Name this process's worker (e.g. ``"worker_open"``); None returns to the default.

    Raises:
        ConfigTypeError: ``name`` is not a string (also a ``ValueError``).
        ConfigError: ``name`` is empty or blank.
    """
    global _worker
    if name is not None and (not isinstance(name, str) or not name.strip()):
        msg = describe("set_worker(name)", "a non-empty string", name,
                       "pass a name such as 'worker_open', or None for the default")
        if isinstance(name, str):
            raise ConfigError(msg)
        raise ConfigTypeError(msg)
    _worker = name


def get_worker() -> str:
    """The worker name: :func:`set_worker`, else ``$HFTLOGGING_WORKER``, else derived.

    The derived name is ``main`` for the first process of a log directory and ``main-N``
    for the others alive at the same time (see the module documentation).
    """
    if _worker is not None:
        return _worker
    env = os.environ.get(ENV_VAR)
    if env:
        return env
    name = _Derived.name
    return name if name is not None else _derive()


def runtime_dir() -> str:
    """A directory private to this user for hftlogging's coordination files (created).

    ``$XDG_RUNTIME_DIR/hftlogging`` when that exists (a tmpfs emptied at logout and
    boot), else ``<tempdir>/hftlogging-<uid>``; mode 0700.

    Raises:
        OSError: it cannot be created; :class:`~hftlogging.exceptions.HftLoggingOSError`
            (an ``OSError``) when it is not a directory owned by this user.
    """
    base = os.environ.get("XDG_RUNTIME_DIR")
    if base and os.path.isdir(base):
        path = os.path.join(base, "hftlogging")
    else:
        uid = os.getuid() if hasattr(os, "getuid") else 0
        path = os.path.join(tempfile.gettempdir(), f"hftlogging-{uid}")
    with contextlib.suppress(FileExistsError):
        os.mkdir(path, 0o700)
    st = os.lstat(path)
    if not stat.S_ISDIR(st.st_mode) or (hasattr(os, "getuid") and st.st_uid != os.getuid()):
        found = (f"a directory owned by uid {st.st_uid}" if stat.S_ISDIR(st.st_mode)
                 else "something that is not a directory")
        msg = describe(path, "a directory owned by this user", Found(found),
                       "remove it, or set XDG_RUNTIME_DIR to a directory of this user's")
        raise HftLoggingOSError(msg)
    return path


def _claims_dir() -> str:
    scope = os.path.realpath(os.environ.get("HFTLOGGING_DIR") or os.getcwd())
    key = hashlib.sha256(scope.encode("utf-8", "surrogateescape")).hexdigest()[:16]
    path = os.path.join(runtime_dir(), "workers", key)
    os.makedirs(path, mode=0o700, exist_ok=True)
    return path


def _try_claim(directory: str, name: str) -> int | None:
    """Hold ``<directory>/<name>.lock``; the descriptor, or None when another process does."""
    path = os.path.join(directory, f"{name}.lock")
    fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return None
    return fd


def _derive() -> str:
    with _Derived.lock:
        if _Derived.name is not None:
            return _Derived.name
        name, fd = f"{DEFAULT}-{os.getpid()}", None
        if fcntl is not None:
            try:
                directory = _claims_dir()
                for i in range(1, _MAX_CLAIMS + 1):
                    candidate = DEFAULT if i == 1 else f"{DEFAULT}-{i}"
                    fd = _try_claim(directory, candidate)
                    if fd is not None:
                        name = candidate
                        break
            except OSError:
                fd = None  # no private directory: fall back to a name with the pid
        _Derived.name, _Derived.fd = name, fd
        if not _Derived.hook and hasattr(os, "register_at_fork"):
            os.register_at_fork(after_in_child=_after_fork_child)
            _Derived.hook = True
        return name


def _after_fork_child() -> None:
    """A forked child derives a name of its own (the parent keeps its claim)."""
    _Derived.lock = threading.Lock()
    fd, _Derived.fd, _Derived.name = _Derived.fd, None, None
    if fd is not None:
        with contextlib.suppress(OSError):
            os.close(fd)  # the child's copy only: the parent's lock stays
