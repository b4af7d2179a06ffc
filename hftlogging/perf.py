"""PerformanceLogger: the timing and trade-execution helpers migrating code calls.

Teams coming from a home-made HFT logger wrap their logger in a ``PerformanceLogger`` and
call ``time_operation`` around a hot section and ``log_trade_execution`` after an order
is filled. Both are thin: the duration is a latency histogram (as ``log.timer``), the
execution an audit event plus a latency metric.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Union

from hftlogging.capture import TagValue
from hftlogging.installation import install

if TYPE_CHECKING:
    from hftlogging.logger import BoundLogger, HFTLogger
    from hftlogging.timer import LoggingTimer

__all__ = ["PerformanceLogger"]

_Logger = Union["HFTLogger", "BoundLogger", logging.Logger]

#: Name of the latency metric :meth:`PerformanceLogger.log_trade_execution` records.
TRADE_LATENCY_METRIC = "trade_execution_latency"


class PerformanceLogger:
    """Time operations and record trade executions through a logger.

    Args:
        logger: an :class:`~hftlogging.HFTLogger`, a bound view of one, or a
            ``logging.getLogger()`` logger (converted in place, as
            :func:`hftlogging.get_logger` does).

    Example::

        perf = hftlogging.PerformanceLogger(log)
        with perf.time_operation("arbitrage_execution", exchange="mexc"):
            execute()
        perf.log_trade_execution("o-1", 0.42, exchange="mexc", symbol="BTCUSDT")
    """

    __slots__ = ("logger",)

    def __init__(self, logger: _Logger) -> None:
        if type(logger) is logging.Logger:
            install()
        self.logger: HFTLogger | BoundLogger = logger  # type: ignore[assignment]

    def time_operation(self, operation: str, **tags: TagValue) -> LoggingTimer:
        """Time a block: ``with perf.time_operation("parse_orderbook"): ...``.

        The duration is recorded in milliseconds as a histogram named ``operation`` with
        ``tags`` (exported by the Prometheus handler as ``<operation>_duration_seconds``),
        whether the block returns or raises; an exception is also logged with its
        traceback and propagates. Works with ``with`` and ``async with``, and as a
        decorator of plain and ``async`` functions.

        Args:
            operation: the operation's name, a valid metric name.
            **tags: the histogram's labels.

        Returns:
            A :class:`~hftlogging.LoggingTimer`; its ``elapsed_us`` reads the duration.
        """
        return self.logger.timer(operation, **tags)

    def log_trade_execution(self, order_id: str, latency_ms: float, **context: object) -> None:
        """Record one trade execution: an audit event and a latency metric.

        Writes the audit event ``trade_executed`` with ``order_id``, ``latency_ms`` and
        every ``context`` field, then observes ``latency_ms`` in the histogram
        ``trade_execution_latency`` (milliseconds) labelled with ``exchange`` and
        ``symbol`` from ``context`` (an absent one is an empty label value).

        Args:
            order_id: the executed order's id.
            latency_ms: how long the execution took, in milliseconds.
            **context: further audit fields (``exchange``, ``symbol``, ``side``, ...).
        """
        log = self.logger
        log.audit("trade_executed", order_id=order_id, latency_ms=latency_ms, **context)
        log.latency(
            TRADE_LATENCY_METRIC, latency_ms,
            exchange=_label(context.get("exchange")), symbol=_label(context.get("symbol")),
        )

    def __repr__(self) -> str:
        return f"<PerformanceLogger {getattr(self.logger, 'name', self.logger)!r}>"


def _label(value: object) -> str:
    """A label value: ``""`` for None (Prometheus' absent label), else the text."""
    if value is None:
        return ""
    return value if type(value) is str else str(value)
