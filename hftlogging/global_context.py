"""Global context: fields every record of every logger carries, lowest in precedence.

Two sources, merged: the ``global_context:`` mapping of the ``hftlogging:`` section of the
configuration last applied by :func:`hftlogging.configure`, and the fields given to
:func:`set_global_context` (these win over the configuration's).

Nothing is merged per call. Each logger keeps its :meth:`~hftlogging.HFTLogger.set_context`
fields already merged over the global fields, recomputed when either changes, so a log
call costs the same with or without global context. Records of loggers that are not
HFTLoggers get the fields when they pass through an hftlogging queue.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from hftlogging.contexts import global_fields, replace_global_fields
from hftlogging.logger import HFTLogger

__all__ = [
    "clear_global_context", "global_context", "set_configured", "set_global_context",
    "set_global_fields",
]

_lock = threading.Lock()
_from_code: dict[str, Any] = {}
_from_config: dict[str, Any] = {}


def set_global_context(**fields: object) -> None:
    """Add ``fields`` to every record of every logger, from now on.

    Lowest in precedence: a logger's ``set_context``, ``hftlogging.context()``,
    ``extra=``, ``with_context()`` and call keywords all win over a global field of the
    same name. Calls add to (and may override) the fields of earlier calls and those of
    the configuration's ``global_context:``.

    Example::

        hftlogging.set_global_context(service="hft-arbitrage", version="1.0.0")
    """
    global _from_code
    with _lock:
        _from_code = {**_from_code, **fields}
        _publish()


def clear_global_context() -> None:
    """Remove the fields given to :func:`set_global_context` (the configuration's stay)."""
    global _from_code
    with _lock:
        _from_code = {}
        _publish()


def global_context() -> dict[str, Any]:
    """Return a copy of the global fields in effect (configuration's and code's, merged)."""
    return dict(global_fields())


def set_configured(fields: dict[str, Any]) -> None:
    """Replace the fields that come from the configuration (called by ``configure``)."""
    global _from_config
    with _lock:
        _from_config = dict(fields)
        _publish()


def _publish() -> None:
    merged = {**_from_config, **_from_code}
    set_global_fields(merged)


def set_global_fields(fields: dict[str, Any]) -> None:
    """Make ``fields`` the global fields and re-merge every logger's context over them.

    Each HFTLogger keeps its own fields (``_own_context``) and the merge of both
    (``_context``, what a call captures), so merging happens here, once, not per call.
    """
    with logging._lock:  # type: ignore[attr-defined]
        replace_global_fields(fields)
        loggers = [logging.root, *logging.Logger.manager.loggerDict.values()]
        for lg in loggers:
            if isinstance(lg, HFTLogger):
                lg._merge_context()
