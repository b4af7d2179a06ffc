"""install() and uninstall(): make every logger an HFTLogger, and restore the class."""

from __future__ import annotations

import logging
import threading
from typing import Any

from hftlogging import internals
from hftlogging import strict as _strict
from hftlogging.logger import HFTLogger, HFTRootLogger
from hftlogging.plans import check_cache_clearing, install_disable_hook, invalidate_plans, watched
from hftlogging.timer import set_plain_logger_adopter

__all__ = ["adopt", "install", "installed", "uninstall"]



# --- install ----------------------------------------------------------------------------------

_install_lock = threading.RLock()
_installed = False
_previous_class: type[logging.Logger] | None = None


def _convert(logger: logging.Logger, cls: type[HFTLogger]) -> None:
    d = logger.__dict__
    handlers = d.pop("handlers", [])
    filters = d.pop("filters", [])
    propagate = d.pop("propagate", True)
    disabled = d.pop("disabled", False)
    logger.__class__ = cls
    d["_hft_handlers"] = watched(handlers, logger)
    d["_hft_filters"] = watched(filters, logger)
    d["_hft_propagate"] = propagate
    d["_hft_disabled"] = disabled
    if type(d.get("_cache")) is not dict:
        d["_cache"] = {}
    d.setdefault("_own_context", {})
    d.setdefault("_tags", [])
    logger._merge_context()  # type: ignore[attr-defined]


_warned_disable_hook = False


def _warn_disable_hook(manager: Any) -> None:
    global _warned_disable_hook
    _warned_disable_hook = True
    import warnings

    warnings.warn(
        f"hftlogging: {type(manager).__name__} has no 'disable' property to hook: "
        "logging.disable() reaches the cached plans only through stdlib clearing its "
        "level caches, and assigning manager.disable directly is not seen until the "
        "next configuration change",
        RuntimeWarning,
        stacklevel=3,
    )


def install() -> None:
    """Make every logger an :class:`HFTLogger`: the root, existing ones and future ones.

    Idempotent. Loggers of a user-defined Logger subclass are left as they are.
    ``$HFTLOGGING_STRICT``, when set, turns strict mode on or off (:mod:`hftlogging.strict`).

    Raises:
        ConfigError: ``$HFTLOGGING_STRICT`` has a value that is neither true nor false.
        hftlogging.internals.InternalsChanged: a private part of stdlib logging that
            hftlogging relies on behaves otherwise on this Python (docs/internals.md).
    """
    global _installed, _previous_class
    # The private stdlib state used below and on the caller's path: a change fails here,
    # before anything is touched (or the public path is taken, with a warning).
    internals.check()
    strict = _strict.from_environment()
    if strict is not None:
        _strict.set_strict(strict)
    with _install_lock, logging._lock:  # type: ignore[attr-defined]
        if not _installed:
            current = logging.getLoggerClass()
            _previous_class = current if not issubclass(current, HFTLogger) else logging.Logger
        logging.setLoggerClass(HFTLogger)
        manager = logging.Logger.manager
        if manager.loggerClass is not None and not issubclass(manager.loggerClass, HFTLogger):
            manager.loggerClass = None
        root = logging.root
        if type(root) is logging.RootLogger:
            _convert(root, HFTRootLogger)
        for lg in list(manager.loggerDict.values()):
            if type(lg) is logging.Logger:
                _convert(lg, HFTLogger)
        # Assigning manager.disable directly forgets the plans too (stdlib's cached
        # answers would otherwise outlive it).
        check_cache_clearing()
        if not install_disable_hook(manager) and not _warned_disable_hook:
            _warn_disable_hook(manager)
        _installed = True
    invalidate_plans()


def uninstall() -> None:
    """Restore the stdlib logger class for loggers created from now on.

    Existing loggers stay HFTLoggers (they remain ordinary ``logging.Logger`` objects).
    """
    global _installed
    with _install_lock:
        if _installed:
            logging.setLoggerClass(_previous_class or logging.Logger)
            _installed = False


def installed() -> bool:
    """Tell whether :func:`install` is in effect."""
    return _installed


def adopt(logger: logging.Logger) -> None:
    """Make this one plain ``logging.Logger`` an :class:`HFTLogger`, in place.

    The other loggers and the logger class stay as they are (a timer given a logger from
    before :func:`install` uses this).

    Raises:
        hftlogging.internals.InternalsChanged: as :func:`install`.
    """
    internals.check()
    with _install_lock, logging._lock:  # type: ignore[attr-defined]
        if type(logger) is logging.Logger:
            _convert(logger, HFTLogger)
    invalidate_plans()


set_plain_logger_adopter(adopt)
