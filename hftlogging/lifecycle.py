"""Lifecycle of the queue handlers: exit, SIGTERM, fork and shutdown.

Nothing here runs at import. The hooks are installed the first time a queue handler
starts:

- ``atexit``: drain every queue before the interpreter exits (runs before stdlib
  logging's own ``logging.shutdown``, which was registered earlier).
- SIGTERM: when the application has not installed a handler of its own, drain the queues,
  then end the process by SIGTERM as the default action would (``drain_on_sigterm=False``
  on the queue handler turns this off).
- ``fork()``: the parent holds each listener's dispatch lock across the fork, so no batch
  is half-written; the child forgets the parent's queued records (the parent writes them)
  and restarts its listeners on first use. A child made by :mod:`multiprocessing` leaves
  through ``os._exit``, so its queues are drained by a multiprocessing finalizer.
- Signals: hftlogging's threads start with the process-control signals blocked
  (:func:`starting_thread`), so the kernel never hands SIGINT, SIGTERM and the like to
  them; a main thread blocked in ``sleep()`` is woken by its own signals.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import signal
import sys
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from hftlogging.notices import warn_once

if TYPE_CHECKING:
    from hftlogging.handlers.queue import QueueHandler

__all__ = [
    "CONTROL_SIGNALS", "abandoned", "active_queue_handlers", "add_after_fork_child",
    "close_handlers", "close_timeouts",
    "flush_all",
    "logging_lock_released", "register", "shutdown", "signals_blocked", "starting_thread",
]

# Signals an application uses to control the process: delivered to any thread that does
# not block them, but acted on only by the main thread, whose blocking call a signal taken
# by another thread does not interrupt.
CONTROL_SIGNALS = frozenset(
    getattr(signal, name)
    for name in ("SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2", "SIGALRM",
                 "SIGCHLD", "SIGWINCH")
    if hasattr(signal, name)
)


@contextlib.contextmanager
def signals_blocked() -> Iterator[None]:
    """Block :data:`CONTROL_SIGNALS` on this thread for the block.

    A thread started inside inherits the mask: start every hftlogging thread this way.
    A signal that arrives meanwhile stays pending and is delivered when the block ends.
    """
    mask = getattr(signal, "pthread_sigmask", None)
    if mask is None:  # pragma: no cover - Windows has no signal masks
        yield
        return
    previous = mask(signal.SIG_BLOCK, CONTROL_SIGNALS)
    try:
        yield
    finally:
        mask(signal.SIG_SETMASK, previous)


@contextlib.contextmanager
def logging_lock_released() -> Iterator[None]:
    """Release stdlib logging's module lock for the block, if this thread holds it.

    ``dictConfig`` and ``logging.shutdown`` close handlers with that lock held; the
    listener thread may need it (a garbage handler's weakref callback takes it) before it
    can finish. Waiting with the lock held would deadlock, so it is released for the wait
    and restored after, as :class:`threading.Condition` does with its lock.
    """
    lock = logging._lock  # type: ignore[attr-defined]
    is_owned = getattr(lock, "_is_owned", None)
    if is_owned is None or not is_owned():
        yield
        return
    state = lock._release_save()
    try:
        yield
    finally:
        lock._acquire_restore(state)


@contextlib.contextmanager
def starting_thread() -> Iterator[None]:
    """Where every hftlogging thread is started (or a library call that starts one).

    With logging's lock released (the new thread may need it before ``start()`` returns:
    dictConfig holds it while it builds handlers) and :data:`CONTROL_SIGNALS` blocked,
    which the thread inherits.
    """
    with logging_lock_released(), signals_blocked():
        yield


_handlers: weakref.WeakSet[QueueHandler] = weakref.WeakSet()
# What each module resets in a forked child, registered by the module itself (this module
# imports nothing above it): before the queue handlers are reset, and after them.
_child_resets: list[Callable[[], None]] = []
_child_finals: list[Callable[[], None]] = []
_lock = threading.RLock()
_hooks_installed = False
_sigterm_installed = False
_shutting_down = False


def add_after_fork_child(reset: Callable[[], None], *, after_handlers: bool = False) -> None:
    """Have a forked child call ``reset()``: before its queue handlers are reset, or after.

    Modules holding process state (locks, cached process ids, cached plans) register
    their own reset here when they are imported.
    """
    hooks = _child_finals if after_handlers else _child_resets
    if reset not in hooks:
        hooks.append(reset)


def register(handler: QueueHandler) -> None:
    """Track a started queue handler (weakly) and install the process hooks once."""
    with _lock:
        _handlers.add(handler)
        _install_hooks()
        if handler.drain_on_sigterm:
            _install_sigterm()
        _start_watchdog()


# --- watchdog: a handler that hangs must not stall the handlers beside it ---------------------

WATCHDOG_INTERVAL_S = 0.25
_watchdog: threading.Thread | None = None
_watchdog_stop = threading.Event()


def _start_watchdog() -> None:
    global _watchdog
    if _watchdog is not None and _watchdog.is_alive():
        return
    _watchdog_stop.clear()
    _watchdog = threading.Thread(target=_watch, name="hftlogging-watchdog", daemon=True)
    with starting_thread():
        _watchdog.start()


def _watch() -> None:
    import time

    while not _watchdog_stop.wait(WATCHDOG_INTERVAL_S):
        now = time.monotonic()
        for h in active_queue_handlers():
            listener = h.listener
            if listener is not None and listener.running:
                try:
                    listener.check_hung(now)
                except Exception as e:  # the watchdog must outlive anything it watches
                    sys.stderr.write(f"hftlogging: watchdog error: {e!r}\n")


def _stop_watchdog() -> None:
    global _watchdog
    t = _watchdog
    if t is None:
        return
    _watchdog_stop.set()
    if t is not threading.current_thread():
        t.join(5)
    _watchdog = None


def active_queue_handlers() -> list[QueueHandler]:
    """Every queue handler started in this process that is still alive."""
    with _lock:
        return list(_handlers)


def shutdown(timeout: float | None = None) -> None:
    """Drain every queue and stop every listener thread.

    Records logged after this are written synchronously on the caller's thread. Safe to
    call more than once; also called at exit.
    """
    global _shutting_down
    with _lock:
        handlers = list(_handlers)
        _shutting_down = True
    try:
        for h in handlers:
            try:
                h.stop(timeout)
            except Exception as e:  # one broken handler must not stop the others draining
                sys.stderr.write(f"hftlogging: error while draining {h!r}: {e!r}\n")
    finally:
        _shutting_down = False
        _stop_watchdog()


def stop_handlers(handlers: list[QueueHandler]) -> None:
    """Drain and stop the given queue handlers (used when reconfiguring)."""
    for h in handlers:
        try:
            h.stop()
        except Exception as e:
            sys.stderr.write(f"hftlogging: error while draining {h!r}: {e!r}\n")


# --- closing the handlers behind the queues, in bounded time -----------------------------------

_close_timeouts = [0]
_abandoned: weakref.WeakSet[logging.Handler] = weakref.WeakSet()


def abandoned(handler: Any) -> bool:
    """Whether ``handler``'s close() did not return in time (logging must not wait on it)."""
    try:
        return handler in _abandoned
    except TypeError:  # not weakly referenceable: never abandoned
        return False


