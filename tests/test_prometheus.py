"""PrometheusHandler: mapping, labels, dropped updates, pipeline health, endpoint, pushes."""

from __future__ import annotations

import itertools
import logging
import math
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client import REGISTRY, CollectorRegistry
from prometheus_servers import free_port, http_get

import hftlogging
from hftlogging.exceptions import ConfigError
from hftlogging.handlers import QueueHandler
from hftlogging.handlers.prometheus import (
    DEFAULT_BUCKETS,
    ERROR_REASONS,
    PipelineCollector,
    PrometheusHandler,
)
from hftlogging.record import build_record

# --- helpers --------------------------------------------------------------------------------


def metric_record(
    name: Any,
    value: Any,
    mtype: str = "counter",
    *,
    tags: dict[str, Any] | None = None,
    unit: str | None = None,
    context: dict[str, Any] | None = None,
) -> logging.LogRecord:
    """A metric record as the listener builds it."""
    rec = build_record("test", logging.INFO, "metric %s=%s", (name, value), time.time_ns(),
                       None, log_type="metric", context=context)
    d = rec.__dict__
    d["metric_name"] = name
    d["metric_value"] = value
    d["metric_type"] = mtype
    d["metric_tags"] = tags if tags is not None else {}
    d["metric_unit"] = unit
    return rec


@pytest.fixture
def registry() -> CollectorRegistry:
    """A fresh registry per test."""
    return CollectorRegistry()


@pytest.fixture
def make_handler(registry: CollectorRegistry) -> Iterator[Any]:
    """Build PrometheusHandlers on the test's registry; every one is closed at teardown."""
    made: list[PrometheusHandler] = []

    def make(**kw: Any) -> PrometheusHandler:
        kw.setdefault("registry", registry)
        h = PrometheusHandler(**kw)
        made.append(h)
        return h

    yield make
    for h in made:
        h.close()


@pytest.fixture
def pipeline(logger_name: str, make_handler: Any) -> Iterator[Any]:
    """A logger -> QueueHandler -> PrometheusHandler pipeline: (logger, queue, handler)."""
    built: list[QueueHandler] = []

    def build(**kw: Any) -> tuple[Any, QueueHandler, PrometheusHandler]:
        prom = make_handler(**kw)
        queue = QueueHandler(handlers=[prom])
        built.append(queue)
        log = hftlogging.get_logger(logger_name)
        log.propagate = False
        log.handlers = [queue]
        log.setLevel(logging.INFO)
        return log, queue, prom

    yield build
    for q in built:
        q.close()


@pytest.fixture
def empty_configuration() -> Iterator[None]:
    """Apply an empty configuration before and after the test.

    configure() remembers the last configuration it applied and re-applies it when a
    later configure() fails: start and end from an empty one, so that no endpoint of
    this test (or of an earlier one) is brought back.
    """
    empty = {"version": 1, "disable_existing_loggers": False}
    hftlogging.configure(empty)
    yield
    hftlogging.configure(empty)


def value(registry: CollectorRegistry, name: str, **labels: str) -> float | None:
    return registry.get_sample_value(name, labels)


def error_count(registry: CollectorRegistry, reason: str, ns: str = "hft") -> float | None:
    return registry.get_sample_value(f"{ns}_logging_metric_errors_total", {"reason": reason})


# --- mapping --------------------------------------------------------------------------------


def test_counter_increments_by_value(make_handler: Any, registry: CollectorRegistry) -> None:
    """counter records call Counter.inc(value): hft_<name>_total sums the increments."""
    h = make_handler()
    h.emit_batch([metric_record("orders", 1), metric_record("orders", 2),
                  metric_record("orders", 0.5)])
    assert value(registry, "hft_orders_total") == 3.5


def test_gauge_keeps_the_last_value(make_handler: Any, registry: CollectorRegistry) -> None:
    """gauge records call Gauge.set: the series holds the last value of the batch."""
    h = make_handler()
    h.emit_batch([metric_record("active_symbols", 40, "gauge"),
                  metric_record("active_symbols", 42, "gauge")])
    assert value(registry, "hft_active_symbols") == 42


def test_histogram_observes(make_handler: Any, registry: CollectorRegistry) -> None:
    """histogram records call Histogram.observe with the value as given."""
    h = make_handler(buckets={"spread_bps": [1, 5, 10]})
    h.emit_batch([metric_record("spread_bps", v, "histogram") for v in (0.5, 3.2, 7, 20)])
    assert value(registry, "hft_spread_bps_count") == 4
    assert value(registry, "hft_spread_bps_sum") == pytest.approx(30.7)
    assert value(registry, "hft_spread_bps_bucket", le="1.0") == 1
    assert value(registry, "hft_spread_bps_bucket", le="5.0") == 2
    assert value(registry, "hft_spread_bps_bucket", le="10.0") == 3
    assert value(registry, "hft_spread_bps_bucket", le="+Inf") == 4


