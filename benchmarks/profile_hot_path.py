"""What each step of hftlogging's hot path costs: caller side and listener side.

Run: ``python benchmarks/profile_hot_path.py``. Not collected by pytest.

Caller side: the cost of the building blocks a fast-path ``info`` call is made of, timed
in batches (``timeit``), then the whole call with the listener paused, so the figure has
no contention in it. Listener side: the captured calls are turned into records,
formatted and written by hand, step by step, per record.

This script reaches into internals (the listener thread is stopped without closing the
handler, so captured calls stay in the ring): it is a measuring tool, not an example.
"""

from __future__ import annotations

import collections
import contextvars
import logging
import os
import statistics
import sys
import tempfile
import threading
import time
import timeit
from typing import Any

import hftlogging
from hftlogging.handlers import records as hq
from hftlogging.tools import bench

N = 200_000


def ns(stmt: str, setup: str = "pass", number: int = N, repeat: int = 7,
       g: dict[str, Any] | None = None) -> float:
    """Median ns per execution of ``stmt`` (loop overhead subtracted)."""
    t = timeit.Timer(stmt, setup, globals=g)
    e = timeit.Timer("pass", setup, globals=g)
    runs = [t.timeit(number) / number * 1e9 for _ in range(repeat)]
    empty = [e.timeit(number) / number * 1e9 for _ in range(repeat)]
    return statistics.median(runs) - statistics.median(empty)


def caller_blocks() -> list[tuple[str, float]]:
    """Building blocks of the fast path, each timed alone."""
    cv: contextvars.ContextVar[Any] = contextvars.ContextVar("x", default=None)
    imm = frozenset({str, int, float, bool, type(None)})
    g: dict[str, Any] = {
        "time_ns": time.time_ns, "get_ident": threading.get_ident, "cv_get": cv.get,
        "ring": collections.deque(), "cache": {-21: object()}, "imm": imm, "os": os,
        "kw": {"exchange": "mexc", "qty": 0.5}, "args": (1,), "reserved": frozenset(
            {"exc_info", "stack_info", "stacklevel", "extra"}),
    }

    def f_star(self: Any, msg: Any = None, /, *args: Any, **kw: Any) -> None:
        pass

    def f_fixed(self: Any, msg: Any, a: Any, exchange: Any, qty: Any) -> None:
        pass

    g["f_star"] = f_star
    g["f_fixed"] = f_fixed
    rows = [
        ("call f(self, msg, /, *args, **kw) with 1 arg + 2 keywords (empty body)",
         ns('f_star(None, "order %s filled", 1, exchange="mexc", qty=0.5)', g=g)),
        ("call of a plain function with the same 5 values (no *args/**kw packing)",
         ns('f_fixed(None, "order %s filled", 1, exchange="mexc", qty=0.5)', g=g)),
        ("self._cache[key] in try/except (hit)", ns(
            "try:\n    s = cache[-21]\nexcept KeyError:\n    pass", g=g)),
        ("type(a) not in frozenset, one argument", ns(
            "for a in args:\n    if type(a) not in imm: break", g=g)),
        ("one pass over 2 fields: type(v) not in imm or k in reserved", ns(
            "for k, v in kw.items():\n    if type(v) not in imm or k in reserved: break", g=g)),
        ("reserved.isdisjoint(kw)", ns("reserved.isdisjoint(kw)", g=g)),
        ("time.time_ns()", ns("time_ns()", g=g)),
        ("threading.get_ident()", ns("get_ident()", g=g)),
        ("ContextVar.get()", ns("cv_get()", g=g)),
        ("os.getpid()", ns("os.getpid()", g=g)),
        ("12-tuple of locals", ns("(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11)",
                                  "a=b=c=d=e=f=h=i=j=k=l=m=1", g=g)),
        ("12-tuple with time_ns(), get_ident(), cv_get() inside", ns(
            "(0, a, b, c, d, e, f, cv_get(), time_ns(), get_ident(), None, None)",
            "a=b=c=d=e=f=1", g=g)),
        ("len(ring) < capacity; ring.append(x); (then cleared)", ns(
            "if len(ring) < 10**9: ring.append(1)", g=g, number=N)),
    ]
    g["ring"].clear()
    return rows


def _stopped_listener_setup(directory: str) -> bench.HftSetup:
    s = bench.HftSetup(directory, "text", capacity=10 * N)
    s.start()
    s.log.info("warm %s", 0, exchange="mexc", qty=0.5)
    s.flush()
    listener = s.queue_handler.listener
    listener._stopping = True  # stop the thread, keep the handler open and on the fast path
    listener.wake()
    listener._thread.join()
    return s


