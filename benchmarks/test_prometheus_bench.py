"""Metrics through hftlogging's pipeline vs prometheus-client called from the hot path.

Same run, same process, same metric shapes (one label):

* caller-side cost per call: ``log.counter("orders", exchange="mexc")`` and
  ``with log.timer("op", symbol="BTCUSDT")`` through QueueHandler -> PrometheusHandler,
  against ``Counter.labels("mexc").inc()`` and a ``Histogram`` observed around the same
  empty block (``labels(...)`` looked up per call, as most code does, and a cached child);
* sustained updates per second applied: N calls from the caller until the registry holds
  all N (pipeline), against N direct updates; and the handler alone (``emit_batch`` on
  records already built) — what the listener can absorb.

pytest-benchmark times rounds of ``LOOPS`` calls; per-call percentiles are measured with
``perf_counter_ns`` around each call (in this process; back-to-back, and paced: bursts of
20 calls, then 5 ms of sleep) and attached to ``extra_info``;
all figures also go to the summary printed at the end of the run. Every pipeline figure is checked:
the registry must hold exactly the number of updates made.
"""

from __future__ import annotations

import gc
import logging
import statistics
import time
import uuid
from collections.abc import Callable, Iterator
from time import perf_counter, perf_counter_ns
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, Counter, Histogram
from scenarios import record

import hftlogging
from hftlogging.handlers import QueueHandler
from hftlogging.handlers.prometheus import DEFAULT_BUCKETS, PrometheusHandler
from hftlogging.record import build_record

LOOPS = 1_000
ROUNDS = 30
PERCENTILE_CALLS = 20_000
PACED_CALLS = 2_000
SUSTAINED_CALLS = 200_000
FIGURE_CALL = "prometheus caller ns/call (median of rounds)"
FIGURE_P50 = "prometheus caller p50 ns"
FIGURE_P999 = "prometheus caller p99.9 ns"
FIGURE_PACED_P50 = "prometheus caller paced p50 ns"
FIGURE_PACED_P999 = "prometheus caller paced p99.9 ns"
FIGURE_RATE = "prometheus updates/s applied"


class Pipeline:
    """logger -> QueueHandler -> PrometheusHandler on a registry of its own."""

    def __init__(self, capacity: int) -> None:
        self.registry = CollectorRegistry()
        self.prom = PrometheusHandler(registry=self.registry)
        self.queue = QueueHandler(handlers=[self.prom], capacity=capacity)
        self.log = hftlogging.get_logger(f"bench.prometheus.{uuid.uuid4().hex[:8]}")
        self.log.propagate = False
        self.log.handlers = [self.queue]
        self.log.setLevel(logging.INFO)

    def counter_call(self) -> Callable[[], None]:
        counter = self.log.counter

        def call() -> None:
            counter("orders", exchange="mexc")

        return call

    def timer_call(self) -> Callable[[], None]:
        timer = self.log.timer

        def call() -> None:
            with timer("op", symbol="BTCUSDT"):
                pass

        return call

    def counted(self) -> float:
        return self.registry.get_sample_value("hft_orders_total", {"exchange": "mexc"}) or 0.0

    def timed(self) -> float:
        return self.registry.get_sample_value(
            "hft_op_duration_seconds_count", {"symbol": "BTCUSDT"}
        ) or 0.0

    def dropped(self) -> int:
        return int(self.queue.stats()["dropped"])

    def close(self) -> None:
        self.queue.close()
        self.prom.close()


