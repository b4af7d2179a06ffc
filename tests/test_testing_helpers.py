"""hftlogging.testing: capture() and CaptureHandler, thread-safe."""

from __future__ import annotations

import logging
import threading

import pytest
from test_logger import make_fast_pipe

import hftlogging
from hftlogging.testing import CaptureHandler, capture


def test_capture_by_name_and_restores(logger_name: str) -> None:
    """capture(name) collects records, then removes its handler and restores the level."""
    hftlogging.install()
    log = logging.getLogger(logger_name)
    log.setLevel(logging.WARNING)
    with capture(logger_name) as records:
        assert isinstance(records, CaptureHandler)
        log.debug("debug is captured: the level is opened for the block")
        log.info("filled", order_id=7)
    assert len(records) == 2
    assert records[1].context == {"order_id": 7}  # type: ignore[attr-defined]
    assert records.messages() == [
        "debug is captured: the level is opened for the block", "filled"]
    assert log.level == logging.WARNING
    assert records not in log.handlers
    log.error("after the block")
    assert len(records) == 2


def test_capture_logger_object_and_level(logger_name: str) -> None:
    """capture(logger, level) takes a logger object and keeps records at that level up."""
    hftlogging.install()
    log = logging.getLogger(logger_name)
    with capture(log, logging.WARNING) as records:
        log.info("dropped")
        log.warning("kept")
    assert records.messages() == ["kept"]
    assert log.level == logging.NOTSET


def test_capture_restores_on_exception(logger_name: str) -> None:
    """A failing block still removes the handler and restores the level."""
    log = logging.getLogger(logger_name)
    with pytest.raises(RuntimeError), capture(log):
        raise RuntimeError
    assert log.handlers == []
    assert log.level == logging.NOTSET


def test_capture_root_by_default(logger_name: str) -> None:
    """capture() with no logger captures at the root (propagated records)."""
    hftlogging.install()
    with capture() as records:
        logging.getLogger(logger_name).warning("propagated")
    assert any(r.getMessage() == "propagated" for r in records)


def test_of_type_iteration_clear(logger_name: str) -> None:
    """of_type filters by log_type; iteration, indexing, len and clear work."""
    hftlogging.install()
    log = logging.getLogger(logger_name)
    with capture(log) as records:
        log.info("text")
        log.counter("c")
        log.audit("ev")
    assert [r.getMessage() for r in records.of_type("metric")] == ["metric c=1"]
    assert [r.audit_event for r in records.of_type("audit")] == ["ev"]  # type: ignore[attr-defined]
    assert [r.log_type for r in records] == ["text", "metric", "audit"]  # type: ignore[attr-defined]
    assert records[-1].log_type == "audit"  # type: ignore[attr-defined]
    snapshot = records.records
    records.clear()
    assert len(records) == 0
    assert len(snapshot) == 3


def test_capture_is_thread_safe(logger_name: str) -> None:
    """Many threads logging at once: every record is captured, none lost or duplicated."""
    hftlogging.install()
    log = logging.getLogger(logger_name)
    n_threads, per_thread = 16, 200
    start = threading.Barrier(n_threads)
    readers_done = threading.Event()
    reader_saw: list[int] = []

    def work(i: int) -> None:
        start.wait()
        for j in range(per_thread):
            log.info("r", t=i, j=j)

    def read(records: CaptureHandler) -> None:
        # Readers snapshot while writers append: snapshots must be consistent lists.
        while not readers_done.is_set():
            reader_saw.append(len(records.records))

    with capture(log) as records:
        reader = threading.Thread(target=read, args=(records,))
        reader.start()
        threads = [threading.Thread(target=work, args=(i,)) for i in range(n_threads)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        readers_done.set()
        reader.join()
    assert len(records) == n_threads * per_thread
    assert reader_saw == sorted(reader_saw)  # snapshots only ever grow
    seen: dict[int, list[int]] = {}
    for r in records:
        seen.setdefault(r.context["t"], []).append(r.context["j"])  # type: ignore[attr-defined]
    assert seen == {i: list(range(per_thread)) for i in range(n_threads)}


def test_capture_handler_behind_the_queue(logger_name: str) -> None:
    """Behind a QueueHandler a CaptureHandler gets whole batches; wait_for synchronises."""
    target = CaptureHandler()
    pipe = make_fast_pipe(logger_name, target)
    n_threads, per_thread = 8, 100
    start = threading.Barrier(n_threads)

    def work(i: int) -> None:
        start.wait()
        for j in range(per_thread):
            pipe.log.info("q", t=i, j=j)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert target.wait_for(n_threads * per_thread, timeout=10)
    assert len(target) == n_threads * per_thread
    assert not target.wait_for(n_threads * per_thread + 1, timeout=0.01)
    keys = {(r.context["t"], r.context["j"]) for r in target}  # type: ignore[attr-defined]
    assert len(keys) == n_threads * per_thread


def test_capture_handler_wait_for_across_threads() -> None:
    """wait_for returns as soon as another thread delivers the records."""
    h = CaptureHandler()
    go = threading.Event()

    def deliver() -> None:
        go.wait()
        h.emit_batch([logging.LogRecord("n", logging.INFO, "p", 1, "m", (), None)] * 3)

    t = threading.Thread(target=deliver)
    t.start()
    go.set()
    assert h.wait_for(3, timeout=10)
    t.join()
    assert len(h) == 3
