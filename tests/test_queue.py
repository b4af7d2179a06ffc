"""QueueHandler and QueueListener: bounded queue, overflow policies, batching, isolation."""

from __future__ import annotations

import gc
import logging
import logging.config
import sys
import threading
import time
import weakref
from collections.abc import Iterator
from typing import Any

import pytest
from fast_paths import record_reuse_condition

import hftlogging
from hftlogging.exceptions import ConfigError
from hftlogging.handlers import QueueHandler
from hftlogging.testing import CaptureHandler


class SlowBatchHandler(logging.Handler):
    """Counts records per (thread, seq) and is slow: each batch costs ``delay_s``."""

    def __init__(self, delay_s: float = 0.0005) -> None:
        super().__init__()
        self.delay_s = delay_s
        self.seen: set[tuple[Any, ...]] = set()
        self.duplicates = 0
        self.count = 0
        self.audits = 0
        self.batches: list[int] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.emit_batch([record])

    def emit_batch(self, records: list[logging.LogRecord]) -> None:
        self.batches.append(len(records))
        for r in records:
            if r.name == "hftlogging":
                continue  # the listener's own "records dropped" report
            key = (r.context.get("t"), r.context.get("i"), r.log_type)  # type: ignore[attr-defined]
            if key in self.seen:
                self.duplicates += 1
            self.seen.add(key)
            self.count += 1
            if r.log_type == "audit":  # type: ignore[attr-defined]
                self.audits += 1
        if self.delay_s:
            time.sleep(self.delay_s)  # load, not synchronisation: the handler is slow


class GatedCapture(CaptureHandler):
    """Captures records; each batch first sets ``arrived``, then waits for ``gate``.

    The listener stays inside this handler until the test opens the gate, so later
    records wait in the queue.
    """

    def __init__(self, wait_s: float = 10) -> None:
        super().__init__()
        self.gate = threading.Event()
        self.arrived = threading.Event()
        self.wait_s = wait_s

    def emit_batch(self, records: list[logging.LogRecord]) -> None:
        self.arrived.set()
        self.gate.wait(self.wait_s)
        super().emit_batch(records)


def _queue_config(logger_name: str, target: logging.Handler, **queue_opts: Any) -> dict[str, Any]:
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "handlers": {
            "target": {"()": lambda: target},
            "queue": {"class": "hftlogging.handlers.QueueHandler", "handlers": ["target"],
                      **queue_opts},
        },
        "loggers": {
            logger_name: {"level": "DEBUG", "handlers": ["queue"], "propagate": False},
        },
    }


@pytest.fixture
def pipeline(logger_name: str) -> Iterator[Any]:
    """Build a queue pipeline for a dedicated logger; yields a factory."""

    def make(target: logging.Handler, **queue_opts: Any) -> tuple[Any, QueueHandler]:
        hftlogging.configure(_queue_config(logger_name, target, **queue_opts))
        qh = logging._handlers["queue"]  # type: ignore[attr-defined]
        return logging.getLogger(logger_name), qh

    yield make


def _hammer(log: Any, threads: int, per_thread: int, audit_every: int = 0) -> None:
    barrier = threading.Barrier(threads)

    def work(t: int) -> None:
        barrier.wait()
        for i in range(per_thread):
            if audit_every and i % audit_every == 0:
                log.audit("order_placed", t=t, i=i)
            else:
                log.info("order %s filled", i, t=t, i=i)

    workers = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()


@pytest.mark.parametrize("overflow", ["drop_newest", "drop_oldest", "block"])
def test_every_record_is_written_or_counted_as_dropped(pipeline: Any, overflow: str) -> None:
    """8 threads x 50,000 records, capacity 1,000, slow handler: written + dropped == emitted."""
    target = SlowBatchHandler()
    log, qh = pipeline(target, capacity=1000, overflow=overflow, block_timeout_ms=0.05,
                       batch_size=256)
    _hammer(log, threads=8, per_thread=50_000)
    hftlogging.shutdown()
    stats = qh.stats()
    assert target.duplicates == 0
    assert target.count + stats["dropped"] == 8 * 50_000
    assert stats["written"] == target.count
    assert sum(stats["dropped_by_type"].values()) == stats["dropped"]
    assert stats["dropped_by_type"]["audit"] == 0
    if overflow != "block":
        assert stats["dropped"] > 0, "the test must overflow the queue to mean anything"