def test_durations_in_ms_become_seconds(make_handler: Any, registry: CollectorRegistry) -> None:
    """metric_unit "ms" (latency/timer) observes <name>_duration_seconds with value/1000."""
    h = make_handler()
    h.emit_batch([metric_record("parse", 0.012, "histogram", unit="ms"),
                  metric_record("parse", 3.0, "histogram", unit="ms")])
    assert value(registry, "hft_parse_duration_seconds_count") == 2
    assert value(registry, "hft_parse_duration_seconds_sum") == pytest.approx(0.003012)
    # 12 µs lands in the 25 µs bucket, not in the first bucket of 1 µs.
    assert value(registry, "hft_parse_duration_seconds_bucket", le="1e-05") == 0
    assert value(registry, "hft_parse_duration_seconds_bucket", le="2.5e-05") == 1
    assert value(registry, "hft_parse") is None


def test_default_buckets_resolve_microseconds() -> None:
    """The default buckets start at 1 µs, end at 10 s, and increase."""
    assert DEFAULT_BUCKETS[0] == 1e-6
    assert DEFAULT_BUCKETS[-1] == 10.0
    assert list(DEFAULT_BUCKETS) == sorted(set(DEFAULT_BUCKETS))
    assert sum(1 for b in DEFAULT_BUCKETS if b < 1e-4) >= 6


def test_buckets_list_and_per_metric(make_handler: Any, registry: CollectorRegistry) -> None:
    """A list of buckets applies to every histogram; a mapping names metrics (as logged)."""
    h = make_handler(buckets={"fill": [0.1, 1.0], "slip": [2, 4]})
    h.emit_batch([metric_record("fill", 0.5, "histogram", unit="ms"),
                  metric_record("slip", 3, "histogram"),
                  metric_record("other", 3e-6, "histogram")])
    assert value(registry, "hft_fill_duration_seconds_bucket", le="0.1") == 1
    assert value(registry, "hft_slip_bucket", le="4.0") == 1
    assert value(registry, "hft_slip_bucket", le="2.0") == 0
    assert value(registry, "hft_other_bucket", le="5e-06") == 1
    reg2 = CollectorRegistry()
    h2 = make_handler(registry=reg2, buckets=[1, 2])
    h2.emit_batch([metric_record("x", 1.5, "histogram")])
    assert value(reg2, "hft_x_bucket", le="2.0") == 1
    assert value(reg2, "hft_x_bucket", le="1e-06") is None


def test_namespace_prefixes_every_series(make_handler: Any, registry: CollectorRegistry) -> None:
    """namespace replaces hft in the series names, the error counter's included."""
    h = make_handler(namespace="arb")
    h.emit_batch([metric_record("orders", 1), metric_record("orders", -1)])
    assert value(registry, "arb_orders_total") == 1
    assert error_count(registry, "negative_counter", ns="arb") == 1
    assert value(registry, "hft_orders_total") is None


def test_other_records_are_ignored(make_handler: Any, registry: CollectorRegistry) -> None:
    """Text and audit records create no series and count no error."""
    h = make_handler()
    text = build_record("t", logging.INFO, "hello %s", ("x",), time.time_ns(), None)
    audit = build_record("t", logging.INFO, "audit %s", ("e",), time.time_ns(), None,
                         log_type="audit")
    plain = logging.LogRecord("t", logging.INFO, __file__, 1, "stdlib", None, None)
    before = {m.name for m in registry.collect()}
    h.emit_batch([text, audit, plain])
    h.handle(plain)
    assert {m.name for m in registry.collect()} == before
    assert sum(h.errors().values()) == 0


# --- labels ---------------------------------------------------------------------------------


def test_tags_become_labels(make_handler: Any, registry: CollectorRegistry) -> None:
    """Metric tags are labels; each label combination is its own series."""
    h = make_handler()
    h.emit_batch([
        metric_record("orders", 1, tags={"exchange": "mexc", "side": "buy"}),
        metric_record("orders", 1, tags={"side": "buy", "exchange": "mexc"}),
        metric_record("orders", 1, tags={"exchange": "gate", "side": "sell"}),
    ])
    assert value(registry, "hft_orders_total", exchange="mexc", side="buy") == 2
    assert value(registry, "hft_orders_total", exchange="gate", side="sell") == 1


