"""Handlers that log through hftlogging, and handlers that never finish closing.

A handler behind the queue that logs from ``emit()`` runs on the listener thread (or on
the thread draining the queue at stop): its records must be queued behind, never waited
for, and a drain that cannot finish counts what it leaves.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from typing import Any

import pytest
from faultkit import ListHandler, build_pipeline, run_child, scenario

import hftlogging
from hftlogging.testing import CaptureHandler

# A child that configures one queue in front of a handler that logs one record through
# hftlogging (by the fast path, and by the stdlib path with extra=) for every record it
# writes from the logger "outer"; argv[1]: what ends the run (shutdown, configure, exit).
REENTRANT_CHILD = """
N = 2000
written = {"outer": 0, "inner": 0, "other": 0}

class Chatty(logging.Handler):
    def emit(self, record):
        who = record.name if record.name in ("outer", "inner") else "other"
        written[who] += 1
        if who == "outer":
            inner = hftlogging.get_logger("inner")
            if record.args and record.args[0] % 2:
                inner.info("echo %d", record.args[0])
            else:
                inner.info("echo %d", record.args[0], extra={"via": "stdlib path"})

def config(overflow):
    return {"version": 1, "disable_existing_loggers": False,
            "handlers": {"chatty": {"()": Chatty},
                         "q": {"class": "hftlogging.handlers.QueueHandler",
                               "handlers": ["chatty"], "capacity": 50_000,
                               "overflow": overflow, "block_timeout_ms": 600_000,
                               "stop_timeout_s": 120, "flush_interval_ms": 600_000}},
            "root": {"level": "INFO", "handlers": ["q"]}}

mode, overflow = sys.argv[1], sys.argv[2]
hftlogging.configure(config(overflow))
q = logging._handlers["q"]
log = hftlogging.get_logger("outer")
for i in range(N):
    log.info("r %d", i)
t0 = time.monotonic()
if mode == "configure":
    hftlogging.configure(config(overflow))
elif mode == "shutdown":
    hftlogging.shutdown()
s = q.stats()
print(json.dumps({"seconds": time.monotonic() - t0, "written": written,
                  "dropped": s["dropped"], "depth": s["queue_depth"],
                  "stopped": s["listeners"] == 0}), flush=True)
if mode == "exit":
    sys.exit(0)
