"""PerformanceLogger: time_operation (a latency histogram), log_trade_execution (audit, metric)."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

import hftlogging
from hftlogging.testing import CaptureHandler


def _configure(logger_name: str, **handlers: Any) -> None:
    specs: dict[str, Any] = dict(handlers)
    specs["queue"] = {"class": "hftlogging.handlers.QueueHandler", "handlers": list(handlers)}
    hftlogging.configure({
        "version": 1,
        "disable_existing_loggers": False,
        "handlers": specs,
        "loggers": {logger_name: {"level": "DEBUG", "handlers": ["queue"], "propagate": False}},
    })


def _capture(logger_name: str) -> CaptureHandler:
    cap = CaptureHandler()
    _configure(logger_name, cap={"()": lambda: cap})
    return cap


def test_time_operation_records_the_block_duration_as_a_latency_histogram(
    logger_name: str,
) -> None:
    """The histogram's value is the block's duration in ms, with the operation and tags."""
    cap = _capture(logger_name)
    perf = hftlogging.PerformanceLogger(hftlogging.get_logger(logger_name))
    start = time.perf_counter()
    with perf.time_operation("arbitrage_execution", exchange="mexc") as t:
        threading.Event().wait(0.02)  # the work being timed
    outside_ms = (time.perf_counter() - start) * 1000
    assert hftlogging.get_logger(logger_name).flush()
    (rec,) = cap.of_type("metric")
    d = rec.__dict__
    assert d["metric_name"] == "arbitrage_execution"
    assert d["metric_type"] == "histogram"
    assert d["metric_unit"] == "ms"
    assert d["metric_tags"] == {"exchange": "mexc"}
    assert 20 <= d["metric_value"] <= outside_ms
    assert d["metric_value"] == pytest.approx(t.elapsed_ms)


def test_time_operation_works_around_async_code_and_as_a_decorator(logger_name: str) -> None:
    """async with, and a decorated coroutine function, each record one histogram."""
    cap = _capture(logger_name)
    perf = hftlogging.PerformanceLogger(hftlogging.get_logger(logger_name))

    @perf.time_operation("decorated")
    async def step() -> int:
        await asyncio.sleep(0)
        return 7

    async def main() -> int:
        async with perf.time_operation(operation="parse_orderbook", symbol="BTCUSDT"):
            await asyncio.sleep(0.01)
        return await step()

    assert asyncio.run(main()) == 7
    assert hftlogging.get_logger(logger_name).flush()
    names = [r.__dict__["metric_name"] for r in cap.of_type("metric")]
    assert names == ["parse_orderbook", "decorated"]
    assert cap.of_type("metric")[0].__dict__["metric_value"] >= 10


def test_time_operation_records_and_reports_a_block_that_raises(logger_name: str) -> None:
    """A raising block still records its duration, logs the error, and the error propagates."""
    cap = _capture(logger_name)
    perf = hftlogging.PerformanceLogger(hftlogging.get_logger(logger_name))
    with pytest.raises(ValueError, match="boom"), perf.time_operation("risky"):
        raise ValueError("boom")
    assert hftlogging.get_logger(logger_name).flush()
    assert [r.__dict__["metric_name"] for r in cap.of_type("metric")] == ["risky"]
    (err,) = [r for r in cap.of_type("text") if r.levelno == logging.ERROR]
    assert err.exc_text and "ValueError: boom" in err.exc_text


def test_log_trade_execution_writes_an_audit_line_and_a_latency_series(
    tmp_path: Path, logger_name: str
) -> None:
    """An audit line with the order and fields, and a latency histogram series in Prometheus."""
    registry = CollectorRegistry()
    audit_file = tmp_path / "audit.jsonl"
    _configure(
        logger_name,
        audit={"class": "hftlogging.handlers.JSONAuditHandler", "filename": str(audit_file)},
        prometheus={"class": "hftlogging.handlers.PrometheusHandler", "registry": registry},
    )
    log = hftlogging.get_logger(logger_name)
    perf = hftlogging.PerformanceLogger(log)
    perf.log_trade_execution("o-1", 0.42, exchange="mexc", symbol="BTCUSDT", side="buy")
    # As the write-ups call it, with keywords; no symbol: an empty label.
    perf.log_trade_execution(order_id="o-2", latency_ms=1.5, exchange="gateio")
    assert log.flush()
    lines = [json.loads(x) for x in audit_file.read_text().splitlines()]
    lines = [x for x in lines if x.get("event") == "trade_executed"]  # not the metric lines
    assert [(x["event"], x["order_id"], x["latency_ms"]) for x in lines] == [
        ("trade_executed", "o-1", 0.42), ("trade_executed", "o-2", 1.5),
    ]
    assert lines[0]["side"] == "buy"
    name = "hft_trade_execution_latency_duration_seconds"
    assert registry.get_sample_value(
        f"{name}_sum", {"exchange": "mexc", "symbol": "BTCUSDT"}
    ) == pytest.approx(0.00042)
    assert registry.get_sample_value(
        f"{name}_count", {"exchange": "gateio", "symbol": ""}
    ) == 1.0


def test_performance_logger_accepts_a_plain_getlogger_logger_and_bound_views(
    logger_name: str,
) -> None:
    """A logging.getLogger() logger made before install() and a bound view both work."""
    hftlogging.uninstall()
    plain = logging.getLogger(logger_name + ".plain")
    cap = _capture(logger_name)
    plain.parent = hftlogging.get_logger(logger_name)
    hftlogging.PerformanceLogger(plain).log_trade_execution("o-3", 2.0)
    bound = hftlogging.get_logger(logger_name).with_context(correlation_id="c-9")
    hftlogging.PerformanceLogger(bound).log_trade_execution("o-4", 3.0)
    assert hftlogging.get_logger(logger_name).flush()
    audits = cap.of_type("audit")
    assert [r.__dict__["context"]["order_id"] for r in audits] == ["o-3", "o-4"]
    assert audits[1].__dict__["context"]["correlation_id"] == "c-9"
    assert len(cap.of_type("metric")) == 2
