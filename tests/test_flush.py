"""logger.flush(): every record logged before the call is written and the handlers flushed."""

from __future__ import annotations

import asyncio
import logging
import logging.handlers
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import hftlogging
from hftlogging.handlers import QueueHandler
from hftlogging.testing import CaptureHandler


def _configure(logger_name: str, *targets: logging.Handler, **queue_opts: Any) -> QueueHandler:
    handlers: dict[str, Any] = {
        f"t{i}": {"()": (lambda h=h: h)} for i, h in enumerate(targets)
    }
    handlers["queue"] = {
        "class": "hftlogging.handlers.QueueHandler",
        "handlers": list(handlers),
        # A long interval: without a flush, the listener would let records wait.
        "flush_interval_ms": 60_000,
        "batch_size": 100_000,
        **queue_opts,
    }
    hftlogging.configure({
        "version": 1,
        "disable_existing_loggers": False,
        "handlers": handlers,
        "loggers": {logger_name: {"level": "DEBUG", "handlers": ["queue"], "propagate": False}},
    })
    qh: QueueHandler = logging._handlers["queue"]  # type: ignore[attr-defined]
    return qh


class _Buffered(logging.handlers.MemoryHandler):
    """A MemoryHandler that writes its file only when flushed (or holding 10^6 records).

    Built with its target on first use: configure() closes the handlers that existed
    before it, and a closed MemoryHandler forgets its target.
    """

    def __init__(self, path: Path) -> None:
        super().__init__(1_000_000, flushLevel=100)
        self.path = path

    def emit(self, record: logging.LogRecord) -> None:
        if self.target is None:
            target = logging.FileHandler(self.path)
            target.setFormatter(logging.Formatter("%(message)s"))
            self.setTarget(target)
        super().emit(record)

    def close(self) -> None:
        target = self.target
        super().close()
        if target is not None:
            target.close()


@pytest.fixture
def buffered(tmp_path: Path, logger_name: str) -> Iterator[tuple[Any, Path]]:
    """A logger whose queue feeds a buffering file handler; yields (logger, file)."""
    path = tmp_path / "out.log"
    memory = _Buffered(path)
    _configure(logger_name, memory)
    yield hftlogging.get_logger(logger_name), path
    memory.close()


class Gated(CaptureHandler):
    """Each batch sets ``arrived``, then waits for ``gate``: the listener stays inside."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = threading.Event()
        self.arrived = threading.Event()

    def emit_batch(self, records: list[logging.LogRecord]) -> None:
        self.arrived.set()
        self.gate.wait()
        super().emit_batch(records)


def test_flush_writes_every_earlier_record_and_flushes_buffered_handlers(
    buffered: tuple[Any, Path],
) -> None:
    """After flush() returns True, a buffering handler behind the queue has written all."""
    log, path = buffered
    for i in range(500):
        log.info("line %d", i)
    assert log.flush() is True
    lines = path.read_text().splitlines()
    assert lines == [f"line {i}" for i in range(500)]


def test_flush_covers_records_of_other_threads_and_bound_views(
    buffered: tuple[Any, Path],
) -> None:
    """Records logged by any thread before the call are written; a bound view flushes too."""
    log, path = buffered
    bound = log.with_context(worker="w")

    def work(t: int) -> None:
        for i in range(200):
            log.info("t%d %d", t, i)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert bound.flush() is True
    assert len(path.read_text().splitlines()) == 800


def test_flush_times_out_with_false_while_a_handler_blocks(logger_name: str) -> None:
    """A blocked handler makes flush(timeout) return False; once released, flush() is True."""
    cap = Gated()
    _configure(logger_name, cap, hang_timeout_s=0)
    log = hftlogging.get_logger(logger_name)
    log.info("first")
    log.flush(0)  # wakes the listener, which then blocks in the handler
    assert cap.arrived.wait(10)
    log.info("second")
    assert log.flush(timeout=0.05) is False
    cap.gate.set()
    assert log.flush() is True
    assert cap.messages() == ["first", "second"]


def test_flush_from_a_handler_on_the_listener_returns_false_instead_of_deadlocking(
    logger_name: str,
) -> None:
    """A handler that calls flush() on the listener thread gets False at once."""
    results: list[bool] = []

    class Flushing(CaptureHandler):
        def emit_batch(self, records: list[logging.LogRecord]) -> None:
            super().emit_batch(records)
            results.append(hftlogging.get_logger(logger_name).flush())

    cap = Flushing()
    _configure(logger_name, cap)
    log = hftlogging.get_logger(logger_name)
    log.info("one")
    assert log.flush() is True
    assert results == [False]
    assert cap.messages() == ["one"]


def test_flush_from_asyncio_through_to_thread(buffered: tuple[Any, Path]) -> None:
    """await asyncio.to_thread(log.flush) returns True with every earlier record written."""
    log, path = buffered

    async def main() -> bool:
        for i in range(50):
            log.info("async %d", i)
        return await asyncio.to_thread(log.flush)

    assert asyncio.run(main()) is True
    assert len(path.read_text().splitlines()) == 50


def test_flush_marker_survives_drop_oldest_overflow(logger_name: str) -> None:
    """Under drop_oldest, a full queue never drops the flush marker: flush still returns."""
    cap = Gated()
    qh = _configure(logger_name, cap, capacity=10, overflow="drop_oldest", hang_timeout_s=0)
    log = hftlogging.get_logger(logger_name)
    log.info("first")
    log.flush(0)
    assert cap.arrived.wait(10)
    done: list[bool] = []
    flusher = threading.Thread(target=lambda: done.append(log.flush()))
    flusher.start()
    for i in range(100):  # overflows many times over, with the marker queued
        log.info("burst %d", i)
    cap.gate.set()
    flusher.join()
    assert done == [True]
    assert hftlogging.stats()["dropped"] > 0
    assert qh.stats()["written"] == len(cap)


def test_flush_after_shutdown_and_without_queues_returns_true(logger_name: str) -> None:
    """With no running listener there is nothing to wait for: flush() is True at once."""
    cap = CaptureHandler()
    _configure(logger_name, cap)
    log = hftlogging.get_logger(logger_name)
    log.info("before")
    hftlogging.shutdown()
    assert log.flush() is True
    assert cap.messages() == ["before"]