def close_timeouts() -> int:
    """Handlers whose ``flush()``/``close()`` did not return within the deadline."""
    return _close_timeouts[0]


def close_handlers(handlers: list[logging.Handler], timeout: float) -> None:
    """Flush and close ``handlers`` (in order) on a helper thread, each within ``timeout``.

    Used before dictConfig and stdlib's ``logging.shutdown`` close them (with logging's
    lock held and no deadline): a handler whose close never returns is abandoned instead
    — counted (:func:`close_timeouts`), reported on stderr and taken off logging's list
    of handlers to close, so neither ``configure()`` nor the exit waits on it.
    """
    remaining = [h for h in handlers if not abandoned(h)]  # never waited on twice
    while remaining:
        progress = [0]
        batch = remaining
        finished = threading.Event()

        def run(batch: list[logging.Handler] = batch, progress: list[int] = progress,
                finished: threading.Event = finished) -> None:
            for h in batch:
                try:
                    h.flush()
                    h.close()
                except Exception as e:
                    sys.stderr.write(f"hftlogging: error while closing {h!r}: {e!r}\n")
                progress[0] += 1
            finished.set()

        if not _run_helper(run):
            _close_on_main_thread(batch, timeout)
            return
        deadline = time.monotonic() + timeout
        done = 0
        while True:
            if finished.wait(max(0.0, deadline - time.monotonic())):
                return
            if progress[0] == done:
                break
            done = progress[0]  # the thread moved on to the next handler: a new deadline
            deadline = time.monotonic() + timeout
        _abandon(batch[progress[0]], timeout)
        # Thread and handler are abandoned to their close; the rest get a new thread.
        remaining = batch[progress[0] + 1:]


