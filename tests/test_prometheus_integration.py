"""PrometheusHandler against the real programs: Prometheus, the Pushgateway, promtool.

Each test starts its servers on free 127.0.0.1 ports (see ``prometheus_servers``); they
skip when a binary is missing, except in CI (``CI`` set), where they fail.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_servers import (
    Pushgateway,
    free_port,
    http_get,
    prometheus_factory,  # noqa: F401 - fixture
    promtool_check,
    pushgateway,  # noqa: F401 - fixture
    require_binary,
    wait_until,
)
from test_prometheus import metric_record

import hftlogging
from hftlogging.handlers import QueueHandler
from hftlogging.handlers.prometheus import PrometheusHandler

pytestmark = pytest.mark.prometheus


@pytest.fixture
def pipeline(logger_name: str) -> Iterator[Any]:
    """Build logger -> QueueHandler -> PrometheusHandler; everything is closed at teardown."""
    made: list[logging.Handler] = []

    def build(**kw: Any) -> tuple[Any, QueueHandler, PrometheusHandler]:
        kw.setdefault("registry", CollectorRegistry())
        prom = PrometheusHandler(**kw)
        made.append(prom)
        queue = QueueHandler(handlers=[prom])
        made.insert(0, queue)
        log = hftlogging.get_logger(f"{logger_name}.{len(made)}")
        log.propagate = False
        log.handlers = [queue]
        log.setLevel(logging.INFO)
        return log, queue, prom

    yield build
    for h in made:
        h.close()


def _log_sample_metrics(log: Any) -> None:
    log.counter("orders_placed", exchange="mexc")
    log.counter("orders_placed", 2, exchange="mexc")
    log.counter("orders_placed", exchange="gate")
    log.metric("active_symbols", 42, tags={"exchange": "mexc"})
    log.histogram("spread_bps", 3.2, symbol="BTCUSDT")
    for ms in (0.004, 0.012, 0.3, 2.5):
        log.latency("parse_message", ms, message_type="book")
    with log.timer("order_placement", symbol="BTCUSDT"):
        pass


def test_prometheus_scrapes_the_endpoint(pipeline: Any, prometheus_factory: Any) -> None:  # noqa: F811
    """A real Prometheus scrapes /metrics; the values read back through its query API."""
    log, queue, prom = pipeline(port=0, const_labels={"service": "arb"})
    _log_sample_metrics(log)
    queue.flush()
    server = prometheus_factory([f"127.0.0.1:{prom.port}"])
    server.wait_for_value('up{job="target0"}', 1)
    server.wait_for_value('hft_orders_placed_total{exchange="mexc",service="arb"}', 3)
    server.wait_for_value('hft_orders_placed_total{exchange="gate"}', 1)
    server.wait_for_value('hft_active_symbols{exchange="mexc"}', 42)
    server.wait_for_value("hft_parse_message_duration_seconds_count", 4)
    # 4 µs and 12 µs are resolved by the microsecond buckets.
    server.wait_for_value('hft_parse_message_duration_seconds_bucket{le="5e-06"}', 1)
    server.wait_for_value('hft_parse_message_duration_seconds_bucket{le="2.5e-05"}', 2)
    median = server.query("histogram_quantile(0.5, hft_parse_message_duration_seconds_bucket)")
    assert 1e-6 < float(median[0]["value"][1]) < 1e-4
    server.wait_for_value("hft_order_placement_duration_seconds_count", 1)
    server.wait_for_value("hft_logging_queue_capacity", queue.capacity)
    server.wait_for_value('hft_logging_metric_errors_total{reason="nan"}', 0)
    # Later updates reach Prometheus on the next scrapes.
    log.counter("orders_placed", 10, exchange="mexc")
    queue.flush()
    server.wait_for_value('hft_orders_placed_total{exchange="mexc"}', 13)


def test_promtool_accepts_the_exposition(pipeline: Any) -> None:
    """promtool check metrics passes on generate_latest and on the endpoint's body."""
    log, queue, prom = pipeline(port=0, context_labels=["exchange"],
                                const_labels={"service": "arb"})
    _log_sample_metrics(log)
    log.counter("orders_placed", -1, exchange="mexc")  # an error series with a value
    queue.stop()  # joins the listener: every record is applied
    text = generate_latest(prom.registry)
    assert b"hft_orders_placed_total" in text
    result = promtool_check(text)
    assert result.returncode == 0, (result.stdout + result.stderr).decode()
    status, body = http_get(f"http://127.0.0.1:{prom.port}/metrics")
    assert status == 200
    result = promtool_check(body)
    assert result.returncode == 0, (result.stdout + result.stderr).decode()