def test_audit_records_are_never_dropped(pipeline: Any) -> None:
    """Under overflow, text records are dropped and counted, audit records all arrive."""
    target = SlowBatchHandler(delay_s=0.001)
    log, qh = pipeline(target, capacity=200, overflow="drop_newest", audit_wait_ms=2)
    _hammer(log, threads=4, per_thread=20_000, audit_every=10)
    hftlogging.shutdown()
    stats = qh.stats()
    assert target.audits == 4 * 2_000
    assert stats["dropped_by_type"]["audit"] == 0
    assert stats["dropped"] > 0
    assert target.count + stats["dropped"] == 4 * 20_000


def test_drop_oldest_keeps_queued_audit_records(pipeline: Any) -> None:
    """drop_oldest never evicts an audit record that is waiting in the queue."""
    target = GatedCapture()
    gate = target.gate
    log, qh = pipeline(target, capacity=4, overflow="drop_oldest", batch_size=1,
                       audit_wait_ms=0)
    log.info("first")  # taken by the listener, which then waits on the gate
    assert target.arrived.wait(5), "the listener never took the first record"
    assert not qh.ring
    log.audit("kept", i=0)
    for i in range(20):
        log.info("filler %s", i)
    assert any(type(x) is tuple and x[0] == 2 for x in qh.ring)
    gate.set()
    hftlogging.shutdown()
    assert [r.audit_event for r in target.of_type("audit")] == ["kept"]  # type: ignore[attr-defined]
    assert qh.stats()["dropped_by_type"]["audit"] == 0


def test_audit_never_waits_on_a_hung_handler(pipeline: Any) -> None:
    """Queue full and the listener stuck in a handler: the audit record is kept past capacity."""
    target = GatedCapture()
    gate, arrived = target.gate, target.arrived
    log, qh = pipeline(target, capacity=2, batch_size=1, audit_wait_ms=1)
    log.info("held by the listener")
    assert arrived.wait(10)
    log.info("q1")
    log.info("q2")
    log.audit("must_not_be_lost", order_id=7)
    stats = qh.stats()
    assert stats["audit_over_capacity"] == 1
    assert stats["dropped"] == 0
    assert len(qh.ring) == 3
    gate.set()
    hftlogging.shutdown()
    assert [r.context["order_id"] for r in target.of_type("audit")] == [7]  # type: ignore[attr-defined]
    assert len(target.records) == 4


def test_audit_is_written_synchronously_when_nothing_drains_the_queue(pipeline: Any) -> None:
    """Queue full and no batch in dispatch: the audit record is written on the caller's thread."""
    callers: list[str] = []

    class Recording(CaptureHandler):
        def emit_batch(self, records: list[logging.LogRecord]) -> None:
            callers.append(threading.current_thread().name)
            super().emit_batch(records)

    target = Recording()
    log, qh = pipeline(target, capacity=2, audit_wait_ms=1)
    log.info("started")
    qh.listener.stop()  # the thread is gone; the handler still accepts records
    log.info("q1")
    log.info("q2")
    log.audit("written_now", order_id=8)
    assert qh.stats()["audit_sync_writes"] == 1
    assert callers[-1] == threading.current_thread().name
    assert [r.context["order_id"] for r in target.of_type("audit")] == [8]  # type: ignore[attr-defined]
    hftlogging.shutdown()
    assert target.messages() == ["started", "audit written_now", "q1", "q2"]


def test_block_policy_waits_for_room_instead_of_dropping(pipeline: Any) -> None:
    """With overflow=block and a generous timeout, a burst larger than the queue loses nothing."""
    target = SlowBatchHandler(delay_s=0.0002)
    log, qh = pipeline(target, capacity=50, overflow="block", block_timeout_ms=5000)
    _hammer(log, threads=2, per_thread=2_000)
    hftlogging.shutdown()
    assert qh.stats()["dropped"] == 0
    assert target.count == 4_000


