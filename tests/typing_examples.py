"""The public API, typed: ``mypy --strict`` must accept these calls as users write them.

Checked by tests/test_typing.py, with every README and docs example.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import hftlogging
from hftlogging import BoundLogger, HFTLogger, LoggingTimer
from hftlogging.console import ConsoleFormatter
from hftlogging.exceptions import HftLoggingError
from hftlogging.filters import LogTypeFilter, RedactFilter
from hftlogging.formatters import ContextFormatter, JSONFormatter
from hftlogging.testing import CaptureHandler, capture


def examples() -> None:
    """Every call of the design's public API, with the types a user relies on."""
    hftlogging.install()
    log: HFTLogger = hftlogging.get_logger("arbitrage.engine")
    ws: HFTLogger = hftlogging.get_exchange_logger("mexc", "ws.public")
    strategy: HFTLogger = hftlogging.get_strategy_logger(
        "ws.connection.mexc.private", ["mexc", "private", "ws", "connection"],
    )
    stdlib_view: logging.Logger = log  # an HFTLogger is a logging.Logger

    log.info("Connection established", exchange="mexc", latency_us=12.5)
    log.info("order %s filled", "o-1")
    log.warning("slow", exc_info=False, stacklevel=1, extra={"request_id": "r-1"})
    log.metric("active_symbols", 42, tags={"exchange": "mexc"})
    log.counter("orders_placed", exchange="mexc")
    log.histogram("spread_bps", 3.2, symbol="BTCUSDT")
    log.latency("parse_message", 0.012, message_type="book")

    with log.timer("order_placement", symbol="BTCUSDT") as t:
        pass
    elapsed_us: float = t.elapsed_us
    elapsed_ms: float = t.elapsed_ms
    elapsed_ns: int = t.elapsed_ns
    with hftlogging.LoggingTimer(log, "rest_request") as t2:
        pass
    timer: LoggingTimer = t2

    @log.timer("parse")
    def parse(raw: bytes) -> int:
        return len(raw)

    parsed: int = parse(b"{}")

    @log.timer("fetch")
    async def fetch(symbol: str) -> str:
        return symbol

    fetched: str = asyncio.run(fetch("BTCUSDT"))

    log.audit("order_placed", {"order_id": "o-1"})
    log.audit("order_placed", order_id="o-1")
    bound: BoundLogger = log.with_context(correlation_id="c-1")
    bound.info("step")
    bound.counter("steps")
    log.set_context(component="parser")
    with hftlogging.context(correlation_id="c-1"):
        ws.info("subscribed")
    strategy.info("connected")

    handler = CaptureHandler()
    handler.setFormatter(ContextFormatter())
    with capture(log) as records:
        log.info("captured", order_id=7)
    first: logging.LogRecord = records[0]
    counters: dict[str, Any] = hftlogging.stats()

    oid = "o-1"
    perf = hftlogging.PerformanceLogger(log)
    with perf.time_operation("arbitrage_execution", exchange="mexc") as op:
        pass
    op_us: float = op.elapsed_us
    perf.log_trade_execution(oid, 0.42, exchange="mexc", symbol="BTCUSDT")
    hftlogging.PerformanceLogger(bound).log_trade_execution(oid, 0.5)
    flushed: bool = log.flush(timeout=5.0)
    bound_flushed: bool = bound.flush()
    check = hftlogging.check_performance()
    ok: bool = check.ok
    p99: float | None = check.p99_us
    reasons: tuple[str, ...] = check.reasons
    json_handler = logging.StreamHandler()
    json_handler.setFormatter(JSONFormatter(serializer="json", schema="ecs",
                                            static_fields={"service": "mm"}))
    json_handler.addFilter(LogTypeFilter(types=["text", "audit"]))
    json_handler.addFilter(RedactFilter(extra_keys=["session"], match="exact"))
    json_handler.setFormatter(ConsoleFormatter(color="auto", stream="stderr"))
    redacted: dict[str, object] = RedactFilter().redact({"api_key": "k"})
    some: list[logging.LogRecord] = handler[0:1]
    try:
        JSONFormatter(serializer="ujson")  # type: ignore[arg-type]
    except HftLoggingError as e:
        failure: str = str(e)
    hftlogging.shutdown()
    del json_handler, redacted, some, failure
    del stdlib_view, elapsed_us, elapsed_ms, elapsed_ns, timer, parsed, fetched, first, counters
    del op_us, flushed, bound_flushed, ok, p99, reasons