def test_promtool_catches_a_bad_exposition() -> None:
    """The promtool check can fail: a counter without _total and no HELP is reported."""
    require_binary("promtool")
    result = promtool_check(b"# TYPE orders counter\norders 1\n")
    assert result.returncode != 0


def _gateway_value(gw: Pushgateway, name: str, **labels: str) -> float | None:
    for got, value in gw.samples(name):
        if all(got.get(k) == v for k, v in labels.items()):
            return value
    return None


def test_pushgateway_receives_periodic_pushes(
    pipeline: Any, pushgateway: Pushgateway  # noqa: F811
) -> None:
    """Periodic pushadd reaches a real Pushgateway, grouped by job and worker."""
    hftlogging.set_worker("w7")
    try:
        log, queue, prom = pipeline(pushgateway=pushgateway.url, job="arb",
                                    grouping_key={"worker": "{worker}"}, push_interval_s=0.2)
        log.counter("orders_placed", 5, exchange="mexc")
        queue.flush()
        wait_until(
            lambda: _gateway_value(pushgateway, "hft_orders_placed_total", job="arb",
                                   worker="w7", exchange="mexc") == 5,
            30, "the pushed counter in the Pushgateway",
        )
        log.counter("orders_placed", 2, exchange="mexc")
        queue.flush()
        wait_until(
            lambda: _gateway_value(pushgateway, "hft_orders_placed_total", job="arb",
                                   worker="w7", exchange="mexc") == 7,
            30, "the second push",
        )
        wait_until(lambda: prom.pushes >= 2, 10, "the pushes to be counted")
        assert _gateway_value(pushgateway, "hft_logging_queue_capacity", job="arb") == \
            queue.capacity
    finally:
        hftlogging.set_worker(None)


def test_final_push_at_close(pipeline: Any, pushgateway: Pushgateway) -> None:  # noqa: F811
    """close() pushes once more: the last values arrive without waiting for the interval."""
    log, queue, prom = pipeline(pushgateway=pushgateway.url, job="final",
                                push_interval_s=3600)
    log.counter("fills", 3)
    queue.flush()
    assert _gateway_value(pushgateway, "hft_fills_total", job="final") is None
    queue.close()
    prom.close()
    assert prom.pushes == 1
    assert _gateway_value(pushgateway, "hft_fills_total", job="final") == 3


def test_per_worker_groups(pushgateway: Pushgateway) -> None:  # noqa: F811
    """Two workers pushing with a worker grouping key keep separate groups; sum() adds them."""
    handlers = []
    try:
        for worker, count in (("worker_a", 2), ("worker_b", 5)):
            hftlogging.set_worker(worker)
            h = PrometheusHandler(registry=CollectorRegistry(), pushgateway=pushgateway.url,
                                  job="svc", grouping_key={"worker": "{worker}"},
                                  push_interval_s=3600)
            handlers.append(h)
            h.emit_batch([metric_record("orders", count)])
            assert h.push()
    finally:
        hftlogging.set_worker(None)
        for h in handlers:
            h.close()
    assert _gateway_value(pushgateway, "hft_orders_total", job="svc", worker="worker_a") == 2
    assert _gateway_value(pushgateway, "hft_orders_total", job="svc", worker="worker_b") == 5


def test_gateway_down_then_up(pipeline: Any, tmp_path: Any) -> None:
    """Pushes to a gateway that is down fail and are counted; they succeed once it is up."""
    binary = require_binary("prometheus-pushgateway")
    gw = Pushgateway(binary, tmp_path)
    port = free_port()
    log, queue, prom = pipeline(pushgateway=f"http://127.0.0.1:{port}", job="late",
                                push_interval_s=0.1, timeout_s=1.0)
    log.counter("orders", 4)
    queue.flush()
    wait_until(lambda: prom.push_failures >= 2, 30, "two failed pushes")
    assert prom.registry.get_sample_value("hft_logging_push_failures_total") >= 2
    gw.start(port)
    try:
        wait_until(lambda: _gateway_value(gw, "hft_orders_total", job="late") == 4, 30,
                   "a push after the gateway came up")
        # The pushing thread counts its success once the gateway has answered.
        wait_until(lambda: prom.pushes >= 1, 10, "the push to be counted")
    finally:
        gw.stop()
