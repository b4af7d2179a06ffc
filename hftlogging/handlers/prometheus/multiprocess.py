"""Process hooks of the Prometheus handlers: after a fork, and at exit in multiprocess mode.

Installed by the first handler, not at import.
"""

from __future__ import annotations

import atexit
import multiprocessing.util
import os
import sys
import threading
import weakref
from typing import Protocol

from prometheus_client.multiprocess import mark_process_dead

from hftlogging.handlers.prometheus.series import StoresLock, stores

__all__ = ["MULTIPROC_ENV", "install_exit_hook", "install_fork_hook", "live_handlers"]

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

# --- process hooks (installed by the first handler, not at import) ------------------------


class _Resettable(Protocol):
    """A handler that resets its own state in a forked child."""

    def after_fork_child(self) -> None: ...


live_handlers: weakref.WeakSet[_Resettable] = weakref.WeakSet()


class _Hooks:
    """Which process hooks are installed (module state without ``global``)."""

    lock = threading.Lock()
    fork = False
    exit = False



class _MultiprocessingHook:
    """An object multiprocessing's after-fork registry can hold weakly."""


_mp_hook = _MultiprocessingHook()


def install_fork_hook() -> None:
    with _Hooks.lock:
        if _Hooks.fork or not hasattr(os, "register_at_fork"):
            return
        os.register_at_fork(after_in_child=_after_fork_child)
        _Hooks.fork = True


def _after_fork_child() -> None:
    _Hooks.lock = threading.Lock()
    StoresLock.reset()
    for per_registry in list(stores.values()):
        for store in per_registry.values():
            store.lock = threading.Lock()
    for h in list(live_handlers):
        try:
            h.after_fork_child()
        except Exception as e:
            sys.stderr.write(f"hftlogging: could not reset {h!r} after fork: {e!r}\n")


def _mark_this_process_dead() -> None:
    """Remove this process's live-gauge files from the multiprocess directory."""
    path = os.environ.get(MULTIPROC_ENV)
    if path and os.path.isdir(path):
        try:
            mark_process_dead(os.getpid(), path)  # type: ignore[no-untyped-call]
        except OSError as e:
            sys.stderr.write(f"hftlogging: could not clean up {path}: {e}\n")


def install_exit_hook() -> None:
    """At a clean exit, clean up this process's live-gauge files (multiprocess mode).

    A child of ``multiprocessing`` made by fork leaves through ``os._exit``, skipping
    ``atexit``: multiprocessing's own finalizers do it there, after the queues drained.
    """
    with _Hooks.lock:
        if _Hooks.exit:
            return
        atexit.register(_mark_this_process_dead)
        _Hooks.exit = True
    multiprocessing.util.register_after_fork(_mp_hook, _in_multiprocessing_child)


def _in_multiprocessing_child(_hook: object) -> None:
    # Lower priority than the queue drain (100): the drained records update first.
    multiprocessing.util.Finalize(_mp_hook, _mark_this_process_dead, exitpriority=10)