def test_context_and_const_labels(make_handler: Any, registry: CollectorRegistry) -> None:
    """context_labels come from the record's context ("" when absent); const_labels are fixed."""
    h = make_handler(context_labels=["exchange"], const_labels={"service": "arb"})
    h.emit_batch([
        metric_record("orders", 1, tags={"side": "buy"}, context={"exchange": "mexc"}),
        metric_record("orders", 1, tags={"side": "buy"}),
        metric_record("orders", 1, tags={"side": "buy"}, context={"exchange": 7}),
    ])
    assert value(registry, "hft_orders_total", side="buy", exchange="mexc", service="arb") == 1
    assert value(registry, "hft_orders_total", side="buy", exchange="", service="arb") == 1
    assert value(registry, "hft_orders_total", side="buy", exchange="7", service="arb") == 1


def test_tag_wins_over_context_label(make_handler: Any, registry: CollectorRegistry) -> None:
    """A tag named like a context label gives that label its value."""
    h = make_handler(context_labels=["exchange"])
    h.emit_batch([metric_record("orders", 1, tags={"exchange": "gate"},
                                context={"exchange": "mexc"})])
    assert value(registry, "hft_orders_total", exchange="gate") == 1


def test_label_names_fixed_at_first_observation(
    make_handler: Any, registry: CollectorRegistry
) -> None:
    """Later calls with other label names are dropped and counted as label_mismatch."""
    h = make_handler()
    h.emit_batch([
        metric_record("orders", 1, tags={"exchange": "mexc"}),
        metric_record("orders", 1, tags={"venue": "mexc"}),
        metric_record("orders", 1, tags={"exchange": "mexc", "side": "buy"}),
        metric_record("orders", 1),
        metric_record("orders", 1, tags={"exchange": "mexc"}),
    ])
    assert value(registry, "hft_orders_total", exchange="mexc") == 2
    assert error_count(registry, "label_mismatch") == 3
    h2 = make_handler(registry=CollectorRegistry())
    h2.emit_batch([metric_record("plain", 1), metric_record("plain", 1, tags={"a": "b"})])
    assert h2.errors()["label_mismatch"] == 1


@pytest.mark.parametrize(
    ("tags", "mtype"),
    [({"bad-name": "x"}, "counter"), ({"__reserved": "x"}, "gauge"),
     ({"1st": "x"}, "counter"), ({"le": "x"}, "histogram")],
)
def test_invalid_label_names_are_counted(
    make_handler: Any, registry: CollectorRegistry, tags: dict[str, str], mtype: str
) -> None:
    """A tag that is not a valid label name drops the update (invalid_label), never raises."""
    h = make_handler()
    h.emit_batch([metric_record("m", 1, mtype, tags=tags)])
    assert error_count(registry, "invalid_label") == 1
    # The label names are not fixed by a rejected observation.
    h.emit_batch([metric_record("m", 1, mtype, tags={"ok": "x"})])
    assert error_count(registry, "invalid_label") == 1
    assert h.errors()["label_mismatch"] == 0


@pytest.mark.parametrize(
    ("val", "reason"),
    [(math.nan, "nan"), (math.inf, "invalid_value"), (-math.inf, "invalid_value"),
     ("3", "invalid_value"), (True, "invalid_value"), (None, "invalid_value")],
)
@pytest.mark.parametrize("mtype", ["counter", "gauge", "histogram"])
def test_bad_values_are_counted(
    make_handler: Any, registry: CollectorRegistry, val: Any, reason: str, mtype: str
) -> None:
    """NaN, infinities and non-numbers are dropped with their reason; never raise."""
    h = make_handler()
    h.emit_batch([metric_record("m", val, mtype), metric_record("m", 2, mtype)])
    assert error_count(registry, reason) == 1
    name = {"counter": "hft_m_total", "gauge": "hft_m", "histogram": "hft_m_count"}[mtype]
    assert value(registry, name) == (2 if mtype != "histogram" else 1)


def test_decimal_values_are_accepted(make_handler: Any, registry: CollectorRegistry) -> None:
    """Real numbers other than int and float (Decimal, Fraction) are converted."""
    from decimal import Decimal
    from fractions import Fraction

    h = make_handler()
    h.emit_batch([metric_record("m", Decimal("1.5"), "gauge"),
                  metric_record("c", Fraction(1, 2))])
    assert value(registry, "hft_m") == 1.5
    assert value(registry, "hft_c_total") == 0.5


def test_negative_counter_is_counted(make_handler: Any, registry: CollectorRegistry) -> None:
    """A negative counter increment is dropped (negative_counter); gauges may go negative."""
    h = make_handler()
    h.emit_batch([metric_record("c", 5), metric_record("c", -1),
                  metric_record("g", -1, "gauge")])
    assert value(registry, "hft_c_total") == 5
    assert value(registry, "hft_g") == -1
    assert error_count(registry, "negative_counter") == 1


