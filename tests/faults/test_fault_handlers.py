"""Handlers that raise, hang or are slow: the others go on, the caller never waits."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from faultkit import ListHandler, build_pipeline, scenario

import hftlogging
from hftlogging.testing import CaptureHandler


class Raises(logging.Handler):
    """Raises on every record, from emit (stdlib style: caught, handleError)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            raise OSError("broken pipe to nowhere")
        except OSError:
            self.handleError(record)


class RaisesInBatch(logging.Handler):
    """A batch handler whose emit_batch raises."""

    def emit(self, record: logging.LogRecord) -> None:  # pragma: no cover - batch only
        self.emit_batch([record])

    def emit_batch(self, records: list[logging.LogRecord]) -> None:
        raise RuntimeError("batch handler bug")


class Hangs(logging.Handler):
    """Blocks on its first record until released."""

    def __init__(self) -> None:
        super().__init__()
        self.entered = threading.Event()
        self.release_gate = threading.Event()

    def emit(self, record: logging.LogRecord) -> None:
        self.entered.set()
        self.release_gate.wait()


class Slow(logging.Handler):
    """Costs ``delay_s`` per batch (load, not synchronisation)."""

    def __init__(self, delay_s: float) -> None:
        super().__init__()
        self.delay_s = delay_s
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:  # pragma: no cover - batch only
        self.emit_batch([record])

    def emit_batch(self, records: list[logging.LogRecord]) -> None:
        self.count += len(records)
        time.sleep(self.delay_s)


@pytest.fixture
def hang() -> Iterator[Hangs]:
    """A hanging handler, released at the end of the test whatever happens."""
    h = Hangs()
    yield h
    h.release_gate.set()


@scenario("handler_raises")
@pytest.mark.parametrize("bad_cls", [Raises, RaisesInBatch])
def test_a_raising_handler_does_not_stop_the_others(logger_name: str, bad_cls: Any) -> None:
    """Every record reaches the healthy handler; the failures are counted and on the fallback."""
    good = CaptureHandler()
    fb = ListHandler()
    p = build_pipeline(logger_name, {"bad": bad_cls(), "good": good}, fallback=fb,
                       failure_threshold=3, retry_initial_s=0.01)
    for i in range(300):
        p.log.info("r %d", i)
    p.flush()
    assert [r.getMessage() for r in good.records] == [f"r {i}" for i in range(300)]
    s = p.stats()
    assert s["handler_errors"]["bad"] >= 1
    assert s["handler_fallbacks"]["bad"] == 300
    assert sum(m.startswith("r ") for m in (r.getMessage() for r in fb.records)) == 300
    p.assert_healthy()


@scenario("handler_hangs_caller")
def test_a_hung_handler_never_makes_the_caller_wait(logger_name: str, hang: Hangs) -> None:
    """With the listener stuck in a handler: text calls return (drops counted), audit calls
    return (kept past capacity), and shutdown gives up at its deadline."""
    p = build_pipeline(logger_name, {"hang": hang}, capacity=100, audit_wait_ms=50,
                       stop_timeout_s=0.5)
    p.log.info("first")
    assert hang.entered.wait(10)
    done = threading.Event()

    def burst() -> None:
        for i in range(20_000):
            p.log.info("r %d", i)
        for i in range(20):
            p.log.audit("kept", n=i)
        done.set()

    t = threading.Thread(target=burst)
    t.start()
    assert done.wait(30), "a log call waited on the hung handler"
    t.join()
    s = p.stats()
    assert s["dropped"] >= 20_000 - 100
    assert s["dropped_by_type"]["audit"] == 0
    assert s["queue_depth"] == 100 + 20  # audit records past the capacity, not dropped
    assert s["audit_over_capacity"] == 20
    p.assert_healthy()
    hang.release_gate.set()
    hftlogging.shutdown()


@scenario("handler_hangs_others")
def test_a_hung_handler_does_not_stall_the_others(logger_name: str, hang: Hangs) -> None:
    """The healthy handler keeps receiving records while another one hangs: after
    hang_timeout_s the hung handler is bypassed (counted, its records on the fallback)."""
    good = CaptureHandler()
    fb = ListHandler()
    p = build_pipeline(logger_name, {"hang": hang, "good": good}, capacity=10_000,
                       hang_timeout_s=0.5, fallback=fb)
    p.log.info("first")
    assert hang.entered.wait(10)
    for i in range(100):
        p.log.info("r %d", i)
    try:
        assert good.wait_for(101, timeout=15.0), f"good handler got {len(good)} of 101"
        assert p.stats()["handler_errors"]["hang"] >= 1
        fb_msgs = [r.getMessage() for r in fb.records]
        assert any("has not returned" in m for m in fb_msgs), fb_msgs
    finally:
        hang.release_gate.set()
    hftlogging.shutdown()
    assert p.stats()["listener_errors"] == 0


@scenario("handler_slow")
def test_a_slow_handler_costs_the_caller_nothing(logger_name: str) -> None:
    """A handler taking 20 ms per batch: the calls finish long before it does, and every
    record reaches both handlers or is counted dropped."""
    slow = Slow(0.02)
    good = CaptureHandler()
    p = build_pipeline(logger_name, {"slow": slow, "good": good}, capacity=2_000,
                       batch_size=256)
    n = 20_000
    t0 = time.monotonic()
    for i in range(n):
        p.log.info("r %d", i)
    caller_s = time.monotonic() - t0
    hftlogging.shutdown()
    s = p.stats()
    mine = [r for r in good.records if r.name == logger_name]
    reports = len(good) - len(mine)  # the listener's own "records dropped" lines
    assert slow.count - reports == len(mine) == n - s["dropped"]
    # The handlers need >= 20 ms per batch of at most 256: the calls did not wait for them.
    assert caller_s < (n / 256) * 0.02, caller_s
