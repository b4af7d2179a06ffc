"""Metric semantics for migrating code: metric_types globs and None tag values."""

from __future__ import annotations

import urllib.request
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

import hftlogging
from hftlogging import lifecycle
from hftlogging.exceptions import ConfigError
from hftlogging.handlers import PrometheusHandler


def _configure(logger_name: str, **prometheus: Any) -> None:
    hftlogging.configure({
        "version": 1,
        "disable_existing_loggers": False,
        "handlers": {
            "prometheus": {"class": "hftlogging.handlers.PrometheusHandler", **prometheus},
            "queue": {"class": "hftlogging.handlers.QueueHandler", "handlers": ["prometheus"]},
        },
        "loggers": {logger_name: {"level": "DEBUG", "handlers": ["queue"], "propagate": False}},
    })


def test_metric_types_make_metric_calls_count_without_code_changes(logger_name: str) -> None:
    """metric(name, 1) under a counter pattern increments <ns>_<name>_total."""
    registry = CollectorRegistry()
    _configure(logger_name, registry=registry,
               metric_types={"*_failures": "counter", "spread_*": "histogram"})
    log = hftlogging.get_logger(logger_name)
    for _ in range(3):
        log.metric("websocket_creation_failures", 1, tags={"exchange": "mexc"})
    log.metric("active_symbols", 42)            # no pattern: still a gauge
    log.metric("active_symbols", 40)
    log.metric("spread_bps", 3.0)               # a gauge call observed as a histogram
    log.latency("order_failures", 2.0)          # durations stay duration histograms
    assert log.flush()
    sample = registry.get_sample_value
    assert sample("hft_websocket_creation_failures_total", {"exchange": "mexc"}) == 3.0
    assert sample("hft_websocket_creation_failures", {"exchange": "mexc"}) is None
    assert sample("hft_active_symbols", {}) == 40.0
    assert sample("hft_spread_bps_count", {}) == 1.0
    assert sample("hft_order_failures_duration_seconds_count", {}) == 1.0


def test_first_matching_pattern_wins_and_counters_refuse_negative_values(
    logger_name: str,
) -> None:
    """Patterns apply in order; a negative value for a counter is counted, not applied."""
    registry = CollectorRegistry()
    _configure(logger_name, registry=registry,
               metric_types={"orders_open": "gauge", "orders_*": "counter"})
    log = hftlogging.get_logger(logger_name)
    log.metric("orders_open", 5)
    log.metric("orders_filled", 2)
    log.metric("orders_filled", -1)
    assert log.flush()
    sample = registry.get_sample_value
    assert sample("hft_orders_open", {}) == 5.0
    assert sample("hft_orders_filled_total", {}) == 2.0
    assert sample("hft_logging_metric_errors_total", {"reason": "negative_counter"}) == 1.0


def test_none_tag_value_is_an_empty_label_not_a_dropped_metric(logger_name: str) -> None:
    """symbol=None becomes symbol="" on the served /metrics page; nothing counts as bad input."""
    _configure(logger_name, port=0, namespace="nonetag",
               metric_types={"*_failures": "counter"})
    handler: PrometheusHandler = next(
        h for q in lifecycle.active_queue_handlers() for h in q.handlers
        if isinstance(h, PrometheusHandler)
    )
    try:
        _log_none_tags(logger_name, handler)
    finally:
        handler.close()


def _log_none_tags(logger_name: str, handler: PrometheusHandler) -> None:
    log = hftlogging.get_logger(logger_name)
    bad_before = hftlogging.stats()["bad_input_total"]
    context: dict[str, Any] = {"exchange": "mexc"}
    log.metric("websocket_creation_failures", 1,
               tags={"exchange": context.get("exchange"), "symbol": context.get("symbol")})
    log.counter("reconnects", venue=None)
    log.with_context(c="1").histogram("spread", 1.0, symbol=None)
    assert log.flush()
    assert hftlogging.stats()["bad_input_total"] == bad_before
    with urllib.request.urlopen(f"http://127.0.0.1:{handler.port}/metrics", timeout=10) as r:
        page = r.read().decode()
    assert 'nonetag_websocket_creation_failures_total{exchange="mexc",symbol=""} 1.0' in page
    assert 'nonetag_reconnects_total{venue=""} 1.0' in page
    assert 'nonetag_spread_count{symbol=""} 1.0' in page


@pytest.mark.parametrize(("value", "fragment"), [
    (["*_failures"], "expected a mapping"),
    ({"*_failures": "count"}, "expected counter, gauge or histogram"),
    ({"": "counter"}, "non-empty strings"),
])
def test_bad_metric_types_fail_at_configuration_naming_the_key(
    logger_name: str, value: Any, fragment: str
) -> None:
    """An invalid metric_types is a ConfigError naming metric_types, before anything runs."""
    with pytest.raises(ConfigError, match="metric_types") as info:
        _configure(logger_name, registry=CollectorRegistry(), metric_types=value)
    assert fragment in str(info.value)
