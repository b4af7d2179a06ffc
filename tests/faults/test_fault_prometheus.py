"""Prometheus faults (taken port, Pushgateway down, slow or failing) and hostile metrics."""

from __future__ import annotations

import http.server
import shutil
import socket
import subprocess
import threading
import time
import tracemalloc
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from faultkit import (
    BAD_LABEL_VALUES,
    BAD_METRICS,
    SilentServer,
    build_pipeline,
    closed_port,
    scenario,
)
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

import hftlogging
from hftlogging.exceptions import ConfigError
from hftlogging.handlers.prometheus import PrometheusHandler
from hftlogging.testing import CaptureHandler


def _ns() -> str:
    return f"fault{uuid.uuid4().hex[:8]}"


def _wait(check: Any, timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.02)  # polling a background thread's counter
    return False


# --- endpoint ------------------------------------------------------------------------------


@scenario("prometheus_port_taken")
def test_a_taken_port_is_a_clear_configuration_error(logger_name: str) -> None:
    """configure() names the port; the running configuration goes on logging."""
    good = CaptureHandler()
    p = build_pipeline(logger_name, {"good": good})
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen(1)
    port = holder.getsockname()[1]
    try:
        with pytest.raises(ConfigError) as info:
            hftlogging.configure({
                "version": 1,
                "handlers": {"prom": {"class": "hftlogging.handlers.PrometheusHandler",
                                      "namespace": _ns(), "port": port}},
                "root": {"handlers": ["prom"]},
            })
        text = str(info.value)
        assert str(port) in text and "port" in text
    finally:
        holder.close()
    p.log.info("still running")
    hftlogging.shutdown()  # the restored configuration has a queue of its own: drain it
    assert [r.getMessage() for r in good.records][-1:] == ["still running"]


# --- Pushgateway ---------------------------------------------------------------------------


class _Answer500(http.server.BaseHTTPRequestHandler):
    def _fail(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        self.send_response(500)
        self.send_header("Content-Length", "5")
        self.end_headers()
        self.wfile.write(b"boom\n")

    do_POST = do_PUT = _fail

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def server_500() -> Iterator[int]:
    """A tiny HTTP server on 127.0.0.1 that answers 500 to every push."""
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Answer500)
    t = threading.Thread(target=srv.serve_forever, name="server-500", daemon=True)
    t.start()
    yield srv.server_address[1]
    srv.shutdown()
    srv.server_close()
    t.join(5)


@pytest.fixture
def silent() -> Iterator[SilentServer]:
    """A server that accepts and never answers."""
    s = SilentServer()
    yield s
    s.close()


@pytest.fixture
def push_pipeline(logger_name: str) -> Iterator[Any]:
    """Factory: a pipeline with a Prometheus handler pushing to ``url`` (closed after)."""
    built: list[PrometheusHandler] = []

    def make(url: str) -> tuple[Any, PrometheusHandler]:
        def factory() -> PrometheusHandler:
            built.append(PrometheusHandler(namespace=_ns(), registry=CollectorRegistry(),
                                           pushgateway=url, push_interval_s=0.05,
                                           timeout_s=0.3))
            return built[-1]

        p = build_pipeline(logger_name, {"prom": factory})
        return p, built[-1]

    yield make
    hftlogging.shutdown()
    for h in built:
        h.close()


def _log_while_pushing(p: Any, prom: PrometheusHandler, what: str) -> None:
    """Metric calls keep returning while pushes fail; the failures are counted."""
    calls = 0
    t0 = time.monotonic()
    while prom.push_failures < 2:
        for _ in range(100):
            p.log.counter("orders", 1)
            calls += 1
        assert time.monotonic() - t0 < 20, f"no push failure counted ({what})"
        time.sleep(0.01)  # let the push thread run; the calls above are what is measured
    p.flush()
    assert prom.pushes == 0
    assert prom.last_push_error, what
    out = generate_latest(prom.registry).decode()
    assert f"{prom.namespace}_logging_push_failures_total" in out
    assert f"{prom.namespace}_orders_total {calls}.0" in out
    p.assert_healthy()


@scenario("pushgateway_down")
def test_pushgateway_down_is_counted_and_never_blocks(push_pipeline: Any) -> None:
    """Connection refused: pushes fail on their own thread, counted; calls unaffected."""
    p, prom = push_pipeline(f"http://127.0.0.1:{closed_port()}")
    _log_while_pushing(p, prom, "down")
    assert "refused" in (prom.last_push_error or "").lower()


@scenario("pushgateway_slow")
def test_pushgateway_that_never_answers_times_out_counted(
    push_pipeline: Any, silent: SilentServer
) -> None:
    """A gateway that accepts and hangs: each push gives up after timeout_s; log calls made
    meanwhile return (the loop below completes while the gateway hangs)."""
    p, prom = push_pipeline(f"http://127.0.0.1:{silent.port}")
    _log_while_pushing(p, prom, "slow")
    assert silent.accepted.is_set()
    assert "timed out" in (prom.last_push_error or "").lower()
    t0 = time.monotonic()
    hftlogging.shutdown()
    prom.close()  # final push: bounded by timeout_s
    assert time.monotonic() - t0 < 10