def test_series_limit(make_handler: Any, registry: CollectorRegistry) -> None:
    """Label combinations beyond max_series_per_metric are dropped (series_limit)."""
    h = make_handler(max_series_per_metric=3)
    h.emit_batch([metric_record("c", 1, tags={"sym": f"S{i}"}) for i in range(5)])
    h.emit_batch([metric_record("c", 1, tags={"sym": "S0"})])
    series = [s for m in registry.collect() if m.name == "hft_c" for s in m.samples
              if s.name == "hft_c_total"]
    assert len(series) == 3
    assert value(registry, "hft_c_total", sym="S0") == 2
    assert error_count(registry, "series_limit") == 2


def test_type_conflicts_and_invalid_names(make_handler: Any, registry: CollectorRegistry) -> None:
    """A name taken by another type, a bad name or a bad type is dropped with its reason."""
    h = make_handler()
    h.emit_batch([
        metric_record("x", 1, "counter"),
        metric_record("x", 1, "gauge"),
        metric_record("x", 1, "gauge"),
        metric_record("logging_metric_errors", 1, "gauge"),
        metric_record("bad name", 1),
        metric_record(None, 1),
        metric_record("y", 1, "summary"),
    ])
    assert value(registry, "hft_x_total") == 1
    assert error_count(registry, "conflict") == 3
    assert error_count(registry, "invalid_name") == 2
    assert error_count(registry, "invalid_type") == 1


def test_every_reason_is_exported_from_the_start(
    make_handler: Any, registry: CollectorRegistry
) -> None:
    """Each reason's series exists at 0 before any error, so alerts can rely on it."""
    make_handler()
    for reason in ERROR_REASONS:
        assert error_count(registry, reason) == 0


def test_label_children_are_cached(make_handler: Any) -> None:
    """The update function of a label combination is looked up once, then reused."""
    h = make_handler(context_labels=["exchange"])
    h.emit_batch([metric_record("c", 1, tags={"s": "a"}, context={"exchange": "m"})])
    fam = h._families[("c", "counter", None)]
    first = dict(fam.children)
    assert list(first) == [("a", "m")]
    h.emit_batch([metric_record("c", 1, tags={"s": "a"}, context={"exchange": "m"})])
    assert fam.children[("a", "m")] is first[("a", "m")]


def test_garbage_records_never_raise(make_handler: Any, registry: CollectorRegistry) -> None:
    """A record with broken metric attributes is counted, and emit() does not raise."""
    h = make_handler()
    bad = metric_record("c", 1)
    bad.__dict__["metric_tags"] = ["not", "a", "dict"]
    h.emit(bad)  # no labels fixed by it
    h.emit_batch([metric_record("c", 1, tags={"a": "b"}), bad])
    assert value(registry, "hft_c_total", a="b") == 1
    assert error_count(registry, "invalid_label") == 1
    assert error_count(registry, "label_mismatch") == 1
    odd = metric_record("d", 1)
    odd.__dict__["metric_tags"] = {"a": object()}  # label values are str()-ed
    h.emit(odd)
    assert sum(h.errors().values()) == 2


@settings(max_examples=30, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["mexc", "gate", "bybit"]),
                          st.integers(min_value=0, max_value=1000)), max_size=60))
def test_counter_totals_match_per_label_sums(updates: list[tuple[str, int]]) -> None:
    """For any sequence of increments, each series equals the sum of its label's increments."""
    registry = CollectorRegistry()
    h = PrometheusHandler(registry=registry)
    try:
        h.emit_batch([metric_record("fills", v, tags={"exchange": ex}) for ex, v in updates])
        for ex in ("mexc", "gate", "bybit"):
            expected = sum(v for e, v in updates if e == ex)
            got = registry.get_sample_value("hft_fills_total", {"exchange": ex})
            assert (got or 0) == expected
            if not any(e == ex for e, _ in updates):
                assert got is None
    finally:
        h.close()


# --- through the pipeline ----------------------------------------------------------------------