def test_listener_reports_drops_through_the_handlers(pipeline: Any) -> None:
    """After drops, one warning "N records dropped since ..." reaches the handlers."""
    target = GatedCapture()
    gate = target.gate
    log, qh = pipeline(target, capacity=5, drop_report_interval_s=0)
    for i in range(50):
        log.info("x %s", i)
    dropped = qh.stats()["dropped"]
    assert dropped >= 40
    gate.set()
    hftlogging.shutdown()
    reports = [r for r in target.records if r.name == "hftlogging"]
    assert len(reports) >= 1
    assert sum(r.context["dropped"] for r in reports) == dropped  # type: ignore[attr-defined]
    assert reports[0].levelno == logging.WARNING
    assert "records dropped since" in reports[0].getMessage()


def test_batch_handlers_get_whole_batches_and_others_one_record_at_a_time(pipeline: Any) -> None:
    """emit_batch receives many records per call; a plain handler is called once per record."""
    gate = threading.Event()

    class Batch(CaptureHandler):
        sizes: list[int]

        def emit_batch(self, records: list[logging.LogRecord]) -> None:
            gate.wait(10)
            self.sizes.append(len(records))
            super().emit_batch(records)

    batch = Batch()
    batch.sizes = []
    plain_calls: list[str] = []

    class Plain(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            plain_calls.append(record.getMessage())

    plain = Plain()
    hftlogging.configure({
        "version": 1,
        "handlers": {
            "batch": {"()": lambda: batch},
            "plain": {"()": lambda: plain},
            "queue": {"class": "hftlogging.handlers.QueueHandler",
                      "handlers": ["batch", "plain"], "batch_size": 100},
        },
        "loggers": {"batching": {"level": "INFO", "handlers": ["queue"], "propagate": False}},
    })
    log = logging.getLogger("batching")
    log.info("first")
    for i in range(300):
        log.info("r %s", i)
    gate.set()
    hftlogging.shutdown()
    assert sum(batch.sizes) == 301
    assert max(batch.sizes) == 100
    assert len(plain_calls) == 301


def test_handler_levels_route_records(pipeline: Any, logger_name: str) -> None:
    """respect_handler_level is on: a WARNING handler behind the queue gets no INFO record."""
    info_h = CaptureHandler()
    warn_h = CaptureHandler(logging.WARNING)
    hftlogging.configure({
        "version": 1,
        "handlers": {
            "info": {"()": lambda: info_h},
            "warn": {"()": lambda: warn_h},
            "queue": {"class": "hftlogging.handlers.QueueHandler", "handlers": ["info", "warn"]},
        },
        "loggers": {logger_name: {"level": "DEBUG", "handlers": ["queue"], "propagate": False}},
    })
    log = logging.getLogger(logger_name)
    log.info("i")
    log.warning("w")
    log.error("e")
    hftlogging.shutdown()
    assert info_h.messages() == ["i", "w", "e"]
    assert warn_h.messages() == ["w", "e"]


class Flaky(logging.Handler):
    """Raises while ``broken`` is set; counts what it wrote."""

    def __init__(self) -> None:
        super().__init__()
        self.broken = True
        self.written: list[str] = []
        self.ok = threading.Event()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            if self.broken:
                msg = "disk on fire"
                raise OSError(msg)
            self.written.append(record.getMessage())
            self.ok.set()
        except Exception:
            self.handleError(record)


def test_failing_handler_is_isolated_routed_to_fallback_and_recovers(pipeline: Any) -> None:
    """A handler raising on every call does not stop the others, and is restored when it heals."""
    flaky = Flaky()
    good = CaptureHandler()
    fallback = CaptureHandler()
    hftlogging.configure({
        "version": 1,
        "handlers": {
            "flaky": {"()": lambda: flaky},
            "good": {"()": lambda: good},
            "fallback": {"()": lambda: fallback},
            "queue": {"class": "hftlogging.handlers.QueueHandler", "handlers": ["flaky", "good"],
                      "fallback": "fallback", "failure_threshold": 3,
                      "retry_initial_s": 0.01, "retry_max_s": 0.05},
        },
        "loggers": {"flaky.test": {"level": "INFO", "handlers": ["queue"], "propagate": False}},
    })
    qh = logging._handlers["queue"]  # type: ignore[attr-defined]
    log = logging.getLogger("flaky.test")
    for i in range(20):
        log.info("before %s", i)
    qh.flush()
    assert good.messages() == [f"before {i}" for i in range(20)]
    routed = [r for r in fallback.records if r.name == "flaky.test"]
    assert [r.getMessage() for r in routed] == [f"before {i}" for i in range(20)]
    stats = hftlogging.stats()
    assert stats["handler_errors"]["flaky"] >= 3
    assert stats["handler_fallbacks"]["flaky"] == 20
    assert "flaky" in qh.stats()["tripped_handlers"]
    assert any("failed 3 times in a row" in r.getMessage() for r in fallback.records)

    flaky.broken = False
    deadline = time.monotonic() + 10
    i = 0
    while not flaky.ok.is_set() and time.monotonic() < deadline:
        log.info("after %s", i)
        i += 1
        qh.flush()
    assert flaky.ok.is_set(), "the handler was never retried"
    log.info("healed")
    hftlogging.shutdown()
    assert flaky.written[-1] == "healed"
    assert "flaky" not in qh.stats()["tripped_handlers"]
    assert any("recovered" in r.getMessage() for r in fallback.records)
    # Nothing was lost: every "after" record went to the handler or to the fallback.
    after = {r.getMessage() for r in fallback.records if r.getMessage().startswith("after")}
    assert after | {m for m in flaky.written if m.startswith("after")} == {
        f"after {j}" for j in range(i)
    }


def test_a_filter_that_raises_on_a_tripped_handler_loses_nothing(logger_name: str) -> None:
    """Records for a handler that is being retried go to the fallback after its filter is
    asked; a filter that raises there sends them to the fallback, and the other handlers
    still get the whole batch."""
    good, fallback = CaptureHandler(), CaptureHandler()

    class Failing(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            raise OSError("down")

    bad = Failing()
    bad.addFilter(lambda r: r.context["user"])  # KeyError: no record has a user field
    hftlogging.configure({
        "version": 1, "disable_existing_loggers": False,
        "handlers": {
            "bad": {"()": lambda: bad}, "good": {"()": lambda: good},
            "fb": {"()": lambda: fallback},
            "queue": {"class": "hftlogging.handlers.QueueHandler", "handlers": ["bad", "good"],
                      "fallback": "fb", "failure_threshold": 1, "retry_initial_s": 60},
        },
        "loggers": {logger_name: {"level": "DEBUG", "handlers": ["queue"],
                                  "propagate": False}},
    })
    log = logging.getLogger(logger_name)
    qh = logging._handlers["queue"]  # type: ignore[attr-defined]
    for i in range(200):
        log.info("n %s", i, i=i)
        if i % 20 == 0:
            qh.flush()
    qh.flush()
    assert [r.context["i"] for r in good.records] == list(range(200))  # type: ignore[attr-defined]
    sent = [r for r in fallback.records if r.name == logger_name]
    assert [r.context["i"] for r in sent] == list(range(200))  # type: ignore[attr-defined]
    assert qh.listener.takeovers == 0 and qh.listener.listener_errors == 0


def test_batch_handler_that_raises_goes_to_fallback(pipeline: Any) -> None:
    """emit_batch raising: the batch goes to the fallback, the error is counted."""

    class Broken(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:  # pragma: no cover - batch only
            raise AssertionError

        def emit_batch(self, records: list[logging.LogRecord]) -> None:
            msg = "no space left"
            raise OSError(msg)

    fallback = CaptureHandler()
    good = CaptureHandler()
    hftlogging.configure({
        "version": 1,
        "handlers": {
            "broken": {"()": Broken},
            "good": {"()": lambda: good},
            "fb": {"()": lambda: fallback},
            "queue": {"class": "hftlogging.handlers.QueueHandler",
                      "handlers": ["broken", "good"], "fallback": "fb"},
        },
        "loggers": {"broken.test": {"level": "INFO", "handlers": ["queue"], "propagate": False}},
    })
    log = logging.getLogger("broken.test")
    for i in range(10):
        log.info("m %s", i)
    hftlogging.shutdown()
    assert len(good.records) == 10
    assert len([r for r in fallback.records if r.name == "broken.test"]) == 10
    assert hftlogging.stats()["handler_errors"]["broken"] >= 1


def test_stop_drains_is_idempotent_and_has_a_deadline(
    pipeline: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    """stop() drains everything queued; a hung handler makes it return at its deadline."""
    target = GatedCapture(wait_s=30)
    gate = target.gate
    log, qh = pipeline(target)
    for i in range(100):
        log.info("m %s", i)
    started = time.monotonic()
    qh.listener.stop(timeout=0.3)
    assert time.monotonic() - started < 5
    assert "did not drain within its deadline" in capsys.readouterr().err
    gate.set()
    qh.stop()
    qh.stop()  # safe twice
    assert len(target.records) == 100
    assert not qh.listener.running


def test_records_after_shutdown_are_written_synchronously(pipeline: Any) -> None:
    """After shutdown() a log call still reaches the handlers (on the caller's thread)."""
    target = CaptureHandler()
    log, qh = pipeline(target)
    log.info("before")
    hftlogging.shutdown()
    log.info("after")
    log.audit("late_audit", x=1)
    assert target.messages() == ["before", "after", "audit late_audit"]


def test_no_formatting_on_the_callers_thread(pipeline: Any) -> None:
    """The stdlib path keeps msg/args and the exception; the traceback is rendered, frames freed."""
    held: list[logging.LogRecord] = []

    class Gated(GatedCapture):
        def emit_batch(self, records: list[logging.LogRecord]) -> None:
            held.extend(records)  # as the listener handed them over, before any formatting
            super().emit_batch(records)

    target = Gated()
    gate, arrived = target.gate, target.arrived
    log, qh = pipeline(target)

    class Marker:
        pass

    def fail() -> weakref.ref[Marker]:
        marker = Marker()
        ref = weakref.ref(marker)
        try:
            raise ValueError("bad order")
        except ValueError:
            log.exception("order %s rejected", 7, reason="limits")
        return ref

    ref = fail()
    gc.collect()
    assert ref() is None, "a frame of the failing call is still alive in the queue"
    assert arrived.wait(10)
    assert len(held) == 1
    rec = held[0]
    assert isinstance(rec, logging.LogRecord)
    assert rec.msg == "order %s rejected"
    assert rec.args == (7,)
    assert "message" not in rec.__dict__
    assert rec.exc_info is not None
    assert rec.exc_info[0] is ValueError
    assert str(rec.exc_info[1]) == "bad order"
    assert rec.exc_info[2] is None
    assert "Traceback (most recent call last)" in (rec.exc_text or "")
    assert "raise ValueError" in (rec.exc_text or "")
    gate.set()
    hftlogging.shutdown()
    assert target.records[0].getMessage() == "order 7 rejected"


class Keeper(logging.Handler):
    """A batch handler that keeps what it is given, in one of four ways."""

    def __init__(self, keep: str) -> None:
        super().__init__()
        self.keep = keep
        self.kept: list[Any] = []
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.emit_batch([record])

    def emit_batch(self, records: list[logging.LogRecord]) -> None:
        self.count += len(records)
        if self.keep == "records":
            self.kept.extend(records)
        elif self.keep == "dicts":
            self.kept.extend(r.__dict__ for r in records)
        elif self.keep == "list":
            self.kept.append(records)
        elif self.keep == "weakrefs":
            self.kept.extend(weakref.ref(r) for r in records)


@pytest.mark.parametrize("keep", ["records", "dicts", "list", "weakrefs"])
def test_kept_records_are_never_reused(pipeline: Any, keep: str) -> None:
    """The listener refills emptied records; one a handler kept (the record, its dict, the
    batch list or a weak reference) is never among them and keeps its content."""
    target = Keeper(keep)
    log, qh = pipeline(target, batch_size=64)
    for i in range(3000):
        log.info("n %s", i, i=i)
        if i % 200 == 0:
            qh.flush()
    qh.flush()
    assert target.count == 3000
    if keep == "records":
        kept = target.kept
    elif keep == "dicts":
        kept = [logging.makeLogRecord(d) for d in target.kept]
    elif keep == "list":
        kept = [r for batch in target.kept for r in batch]
    else:
        kept = [r for r in (w() for w in target.kept) if r is not None]
        assert len(kept) < 3000  # most were freed: nothing kept them strongly
    for r in kept:
        assert r.getMessage() == f"n {r.i}", "a kept record was refilled with another"  # type: ignore[attr-defined]
        assert r.context == {"i": r.i}  # type: ignore[attr-defined]
    if keep != "weakrefs":
        assert [r.i for r in kept] == list(range(3000))  # type: ignore[attr-defined]


def test_written_records_release_the_callers_objects_and_are_reused_where_counts_are_exact(
    pipeline: Any,
) -> None:
    """A logged exception is freed once its batch is written, on every version. Where
    record reuse is on (:func:`record_reuse_condition` holds: CPython up to 3.13 with the
    GIL) records nothing kept go back to the listener's pool emptied and the next record is
    a refilled one; elsewhere the pool stays empty and every record is a new object."""
    seen: list[int] = []
    target = CaptureHandler()
    target.emit_batch = lambda records: seen.extend(map(id, records))  # type: ignore[method-assign]
    log, qh = pipeline(target)

    class OrderRejected(Exception):
        pass

    def fail() -> weakref.ref[BaseException]:
        try:
            raise OrderRejected("bad order")
        except OrderRejected as e:
            log.error("rejected", exc_info=e)
            return weakref.ref(e)

    for i in range(2000):
        log.info("n %s", i)
    ref = fail()
    qh.flush()
    gc.collect()
    assert ref() is None, "a written record still holds the exception"
    pool = qh.listener._pool
    if not record_reuse_condition():
        assert pool == []
        return
    assert 0 < len(pool) <= 2 * qh.listener.batch_size
    assert all(type(r).__name__ == "Record" and not r.__dict__ for r in pool)
    pooled = {id(r) for r in pool}
    log.info("reuse")
    qh.flush()
    assert seen[-1] in pooled


def test_mutable_arguments_are_rendered_at_call_time(pipeline: Any) -> None:
    """A list argument mutated after the call still shows its call-time value."""
    target = GatedCapture()
    gate = target.gate
    log, _ = pipeline(target)
    book = [1, 2]
    log.info("book %s", book)
    log.info("depth %s", {"bids": book})
    book.append(3)
    gate.set()
    hftlogging.shutdown()
    assert target.messages() == ["book [1, 2]", "depth {'bids': [1, 2]}"]


def _formatter_target(fmt: str) -> CaptureHandler:
    h = CaptureHandler()
    h.setFormatter(logging.Formatter(fmt))
    return h


def test_caller_info_is_captured_only_when_a_formatter_needs_it(pipeline: Any) -> None:
    """Decided at configuration: no caller fields in the format, no findCaller per call."""
    target = _formatter_target("%(levelname)s %(message)s")
    log, qh = pipeline(target)
    log.info("x")
    hftlogging.shutdown()
    assert qh.needs_caller is False
    assert target.records[0].lineno == 0


@pytest.mark.parametrize("fmt", ["%(funcName)s", "%(lineno)d", "%(pathname)s", "%(filename)s",
                                 "%(module)s"])
def test_caller_info_is_captured_when_a_formatter_uses_it(pipeline: Any, fmt: str) -> None:
    """Any of funcName/lineno/pathname/filename/module in a format turns capture on."""
    target = _formatter_target(fmt + " %(message)s")
    log, qh = pipeline(target)
    log.info("x")
    line = sys._getframe().f_lineno - 1
    hftlogging.shutdown()
    rec = target.records[0]
    assert qh.needs_caller is True
    assert (rec.pathname, rec.lineno, rec.funcName) == (
        __file__, line, "test_caller_info_is_captured_when_a_formatter_uses_it")
    assert rec.module == "test_queue"


def test_caller_info_can_be_forced(pipeline: Any) -> None:
    """caller_info=True captures it for every record even with no formatter asking."""
    target = CaptureHandler()
    log, qh = pipeline(target, caller_info=True)
    log.info("x")
    line = sys._getframe().f_lineno - 1
    hftlogging.shutdown()
    assert target.records[0].lineno == line


@pytest.mark.parametrize("fmt", ["%(threadName)s %(message)s", "%(message)s"])
def test_thread_name_is_taken_at_call_time_when_a_format_shows_it(
    pipeline: Any, fmt: str
) -> None:
    """With threadName in a format behind the queue, a record names its thread as it was at
    the call, even when the thread has ended before the listener builds the record;
    otherwise the name is not captured (the caller does not pay for it)."""
    target = GatedCapture()
    gate, busy = target.gate, target.arrived
    target.setFormatter(logging.Formatter(fmt))
    log, qh = pipeline(target)
    log.info("first")
    assert busy.wait(10)  # the listener is inside the handler: later records wait in the queue
    t = threading.Thread(target=lambda: log.info("from worker"), name="order-worker")
    t.start()
    t.join()
    gate.set()
    qh.flush()
    rec = target.records[-1]
    assert rec.getMessage() == "from worker" and rec.thread == t.ident
    assert qh.needs_thread_name == ("threadName" in fmt)
    if "threadName" in fmt:
        assert rec.threadName == "order-worker"
        assert target.format(rec) == "order-worker from worker"


def test_stats_report_the_pipeline(pipeline: Any) -> None:
    """stats() has the documented keys with consistent values."""
    target = CaptureHandler()
    log, qh = pipeline(target, capacity=123)
    for i in range(10):
        log.info("m %s", i)
    qh.flush()
    stats = hftlogging.stats()
    for key in ("queue_depth", "capacity", "high_water", "enqueued", "written", "dropped",
                "dropped_by_type", "handler_errors", "batches", "mean_batch_size",
                "handler_fallbacks", "listeners"):
        assert key in stats
    assert stats["capacity"] == 123
    assert stats["written"] == 10
    assert stats["enqueued"] == 10
    assert stats["dropped"] == 0
    assert stats["listeners"] == 1
    assert stats["batches"] >= 1
    assert stats["mean_batch_size"] == pytest.approx(10 / stats["batches"])
    hftlogging.shutdown()
    assert hftlogging.stats()["listeners"] == 0


def test_plain_dictconfig_starts_the_listener(logger_name: str) -> None:
    """logging.config.dictConfig alone (no hftlogging.configure) gives a working queue."""
    target = CaptureHandler()
    hftlogging.install()
    logging.config.dictConfig({
        "version": 1,
        "disable_existing_loggers": False,
        "handlers": {
            "target": {"()": lambda: target},
            "queue": {"class": "hftlogging.handlers.QueueHandler", "handlers": ["target"]},
        },
        "loggers": {logger_name: {"level": "INFO", "handlers": ["queue"], "propagate": False}},
    })
    log = logging.getLogger(logger_name)
    log.info("via dictConfig", k=1)
    log.counter("plain_dictconfig_events")
    hftlogging.shutdown()
    assert [r.getMessage() for r in target.records] == [
        "via dictConfig", "metric plain_dictconfig_events=1"]
    assert target.records[0].context == {"k": 1}  # type: ignore[attr-defined]


def test_plain_stdlib_logger_through_the_queue(logger_name: str) -> None:
    """A stdlib Logger (no install) using the QueueHandler goes through prepare/enqueue."""
    target = CaptureHandler()
    qh = QueueHandler(handlers=[target])
    lg = logging.Logger(logger_name, logging.INFO)  # not an HFTLogger
    lg.addHandler(qh)
    lg.info("plain %s", "stdlib", extra={"k": "v"})
    qh.close()
    assert target.messages() == ["plain stdlib"]
    assert target.records[0].k == "v"  # type: ignore[attr-defined]


def test_unknown_target_handler_is_a_configuration_error(logger_name: str) -> None:
    """A queue naming a handler that does not exist fails at configure(), naming it."""
    with pytest.raises(ConfigError, match="nope"):
        hftlogging.configure({
            "version": 1,
            "handlers": {"queue": {"class": "hftlogging.handlers.QueueHandler",
                                   "handlers": ["nope"]}},
            "loggers": {logger_name: {"handlers": ["queue"]}},
        })


@pytest.mark.parametrize(("option", "value", "message"), [
    ("capacity", 0, "capacity: expected a value > 0, found 0; raise capacity"),
    ("capacity", "lots",
     "capacity: expected an integer, found 'lots'; give capacity as a plain number"),
    ("overflow", "drop_everything",
     "overflow: expected one of drop_newest, drop_oldest, block, discard_below, "
     "found 'drop_everything'; drop_newest is the default"),
    ("batch_size", -1, "batch_size: expected a value > 0, found -1; raise batch_size"),
    ("flush_interval_ms", "soon",
     "flush_interval_ms: expected a number, found 'soon'; give flush_interval_ms as a plain "
     "number"),
    ("caller_info", "sometimes",
     "caller_info: expected 'auto', true or false, found 'sometimes'; true records the call "
     "site always, 'auto' when a formatter reads it"),
])
def test_bad_queue_options_fail_at_construction(option: str, value: Any, message: str) -> None:
    """Each queue option is validated when the handler is built, with a clear message."""
    with pytest.raises(ConfigError) as info:
        QueueHandler(**{option: value})
    assert info.value.message == message
    assert info.value.key == option


def test_reconfiguring_ten_times_leaves_one_listener_and_loses_nothing(logger_name: str) -> None:
    """configure() ten times: old listeners drained and stopped, every record written."""
    targets = []
    for n in range(10):
        target = CaptureHandler()
        targets.append(target)
        hftlogging.configure(_queue_config(logger_name, target))
        log = logging.getLogger(logger_name)
        for i in range(200):
            log.info("round %s record %s", n, i)
        listeners = [t for t in threading.enumerate() if t.name == "hftlogging-listener"]
        assert len(listeners) == 1
    hftlogging.shutdown()
    assert [len(t.records) for t in targets] == [200] * 10


def test_plain_dictconfig_twice_stops_the_old_listener(logger_name: str) -> None:
    """dictConfig twice (no hftlogging.configure): the old queue drains, its thread ends."""
    hftlogging.install()
    first, second = CaptureHandler(), CaptureHandler()
    for target in (first, second):
        logging.config.dictConfig(_queue_config(logger_name, target))
        log = logging.getLogger(logger_name)
        for i in range(100):
            log.info("r %s", i)
    listeners = [t for t in threading.enumerate() if t.name == "hftlogging-listener"]
    assert len(listeners) == 1
    hftlogging.shutdown()
    assert len(first.records) == 100
    assert len(second.records) == 100


def test_a_hung_handler_does_not_stall_the_others(logger_name: str) -> None:
    """A handler that never returns is bypassed after hang_timeout_s; the others go on."""
    release = threading.Event()
    entered = threading.Event()

    class Hung(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            entered.set()
            release.wait(30)

    good = CaptureHandler()
    fallback = CaptureHandler()
    hftlogging.configure({
        "version": 1,
        "handlers": {
            "hung": {"()": Hung},
            "good": {"()": lambda: good},
            "fb": {"()": lambda: fallback},
            "queue": {"class": "hftlogging.handlers.QueueHandler", "handlers": ["hung", "good"],
                      "fallback": "fb", "hang_timeout_s": 0.3, "retry_initial_s": 0.05},
        },
        "loggers": {logger_name: {"level": "INFO", "handlers": ["queue"], "propagate": False}},
    })
    qh = logging._handlers["queue"]  # type: ignore[attr-defined]
    log = logging.getLogger(logger_name)
    log.info("first")
    assert entered.wait(10)
    for i in range(100):
        log.info("next %s", i)
    assert good.wait_for(101, timeout=20), "the good handler stalled behind the hung one"
    assert good.messages()[0] == "first"
    assert qh.stats()["listener_takeovers"] == 1
    assert "hung" in qh.stats()["tripped_handlers"]
    assert any("has not returned" in r.getMessage() for r in fallback.records)
    routed = {r.getMessage() for r in fallback.records if r.name == logger_name}
    assert routed == {f"next {i}" for i in range(100)}
    release.set()
    log.info("after release")
    hftlogging.shutdown()
    assert good.messages()[-1] == "after release"