@scenario("pushgateway_500")
def test_pushgateway_answering_500_is_counted(push_pipeline: Any, server_500: int) -> None:
    """HTTP 500: counted, with the status in last_push_error."""
    p, prom = push_pipeline(f"http://127.0.0.1:{server_500}")
    _log_while_pushing(p, prom, "500")
    assert "500" in (prom.last_push_error or "")


# --- hostile metric input ------------------------------------------------------------------


@pytest.fixture
def metrics(logger_name: str) -> Iterator[tuple[Any, PrometheusHandler]]:
    """A pipeline with a Prometheus handler on a private registry."""
    built: list[PrometheusHandler] = []

    def factory() -> PrometheusHandler:
        built.append(PrometheusHandler(namespace=_ns(), registry=CollectorRegistry(),
                                       max_series_per_metric=100))
        return built[-1]

    # Bursts of tens of thousands of calls: the queue waits for room instead of dropping,
    # so every call reaches the handler and its counters add up exactly.
    p = build_pipeline(logger_name, {"prom": factory}, overflow="block", block_timeout_ms=30000)
    yield p, built[-1]
    hftlogging.shutdown()
    built[-1].close()


def _rejections(prom: PrometheusHandler) -> int:
    return hftlogging.stats()["bad_input_total"] + sum(prom.errors().values())


@pytest.mark.parametrize(("name", "value", "tags"), [c[1:] for c in BAD_METRICS],
                         ids=[c[0] for c in BAD_METRICS])
@pytest.mark.parametrize("kind", ["metric", "counter", "histogram"])
def test_bad_metric_is_dropped_and_counted(
    metrics: tuple[Any, PrometheusHandler], kind: str, name: Any, value: Any,
    tags: dict[str, Any],
) -> None:
    """An invalid name, NaN/inf, a non-number, a bad tag: no exception, no series, counted."""
    p, prom = metrics
    before = _rejections(prom)
    getattr(p.log, kind)(name, value, tags=tags)
    p.flush()
    assert _rejections(prom) == before + 1
    out = generate_latest(prom.registry).decode()
    families = {fam.name for fam in text_string_to_metric_families(out)}
    assert all(f.startswith(f"{prom.namespace}_logging_") for f in families), families
    p.assert_healthy()


@pytest.mark.parametrize("value", [c[1] for c in BAD_LABEL_VALUES],
                         ids=[c[0] for c in BAD_LABEL_VALUES])
def test_label_values_are_escaped_in_the_exposition(
    metrics: tuple[Any, PrometheusHandler], value: str
) -> None:
    """Quotes, backslashes and newlines in a label value cannot forge a sample: the
    exposition parses back to exactly one sample with the value as given."""
    p, prom = metrics
    p.log.metric("escaped", 7, tags={"v": value})
    p.flush()
    text = generate_latest(prom.registry).decode()
    samples = [
        s for fam in text_string_to_metric_families(text)
        for s in fam.samples if s.name == f"{prom.namespace}_escaped"
    ]
    assert [(s.labels, s.value) for s in samples] == [({"v": value}, 7.0)]
    assert "fake_metric" not in {fam.name for fam in text_string_to_metric_families(text)}
    promtool = shutil.which("promtool")
    if promtool:
        res = subprocess.run([promtool, "check", "metrics"], input=text.encode(),
                             capture_output=True, check=False, timeout=30)
        assert b"error" not in res.stderr.lower() + res.stdout.lower(), res


def test_attacker_controlled_label_values_hit_the_series_cap_with_bounded_memory(
    metrics: tuple[Any, PrometheusHandler],
) -> None:
    """A new label value per call: at most max_series_per_metric series, the rest counted,
    and memory does not grow with the number of distinct values."""
    p, prom = metrics
    p.detach_test_capture()

    def burst(start: int, n: int) -> None:
        for i in range(start, start + n):
            p.log.counter("per_user", 1, tags={"user": f"attacker-{i:08d}"})
        p.flush()

    burst(0, 5_000)  # warm-up: the series reach their cap, caches fill
    tracemalloc.start()
    try:
        base, _ = tracemalloc.get_traced_memory()
        burst(5_000, 20_000)
        after, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    text = generate_latest(prom.registry).decode()
    series = [ln for ln in text.splitlines() if ln.startswith(f"{prom.namespace}_per_user_total{{")]
    assert len(series) == 100
    assert prom.errors().get("series_limit", 0) == 25_000 - 100
    # 20 000 distinct values later, memory grew by far less than one entry per value would take.
    assert after - base < 1_000_000, after - base
    p.assert_healthy()