def test_log_calls_through_the_queue(pipeline: Any, registry: CollectorRegistry) -> None:
    """counter/metric/histogram/latency/timer calls reach the registry through the listener."""
    log, queue, _prom = pipeline(context_labels=["exchange"])
    log.counter("orders_placed", exchange="mexc")
    log.counter("orders_placed", 2, exchange="mexc")
    log.metric("active_symbols", 42, tags={"exchange": "mexc"})
    log.histogram("spread_bps", 3.2, symbol="BTCUSDT")
    log.latency("parse_message", 0.012, message_type="book")
    with log.timer("order_placement", symbol="BTCUSDT"):
        pass
    with hftlogging.context(exchange="gate"):
        log.counter("fills")
    log.info("not a metric")
    queue.stop()  # joins the listener: every record is applied
    assert value(registry, "hft_orders_placed_total", exchange="mexc") == 3
    assert value(registry, "hft_active_symbols", exchange="mexc") == 42
    assert value(registry, "hft_spread_bps_count", symbol="BTCUSDT", exchange="") == 1
    assert value(registry, "hft_parse_message_duration_seconds_sum", message_type="book",
                 exchange="") == pytest.approx(1.2e-5)
    assert value(registry, "hft_order_placement_duration_seconds_count", symbol="BTCUSDT",
                 exchange="") == 1
    assert value(registry, "hft_fills_total", exchange="gate") == 1


def test_updates_happen_on_the_listener_thread(pipeline: Any) -> None:
    """The registry is updated by the listener thread, never by the caller's."""
    log, queue, prom = pipeline()
    seen: list[str] = []
    original = prom.emit_batch

    def spy(records: Any) -> None:
        seen.append(threading.current_thread().name)
        original(records)

    prom.emit_batch = spy  # type: ignore[method-assign]
    log.counter("c")
    queue.stop()  # joins the listener: every record is applied
    assert seen
    assert all(name.startswith("hftlogging-listener") for name in seen)
    assert threading.current_thread().name not in seen


def test_pipeline_health_is_exported(pipeline: Any, registry: CollectorRegistry) -> None:
    """Queue capacity, records written, batches and handler errors come from stats()."""
    log, queue, _prom = pipeline()
    for _ in range(10):
        log.counter("c")
    queue.stop()  # joins the listener: every record is applied
    stats = hftlogging.stats()
    assert value(registry, "hft_logging_queue_capacity") == stats["capacity"] > 0
    assert value(registry, "hft_logging_records_written_total") == stats["written"] >= 10
    assert value(registry, "hft_logging_batches_total") == stats["batches"] >= 1
    assert value(registry, "hft_logging_queue_depth") == 0
    assert value(registry, "hft_logging_records_dropped_total", type="metric") == 0


def test_handler_errors_and_fallbacks_are_exported(
    logger_name: str, make_handler: Any, registry: CollectorRegistry, capsys: Any
) -> None:
    """A failing handler behind the same queue shows in handler_errors/fallbacks by name."""

    class Broken(logging.Handler):
        def emit_batch(self, records: Any) -> None:
            raise OSError("disk gone")

        def emit(self, record: logging.LogRecord) -> None:
            raise OSError("disk gone")

    broken = Broken()
    broken.set_name("broken")
    prom = make_handler()
    prom.set_name("prom")
    queue = QueueHandler(handlers=[broken, prom])
    log = hftlogging.get_logger(logger_name)
    log.propagate = False
    log.handlers = [queue]
    try:
        for _ in range(3):
            log.warning("x")
            queue.flush()
    finally:
        queue.close()
    assert value(registry, "hft_logging_handler_errors_total", handler="broken") == 3
    assert value(registry, "hft_logging_handler_fallbacks_total", handler="broken") == 3
    assert value(registry, "hft_logging_handler_errors_total", handler="prom") == 0
    capsys.readouterr()


def test_pipeline_collector_maps_every_statistic() -> None:
    """Each stats() figure lands in its series, by type/handler/reason label."""
    fake = {
        "queue_depth": 5, "capacity": 100, "high_water": 60, "listeners": 2,
        "mean_batch_size": 2.5, "written": 1000, "batches": 400, "audit_sync_writes": 1,
        "dropped_by_type": {"text": 7, "metric": 3, "audit": 0},
        "handler_errors": {"file": 2}, "handler_fallbacks": {"file": 9},
        "bad_input": {"metric_value": 4},
    }
    registry = CollectorRegistry()
    registry.register(PipelineCollector("q", stats=lambda: fake))
    get = registry.get_sample_value
    assert get("q_logging_queue_depth") == 5
    assert get("q_logging_queue_capacity") == 100
    assert get("q_logging_queue_high_water") == 60
    assert get("q_logging_listeners") == 2
    assert get("q_logging_batch_size_mean") == 2.5
    assert get("q_logging_records_written_total") == 1000
    assert get("q_logging_batches_total") == 400
    assert get("q_logging_audit_sync_writes_total") == 1
    assert get("q_logging_records_dropped_total", {"type": "text"}) == 7
    assert get("q_logging_records_dropped_total", {"type": "metric"}) == 3
    assert get("q_logging_handler_errors_total", {"handler": "file"}) == 2
    assert get("q_logging_handler_fallbacks_total", {"handler": "file"}) == 9
    assert get("q_logging_bad_input_total", {"reason": "metric_value"}) == 4