"""


@scenario("reentrant_handler_drain")
@pytest.mark.parametrize("mode", ["shutdown", "configure", "exit"])
@pytest.mark.parametrize("overflow", ["drop_newest", "block"])
def test_a_handler_that_logs_while_the_queue_drains(mode: str, overflow: str) -> None:
    """shutdown(), configure() and the exit return at once while a handler that logs from
    emit() drains a full queue: every outer record and every record it logged is written,
    nothing is dropped, and the process exits by itself (a 600 s block_timeout_ms and a
    10 min flush interval: one wait of the listener on itself would time the test out)."""
    proc = run_child(REENTRANT_CHILD, mode, overflow, timeout=120)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    if mode != "exit":
        assert out["stopped"], out
        assert out["written"] == {"outer": 2000, "inner": 2000, "other": 0}, out
        assert out["dropped"] == 0 and out["depth"] == 0, out
    assert "did not drain" not in proc.stderr, proc.stderr


class Echo(logging.Handler):
    """Logs one record through hftlogging for every record it writes (never settles)."""

    def __init__(self, logger_name: str) -> None:
        super().__init__()
        self.logger_name = logger_name
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.count += 1
        hftlogging.get_logger(self.logger_name).info("echo %d", self.count)


@scenario("handler_logs_forever")
def test_a_drain_that_cannot_finish_counts_what_it_leaves(logger_name: str) -> None:
    """A handler that logs a record for every record it writes keeps its queue non-empty
    forever: shutdown() still returns, what the drain leaves is counted as dropped (by
    type and level) and reported, and every record is written or counted."""
    echo = Echo(logger_name)
    fb = ListHandler()
    p = build_pipeline(logger_name, {"echo": echo}, fallback=fb, flush_interval_ms=600_000,
                       batch_size=64)
    for i in range(500):
        p.log.info("r %d", i)
    hftlogging.shutdown()
    s = p.stats()
    assert s["listeners"] == 0 and s["queue_depth"] == 0, s
    assert s["unfinished_stops"] == 1, s
    assert s["dropped_at_stop"] > 0 and s["dropped"] >= s["dropped_at_stop"], s
    assert s["dropped_by_type"]["text"] == s["dropped"], s
    assert s["drop_reports"] >= 1
    # The handler had every record written and every drop report once; every record
    # logged (500, and one per record the handler had) was written or counted dropped.
    assert echo.count == s["written"] + s["drop_reports"]
    assert 500 + echo.count == s["written"] + s["dropped"], s


@scenario("reentrant_handler_overflow")
def test_a_handler_logging_into_a_full_queue_never_waits(logger_name: str) -> None:
    """overflow: block and a full queue: a handler that logs is never made to wait for
    room only its own thread can make (block_timeout_ms is ten minutes); its records that
    do not fit are counted, audit records go past the capacity."""
    gate = threading.Event()
    entered = threading.Event()

    class Logs(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if record.getMessage() == "first":
                entered.set()
                gate.wait(60)
                lg = hftlogging.get_logger(logger_name)
                for i in range(30):
                    lg.info("from handler %d", i)
                lg.audit("from_handler")

    cap = CaptureHandler()
    p = build_pipeline(logger_name, {"logs": Logs(), "cap": cap}, capacity=10,
                       overflow="block", block_timeout_ms=600_000)
    p.log.info("first")
    assert entered.wait(10)
    for i in range(10):
        p.log.info("fill %d", i)  # exactly the capacity: no caller waits
    gate.set()
    t0 = time.monotonic()
    hftlogging.shutdown()
    assert time.monotonic() - t0 < 60
    s = p.stats()
    got = [r.getMessage() for r in cap.records]
    from_handler = [m for m in got if m.startswith("from handler")]
    assert len(from_handler) + s["dropped"] == 30, (got, s)
    assert s["dropped"] == 30 and s["dropped_by_type"]["audit"] == 0, s
    assert "audit from_handler" in got
    assert s["audit_over_capacity"] == 1, s


# A child with a handler whose close() never returns (and one whose flush() never does):
# the next configure() and the exit must both end in bounded time.
CLOSE_HANGS_CHILD = """
gate = threading.Event()

class NeverCloses(logging.Handler):
    def __init__(self):
        super().__init__()
        self.n = 0
    def emit(self, record):
        self.n += 1
    def close(self):
        gate.wait()
        super().close()

def config():
    return {"version": 1, "disable_existing_loggers": False,
            "handlers": {"h": {"()": NeverCloses},
                         "q": {"class": "hftlogging.handlers.QueueHandler", "handlers": ["h"],
                               "stop_timeout_s": 1}},
            "root": {"level": "INFO", "handlers": ["q"]}}

hftlogging.configure(config())
log = hftlogging.get_logger("app")
for i in range(100):
    log.info("r %d", i)
first = logging._handlers["h"]
t0 = time.monotonic()
hftlogging.configure(config())
took = time.monotonic() - t0
log.info("after")
hftlogging.shutdown()
print(json.dumps({"configure_s": took, "written_first": first.n,
                  "written_second": logging._handlers["h"].n,
                  "close_timeouts": hftlogging.stats()["close_timeouts"]}), flush=True)
"""


@scenario("handler_close_hangs")
def test_a_handler_that_never_closes() -> None:
    """A handler whose close() never returns: check and configure() return after their
    deadlines, the hang is counted (close_timeouts) and reported, every record was
    written before the close, and the exit abandons it too (a timer signal on the main
    thread where Python refuses new threads at exit): the process exits by itself."""
    proc = run_child(CLOSE_HANGS_CHILD, timeout=60)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["written_first"] == 100 and out["written_second"] == 1, out
    assert out["close_timeouts"] >= 1, out
    assert out["configure_s"] < 30, out
    # Each abandoned close is reported: those counted, and the one at exit after them.
    assert proc.stderr.count("close() did not return") == out["close_timeouts"] + 1, proc.stderr


def _wall_clock_child(jump_s: float) -> str:
    return f"""
