"""OTLPHandler and trace context against a real OpenTelemetry collector (rotel).

The collector runs in the foreground and prints every log record it receives with its
resource, attributes and trace ids; the tests read that output. The collector comes from
``ROTEL_BIN`` (``rotel-agent``, installed by .ci/run in its own environment) or PATH;
without it the tests skip, or fail when ``CI`` is set.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import hftlogging

IN_CI = bool(os.environ.get("CI"))
READY_TIMEOUT_S = 30.0

otel_sdk = pytest.importorskip("opentelemetry.sdk.trace")


def _rotel() -> str:
    path = os.environ.get("ROTEL_BIN") or shutil.which("rotel-agent")
    if not path:
        msg = "rotel-agent is not installed (pip install rotel; set ROTEL_BIN)"
        if IN_CI:
            pytest.fail(f"{msg}; CI must run this test")
        pytest.skip(msg)
    return path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Collector:
    """rotel in the foreground, printing what it receives to a file."""

    def __init__(self, binary: str, directory: Path) -> None:
        self.binary = binary
        self.dir = directory
        self.port = _free_port()
        self.grpc_port = _free_port()
        self.out = directory / "rotel.out"
        self.proc: subprocess.Popen[bytes] | None = None
        self._log: Any = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1/logs"

    def start(self) -> None:
        self._log = open(self.out, "ab")
        self.proc = subprocess.Popen(
            [self.binary, "start", "--otlp-http-endpoint", f"127.0.0.1:{self.port}",
             "--otlp-grpc-endpoint", f"127.0.0.1:{self.grpc_port}", "--exporter", "blackhole",
             "--debug-log", "logs", "--debug-log-verbosity", "detailed",
             "--pid-file", str(self.dir / "rotel.pid")],
            stdout=self._log, stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + READY_TIMEOUT_S
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                pass
            if self.proc.poll() is not None:
                pytest.fail(f"rotel exited at start: {self.text()[-2000:]}")
            if time.monotonic() > deadline:
                pytest.fail("rotel did not open its OTLP/HTTP port in time")
            time.sleep(0.02)  # an outside process: nothing to wait on but its port

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is not None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if self._log is not None:
            self._log.close()
            self._log = None

    def text(self) -> str:
        try:
            return self.out.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return ""

    def bodies(self) -> list[str]:
        return re.findall(r"^Body: Str\((.*)\)$", self.text(), flags=re.M)

    def wait_bodies(self, n: int, timeout: float = READY_TIMEOUT_S) -> list[str]:
        deadline = time.monotonic() + timeout
        while True:
            found = self.bodies()
            if len(found) >= n or time.monotonic() > deadline:
                return found
            time.sleep(0.05)


@pytest.fixture
def collector(tmp_path: Path) -> Iterator[Collector]:
    """A started collector; the OTLP handlers the test configured are closed after it."""
    c = Collector(_rotel(), tmp_path)
    c.start()
    yield c
    handler = logging._handlers.get("otlp")  # type: ignore[attr-defined]
    if handler is not None:
        handler.close()  # its sender thread
    c.stop()


def _configure(logger_name: str, endpoint: str, **otlp: Any) -> Any:
    hftlogging.configure({
        "version": 1,
        "disable_existing_loggers": False,
        "handlers": {
            "otlp": {"class": "hftlogging.handlers.OTLPHandler", "endpoint": endpoint,
                     "resource": {"service.name": "order-gateway"}, **otlp},
            "queue": {"class": "hftlogging.handlers.QueueHandler", "handlers": ["otlp"]},
        },
        "loggers": {logger_name: {"level": "INFO", "handlers": ["queue"], "propagate": False}},
    })
    lg: Any = logging.getLogger(logger_name)
    for h in list(lg.handlers):
        if h is not logging._handlers["queue"]:  # type: ignore[attr-defined]
            lg.removeHandler(h)  # pytest's capture handlers: keep the fast path
    return lg


def test_records_reach_the_collector_with_severity_fields_trace_and_resource(
    collector: Collector, logger_name: str
) -> None:
    """Fields, an exception and an active span arrive with severity, body, attributes,
    trace and span ids (captured on the caller's thread) and the resource."""
    from opentelemetry.sdk.trace import TracerProvider

    lg = _configure(logger_name, collector.endpoint)
    tracer = TracerProvider().get_tracer("test")
    with tracer.start_as_current_span("place_order") as span:
        ctx = span.get_span_context()
        lg.warning("order %s rejected", "o-1", exchange="mexc", qty=0.5)
    try:
        raise ValueError("bad fill")
    except ValueError:
        lg.exception("fill failed")
    hftlogging.shutdown()
    assert collector.wait_bodies(2) == ["order o-1 rejected", "fill failed"]
    text = collector.text()
    first, second = re.split(r"LogRecord #\d+", text)[1:3]
    assert "SeverityNumber: SEVERITY_NUMBER_WARN(13)" in first
    assert "-> exchange: Str(mexc)" in first and "-> qty: Double(0.5)" in first
    assert f"-> logger.name: Str({logger_name})" in first
    assert re.search(rf"Trace ID\s*: {ctx.trace_id:032x}", first)
    assert re.search(rf"Span ID\s*: {ctx.span_id:016x}", first)
    assert "SEVERITY_NUMBER_ERROR(17)" in second and "ValueError: bad fill" in second
    assert re.search(r"Trace ID\s*: \n", second)  # no span was active
    assert "-> service.name: Str(order-gateway)" in text
    assert f"-> process.pid: Int({os.getpid()})" in text


def test_trace_ids_in_text_lines_when_the_format_names_them(
    tmp_path: Path, logger_name: str
) -> None:
    """A text format naming ``%(otel_trace_id)s`` makes the queue capture the ids at the
    call (the span is no longer current on the listener); outside a span they are empty."""
    from opentelemetry.sdk.trace import TracerProvider

    out = tmp_path / "trace.log"
    hftlogging.configure({
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"t": {"()": "hftlogging.formatters.ContextFormatter",
                             "format": "%(otel_trace_id)s %(otel_span_id)s %(message)s"}},
        "handlers": {
            "file": {"class": "logging.FileHandler", "filename": str(out), "formatter": "t"},
            "queue": {"class": "hftlogging.handlers.QueueHandler", "handlers": ["file"]},
        },
        "loggers": {logger_name: {"level": "INFO", "handlers": ["queue"], "propagate": False}},
    })
    lg: Any = logging.getLogger(logger_name)
    for h in list(lg.handlers):
        if h is not logging._handlers["queue"]:  # type: ignore[attr-defined]
            lg.removeHandler(h)
    tracer = TracerProvider().get_tracer("test")
    with tracer.start_as_current_span("s") as span:
        ctx = span.get_span_context()
        lg.info("inside")
    lg.info("outside")
    hftlogging.shutdown()
    lines = out.read_text(encoding="utf-8").splitlines()
    assert lines == [f"{ctx.trace_id:032x} {ctx.span_id:016x} inside", "  outside"]