def test_pipeline_collector_survives_failing_stats() -> None:
    """A scrape does not fail when stats() raises: the health series are just absent."""
    def boom() -> dict[str, Any]:
        raise RuntimeError("x")

    registry = CollectorRegistry()
    registry.register(PipelineCollector("q", stats=boom))
    assert registry.get_sample_value("q_logging_queue_depth") is None


# --- registry choice and reconfiguration ---------------------------------------------------------


def test_registry_choices(make_handler: Any) -> None:
    """Default: a registry of hftlogging's own per namespace; 'global'/'default': REGISTRY."""
    ns = f"t{uuid.uuid4().hex[:8]}"
    a = make_handler(registry=None, namespace=ns)
    assert a.registry is not REGISTRY
    b = make_handler(registry="own", namespace=ns)
    assert b.registry is a.registry
    c = make_handler(registry=None, namespace=ns + "x")
    assert c.registry is not a.registry
    g = make_handler(registry="global", namespace=ns + "g")
    d = make_handler(registry="default", namespace=ns + "g")
    assert g.registry is REGISTRY and d.registry is REGISTRY
    g.emit_batch([metric_record("c", 1)])
    assert REGISTRY.get_sample_value(f"{ns}g_c_total") == 1


@pytest.mark.usefixtures("empty_configuration")
def test_registry_object_through_configure(logger_name: str,
                                           registry: CollectorRegistry) -> None:
    """A CollectorRegistry object given in a configuration dict is the one updated."""
    cfg = {
        "version": 1,
        "handlers": {
            "prom": {"class": "hftlogging.handlers.PrometheusHandler", "registry": registry},
            "queue": {"class": "hftlogging.handlers.QueueHandler", "handlers": ["prom"]},
        },
        "loggers": {logger_name: {"level": "INFO", "handlers": ["queue"],
                                  "propagate": False}},
    }
    hftlogging.configure(cfg)
    hftlogging.get_logger(logger_name).counter("orders", 4)
    hftlogging.shutdown()
    assert value(registry, "hft_orders_total") == 4


@pytest.mark.usefixtures("empty_configuration")
def test_reconfiguring_keeps_counter_values(logger_name: str, capsys: Any) -> None:
    """configure() twice with the same handler: no duplicate-series error, counters continue."""
    ns = f"r{uuid.uuid4().hex[:8]}"
    cfg = {
        "version": 1,
        "handlers": {
            "prom": {"class": "hftlogging.handlers.PrometheusHandler", "namespace": ns,
                     "port": 0},
            "queue": {"class": "hftlogging.handlers.QueueHandler", "handlers": ["prom"]},
        },
        "loggers": {logger_name: {"level": "INFO", "handlers": ["queue"],
                                  "propagate": False}},
    }
    try:
        hftlogging.configure(cfg)
        log = hftlogging.get_logger(logger_name)
        log.counter("orders", 2)
        hftlogging.configure(cfg)
        log.counter("orders", 3)
        hftlogging.shutdown()
        prom = logging._handlers["prom"]  # type: ignore[attr-defined]
        assert prom.registry.get_sample_value(f"{ns}_orders_total") == 5
        status, body = http_get(f"http://127.0.0.1:{prom.port}/metrics")
        assert status == 200
        assert f"{ns}_orders_total 5.0" in body.decode()
        assert prom.errors()["redefined"] == 0
    finally:
        for name in ("prom", "queue"):
            h = logging._handlers.get(name)  # type: ignore[attr-defined]
            if h is not None:
                h.close()
    assert "start again" not in capsys.readouterr().err


def test_reconfiguring_with_other_labels_is_reported(capsys: Any) -> None:
    """A metric whose label layout changed is re-created, counted as redefined, and reported."""
    ns = f"r{uuid.uuid4().hex[:8]}"
    a = PrometheusHandler(namespace=ns)
    a.emit_batch([metric_record("orders", 4), metric_record("fills", 1, "gauge")])
    a.close()
    b = PrometheusHandler(namespace=ns, context_labels=["exchange"])
    try:
        assert b.errors()["redefined"] == 2
        err = capsys.readouterr().err
        assert f"{ns}_orders" in err and f"{ns}_fills" in err
        b.emit_batch([metric_record("orders", 1, context={"exchange": "mexc"})])
        assert b.registry.get_sample_value(f"{ns}_orders_total", {"exchange": "mexc"}) == 1
        assert b.registry.get_sample_value(f"{ns}_orders_total") is None
    finally:
        b.close()