def _run_helper(job: Any) -> bool:
    """Run ``job`` on a new daemon thread; False at interpreter shutdown (3.12+ refuses
    new threads in atexit callbacks)."""
    t = threading.Thread(target=job, name="hftlogging-close", daemon=True)
    try:
        with starting_thread():
            t.start()
    except RuntimeError:
        return False
    return True


class _CloseTimedOut(BaseException):
    """Raised into a close() that has not returned in time (main thread, at exit)."""


def _close_on_main_thread(handlers: list[logging.Handler], timeout: float) -> None:
    """Close ``handlers`` here, each interrupted by SIGALRM after ``timeout``.

    At exit on Python 3.12+, where no helper thread can be started: the main thread closes
    them, and a close that does not return is interrupted by a timer signal (Python runs
    the signal handler between bytecodes and in interrupted system calls).
    """
    can_alarm = (hasattr(signal, "setitimer")
                 and threading.current_thread() is threading.main_thread())
    if not can_alarm:
        return  # stdlib's logging.shutdown closes them, as it always has

    def on_alarm(signum: int, frame: Any) -> None:
        raise _CloseTimedOut

    previous = signal.signal(signal.SIGALRM, on_alarm)
    try:
        for h in handlers:
            try:
                signal.setitimer(signal.ITIMER_REAL, timeout)
                h.flush()
                h.close()
            except _CloseTimedOut:
                _abandon(h, timeout)
            except Exception as e:
                sys.stderr.write(f"hftlogging: error while closing {h!r}: {e!r}\n")
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
    finally:
        signal.signal(signal.SIGALRM, previous)


def _abandon(stuck: logging.Handler, timeout: float) -> None:
    _close_timeouts[0] += 1
    _abandoned.add(stuck)
    with logging._lock:  # type: ignore[attr-defined]
        refs = logging._handlerList  # type: ignore[attr-defined]
        refs[:] = [r for r in refs if r() is not stuck]
    try:  # last: a closed stderr (the parent gone) must not undo the above
        sys.stderr.write(
            f"hftlogging: handler {stuck.get_name() or stuck!r}: close() did not return "
            f"within {timeout:g}s; abandoned (logging will not wait on it at exit)\n"
        )
    except Exception:
        pass


def close_queue_targets(queues: list[QueueHandler]) -> None:
    """Close the handlers behind ``queues`` (stopped already) within their deadlines."""
    for q in queues:
        listener = q.listener
        if listener is None:
            continue
        close_handlers(list(listener.handlers), listener.stop_timeout_s)


# --- hooks ------------------------------------------------------------------------------------


def _install_hooks() -> None:
    global _hooks_installed
    if _hooks_installed:
        return
    atexit.register(_at_exit)
    if hasattr(os, "register_at_fork"):
        os.register_at_fork(
            before=_before_fork,
            after_in_parent=_after_fork_parent,
            after_in_child=_after_fork_child,
        )
    _hooks_installed = True


def _at_exit() -> None:
    handlers = active_queue_handlers()
    shutdown()
    # Before stdlib's logging.shutdown, which would wait forever on a close that hangs.
    close_queue_targets(handlers)


_held_for_fork: list[Any] = []


def _before_fork() -> None:
    _register_multiprocessing_hook()
    _lock.acquire()
    for h in list(_handlers):
        listener = h.listener
        if listener is not None and listener.running:
            listener.before_fork()
            _held_for_fork.append(listener)


def _after_fork_parent() -> None:
    while _held_for_fork:
        _held_for_fork.pop().after_fork_parent()
    _lock.release()


def _after_fork_child() -> None:
    global _lock, _watchdog, _watchdog_stop
    _held_for_fork.clear()
    _lock = threading.RLock()
    _watchdog = None  # threads do not survive fork; started again with the listener
    _watchdog_stop = threading.Event()
    for reset in list(_child_resets):
        reset()
    for h in list(_handlers):
        try:
            h.after_fork()
        except Exception as e:
            sys.stderr.write(f"hftlogging: could not reset {h!r} after fork: {e!r}\n")
    for reset in list(_child_finals):
        reset()