class Direct:
    """prometheus-client called from the hot path, the same metric shapes."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.counter = Counter("hft_orders", "orders", ["exchange"], registry=self.registry)
        self.hist = Histogram("hft_op_duration_seconds", "op", ["symbol"],
                              registry=self.registry, buckets=DEFAULT_BUCKETS)

    def counter_call(self, cached: bool) -> Callable[[], None]:
        if cached:
            inc = self.counter.labels("mexc").inc

            def call() -> None:
                inc()
        else:
            labels = self.counter.labels

            def call() -> None:
                labels("mexc").inc()

        return call

    def timer_call(self, cached: bool) -> Callable[[], None]:
        if cached:
            observe = self.hist.labels("BTCUSDT").observe

            def call() -> None:
                t0 = perf_counter()
                observe(perf_counter() - t0)
        else:
            labels = self.hist.labels

            def call() -> None:
                t0 = perf_counter()
                labels("BTCUSDT").observe(perf_counter() - t0)

        return call

    def counted(self) -> float:
        return self.registry.get_sample_value("hft_orders_total", {"exchange": "mexc"}) or 0.0

    def timed(self) -> float:
        return self.registry.get_sample_value(
            "hft_op_duration_seconds_count", {"symbol": "BTCUSDT"}
        ) or 0.0


@pytest.fixture
def pipeline() -> Iterator[Pipeline]:
    p = Pipeline(capacity=4 * SUSTAINED_CALLS)
    yield p
    p.close()


def _wait_applied(pipeline: Pipeline, read: Callable[[], float], expected: float) -> None:
    """Wait until the registry holds ``expected`` (bounded): flush() alone can return
    while the listener still builds the last batch it took."""
    deadline = time.monotonic() + 120
    pipeline.queue.flush()
    while read() < expected and time.monotonic() < deadline:
        time.sleep(0.0005)


def _loop(call: Callable[[], None]) -> Callable[[], None]:
    def run() -> None:
        for _ in range(LOOPS):
            call()

    return run


def _percentiles(
    call: Callable[[], None], after: Callable[[], None], *, paced: bool = False
) -> dict[str, float]:
    """Per-call p50/p99/p99.9 in ns, each call timed on its own (timer cost included).

    ``paced``: bursts of 20 calls then 5 ms of sleep (a loop that logs sporadically);
    otherwise back-to-back calls.
    """
    for _ in range(1000):
        call()
    after()
    n_calls = PACED_CALLS if paced else PERCENTILE_CALLS
    times = [0] * n_calls
    gc.collect()
    for i in range(n_calls):
        if paced and i % 20 == 0:
            time.sleep(0.005)
        t0 = perf_counter_ns()
        call()
        times[i] = perf_counter_ns() - t0
    after()
    times.sort()
    n = len(times)
    return {"p50": times[n // 2], "p99": times[int(n * 0.99)], "p999": times[int(n * 0.999)]}


CASES = ["hftlogging", "prometheus_client", "prometheus_client-cached-child"]


def _call_for(case: str, kind: str, pipeline: Pipeline, direct: Direct) -> Callable[[], None]:
    if case == "hftlogging":
        return pipeline.counter_call() if kind == "counter" else pipeline.timer_call()
    cached = case.endswith("cached-child")
    return direct.counter_call(cached) if kind == "counter" else direct.timer_call(cached)


@pytest.mark.parametrize("kind", ["counter", "timer"])
@pytest.mark.parametrize("case", CASES)
def test_caller_cost(benchmark: Any, pipeline: Pipeline, case: str, kind: str) -> None:
    """What the calling thread pays per counter/timer call; every update is applied."""
    direct = Direct()
    call = _call_for(case, kind, pipeline, direct)
    source: Any = pipeline if case == "hftlogging" else direct
    drain = pipeline.queue.flush
    benchmark.pedantic(_loop(call), setup=drain, rounds=ROUNDS, warmup_rounds=1)
    p = _percentiles(call, drain)
    paced = _percentiles(call, drain, paced=True)
    read = source.counted if kind == "counter" else source.timed
    calls = LOOPS * (ROUNDS + 1) + 2 * 1000 + PERCENTILE_CALLS + PACED_CALLS
    if source is pipeline:
        _wait_applied(pipeline, read, calls)
    applied = read()
    assert applied == calls, f"{applied} of {calls} updates applied"
    assert pipeline.dropped() == 0
    per_call = float(benchmark.stats.stats.median) * 1e9 / LOOPS
    label = f"{kind} {case}"
    benchmark.extra_info.update({f"sat_{k}_ns": v for k, v in p.items()})
    benchmark.extra_info.update({f"paced_{k}_ns": v for k, v in paced.items()})
    benchmark.extra_info["ns_per_call_median_of_rounds"] = per_call
    record(FIGURE_CALL, label, per_call)
    record(FIGURE_P50, label, p["p50"])
    record(FIGURE_P999, label, p["p999"])
    record(FIGURE_PACED_P50, label, paced["p50"])
    record(FIGURE_PACED_P999, label, paced["p999"])


@pytest.mark.parametrize("kind", ["counter", "timer"])
def test_sustained_updates(benchmark: Any, pipeline: Pipeline, kind: str) -> None:
    """Updates per second from the first call until the registry holds all of them."""
    direct = Direct()
    rates: dict[str, list[float]] = {"hftlogging": [], "prometheus_client": []}

    def once() -> None:
        for case, source in (("hftlogging", pipeline), ("prometheus_client", direct)):
            call = _call_for(case, kind, pipeline, direct)
            before = source.counted() if kind == "counter" else source.timed()
            t0 = time.perf_counter()
            for _ in range(SUSTAINED_CALLS):
                call()
            read = source.counted if kind == "counter" else source.timed
            if source is pipeline:
                _wait_applied(pipeline, read, before + SUSTAINED_CALLS)
            elapsed = time.perf_counter() - t0
            after = read()
            assert after - before == SUSTAINED_CALLS, "updates lost"
            rates[case].append(SUSTAINED_CALLS / elapsed)

    benchmark.pedantic(once, rounds=3, warmup_rounds=0)
    assert pipeline.dropped() == 0
    for case, values in rates.items():
        rate = statistics.median(values)
        benchmark.extra_info[f"{case}_updates_per_s"] = rate
        record(FIGURE_RATE, f"{kind} {case} (end to end)", rate)


@pytest.mark.parametrize("kind", ["counter", "timer"])
def test_handler_alone(benchmark: Any, kind: str) -> None:
    """emit_batch on 512-record batches already built: what the listener can apply."""
    registry = CollectorRegistry()
    prom = PrometheusHandler(registry=registry)
    try:
        batches = []
        for _ in range(20):
            batch = []
            for _ in range(512):
                rec = build_record("b", logging.INFO, "metric", (), time.time_ns(), None,
                                   log_type="metric")
                d = rec.__dict__
                if kind == "counter":
                    d.update(metric_name="orders", metric_value=1, metric_type="counter",
                             metric_tags={"exchange": "mexc"}, metric_unit=None)
                else:
                    d.update(metric_name="op", metric_value=0.004, metric_type="histogram",
                             metric_tags={"symbol": "BTCUSDT"}, metric_unit="ms")
                batch.append(rec)
            batches.append(batch)

        def run() -> None:
            for b in batches:
                prom.emit_batch(b)

        benchmark.pedantic(run, rounds=ROUNDS, warmup_rounds=1)
        name = "hft_orders_total" if kind == "counter" else "hft_op_duration_seconds_count"
        labels = {"exchange": "mexc"} if kind == "counter" else {"symbol": "BTCUSDT"}
        assert registry.get_sample_value(name, labels) == (ROUNDS + 1) * 20 * 512
        rate = 20 * 512 / float(benchmark.stats.stats.median)
        benchmark.extra_info["updates_per_s"] = rate
        record(FIGURE_RATE, f"{kind} PrometheusHandler.emit_batch alone", rate)
    finally:
        prom.close()