def test_a_collector_outage_is_buffered_and_overflow_counted(
    collector: Collector, logger_name: str
) -> None:
    """rotel stopped and restarted: records logged meanwhile arrive after it or are
    counted as dropped (a bounded buffer); the log calls never wait for it."""
    lg = _configure(logger_name, collector.endpoint, buffer_size=300,
                    retry_initial_s=0.05, retry_max_s=0.2, timeout_s=2)
    queue = logging._handlers["queue"]  # type: ignore[attr-defined]
    otlp = logging._handlers["otlp"]  # type: ignore[attr-defined]
    for i in range(100):
        lg.info("before %d", i)
    queue.flush()
    otlp.flush()
    assert len(collector.wait_bodies(100)) == 100
    collector.stop()
    done = threading.Event()

    def burst() -> None:
        for i in range(1_000):
            lg.info("during %d", i)
        done.set()

    t = threading.Thread(target=burst)
    t.start()
    assert done.wait(60), "log calls waited on the collector"
    t.join()
    queue.flush()
    collector.start()
    hftlogging.shutdown()
    stats = hftlogging.stats()["exporters"]["otlp"]
    bodies = collector.wait_bodies(100 + 1_000 - stats["dropped"])
    during = [b for b in bodies if b.startswith("during ")]
    assert len(during) + stats["dropped"] == 1_000
    assert stats["dropped"] >= 700  # the buffer holds 300
    assert len(set(during)) == len(during)
