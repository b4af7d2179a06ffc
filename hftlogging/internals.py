"""The private parts of CPython's ``logging`` and ``threading`` that hftlogging relies on.

Each is checked when hftlogging is installed (:func:`hftlogging.install`, which
``configure()`` calls): a change that would make hftlogging wrong either fails there,
loudly, naming what changed (:class:`InternalsChanged`), or switches hftlogging to the
public stdlib path with a one-time :class:`RuntimeWarning`. Never a silently wrong result.
docs/internals.md lists each one: what it relies on, since which version, what a change does.
"""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Callable
from typing import Any

from hftlogging.exceptions import Found, StateError, describe
from hftlogging.notices import forget_warnings, warn_once

__all__ = ["InternalsChanged", "check", "on_factory_view", "record_factory_is_tracked", "warn_once"]


class InternalsChanged(StateError):
    """A private part of the stdlib that hftlogging relies on behaves otherwise on this Python.

    Raised by :func:`hftlogging.install` (and so by ``configure()``) before anything is
    changed, naming each part and the Python version.
    """


_checked = False


# --- checks that fail loudly ------------------------------------------------------------------


def _module_lock() -> str | None:
    """``logging._lock`` is an RLock with Condition's ``_release_save``/``_acquire_restore``:
    hftlogging releases it while a listener thread starts inside ``dictConfig``."""
    lock = getattr(logging, "_lock", None)
    if lock is None:
        return "logging._lock (the module lock) is missing"
    for name in ("_is_owned", "_release_save", "_acquire_restore", "acquire", "release"):
        if not callable(getattr(lock, name, None)):
            return f"logging._lock has no {name}()"
    with lock:
        if not lock._is_owned():
            return "logging._lock._is_owned() is False while the lock is held"
        state = lock._release_save()
        try:
            if lock._is_owned():
                return "logging._lock._release_save() does not release the lock"
        finally:
            lock._acquire_restore(state)
        if not lock._is_owned():
            return "logging._lock._acquire_restore() does not take the lock back"
    return None


def _handler_registry() -> str | None:
    """``logging._handlers`` (name -> handler) and ``logging._handlerList`` (weak
    references): configure() saves and restores them to roll back a failed dictConfig."""
    handlers = getattr(logging, "_handlers", None)
    handler_list = getattr(logging, "_handlerList", None)
    if handlers is None or handler_list is None:
        return "logging._handlers or logging._handlerList is missing"
    probe = logging.Handler()
    name = f"hftlogging-probe-{id(probe):x}"
    probe.set_name(name)
    try:
        if handlers.get(name) is not probe:
            return "a named handler is not registered in logging._handlers"
        if not isinstance(handler_list, list) or not any(
            callable(r) and r() is probe for r in handler_list
        ):
            return "a new handler is not in logging._handlerList as a weak reference"
    finally:
        probe.set_name(None)  # type: ignore[arg-type]
        handlers.pop(name, None)
        probe.close()
    return None


def _logger_registry() -> str | None:
    """``Logger.manager.loggerDict`` (name -> logger or placeholder): install() converts the
    existing loggers and configure() restores them on rollback."""
    manager = logging.Logger.manager
    logger_dict = getattr(manager, "loggerDict", None)
    if not isinstance(logger_dict, dict):
        return "logging.Logger.manager.loggerDict is not a dict"
    name = "hftlogging-internals-probe"  # no dot: no placeholder parents are made
    existed = name in logger_dict
    try:
        if logger_dict.get(name, logging.getLogger(name)) is not logging.getLogger(name):
            return "logging.getLogger() does not register loggers in manager.loggerDict"
    finally:
        if not existed:
            logger_dict.pop(name, None)
    return None


def _level_tables() -> str | None:
    """``logging._levelToName``/``_nameToLevel`` (read on the caller's path for level
    names) and ``logging._checkLevel`` (the stdlib's level validation)."""
    to_name = getattr(logging, "_levelToName", None)
    to_level = getattr(logging, "_nameToLevel", None)
    if not isinstance(to_name, dict) or not isinstance(to_level, dict):
        return "logging._levelToName or logging._nameToLevel is not a dict"
    if to_name.get(logging.INFO) != "INFO" or to_level.get("INFO") != logging.INFO:
        return "logging._levelToName/_nameToLevel do not map INFO"
    check_level = getattr(logging, "_checkLevel", None)
    if not callable(check_level) or check_level("INFO") != logging.INFO:
        return "logging._checkLevel('INFO') does not give logging.INFO"
    return None


