"""Handlers: the queue, rotating component files, the JSON audit trail, Prometheus, the
backtrace ring.

``PrometheusHandler`` is imported on first use, so ``prometheus_client`` stays out of
``import hftlogging``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hftlogging.exceptions import HftLoggingError, describe
from hftlogging.handlers.queue import QueueHandler, QueueListener

if TYPE_CHECKING:
    from hftlogging.handlers.audit import JSONAuditHandler
    from hftlogging.handlers.backtrace import BacktraceHandler
    from hftlogging.handlers.otlp import OTLPHandler
    from hftlogging.handlers.prometheus import PrometheusHandler
    from hftlogging.handlers.rotating import ComponentRotatingFileHandler
    from hftlogging.handlers.syslog import SyslogHandler

__all__ = [
    "BacktraceHandler",
    "ComponentRotatingFileHandler",
    "JSONAuditHandler",
    "OTLPHandler",
    "PrometheusHandler",
    "QueueHandler",
    "QueueListener",
    "SyslogHandler",
]

_LAZY = {
    "BacktraceHandler": "hftlogging.handlers.backtrace",
    "ComponentRotatingFileHandler": "hftlogging.handlers.rotating",
    "JSONAuditHandler": "hftlogging.handlers.audit",
    "OTLPHandler": "hftlogging.handlers.otlp",
    "PrometheusHandler": "hftlogging.handlers.prometheus",
    "SyslogHandler": "hftlogging.handlers.syslog",
}


class UnknownHandlerError(HftLoggingError, AttributeError):
    """``hftlogging.handlers`` has no handler of that name (an ``AttributeError``)."""


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        msg = describe("hftlogging.handlers", f"one of {', '.join(sorted(_LAZY))}", name,
                       "check the spelling of the handler class")
        raise UnknownHandlerError(msg)
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