import time as _time
real_time, real_time_ns = _time.time, _time.time_ns
offset = [0.0]
_time.time = lambda: real_time() + offset[0]
_time.time_ns = lambda: real_time_ns() + int(offset[0] * 1e9)
d = sys.argv[1]
hftlogging.configure({{"version": 1, "disable_existing_loggers": False,
    "handlers": {{"f": {{"class": "hftlogging.handlers.ComponentRotatingFileHandler",
                         "directory": d, "filename": "app.log"}},
                  "a": {{"class": "hftlogging.handlers.JSONAuditHandler",
                         "filename": d + "/audit.jsonl"}},
                  "q": {{"class": "hftlogging.handlers.QueueHandler", "handlers": ["f", "a"],
                         "capacity": 100, "drop_report_interval_s": 0}}}},
    "root": {{"level": "INFO", "handlers": ["q"]}}}})
log = hftlogging.get_logger("app")
for i in range(200):
    log.info("before %d", i)
    log.audit("tick", n=i)
logging._handlers["q"].flush()
offset[0] = {jump_s!r}
t0 = _time.monotonic()
for i in range(200):
    log.info("after %d", i)
    log.audit("tock", n=i)
logging._handlers["q"].flush()
flush_s = _time.monotonic() - t0
hftlogging.shutdown()
s = hftlogging.stats()
print(json.dumps({{"flush_s": flush_s, "dropped": s["dropped"],
                  "errors": sum(s["handler_errors"].values())}}), flush=True)