def _record_state() -> str | None:
    """``logging._srcfile`` (caller lookup on or off), ``logging._startTime`` (for
    ``relativeCreated``) and ``threading._active`` (thread names by id on the listener)."""
    if not hasattr(logging, "_srcfile"):
        return "logging._srcfile is missing"
    if not isinstance(getattr(logging, "_startTime", None), (int, float)):
        return "logging._startTime is not a number"
    active = getattr(threading, "_active", None)
    if not isinstance(active, dict) or active.get(threading.get_ident()) is not \
            threading.current_thread():
        return "threading._active does not map the current thread's id to it"
    if not callable(getattr(sys, "_getframe", None)):
        return "sys._getframe is missing"
    return None


def _context_formatter() -> str | None:
    """ContextFormatter rewrites its ``_style._fmt`` (and ``_tpl`` for ``$``) to place the
    context: the stdlib styles must format from those attributes."""
    from hftlogging.formatters import ContextFormatter

    for fmt, style in (("%(message)s %(context)s", "%"), ("{message} {context}", "{"),
                       ("$message $context", "$")):
        f = ContextFormatter(fmt, style=style)
        record = logging.LogRecord("probe", logging.INFO, __file__, 1, "m", (), None)
        record.context = {"probe": 1}
        if "probe=1" not in f.format(record):
            return f"ContextFormatter({fmt!r}) does not place the context: Formatter._style changed"
    return None


LOUD_CHECKS: tuple[Callable[[], str | None], ...] = (
    _module_lock, _handler_registry, _logger_registry, _level_tables, _record_state,
    _context_formatter,
)


# --- checks that fall back to the public path -------------------------------------------------


def record_factory_is_tracked() -> bool:
    """``logging._logRecordFactory`` is what ``setLogRecordFactory`` sets and
    ``getLogRecordFactory`` returns: the caller's path reads it as one attribute."""
    current = logging.getLogRecordFactory()
    if getattr(logging, "_logRecordFactory", None) is not current:
        return False

    def probe(*args: Any, **kwargs: Any) -> Any:  # pragma: no cover - never called
        return current(*args, **kwargs)

    logging.setLogRecordFactory(probe)
    try:
        return getattr(logging, "_logRecordFactory", None) is probe
    finally:
        logging.setLogRecordFactory(current)


class PublicFactoryView:
    """Stands for the ``logging`` module on the caller's path when the private factory
    attribute cannot be trusted: ``_logRecordFactory`` is read through the public getter."""

    @property
    def _logRecordFactory(self) -> Any:
        return logging.getLogRecordFactory()

    def __getattr__(self, name: str) -> Any:
        return getattr(logging, name)


# Who reads the record factory on the caller's path (the logger registers itself): told
# at check() whether to read stdlib's private slot or the public getter.
_factory_view_users: list[Callable[[Any], None]] = []


def on_factory_view(use: Callable[[Any], None]) -> None:
    """Have :func:`check` call ``use(view)``: ``logging`` itself, or a public-getter view."""
    if use not in _factory_view_users:
        _factory_view_users.append(use)


def check() -> None:
    """Check every private part once per process; raise or switch to the public path.

    Raises:
        InternalsChanged: a part hftlogging cannot do without behaves otherwise.
    """
    global _checked
    if _checked:
        return
    problems = []
    for c in LOUD_CHECKS:
        try:
            problem = c()
        except Exception as e:  # a part so changed that probing it fails
            problem = f"{(c.__doc__ or c.__name__).split(':')[0].strip()} fails: {e!r}"
        if problem:
            problems.append(problem)
    if problems:
        version = ".".join(map(str, sys.version_info[:3]))
        raise InternalsChanged(describe(
            f"hftlogging on Python {version} ({sys.implementation.name})",
            "the private parts of stdlib logging it relies on (docs/internals.md)",
            Found("; ".join(problems)),
            "use a Python listed in hftlogging's classifiers, or report this",
        ))
    view: Any = logging if record_factory_is_tracked() else PublicFactoryView()
    for use in list(_factory_view_users):
        use(view)
    if view is not logging:
        warn_once(
            "record_factory",
            "logging._logRecordFactory does not follow setLogRecordFactory() on this Python: "
            "the record factory is read with getLogRecordFactory() on every call (slower)",
        )
    _checked = True


def reset() -> None:
    """Check again at the next install (tests simulate a changed stdlib with this)."""
    global _checked
    _checked = False
    forget_warnings()