def test_reconfiguring_with_new_const_values(make_handler: Any,
                                             registry: CollectorRegistry) -> None:
    """New const label values start new series; the old series keep their counts."""
    a = make_handler(const_labels={"version": "1"})
    a.emit_batch([metric_record("c", 1)])
    a.close()
    b = make_handler(const_labels={"version": "2"})
    b.emit_batch([metric_record("c", 1), metric_record("c", 1)])
    assert value(registry, "hft_c_total", version="1") == 1
    assert value(registry, "hft_c_total", version="2") == 2


# --- endpoint ----------------------------------------------------------------------------------


def test_endpoint_serves_the_registry(make_handler: Any) -> None:
    """port=0 picks a free port on 127.0.0.1; /metrics serves the series; close() stops it."""
    h = make_handler(port=0)
    assert isinstance(h.port, int) and h.port > 0
    assert h._server.server_address[0] == "127.0.0.1"
    h.emit_batch([metric_record("orders", 7)])
    status, body = http_get(f"http://127.0.0.1:{h.port}/metrics")
    assert status == 200
    assert "hft_orders_total 7.0" in body.decode()
    assert "hft_logging_queue_capacity" in body.decode()
    h.close()
    assert http_get(f"http://127.0.0.1:{h.port}/metrics", timeout=2)[0] == 0
    assert not any(t.name == "hftlogging-prometheus-http" and t.is_alive()
                   for t in threading.enumerate())


def test_taken_port_is_a_config_error(make_handler: Any) -> None:
    """A port already bound fails at configuration with a ConfigError naming the port."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        with pytest.raises(ConfigError, match=f"127.0.0.1:{port}") as info:
            make_handler(port=port)
        assert info.value.key == "port"


@pytest.mark.usefixtures("empty_configuration")
def test_taken_port_through_configure(logger_name: str) -> None:
    """configure() reports the taken port as a ConfigError and starts nothing."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        cfg = {"version": 1, "handlers": {"prom": {
            "class": "hftlogging.handlers.PrometheusHandler",
            "namespace": f"p{uuid.uuid4().hex[:8]}", "port": port}}}
        with pytest.raises(ConfigError, match=str(port)):
            hftlogging.configure(cfg)


def test_port_can_be_reused_after_close(make_handler: Any) -> None:
    """Closing the endpoint frees its port for the next handler (reconfiguration)."""
    a = make_handler(port=0, namespace="a")
    port = a.port
    a.close()
    b = make_handler(port=port, namespace="b")
    assert b.port == port


# --- options -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kw", "key"),
    [
        ({"namespace": "bad-ns"}, "namespace"),
        ({"namespace": 3}, "namespace"),
        ({"registry": "mine"}, "registry"),
        ({"port": -1}, "port"),
        ({"port": 70000}, "port"),
        ({"port": "9100"}, "port"),
        ({"port": True}, "port"),
        ({"addr": ""}, "addr"),
        ({"pushgateway": ""}, "pushgateway"),
        ({"job": ""}, "job"),
        ({"grouping_key": ["worker"]}, "grouping_key"),
        ({"grouping_key": {"bad-key": "x"}}, "grouping_key"),
        ({"push_interval_s": 0}, "push_interval_s"),
        ({"timeout_s": -1}, "timeout_s"),
        ({"timeout_s": "2"}, "timeout_s"),
        ({"buckets": [2, 1]}, "buckets"),
        ({"buckets": []}, "buckets"),
        ({"buckets": "1,2"}, "buckets"),
        ({"buckets": {"lat": [1, "x"]}}, "buckets.lat"),
        ({"const_labels": {"le": "x"}}, "const_labels"),
        ({"const_labels": ["a"]}, "const_labels"),
        ({"context_labels": "exchange"}, "context_labels"),
        ({"context_labels": ["bad-name"]}, "context_labels"),
        ({"context_labels": ["a"], "const_labels": {"a": "1"}}, "context_labels"),
        ({"max_series_per_metric": 0}, "max_series_per_metric"),
        ({"max_series_per_metric": 1.5}, "max_series_per_metric"),
        ({"multiprocess_gauge_mode": "average"}, "multiprocess_gauge_mode"),
    ],
)
def test_bad_options_are_config_errors(kw: dict[str, Any], key: str) -> None:
    """Every invalid option fails at construction with a ConfigError naming its key."""
    kw.setdefault("registry", CollectorRegistry())
    with pytest.raises(ConfigError) as info:
        PrometheusHandler(**kw)
    assert info.value.key == key