def caller_whole(s: bench.HftSetup) -> list[tuple[str, float]]:
    """The real calls, listener stopped (no GIL contention).

    Each call's captured tuple is popped right away (the pop is included): a queue that
    grows by 50,000 records makes every call pay for garbage-collector passes over the
    backlog, which is not what a drained queue costs.
    """
    ring = s.queue_handler._ring.items
    log = s.log
    g = {"log": log, "ring": ring}
    rows = []
    for label, stmt in (
        ("log.info('order %s filled', i, exchange=..., qty=...)",
         'log.info("order %s filled", 1, exchange="mexc", qty=0.5)'),
        ("log.info('order %s filled', i) (no fields)", 'log.info("order %s filled", 1)'),
        ("log.debug(...) disabled", 'log.debug("order %s filled", 1, exchange="mexc", qty=0.5)'),
        ("log.counter('orders_filled')", 'log.counter("orders_filled")'),
        ("log.metric('position', 1.5)", 'log.metric("position", 1.5)'),
        ("with log.timer('place_order'): pass", 'with log.timer("place_order"):\n    pass'),
    ):
        timed = stmt if "debug" in stmt else stmt + "\nring.pop()"
        vals = []
        for _ in range(7):
            ring.clear()
            vals.append(ns(timed, g=g, number=50_000, repeat=1))
        rows.append((label, statistics.median(vals)))
    ring.clear()
    return rows


def listener_steps(s: bench.HftSetup) -> list[tuple[str, float]]:
    """Per-record cost of each listener step, on captured calls."""
    ring = s.queue_handler._ring.items
    ring.clear()
    n = 50_000
    for i in range(n):
        s.log.info("order %s filled", i, exchange="mexc", qty=0.5)
    items = list(ring)
    ring.clear()
    target = s.queue_handler.handlers[0]
    fmt = target.formatter
    rows = []

    t0 = time.perf_counter_ns()
    records = [hq.materialize(it) for it in items]
    rows.append(("materialize(item) -> Record (build_record)", (time.perf_counter_ns() - t0) / n))

    from hftlogging import record as rec_mod

    t0 = time.perf_counter_ns()
    for _ in range(n):
        rec_mod._process()
    rows.append(("record._process() (os.getpid per record)", (time.perf_counter_ns() - t0) / n))

    t0 = time.perf_counter_ns()
    for r in records:
        r.getMessage()
    rows.append(("Record.getMessage()", (time.perf_counter_ns() - t0) / n))

    t0 = time.perf_counter_ns()
    for r in records:
        fmt.format(r)
    rows.append((f"{type(fmt).__name__}.format(record)", (time.perf_counter_ns() - t0) / n))

    from hftlogging.formatters import JSONFormatter, render_context

    t0 = time.perf_counter_ns()
    for r in records:
        render_context(r.context)
    rows.append(("render_context(2 fields)", (time.perf_counter_ns() - t0) / n))

    jf = JSONFormatter()
    t0 = time.perf_counter_ns()
    for r in records[:10_000]:
        jf.format(r)
    rows.append(("JSONFormatter.format(record)", (time.perf_counter_ns() - t0) / 10_000))

    std = logging.Formatter(bench.setups.STDLIB_TEXT_FORMAT)
    t0 = time.perf_counter_ns()
    for r in records:
        std.format(r)
    rows.append(("stdlib logging.Formatter.format(record), same line",
                 (time.perf_counter_ns() - t0) / n))

    with tempfile.TemporaryDirectory() as d:
        h = logging.FileHandler(os.path.join(d, "x.log"))
        h.setFormatter(fmt)
        t0 = time.perf_counter_ns()
        for r in records:
            h.handle(r)
        rows.append(("stdlib FileHandler.handle (format + write + flush per record)",
                     (time.perf_counter_ns() - t0) / n))
        h.close()

    emit_batch = getattr(target, "emit_batch", None)
    if emit_batch is not None:
        t0 = time.perf_counter_ns()
        for k in range(0, n, 512):
            emit_batch(records[k:k + 512])
        rows.append((f"{type(target).__name__}.emit_batch, per record (batches of 512)",
                     (time.perf_counter_ns() - t0) / n))

    listener = s.queue_handler.listener
    for it in items:
        ring.append(it)
    t0 = time.perf_counter_ns()
    listener._drain_now()
    rows.append(("QueueListener._drain_now: whole listener path, per record",
                 (time.perf_counter_ns() - t0) / n))
    return rows


def main() -> int:
    """Print the three tables."""
    print(f"{bench.machine()}\n")
    print("Caller-side building blocks (ns, batch-timed, loop overhead subtracted)")
    for label, v in caller_blocks():
        print(f"  {v:8.0f}  {label}")
    with tempfile.TemporaryDirectory() as d:
        s = _stopped_listener_setup(d)
        print("\nWhole calls, listener paused (ns per call)")
        for label, v in caller_whole(s):
            print(f"  {v:8.0f}  {label}")
        print("\nListener side, per record (ns)")
        for label, v in listener_steps(s):
            print(f"  {v:8.0f}  {label}")
        hftlogging.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