"""


@scenario("wall_clock_jump")
@pytest.mark.parametrize("jump_s", [-86_400.0 * 365, 86_400.0 * 365])
def test_a_wall_clock_jump_breaks_nothing(tmp_path: Any, jump_s: float) -> None:
    """The wall clock (time.time) jumps a year back or forward mid-run: flush() and
    shutdown() return at once (the listener times itself by the monotonic clock), every
    text and audit record is written, no handler fails, and the audit trail verifies."""
    proc = run_child(_wall_clock_child(jump_s), str(tmp_path), timeout=60)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["errors"] == 0, (out, proc.stderr)
    assert out["flush_s"] < 30, out
    lines = [ln for ln in (tmp_path / "app.log").read_text().splitlines()
             if " before " in ln or " after " in ln]
    text = [ln for ln in lines if "app" in ln]
    dropped = out["dropped"]
    assert len(text) + dropped >= 400, (len(text), dropped)
    audit = (tmp_path / "audit.jsonl").read_text().splitlines()
    assert len(audit) >= 400
    verify = run_child(
        "from hftlogging.cli import main\nsys.exit(main(['audit', 'verify', sys.argv[1]]))",
        str(tmp_path / "audit.jsonl"), timeout=60,
    )
    assert verify.returncode == 0, verify.stdout + verify.stderr


def test_records_logged_from_a_handler_after_shutdown_are_written(logger_name: str) -> None:
    """After shutdown (records written synchronously), a handler that logs does not
    deadlock the caller: its records are written too, on the same call."""
    seen: list[str] = []

    class Logs(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(record.getMessage())
            if record.getMessage() == "late":
                hftlogging.get_logger(logger_name).info("from handler")

    p = build_pipeline(logger_name, {"logs": Logs()})
    p.log.info("early")
    hftlogging.shutdown()
    done = threading.Event()

    def late() -> None:
        p.log.info("late")
        done.set()

    t = threading.Thread(target=late)
    t.start()
    assert done.wait(30), "a log call after shutdown deadlocked on a handler that logs"
    t.join()
    assert seen == ["early", "late", "from handler"]


@scenario("reentrant_handler_drain")
@pytest.mark.parametrize("where", ["filter", "formatter", "fallback"])
def test_filters_formatters_and_fallbacks_that_log(logger_name: str, where: str) -> None:
    """A filter or formatter behind the queue, or the fallback of a failing handler, that
    logs through hftlogging while shutdown() drains 500 queued records: shutdown returns,
    every record and every record they logged is written, nothing is dropped."""
    inner_name = logger_name + ".inner"
    inner = hftlogging.get_logger(inner_name)

    def chat(record: logging.LogRecord) -> None:
        if record.name == logger_name:
            inner.info("about %s", record.getMessage())

    class ChattyFilter(logging.Filter):
        def filter(self, record: logging.LogRecord) -> bool:
            chat(record)
            return True

    class ChattyFormatter(logging.Formatter):
        def format(self, record: logging.LogRecord) -> str:
            chat(record)
            return super().format(record)

    class ChattyFallback(CaptureHandler):
        def emit(self, record: logging.LogRecord) -> None:
            chat(record)
            super().emit(record)

    class Broken(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if record.name == logger_name:
                raise OSError("disk gone")

    class Plain(logging.Handler):
        def __init__(self) -> None:
            super().__init__()
            self.lines: list[str] = []

        def emit(self, record: logging.LogRecord) -> None:
            self.lines.append(self.format(record))

    out = Plain()
    fb = ChattyFallback()
    handlers: dict[str, Any] = {"out": out}
    if where == "filter":
        out.addFilter(ChattyFilter())
    elif where == "formatter":
        out.setFormatter(ChattyFormatter("%(name)s %(message)s"))
    else:
        handlers["broken"] = Broken()
    p = build_pipeline(logger_name, handlers, fallback=fb, flush_interval_ms=600_000,
                       failure_threshold=1_000_000)
    logging.getLogger(inner_name).handlers = [p.queue]
    logging.getLogger(inner_name).propagate = False
    for i in range(500):
        p.log.info("r %d", i)
    hftlogging.shutdown()
    s = p.stats()
    assert s["dropped"] == 0 and s["queue_depth"] == 0 and s["unfinished_stops"] == 0, s
    about = [ln for ln in out.lines if "about r " in ln]
    assert len(about) == 500, (where, len(about))
    assert sum(" r " in f" {ln}" and "about" not in ln for ln in out.lines) == 500


@scenario("reentrant_handler_drain")
def test_a_handler_that_calls_shutdown(logger_name: str) -> None:
    """A handler that calls hftlogging.shutdown() from emit() (on the listener thread):
    the call returns at once, the listener drains what was queued and ends, nothing is
    dropped or counted as left."""
    called = threading.Event()
    cap = CaptureHandler()

    class Stops(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if record.getMessage() == "r 10":
                hftlogging.shutdown()
                called.set()

    p = build_pipeline(logger_name, {"stops": Stops(), "cap": cap})
    for i in range(300):
        p.log.info("r %d", i)
    assert called.wait(30)
    hftlogging.shutdown()
    s = p.stats()
    assert [r.getMessage() for r in cap.records] == [f"r {i}" for i in range(300)]
    assert s["dropped"] == 0 and s["unfinished_stops"] == 0 and s["listeners"] == 0, s


@scenario("handler_logs_forever")
def test_a_drain_that_cannot_finish_never_drops_audit(logger_name: str) -> None:
    """A handler that logs an audit record for every record it writes: shutdown() still
    returns; no audit record is dropped — those left are kept queued and counted
    (audit_left_at_stop), the text records left are counted as dropped."""

    class AuditEcho(logging.Handler):
        def __init__(self) -> None:
            super().__init__()
            self.count = 0

        def emit(self, record: logging.LogRecord) -> None:
            self.count += 1
            hftlogging.get_logger(logger_name).audit("echo", n=self.count)

    echo = AuditEcho()
    p = build_pipeline(logger_name, {"echo": echo}, fallback=ListHandler(),
                       flush_interval_ms=600_000, batch_size=64)
    for i in range(500):
        p.log.info("r %d", i)
    hftlogging.shutdown()
    s = p.stats()
    assert s["listeners"] == 0 and s["unfinished_stops"] == 1, s
    assert s["dropped_by_type"]["audit"] == 0, s
    assert s["audit_left_at_stop"] > 0 and s["queue_depth"] == s["audit_left_at_stop"], s
    assert 500 + echo.count == s["written"] + s["dropped"] + s["queue_depth"], s