def test_namespace_taken_in_registry_is_a_config_error(registry: CollectorRegistry) -> None:
    """Another collector owning <ns>_logging_* names is reported at configuration."""
    from prometheus_client import Counter

    Counter("hft_logging_metric_errors", "taken", registry=registry)
    with pytest.raises(ConfigError, match="namespace"):
        PrometheusHandler(registry=registry)


def test_multiprocess_dir_must_exist(tmp_path: Any, monkeypatch: Any) -> None:
    """PROMETHEUS_MULTIPROC_DIR naming no directory is a ConfigError."""
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path / "missing"))
    with pytest.raises(ConfigError, match="not a directory"):
        PrometheusHandler(registry=CollectorRegistry())


def test_multiprocess_dir_set_too_late(tmp_path: Any, monkeypatch: Any) -> None:
    """Setting PROMETHEUS_MULTIPROC_DIR after prometheus_client's import is a ConfigError."""
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    with pytest.raises(ConfigError, match="before the process starts"):
        PrometheusHandler(registry=CollectorRegistry())


def test_import_hftlogging_does_not_import_prometheus_client() -> None:
    """prometheus_client is imported by the handler module only, on first use."""
    code = (
        "import sys, hftlogging, hftlogging.handlers\n"
        "assert 'prometheus_client' not in sys.modules, 'imported too early'\n"
        "hftlogging.handlers.PrometheusHandler\n"
        "assert 'prometheus_client' in sys.modules\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=env, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr


# --- pushing -------------------------------------------------------------------------------


def test_retry_delays_back_off(make_handler: Any) -> None:
    """After failures the push is retried after 1, 2, 4... s, capped; success resets it."""
    h = make_handler(push_interval_s=10)
    assert [h.retry_delay(n) for n in range(7)] == [10, 1, 2, 4, 8, 16, 30]
    fast = make_handler(registry=CollectorRegistry(), push_interval_s=0.2)
    assert [fast.retry_delay(n) for n in range(4)] == [0.2, 0.2, 0.4, 0.8]
    assert fast.retry_delay(20) == 30


def test_unreachable_gateway_is_counted(make_handler: Any, registry: CollectorRegistry) -> None:
    """A push to a closed port fails without raising; failures are counted and exported."""
    port = free_port()  # nothing listens there
    h = make_handler(pushgateway=f"http://127.0.0.1:{port}", push_interval_s=3600)
    assert h.push() is False
    assert h.push() is False
    assert h.push_failures == 2
    assert h.last_push_error
    assert value(registry, "hft_logging_push_failures_total") == 2
    assert value(registry, "hft_logging_pushes_total") == 0


def test_push_thread_retries_with_back_off(make_handler: Any) -> None:
    """The push thread keeps retrying a failing gateway, with growing pauses between tries."""
    port = free_port()
    h = make_handler(pushgateway=f"127.0.0.1:{port}", push_interval_s=0.2, timeout_s=0.5)
    attempts: list[float] = []
    done = threading.Event()
    original = h.push

    def record_push() -> bool:
        attempts.append(time.monotonic())
        if len(attempts) >= 4:
            done.set()
        return original()

    h.push = record_push  # type: ignore[method-assign]
    assert done.wait(10), "the push thread did not retry"
    gaps = [b - a for a, b in itertools.pairwise(attempts)]
    # Delays after 1, 2, 3 failures: 0.2, 0.4, 0.8 s (each plus a refused connect).
    assert gaps[1] > gaps[0] * 1.5
    assert gaps[2] > gaps[1] * 1.5


def test_hanging_gateway_costs_at_most_timeout(make_handler: Any, pipeline: Any) -> None:
    """A gateway that never answers costs a push about timeout_s, and log calls nothing."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        s.listen(16)  # connections complete in the kernel; nobody ever answers
        url = f"http://127.0.0.1:{s.getsockname()[1]}"
        solo = make_handler(pushgateway=url, timeout_s=0.5, push_interval_s=3600)
        t0 = time.monotonic()
        assert solo.push() is False
        elapsed = time.monotonic() - t0
        assert 0.4 <= elapsed < 2.0
        log, queue, prom = pipeline(registry=CollectorRegistry(), pushgateway=url,
                                    timeout_s=1.0, push_interval_s=0.01)
        worst = 0.0
        for _ in range(200):
            c0 = time.perf_counter()
            log.counter("c")
            worst = max(worst, time.perf_counter() - c0)
        queue.stop()  # joins the listener: every record is applied
        assert worst < 0.2
        assert prom.registry.get_sample_value("hft_c_total") == 200
        closing = time.monotonic()
        prom.close()  # one final push: about timeout_s more
        assert time.monotonic() - closing < 3 * 1.0 + 1.5