class _MultiprocessingHook:
    """Registered with multiprocessing's after-fork hooks (they hold it weakly)."""


_mp_hook = _MultiprocessingHook()
_mp_hook_registered = False


def _register_multiprocessing_hook() -> None:
    """A multiprocessing child exits with ``os._exit``, skipping ``atexit``.

    multiprocessing clears its finalizers at the start of a child and then runs its
    after-fork hooks: from there, register a finalizer that drains the child's queues.
    ``multiprocessing.util.register_after_fork`` and ``Finalize`` are undocumented (stable
    since Python 2.6); ``os.register_at_fork`` runs before multiprocessing clears its
    finalizers, so it cannot stand in. Without them a one-time warning says that records
    queued in a forked multiprocessing child at its exit may be lost.
    """
    global _mp_hook_registered
    if _mp_hook_registered:
        return
    mp_util = sys.modules.get("multiprocessing.util")
    if mp_util is None:
        return
    register = getattr(mp_util, "register_after_fork", None)
    if not callable(register) or not callable(getattr(mp_util, "Finalize", None)):
        warn_once(
            "register_after_fork",
            "multiprocessing.util.register_after_fork/Finalize are missing on this Python: "
            "records still queued when a forked multiprocessing child exits may be lost "
            "(call hftlogging.shutdown() at the end of the child's target)",
        )
        _mp_hook_registered = True
        return
    register(_mp_hook, _in_multiprocessing_child)
    _mp_hook_registered = True


def _in_multiprocessing_child(_hook: object) -> None:
    # multiprocessing swallows an exception from an after-fork hook (it only logs it to
    # its own logger, silent by default): say it on stderr instead.
    try:
        mp_util = sys.modules.get("multiprocessing.util")
        if mp_util is not None:
            mp_util.Finalize(_mp_hook, shutdown, exitpriority=100)
    except Exception as e:
        sys.stderr.write(
            f"hftlogging: could not register the exit drain in this multiprocessing child "
            f"({e!r}); call hftlogging.shutdown() before the child ends\n"
        )


# --- SIGTERM ----------------------------------------------------------------------------------


def _install_sigterm() -> None:
    global _sigterm_installed
    if _sigterm_installed or not hasattr(signal, "SIGTERM"):
        return
    if threading.current_thread() is not threading.main_thread():
        return
    try:
        if signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
            return  # the application handles SIGTERM itself
        signal.signal(signal.SIGTERM, _on_sigterm)
    except (ValueError, OSError):  # not the main interpreter, or signals unavailable
        return
    _sigterm_installed = True


def _on_sigterm(signum: int, frame: Any) -> None:
    global _sigterm_installed
    try:
        shutdown()
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        _sigterm_installed = False
        os.kill(os.getpid(), signal.SIGTERM)


def flush_all(timeout: float | None = None, logger: logging.Logger | None = None) -> bool:
    """Wait until every record logged before the call is written, and flush the handlers.

    Every running hftlogging queue of the process writes the records queued ahead of the
    call and flushes the handlers behind it; then the handlers ``logger`` reaches directly
    (without a queue) are flushed too.

    Blocking: from asyncio, run it in a thread, ``await asyncio.to_thread(log.flush)``.
    Called on a listener thread (from inside a handler) it cannot wait for the queue that
    thread drains: it returns False at once instead of deadlocking.

    Args:
        timeout: seconds to wait at most, for all queues together; None waits as long as
            it takes.
        logger: whose direct handlers to flush as well.

    Returns:
        True when everything was written and flushed in time; False otherwise (the
        deadline passed, a handler is bypassed or failed to flush). Never raises.
    """
    deadline = None if timeout is None else time.monotonic() + timeout
    ok = True
    queues = active_queue_handlers()
    for q in queues:
        left = None if deadline is None else max(0.0, deadline - time.monotonic())
        ok = q.flush(left) and ok
    c: logging.Logger | None = logger
    while c is not None:
        for h in list(c.handlers):
            if h in queues:
                continue
            try:
                h.flush()
            except Exception:
                ok = False
        c = c.parent if c.propagate else None
    return ok
