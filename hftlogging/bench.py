"""Benchmarks against the standard library and the peers: ``hftlogging bench [--quick]``.

Every figure is measured in the same run, on the same workload, and reported beside a
ratio to the standard library's ``Logger`` + ``QueueHandler`` + ``QueueListener`` path.

Workloads:

1. caller-side cost of an enabled ``info`` with one ``%``-argument and two keyword
   fields, timed call by call with ``perf_counter_ns``, in two regimes: ``sat``
   (back-to-back calls) and ``paced`` (bursts of 20 calls, then 5 ms of sleep, as a
   trading loop that logs sporadically);
2. a disabled ``debug`` call (batches of calls, per-call mean);
3. ``counter``, ``metric`` and ``timer`` against the enabled text call;
4. end-to-end throughput: records per second until every record is on disk, in text
   through size-rotating files and in JSON lines, line counts checked;
5. a burst of 1,000,000 records into a queue of capacity 10,000: peak memory growth and
   exact accounting (written + dropped == emitted);
6. worker processes each logging to their own file: aggregate throughput;
7. the audit trail beside JSON lines through the queue, ``fsync: batch``, chain verified
   (:mod:`hftlogging.bench_audit`).
8. four processes writing one shared rotating file (``exclusive: false``), against four
   writing their own files and against concurrent-log-handler's
   ConcurrentRotatingFileHandler on one file (:mod:`hftlogging.bench_shared`).
9. self-monitoring on and off; rate-limited calls and the backtrace ring ("Storms").
10. many loggers: creating 10,000, getting one, ``addHandler``/``setLevel`` on one, and an
   enabled ``info`` with 10,000 loggers against the same call with 10.

Each measurement runs in a fresh interpreter (``python -m hftlogging.bench --worker
SPEC``), scenarios are interleaved and repeated, and the tables show medians of the
repeats. Peers (picologging, structlog, loguru) are included when importable.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import importlib.util
import json
import logging
import logging.handlers
import math
import os
import platform
import queue
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from pythonjsonlogger.json import JsonFormatter

import hftlogging

resource: Any
try:
    import resource
except ImportError:  # pragma: no cover - Windows
    resource = None

__all__ = ["SETUPS", "Setup", "main", "measure_batch", "measure_calls", "measure_throughput"]

LOGGER_NAME = "bench"
#: hftlogging's text format; the others are given formats producing the same line.
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s %(context)s"
STDLIB_TEXT_FORMAT = (
    "%(asctime)s %(levelname)s %(name)s: %(message)s exchange=%(exchange)s qty=%(qty)s"
)
# picologging 0.9.3 accepts ``extra=`` but does not put it on the record.
PICO_TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
LOGURU_TEXT_FORMAT = (
    "{time:YYYY-MM-DD HH:mm:ss,SSS} {level} {extra[logger]}: {message} "
    "exchange={extra[exchange]} qty={extra[qty]}"
)
MAX_BYTES = 4 * 1024 * 1024
BACKUP_COUNT = 200
BURST = 20
PAUSE_S = 0.005

# The workload of every caller-side call: one %-argument and two keyword fields.
CALLS: dict[str, dict[str, str]] = {
    "hftlogging": {
        "info": 'log.info("order %s filled", i, exchange="mexc", qty=0.5)',
        "debug": 'log.debug("order %s filled", i, exchange="mexc", qty=0.5)',
        "counter": 'log.counter("orders_filled")',
        "metric": 'log.metric("position", 1.5)',
        "timer": 'with log.timer("place_order"): pass',
        # Held back by a rate limit: the view's call site let one record through already.
        "suppressed": 'log.every(3600.0).warning("order %s filled", i, exchange="mexc")',
    },
    "stdlib": {
        "info": 'log.info("order %s filled", i, extra={"exchange": "mexc", "qty": 0.5})',
        "debug": 'log.debug("order %s filled", i, extra={"exchange": "mexc", "qty": 0.5})',
    },
    "picologging": {
        "info": 'log.info("order %s filled", i, extra={"exchange": "mexc", "qty": 0.5})',
        "debug": 'log.debug("order %s filled", i, extra={"exchange": "mexc", "qty": 0.5})',
    },
    "structlog": {
        "info": 'log.info("order %s filled", i, exchange="mexc", qty=0.5)',
        "debug": 'log.debug("order %s filled", i, exchange="mexc", qty=0.5)',
    },
    "loguru": {
        "info": 'log.info("order {} filled", i, exchange="mexc", qty=0.5)',
        "debug": 'log.debug("order {} filled", i, exchange="mexc", qty=0.5)',
    },
    "floor": {
        "info": 'log.info("order %s filled", i, exchange="mexc", qty=0.5)',
        "debug": 'log.debug("order %s filled", i, exchange="mexc", qty=0.5)',
    },
}
CALLS["stdlib-tuned"] = CALLS["stdlib"]
CALLS["empty"] = {"info": "pass", "debug": "pass"}


def _count_lines(directory: str, prefix: str = LOGGER_NAME, needle: bytes | None = None) -> int:
    """Count the lines of every file in ``directory`` whose name starts with ``prefix``."""
    total = 0
    for name in os.listdir(directory):
        if not name.startswith(prefix):
            continue
        with open(os.path.join(directory, name), "rb") as f:
            if needle is None:
                total += sum(chunk.count(b"\n") for chunk in iter(lambda: f.read(1 << 20), b""))
            else:
                total += sum(1 for line in f if needle in line)
    return total


def _importable(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


# --- setups -------------------------------------------------------------------------------


class Setup:
    """One library configured to write ``LOGGER_NAME`` records to files in a directory.

    Args:
        directory: where the log files go (names start with ``bench``).
        fmt: ``"text"`` or ``"json"``.
        capacity: queue capacity, where the library has a bounded queue.
    """

    key = ""
    label = ""
    note = ""
    requires: tuple[str, ...] = ()
    formats: tuple[str, ...] = ("text", "json")

    def __init__(
        self,
        directory: str,
        fmt: str = "text",
        capacity: int | None = None,
        overflow: str | None = None,
    ) -> None:
        self.directory = directory
        self.fmt = fmt
        self.capacity = capacity
        self.overflow = overflow
        self.log: Any = None
        self.path = os.path.join(directory, LOGGER_NAME + (".log" if fmt == "text" else ".jsonl"))

    @classmethod
    def available(cls) -> bool:
        """Whether the libraries this setup needs are importable."""
        return all(_importable(m) for m in cls.requires)

    def start(self) -> None:
        """Configure the library and make :attr:`log` the logger to call."""
        raise NotImplementedError

    def stop(self) -> None:
        """Drain every queued record to disk, then undo the configuration."""
        raise NotImplementedError

    def dropped(self) -> int:
        """Records the library counted as dropped (0 where it never drops)."""
        return 0

    def lines(self) -> int:
        """Lines on disk from this setup's files."""
        return _count_lines(self.directory)


class HftSetup(Setup):
    """hftlogging: QueueHandler -> rotating file, configured with ``hftlogging.configure``."""

    key = "hftlogging"
    label = "hftlogging QueueHandler"
    requires = ("hftlogging",)

    def _file_handler(self) -> dict[str, Any]:
        formatter = "text" if self.fmt == "text" else "json"
        if _importable("hftlogging.handlers.rotating"):
            return {
                "class": "hftlogging.handlers.ComponentRotatingFileHandler",
                "directory": self.directory,
                "filename": "{component}" + (".log" if self.fmt == "text" else ".jsonl"),
                "max_bytes": MAX_BYTES, "backup_count": BACKUP_COUNT,
                "formatter": formatter,
            }
        return {
            "class": "logging.handlers.RotatingFileHandler", "filename": self.path,
            "maxBytes": MAX_BYTES, "backupCount": BACKUP_COUNT, "encoding": "utf-8",
            "formatter": formatter,
        }

    @property
    def note(self) -> str:  # type: ignore[override]
        target = (
            "ComponentRotatingFileHandler"
            if _importable("hftlogging.handlers.rotating")
            else "stdlib RotatingFileHandler"
        )
        serializer = "orjson" if _importable("orjson") else "json"
        return (f"hftlogging.configure(): QueueHandler -> {target}; keyword fields; JSON: "
                f"JSONFormatter serialising with {serializer}")

    def start(self) -> None:
        queue_entry: dict[str, Any] = {
            "class": "hftlogging.handlers.QueueHandler", "handlers": ["file"],
        }
        if self.capacity is not None:
            queue_entry["capacity"] = self.capacity
        if self.overflow is not None:
            queue_entry["overflow"] = self.overflow
            queue_entry["block_timeout_ms"] = 60_000
        hftlogging.configure({
            "version": 1,
            "disable_existing_loggers": False,
            "formatters": {
                "text": {"()": "hftlogging.formatters.ContextFormatter", "fmt": TEXT_FORMAT},
                "json": {"()": "hftlogging.formatters.JSONFormatter"},
            },
            "handlers": {"file": self._file_handler(), "queue": queue_entry},
            "loggers": {
                LOGGER_NAME: {"level": "INFO", "handlers": ["queue"], "propagate": False},
            },
        })
        self.log = logging.getLogger(LOGGER_NAME)
        self.queue_handler: Any = self.log.handlers[0]

    def flush(self) -> None:
        """Wait until the queue is drained into the file handler."""
        self.queue_handler.flush()

    def stats(self) -> dict[str, Any]:
        """The queue handler's counters."""
        return dict(self.queue_handler.stats())

    def dropped(self) -> int:
        return int(self.queue_handler.stats()["dropped"])

    def stop(self) -> None:
        qh = self.queue_handler
        targets = list(qh.handlers)
        self._final_stats = qh.stats()
        hftlogging.shutdown()
        self.log.removeHandler(qh)
        qh.close()
        for h in targets:
            h.close()


class StdlibSetup(Setup):
    """stdlib: Logger + QueueHandler + QueueListener -> RotatingFileHandler."""

    key = "stdlib"
    label = "stdlib QueueHandler"
    note = "Logger + QueueHandler + QueueListener -> RotatingFileHandler; fields via extra="

    def _formatter(self) -> logging.Formatter:
        if self.fmt == "json":
            fmt: logging.Formatter = JsonFormatter("%(asctime)s %(levelname)s %(name)s %(message)s")
            return fmt
        return logging.Formatter(STDLIB_TEXT_FORMAT)

    def _queue_handler(self, q: queue.Queue[Any]) -> logging.Handler:
        return logging.handlers.QueueHandler(q)

    def start(self) -> None:
        q: queue.Queue[Any] = queue.Queue()
        self.file_handler = logging.handlers.RotatingFileHandler(
            self.path, maxBytes=MAX_BYTES, backupCount=BACKUP_COUNT, encoding="utf-8"
        )
        self.file_handler.setFormatter(self._formatter())
        self.listener = logging.handlers.QueueListener(
            q, self.file_handler, respect_handler_level=True
        )
        self.listener.start()
        # A plain Logger even where hftlogging.install() has changed the logger class.
        log = logging.Logger(LOGGER_NAME, logging.INFO)
        log.propagate = False
        self.queue_handler = self._queue_handler(q)
        log.addHandler(self.queue_handler)
        self.log = log

    def stop(self) -> None:
        self.listener.stop()
        self.log.removeHandler(self.queue_handler)
        self.file_handler.close()


class _PassThroughQueueHandler(logging.handlers.QueueHandler):
    def prepare(self, record: logging.LogRecord) -> Any:
        return record


class StdlibTunedSetup(StdlibSetup):
    """stdlib with the two documented tunings: no caller lookup, no ``prepare`` copy."""

    key = "stdlib-tuned"
    label = "stdlib tuned"
    note = "as stdlib, with logging._srcfile = None and a pass-through prepare()"

    def _queue_handler(self, q: queue.Queue[Any]) -> logging.Handler:
        return _PassThroughQueueHandler(q)

    def start(self) -> None:
        self._saved_srcfile = logging._srcfile
        logging._srcfile = None
        super().start()

    def stop(self) -> None:
        super().stop()
        logging._srcfile = self._saved_srcfile


class PicoSetup(Setup):
    """picologging: Logger + QueueHandler + QueueListener -> RotatingFileHandler."""

    key = "picologging"
    label = "picologging QueueHandler"
    note = ("picologging QueueHandler + QueueListener -> RotatingFileHandler; extra= is "
            "passed but 0.9.3 drops it, and its %(asctime)s is broken (flatters it)")
    requires = ("picologging",)
    formats = ("text",)

    def start(self) -> None:
        pico: Any = importlib.import_module("picologging")
        handlers: Any = importlib.import_module("picologging.handlers")
        q: queue.Queue[Any] = queue.Queue()
        self.file_handler = handlers.RotatingFileHandler(
            self.path, maxBytes=MAX_BYTES, backupCount=BACKUP_COUNT
        )
        self.file_handler.setFormatter(pico.Formatter(PICO_TEXT_FORMAT))
        self.listener = handlers.QueueListener(q, self.file_handler)
        self.listener.start()
        log = pico.Logger(LOGGER_NAME, pico.INFO)
        self.queue_handler = handlers.QueueHandler(q)
        log.addHandler(self.queue_handler)
        self.log = log

    def stop(self) -> None:
        self.listener.stop()
        self.log.removeHandler(self.queue_handler)
        self.file_handler.close()


def _structlog_text_line(_logger: Any, method: str, event: dict[str, Any]) -> bytes:
    """structlog renderer producing the same line as the other setups."""
    msg = event.pop("event")
    ts = event.pop("timestamp")
    fields = " ".join(f"{k}={v}" for k, v in event.items())
    return f"{ts} {method.upper()} {LOGGER_NAME}: {msg} {fields}".encode()


class StructlogSetup(Setup):
    """structlog as its performance guide advises, writing synchronously (no queue)."""

    key = "structlog"
    label = "structlog (synchronous)"
    note = ("make_filtering_bound_logger(INFO), cache_logger_on_first_use, BytesLoggerFactory "
            "to an open file (no rotation: structlog has none); text: TimeStamper + a "
            "renderer giving the same line; JSON: JSONRenderer(orjson.dumps) when orjson "
            "is installed; fields as keywords")
    requires = ("structlog",)

    def start(self) -> None:
        structlog: Any = importlib.import_module("structlog")
        self.file = open(self.path, "wb")  # noqa: SIM115 - closed in stop()
        if self.fmt == "text":
            processors = [
                structlog.processors.TimeStamper(fmt="%Y-%m-%d %H:%M:%S", utc=False),
                _structlog_text_line,
            ]
        else:
            serializer: Callable[..., Any] = json.dumps
            if _importable("orjson"):
                serializer = importlib.import_module("orjson").dumps
            else:  # JSONRenderer must return bytes for BytesLogger
                def serializer(obj: Any, **kw: Any) -> bytes:
                    return json.dumps(obj, **kw).encode()
            processors = [
                structlog.processors.add_log_level,
                structlog.processors.TimeStamper(fmt="iso", utc=True),
                structlog.processors.JSONRenderer(serializer=serializer),
            ]
        structlog.configure(
            cache_logger_on_first_use=True,
            wrapper_class=structlog.make_filtering_bound_logger(logging.INFO),
            processors=processors,
            logger_factory=structlog.BytesLoggerFactory(self.file),
        )
        self.log = structlog.get_logger(LOGGER_NAME)

    def stop(self) -> None:
        structlog: Any = importlib.import_module("structlog")
        self.file.close()
        structlog.reset_defaults()


class LoguruSetup(Setup):
    """loguru with ``enqueue=True`` and size rotation."""

    key = "loguru"
    label = "loguru enqueue=True"
    note = ("logger.add(file, enqueue=True, rotation='4 MB'), '{}' message format, fields as "
            "keywords (loguru puts them in extra); JSON: serialize=True")
    requires = ("loguru",)

    def start(self) -> None:
        loguru: Any = importlib.import_module("loguru")
        logger = loguru.logger
        logger.remove()
        kw: dict[str, Any] = {"serialize": True} if self.fmt == "json" else {
            "format": LOGURU_TEXT_FORMAT}
        self.sink = logger.add(
            self.path, level="INFO", enqueue=True, rotation=f"{MAX_BYTES} B", **kw
        )
        self.log = logger.bind(logger=LOGGER_NAME)

    def stop(self) -> None:
        loguru: Any = importlib.import_module("loguru")
        loguru.logger.complete()
        loguru.logger.remove(self.sink)


class _FloorLogger:
    """The floor: level check, timestamp, thread id, a tuple into a SimpleQueue."""

    __slots__ = ("level", "q")

    def __init__(self, q: Any) -> None:
        self.level = logging.INFO
        self.q = q

    def info(self, msg: Any, *args: Any, **kw: Any) -> None:
        if self.level <= logging.INFO:
            self.q.put((logging.INFO, msg, args, kw, time.time_ns(), threading.get_ident()))

    def debug(self, msg: Any, *args: Any, **kw: Any) -> None:
        if self.level <= logging.DEBUG:
            self.q.put((logging.DEBUG, msg, args, kw, time.time_ns(), threading.get_ident()))


class FloorSetup(Setup):
    """The floor: the cheapest capture; a consumer thread builds and writes LogRecords."""

    key = "floor"
    label = "floor (tuple -> SimpleQueue)"
    note = ("reference floor: level check + time_ns + thread id + tuple -> SimpleQueue; a "
            "consumer thread builds the LogRecord, formats with stdlib Formatter, one write "
            "per batch")
    formats = ("text",)

    def start(self) -> None:
        self.q: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self.file = open(self.path, "w", encoding="utf-8")  # noqa: SIM115 - closed in stop()
        self.formatter = logging.Formatter(STDLIB_TEXT_FORMAT)
        self.thread = threading.Thread(target=self._consume, daemon=True)
        self.thread.start()
        self.log = _FloorLogger(self.q)

    def _consume(self) -> None:
        q = self.q
        fmt = self.formatter.format
        while True:
            item = q.get()
            batch = [item]
            while len(batch) < 512:
                try:
                    batch.append(q.get_nowait())
                except queue.Empty:
                    break
            out = []
            done = False
            for it in batch:
                if it is None:
                    done = True
                    continue
                level, msg, args, kw, t_ns, _tid = it
                rec = logging.LogRecord(LOGGER_NAME, level, "", 0, msg, args, None)
                rec.created = t_ns / 1e9
                rec.__dict__.update(kw)
                out.append(fmt(rec))
            if out:
                self.file.write("\n".join(out) + "\n")
                self.file.flush()
            if done:
                return

    def stop(self) -> None:
        self.q.put(None)
        self.thread.join()
        self.file.close()


class EmptySetup(Setup):
    """No call at all: the cost of reading the timer twice."""

    key = "empty"
    label = "(timer overhead, no call)"
    note = "two perf_counter_ns reads and the store"
    formats = ("text",)

    def start(self) -> None:
        self.log = None

    def stop(self) -> None:
        pass


SETUPS: dict[str, type[Setup]] = {
    cls.key: cls
    for cls in (HftSetup, StdlibSetup, StdlibTunedSetup, PicoSetup, StructlogSetup,
                LoguruSetup, FloorSetup, EmptySetup)
}


# --- measurements -------------------------------------------------------------------------

_SAT_TEMPLATE = """
def run(out, n, first):
    pc = perf_counter_ns
    for j in range(n):
        i = first + j
        t0 = pc()
        {call}
        t1 = pc()
        out[j] = t1 - t0
"""

_PACED_TEMPLATE = """
def run(out, n, first):
    pc = perf_counter_ns
    j = 0
    while j < n:
        for _ in range(burst):
            i = first + j
            t0 = pc()
            {call}
            t1 = pc()
            out[j] = t1 - t0
            j += 1
        sleep(pause)
"""

_BATCH_TEMPLATE = """
def run(loops, first):
    pc = perf_counter_ns
    t0 = pc()
    for i in range(first, first + loops):
        {call}
    return pc() - t0
"""


def _compile(template: str, call: str, log: Any) -> Callable[..., Any]:
    """Build the timing loop with the call inlined, as :mod:`timeit` does."""
    ns: dict[str, Any] = {
        "perf_counter_ns": time.perf_counter_ns, "sleep": time.sleep, "log": log,
        "burst": BURST, "pause": PAUSE_S,
    }
    exec(template.format(call=call), ns)  # noqa: S102 - our own fixed templates
    return ns["run"]  # type: ignore[no-any-return]


def percentiles(samples: Sequence[int]) -> dict[str, float]:
    """p50/p90/p99/p99.9/max and mean of ``samples`` (nanoseconds), nearest rank."""
    s = sorted(samples)
    n = len(s)

    def q(p: float) -> float:
        return float(s[min(n - 1, int(p * n))])

    return {
        "p50": q(0.50), "p90": q(0.90), "p99": q(0.99), "p999": q(0.999),
        "max": float(s[-1]), "mean": sum(s) / n,
    }


def _drain_between(setup: Setup) -> None:
    flush = getattr(setup, "flush", None)
    if flush is not None:
        flush()


def measure_calls(
    setup: Setup, kind: str, regime: str, n: int, warmup: int = 2_000
) -> dict[str, Any]:
    """Time ``n`` calls one by one (``perf_counter_ns`` into a preallocated list).

    Args:
        setup: a started :class:`Setup`.
        kind: ``"info"``, ``"debug"``, ``"counter"``, ``"metric"`` or ``"timer"``.
        regime: ``"sat"`` (back-to-back) or ``"paced"`` (bursts of 20 calls, 5 ms sleep).
        n: timed calls (a multiple of 20 for ``paced``).
        warmup: untimed calls first (same regime), then the queue is drained.

    Returns:
        percentiles in ns plus ``n`` and ``calls`` (warm-up included).
    """
    call = CALLS[setup.key][kind]
    run = _compile(_SAT_TEMPLATE if regime == "sat" else _PACED_TEMPLATE, call, setup.log)
    n = max(BURST, n - n % BURST)
    warm = [0] * max(BURST, warmup - warmup % BURST)
    run(warm, len(warm), 0)
    _drain_between(setup)
    out = [0] * n
    gc.collect()
    run(out, n, len(warm))
    res = percentiles(out)
    res["n"] = n
    res["calls"] = n + len(warm)
    return res


def measure_batch(setup: Setup, kind: str, loops: int = 1_000, repeat: int = 50) -> dict[str, Any]:
    """Time batches of ``loops`` back-to-back calls; per-call ns of each batch.

    Returns:
        ``median``, ``min`` per-call ns over the batches, and ``calls`` made.
    """
    call = CALLS[setup.key][kind]
    run = _compile(_BATCH_TEMPLATE, call, setup.log)
    empty = _compile(_BATCH_TEMPLATE, "pass", None)
    run(loops, 0)
    per_call = []
    loop_cost = []
    for r in range(repeat):
        per_call.append(run(loops, (r + 1) * loops) / loops)
        loop_cost.append(empty(loops, 0) / loops)
        if kind != "debug" and r % 5 == 4:
            _drain_between(setup)  # keep a bounded queue from filling up
    return {
        "median": statistics.median(per_call), "min": min(per_call),
        "loop": statistics.median(loop_cost), "calls": loops * (repeat + 1),
    }


def measure_monitor(
    setup: Setup, loops: int = 1_000, repeat: int = 200, sample_every: int = 1_000
) -> dict[str, Any]:
    """The enabled ``info`` call with self-monitoring off and on, in the same process.

    Batches of ``loops`` back-to-back calls alternate between sampling off
    (``latency_sample_every: 0``) and on (one call in ``sample_every``), so both see the
    same machine, files and queue.

    Returns:
        ``off`` and ``on``: median per-call ns over the batches of each; ``ratio``: the
        median of on / off over adjacent batches; ``samples`` taken; ``calls`` made.
    """
    from hftlogging.monitor import get_monitor

    monitor = get_monitor()
    call = CALLS[setup.key]["info"]
    run = _compile(_BATCH_TEMPLATE, call, setup.log)
    run(loops, 0)
    off: list[float] = []
    on: list[float] = []
    first = loops
    try:
        for r in range(repeat):
            for every, out in ((0, off), (sample_every, on)) if r % 2 else \
                    ((sample_every, on), (0, off)):
                monitor.configure(latency_sample_every=every)
                out.append(run(loops, first) / loops)
                first += loops
            if r % 5 == 4:
                _drain_between(setup)
        samples = monitor.stats()["call_latency_us"]["samples"]
    finally:
        monitor.configure()
    # The ratio of each adjacent pair, then their median: the machine's drift over the
    # run moves both members of a pair alike.
    ratios = [b / a for a, b in zip(off, on, strict=False)]
    return {"off": statistics.median(off), "on": statistics.median(on),
            "ratio": statistics.median(ratios), "samples": samples, "calls": first}


def measure_throughput(setup: Setup, n: int, warmup: int = 1_000) -> dict[str, Any]:
    """Log ``n`` records back to back and stop the setup: records/s until all are on disk.

    Returns:
        ``rate`` (records/s), ``seconds``, ``lines`` counted on disk and ``expected``.
    """
    log = setup.log
    if setup.key == "loguru":
        def emit(i: int) -> None:
            log.info("order {} filled", i, exchange="mexc", qty=0.5)  # noqa: PLE1205
    elif setup.key in ("stdlib", "stdlib-tuned", "picologging"):
        def emit(i: int) -> None:
            log.info("order %s filled", i, extra={"exchange": "mexc", "qty": 0.5})
    else:
        def emit(i: int) -> None:
            log.info("order %s filled", i, exchange="mexc", qty=0.5)
    for i in range(warmup):
        emit(i)
    _drain_between(setup)
    gc.collect()
    t0 = time.perf_counter()
    for i in range(warmup, warmup + n):
        emit(i)
    dropped = setup.dropped()
    setup.stop()
    seconds = time.perf_counter() - t0
    return {
        "rate": n / seconds, "seconds": seconds, "lines": setup.lines(),
        "expected": n + warmup, "dropped": dropped,
    }


def measure_backtrace(directory: str, n: int, ring: bool, every: int = 1_000) -> dict[str, Any]:
    """Records/s to disk through the queue, with or without a backtrace ring in front.

    The workload is the same either way: ``n`` records, one ERROR every ``every``
    records, the others INFO. Without the ring every record goes to the file as it comes;
    with a ring of ``every`` records that flushes at ERROR, the INFO records wait in the
    ring and each ERROR writes the ``every - 1`` before it, so the same lines reach the
    file (the last partial ring excepted, which is not written).
    """
    path = os.path.join(directory, LOGGER_NAME + ".log")
    handlers: dict[str, Any] = {
        "file": {"class": "hftlogging.handlers.ComponentRotatingFileHandler",
                 "directory": directory, "filename": "{component}.log",
                 "max_bytes": MAX_BYTES, "backup_count": BACKUP_COUNT, "formatter": "text"},
    }
    if ring:
        handlers["ring"] = {"class": "hftlogging.handlers.BacktraceHandler",
                            "capacity": every, "flush_level": "ERROR", "target": "file"}
    handlers["queue"] = {"class": "hftlogging.handlers.QueueHandler",
                         "handlers": ["ring" if ring else "file"], "overflow": "block",
                         "block_timeout_ms": 60_000}
    hftlogging.configure({
        "version": 1, "disable_existing_loggers": False,
        "formatters": {"text": {"()": "hftlogging.formatters.ContextFormatter",
                                "fmt": TEXT_FORMAT}},
        "handlers": handlers,
        "loggers": {LOGGER_NAME: {"level": "INFO", "handlers": ["queue"], "propagate": False}},
    })
    log: Any = logging.getLogger(LOGGER_NAME)
    n -= n % every
    gc.collect()
    t0 = time.perf_counter()
    for i in range(n):
        if i % every == every - 1:
            log.error("order %s rejected", i, exchange="mexc")
        else:
            log.info("order %s filled", i, exchange="mexc", qty=0.5)
    hftlogging.shutdown()
    seconds = time.perf_counter() - t0
    lines = _count_lines(directory) if os.path.exists(path) else 0
    return {"rate": n / seconds, "seconds": seconds, "lines": lines, "expected": n}


def _maxrss_bytes() -> int:
    if resource is None:  # pragma: no cover - not on Windows
        return 0
    rss = int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
    return rss if sys.platform == "darwin" else rss * 1024


def measure_burst(setup: Setup, n: int, warmup: int = 1_000) -> dict[str, Any]:
    """Log ``n`` records back to back; peak RSS growth, and the accounting.

    Returns:
        ``growth_mb`` (peak RSS after the burst minus peak RSS before it), ``seconds`` of
        the burst, and for hftlogging ``written``, ``dropped``, ``emitted`` and
        ``lines`` (records of the benchmark logger on disk).
    """
    log = setup.log
    is_hft = setup.key == "hftlogging"
    for i in range(warmup):
        if is_hft:
            log.info("order %s filled", i, exchange="mexc", qty=0.5)
        else:
            log.info("order %s filled", i, extra={"exchange": "mexc", "qty": 0.5})
    _drain_between(setup)
    gc.collect()
    before = _maxrss_bytes()
    t0 = time.perf_counter()
    if is_hft:
        info = log.info
        for i in range(warmup, warmup + n):
            info("order %s filled", i, exchange="mexc", qty=0.5)
    else:
        info = log.info
        for i in range(warmup, warmup + n):
            info("order %s filled", i, extra={"exchange": "mexc", "qty": 0.5})
    seconds = time.perf_counter() - t0
    after = _maxrss_bytes()
    res: dict[str, Any] = {
        "growth_mb": (after - before) / 1e6, "seconds": seconds, "emitted": n + warmup,
    }
    if is_hft:
        assert isinstance(setup, HftSetup)
        setup.flush()
        st = setup.stats()
        res.update(written=st["written"], dropped=st["dropped"], high_water=st["high_water"],
                   capacity=st["capacity"])
        setup.stop()
        res["lines"] = _count_lines(setup.directory, needle=f" {LOGGER_NAME}: ".encode())
    return res


# --- worker processes ------------------------------------------------------------------------


def _worker(spec: dict[str, Any]) -> dict[str, Any]:
    task = spec["task"]
    if task == "loggers":
        return measure_loggers(spec)
    directory = tempfile.mkdtemp(prefix="hftlogging-bench-")
    try:
        setup = SETUPS[spec["setup"]](directory, spec.get("fmt", "text"), spec.get("capacity"),
                                      spec.get("overflow"))
        setup.start()
        if task == "calls":
            res = measure_calls(setup, spec["kind"], spec["regime"], spec["n"],
                                spec.get("warmup", 2_000))
            dropped = setup.dropped()
            setup.stop()
            res["dropped"] = dropped
            if spec["kind"] != "debug" and setup.key != "empty":
                res["lines"] = setup.lines()
            return res
        if task == "batch":
            res = measure_batch(setup, spec["kind"], spec.get("loops", 1_000),
                                spec.get("repeat", 50))
            setup.stop()
            return res
        if task == "monitor":
            res = measure_monitor(setup, spec.get("loops", 1_000), spec.get("repeat", 200),
                                  spec.get("sample_every", 1_000))
            setup.stop()
            res["lines"] = setup.lines()
            return res
        if task == "throughput":
            return measure_throughput(setup, spec["n"])
        if task == "burst":
            return measure_burst(setup, spec["n"])
        if task == "proc":
            return _proc_child(setup, spec["n"])
        if task == "backtrace":
            setup.stop()
            return measure_backtrace(directory, spec["n"], spec["ring"])
        msg = f"unknown task {task!r}"
        raise ValueError(msg)
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def _proc_child(setup: Setup, n: int) -> dict[str, Any]:
    """One of several processes logging to their own file; starts on a line on stdin."""
    for i in range(1_000):
        setup.log.info("order %s filled", i, exchange="mexc", qty=0.5)
    _drain_between(setup)
    sys.stdout.write("READY\n")
    sys.stdout.flush()
    sys.stdin.readline()
    t0 = time.monotonic()
    log = setup.log
    for i in range(n):
        log.info("order %s filled", i, exchange="mexc", qty=0.5)
    dropped = setup.dropped()
    setup.stop()
    t1 = time.monotonic()
    return {"start": t0, "end": t1, "lines": setup.lines(), "expected": n + 1_000,
            "dropped": dropped}


def _worker_cmd(spec: dict[str, Any]) -> list[str]:
    return [sys.executable, "-m", "hftlogging.bench", "--worker", json.dumps(spec)]


def _worker_env() -> dict[str, str]:
    env = dict(os.environ)
    # The child must import this very hftlogging (a source checkout or an install).
    pkg_root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env["PYTHONPATH"] = pkg_root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH")
                                    else "")
    return env


def _parse_result(stdout: str, spec: dict[str, Any], stderr: str) -> dict[str, Any]:
    for line in reversed(stdout.splitlines()):
        if line.startswith("RESULT "):
            return json.loads(line[7:])  # type: ignore[no-any-return]
    return {"error": (stderr.strip().splitlines() or ["no result"])[-1], "spec": spec}


def run_worker(spec: dict[str, Any], timeout: float = 300.0) -> dict[str, Any]:
    """Run one measurement in a fresh interpreter and return its result."""
    try:
        p = subprocess.run(  # noqa: S603 - our own interpreter and module
            _worker_cmd(spec), capture_output=True, text=True, timeout=timeout,
            env=_worker_env(), check=False,
        )
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f}s", "spec": spec}
    return _parse_result(p.stdout, spec, p.stderr)


def run_processes(k: int, n: int, setup: str = "hftlogging") -> dict[str, Any]:
    """Start ``k`` processes each logging ``n`` records to its own file, all at once.

    Returns:
        ``rate`` (aggregate records/s from the first start to the last end), ``lines_ok``.
    """
    # Each queue blocks when full: the figure is records on disk, none dropped.
    spec = {"task": "proc", "setup": setup, "n": n, "overflow": "block"}
    procs = [
        subprocess.Popen(  # noqa: S603 - our own interpreter and module
            _worker_cmd(spec), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True, env=_worker_env(),
        )
        for _ in range(k)
    ]
    try:
        for p in procs:
            assert p.stdout is not None
            if p.stdout.readline().strip() != "READY":
                raise RuntimeError("a benchmark process did not start")
        for p in procs:
            assert p.stdin is not None
            p.stdin.write("go\n")
            p.stdin.flush()
        results = []
        for p in procs:
            out, err = p.communicate(timeout=300)
            results.append(_parse_result(out, spec, err))
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    if any("error" in r for r in results):
        return {"error": next(r["error"] for r in results if "error" in r)}
    start = min(r["start"] for r in results)
    end = max(r["end"] for r in results)
    return {
        "rate": k * n / (end - start),
        "lines_ok": all(r["lines"] == r["expected"] for r in results),
        "dropped": sum(r["dropped"] for r in results),
    }


# --- many loggers ----------------------------------------------------------------------------
#
# Services with a logger per symbol, connection or order book have thousands of loggers.
# Each scenario runs in its own process: ``stdlib`` uses logging.getLogger and plain
# loggers (hftlogging not installed), ``hftlogging`` uses get_logger.

MANY_LOGGERS = 10_000
FEW_LOGGERS = 10


def _many_names(n: int) -> list[str]:
    """``n`` names shaped like per-exchange, per-symbol loggers: ``many.ex<k>.sym<i>``."""
    return [f"many.ex{i % 20}.sym{i}" for i in range(n)]


def _per_call(fn: Callable[[], Any], loops: int, repeat: int) -> float:
    """Median ns per loop of ``fn`` (which runs ``loops`` operations), over ``repeat``."""
    fn()
    samples = []
    for _ in range(repeat):
        t0 = time.perf_counter_ns()
        fn()
        samples.append((time.perf_counter_ns() - t0) / loops)
    return statistics.median(samples)


def measure_loggers(spec: dict[str, Any]) -> dict[str, Any]:
    """One "many loggers" scenario, in this (fresh) process.

    ``spec["what"]``: ``create`` (ns per new logger, ``n`` of them), ``get`` (ns to get an
    existing logger among ``n``), ``add_handler`` (ns per addHandler + removeHandler pair
    on one logger among ``n``), ``set_level`` (ns per setLevel on one logger among ``n``),
    or ``info`` (an enabled info's percentiles with ``n`` loggers besides the one that
    logs, each of which has logged once; ``gc`` collections during the timed calls).
    """
    what, n, key = spec["what"], spec["n"], spec["setup"]
    hft = key == "hftlogging"
    get: Callable[[str], logging.Logger] = (
        hftlogging.get_logger if hft else logging.getLogger)
    names = _many_names(n)
    if what == "create":
        t0 = time.perf_counter_ns()
        for name in names:
            get(name)
        return {"ns": (time.perf_counter_ns() - t0) / n, "loggers": len(names)}
    if what == "info_calls":  # run under callgrind: the calls, untimed
        directory = tempfile.mkdtemp(prefix="hftlogging-bench-")
        try:
            hsetup: Any = SETUPS["hftlogging"](directory, "text", spec["calls"] + 10_000, None)
            hsetup.start()
            for name in names:
                get(name).debug("planned")
            run = _compile(_BATCH_TEMPLATE, CALLS["hftlogging"]["info"], hsetup.log)
            run(2_000, 0)  # warm-up, the same in every run
            if not spec.get("gc", True):
                gc.disable()
            run(spec["calls"], 2_000)
            gc.enable()
            while hsetup.queue_handler.ring:  # slow under valgrind: more than one flush
                hsetup.flush()
            hsetup.stop()
            return {"lines": hsetup.lines()}
        finally:
            shutil.rmtree(directory, ignore_errors=True)
    if what == "info":
        directory = tempfile.mkdtemp(prefix="hftlogging-bench-")
        try:
            setup = SETUPS["hftlogging"](directory, "text", spec["calls"] + 10_000, None)
            setup.start()
            for name in names:
                get(name).debug("planned")  # a cached plan (a no-op) on every logger
            before = [g["collections"] for g in gc.get_stats()]
            res = measure_calls(setup, "info", "sat", spec["calls"])
            res["gc"] = [g["collections"] - b for g, b in zip(gc.get_stats(), before, strict=False)]
            res["dropped"] = setup.dropped()
            setup.stop()
            res["lines"] = setup.lines()
            return res
        finally:
            shutil.rmtree(directory, ignore_errors=True)
    for name in names:
        get(name)
    if what == "get":
        sample = names[:: max(1, n // 1_000)]

        def lookups() -> None:
            for name in sample:
                get(name)

        return {"ns": _per_call(lookups, len(sample), 200)}
    one = get(names[n // 2])
    handler = logging.NullHandler()
    one.info("planned")  # plans (or stdlib's level cache) in place before the change
    if what == "add_handler":
        def pairs() -> None:
            for _ in range(1_000):
                one.addHandler(handler)
                one.removeHandler(handler)

        return {"ns": _per_call(pairs, 1_000, 30)}
    if what == "set_level":
        def levels() -> None:
            for _ in range(50):
                one.setLevel(logging.INFO)
                one.setLevel(logging.NOTSET)

        return {"ns": _per_call(levels, 100, 5)}
    msg = f"unknown loggers scenario {what!r}"
    raise ValueError(msg)


def callgrind_info(
    n: int, calls: tuple[int, int] = (2_000, 22_000), collect: bool = True
) -> dict[str, Any]:
    """Instructions per enabled ``info`` on the calling thread, with ``n`` loggers.

    Runs the calls under ``valgrind --tool=callgrind`` twice (``calls[0]`` and
    ``calls[1]`` of them) and divides the difference of the calling thread's instruction
    counts by the difference of calls: start-up, set-up and the listener thread cancel out.
    Instruction counts do not move with the machine's load. ``collect=False`` turns the
    garbage collector off during the calls (to tell its share from the call's own).
    """
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        return {"error": "valgrind is not installed"}
    totals = []
    for k in calls:
        spec = {"task": "loggers", "what": "info_calls", "setup": "hftlogging", "n": n,
                "calls": k, "gc": collect}
        with tempfile.TemporaryDirectory(prefix="hftlogging-callgrind-") as out:
            proc = subprocess.run(  # noqa: S603 - valgrind on our own interpreter and module
                [valgrind, "--tool=callgrind", "--separate-threads=yes",
                 f"--callgrind-out-file={out}/cg.out", *_worker_cmd(spec)],
                env=_worker_env(), capture_output=True, text=True, timeout=900, check=False)
            res = _parse_result(proc.stdout, spec, proc.stderr)
            if "error" in res:
                return res
            if res["lines"] != k + 2_000:  # and the warm-up's
                return {"error": f"{res['lines']} lines for {k} calls"}
            # The calling thread is the process's first: its file ends in "-01".
            main = [f for f in os.listdir(out) if f.endswith("-01")]
            with open(os.path.join(out, main[0]), encoding="utf-8") as f:
                total = [int(line.split()[1]) for line in f
                         if line.startswith(("summary:", "totals:"))]
            totals.append(total[0])
    return {"instructions": (totals[1] - totals[0]) / (calls[1] - calls[0])}


def _loggers_jobs(plan: Plan, ops: bool) -> list[tuple[str, dict[str, Any]]]:
    """One round of the "many loggers" scenarios, stdlib and hftlogging interleaved."""
    jobs: list[tuple[str, dict[str, Any]]] = []
    for n in (FEW_LOGGERS, MANY_LOGGERS):
        jobs.append((f"loggers/info/{n}", {"task": "loggers", "what": "info",
                                            "setup": "hftlogging", "n": n,
                                            "calls": plan.sat_n}))
    for what in ("create", "get", "add_handler", "set_level") if ops else ():
        for s in ("stdlib", "hftlogging"):
            jobs.append((f"loggers/{what}/{s}", {"task": "loggers", "what": what,
                                                 "setup": s, "n": MANY_LOGGERS}))
    return jobs


def collect_loggers(plan: Plan, res: Results, verbose: bool = True) -> None:
    """Run the "many loggers" scenarios; the info pair at least three rounds."""
    rounds = max(3, plan.rounds)
    for rnd in range(rounds):
        for key, spec in _loggers_jobs(plan, ops=rnd < plan.rounds):
            if verbose:
                _progress(f"[round {rnd + 1}/{rounds}] {key}")
            res.add(key, run_worker(spec))


def _loggers_table(res: Results, checks: list[Check]) -> str:
    m = res.med
    rows = []
    targets = {"create": 2.0, "get": 3.0, "add_handler": 3.0}
    labels = {"create": "create a logger (10,000 new)",
              "get": "get an existing logger",
              "add_handler": "addHandler + removeHandler on one",
              "set_level": "setLevel on one"}
    for what, label in labels.items():
        s, h = m(f"loggers/{what}/stdlib", "ns"), m(f"loggers/{what}/hftlogging", "ns")
        rows.append([label, _fmt_us(s), _fmt_us(h), _ratio(h, s)])
        limit = targets.get(what)
        if limit is not None and _ok(s, h):
            checks.append((f"many loggers: {label} <= {limit:g}x stdlib",
                           h / s <= limit, f"{h / s:.2f}x"))
    few, many = m(f"loggers/info/{FEW_LOGGERS}", "p50"), m(f"loggers/info/{MANY_LOGGERS}",
                                                            "p50")
    if _ok(few, many):
        checks.append(("many loggers: enabled info p50 with 10,000 loggers <= 1.1x with 10",
                       many / few <= 1.1, f"{many / few:.2f}x"))
    info_rows = []
    for n in (FEW_LOGGERS, MANY_LOGGERS):
        k = f"loggers/info/{n}"
        gcs = [r.get("gc", [0, 0, 0]) for r in res.raw.get(k, [])]
        info_rows.append([f"{n:,}", _fmt_us(m(k, "p50")), _fmt_us(m(k, "p99")),
                          _fmt_us(m(k, "p999")), _ratio(m(k, "p50"), few),
                          "/".join(str(max(g[i] for g in gcs)) if gcs else "-"
                                   for i in range(3))])
    return ("### 10. Many loggers (10,000 loggers in the process; µs per operation; this ÷ "
            "stdlib)\n\n" + _table(["operation", "stdlib", "hftlogging", "this ÷ stdlib"],
                                   rows)
            + "\n\nEnabled info (hftlogging, sat) with loggers besides the one that logs, each "
            "having logged once (gc: collections of generations 0/1/2 during the calls):\n\n"
            + _table(["loggers", "p50", "p99", "p99.9", "÷ 10 loggers", "gc"], info_rows))



# --- the runner -------------------------------------------------------------------------------


class Plan:
    """Sizes of one run (``--quick`` or full)."""

    def __init__(self, quick: bool, rounds: int | None) -> None:
        self.quick = quick
        self.rounds = rounds or (1 if quick else 3)
        self.sat_n = 20_000 if quick else 50_000
        self.paced_n = 2_000 if quick else 10_000
        self.slow_n = 2_000 if quick else 5_000  # loguru's calls take ~100 µs
        self.throughput_n = 30_000 if quick else 100_000
        self.slow_throughput_n = 6_000 if quick else 20_000
        self.burst_n = 1_000_000
        self.stdlib_burst_n = 100_000 if quick else 1_000_000
        self.proc_n = 50_000
        self.metrics = not quick
        self.processes = not quick
        self.shared_files = not quick
        self.loggers = True


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


class Results:
    """Raw results per scenario key, and medians over the rounds."""

    def __init__(self) -> None:
        self.raw: dict[str, list[dict[str, Any]]] = {}
        self.errors: list[str] = []

    def add(self, key: str, res: dict[str, Any]) -> None:
        if "error" in res:
            self.errors.append(f"{key}: {res['error']}")
            return
        self.raw.setdefault(key, []).append(res)

    def med(self, key: str, field: str) -> float:
        return _median([float(r[field]) for r in self.raw.get(key, []) if field in r])

    def has(self, key: str) -> bool:
        return key in self.raw


def _progress(msg: str) -> None:
    sys.stderr.write(msg + "\n")
    sys.stderr.flush()


def _caller_jobs(plan: Plan, setups: list[str]) -> list[tuple[str, dict[str, Any]]]:
    """The caller-side scenarios of one round, interleaved across setups."""
    jobs: list[tuple[str, dict[str, Any]]] = []
    for regime in ("sat", "paced"):
        n = plan.sat_n if regime == "sat" else plan.paced_n
        for s in ["empty", *setups]:
            if s not in CALLS:
                continue
            spec: dict[str, Any] = {"task": "calls", "setup": s, "kind": "info",
                                    "regime": regime, "n": min(n, plan.slow_n)
                                    if s == "loguru" else n}
            if s == "hftlogging" and regime == "sat":
                # Back-to-back calls outrun any writer: room for all, so none is dropped.
                spec["capacity"] = n + 10_000
            jobs.append((f"calls/{s}/info/{regime}", spec))
        if plan.metrics and "hftlogging" in setups:
            for kind in ("counter", "metric", "timer"):
                spec = {"task": "calls", "setup": "hftlogging", "kind": kind,
                        "regime": regime, "n": n}
                if regime == "sat":
                    spec["capacity"] = n + 10_000
                jobs.append((f"calls/hftlogging/{kind}/{regime}", spec))
    for s in setups:
        if s in CALLS and s != "floor":
            jobs.append((f"batch/{s}/debug", {"task": "batch", "setup": s, "kind": "debug"}))
    if "hftlogging" in setups:
        for kind in ("suppressed", "info"):
            key = f"batch/hftlogging/{kind}"
            if not any(k == key for k, _ in jobs):
                jobs.append((key, {"task": "batch", "setup": "hftlogging", "kind": kind,
                                   "capacity": 200_000}))
    if plan.metrics and "hftlogging" in setups:
        for kind in ("info", "counter", "metric", "timer"):
            jobs.append((f"batch/hftlogging/{kind}", {
                "task": "batch", "setup": "hftlogging", "kind": kind, "capacity": 200_000}))
    return jobs


def _throughput_jobs(plan: Plan, setups: list[str]) -> list[tuple[str, dict[str, Any]]]:
    """End-to-end scenarios of one round: every record must reach the disk."""
    jobs: list[tuple[str, dict[str, Any]]] = []
    for fmt in ("text", "json"):
        for s in setups:
            if fmt not in SETUPS[s].formats or s in ("stdlib-tuned", "floor", "empty"):
                continue
            n = plan.slow_throughput_n if s == "loguru" else plan.throughput_n
            # hftlogging's bounded queue blocks when full instead of dropping.
            jobs.append((f"throughput/{s}/{fmt}", {
                "task": "throughput", "setup": s, "fmt": fmt, "n": n, "overflow": "block"}))
    if "hftlogging" in setups:
        for ring in (False, True):
            jobs.append((f"backtrace/{'ring' if ring else 'file'}", {
                "task": "backtrace", "setup": "hftlogging", "n": plan.throughput_n,
                "ring": ring}))
    return jobs


def collect(plan: Plan, setups: list[str], verbose: bool = True) -> Results:
    """Run every scenario of ``plan`` in worker processes, interleaved and repeated."""
    res = Results()
    for rnd in range(plan.rounds):
        for key, spec in _caller_jobs(plan, setups) + _throughput_jobs(plan, setups):
            if verbose:
                _progress(f"[round {rnd + 1}/{plan.rounds}] {key}")
            res.add(key, run_worker(spec))
    # One burst each: its figures are counts and a peak, not a noisy timing.
    if "hftlogging" in setups:
        if verbose:
            _progress("burst/hftlogging")
        res.add("burst/hftlogging", run_worker(
            {"task": "burst", "setup": "hftlogging", "n": plan.burst_n, "capacity": 10_000}))
    if "stdlib" in setups:
        if verbose:
            _progress("burst/stdlib")
        res.add("burst/stdlib", run_worker(
            {"task": "burst", "setup": "stdlib", "n": plan.stdlib_burst_n}))
    if "hftlogging" in setups:
        for rnd in range(plan.rounds):
            if verbose:
                _progress(f"[round {rnd + 1}/{plan.rounds}] monitor/hftlogging")
            res.add("monitor", run_worker(
                {"task": "monitor", "setup": "hftlogging", "capacity": 200_000}))
    if plan.processes and "hftlogging" in setups:
        for rnd in range(plan.rounds):
            for k in (1, 4):
                if verbose:
                    _progress(f"[round {rnd + 1}/{plan.rounds}] procs/{k}")
                res.add(f"procs/{k}", run_processes(k, plan.proc_n))
    if plan.shared_files and "hftlogging" in setups:
        _collect_shared(plan, res, verbose)
    if plan.loggers and "hftlogging" in setups and "stdlib" in setups:
        collect_loggers(plan, res, verbose)
    return res


def _collect_shared(plan: Plan, res: Results, verbose: bool) -> None:
    """Workload 7, interleaved over the rounds (concurrent-log-handler with fewer records:
    its rate is a tenth of the others')."""
    from hftlogging.bench_shared import available_modes, run_shared

    for rnd in range(plan.rounds):
        for mode in available_modes():
            if verbose:
                _progress(f"[round {rnd + 1}/{plan.rounds}] shared/{mode}")
            n = plan.proc_n // 5 if mode == "clh" else plan.proc_n
            res.add(f"shared/{mode}", run_shared(mode, 4, n))


def _ok(*values: float) -> bool:
    """Whether every value was measured (not NaN)."""
    return not any(math.isnan(v) for v in values)


def _fmt_us(ns: float) -> str:
    if not _ok(ns):
        return "-"
    return f"{ns / 1000:.2f}"


def _ratio(a: float, b: float) -> str:
    if not _ok(a, b) or b == 0:
        return "-"
    return f"{a / b:.1f}x" if a / b >= 10 else f"{a / b:.2f}x"


def _table(headers: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(headers) + " |",
             "|" + "|".join("---" if i == 0 else "---:" for i in range(len(headers))) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


Check = tuple[str, bool, str]


def _caller_table(res: Results, setups: list[str]) -> str:
    rows = []
    for s in ["empty", *setups]:
        k = f"calls/{s}/info"
        if not res.has(k + "/sat") and not res.has(k + "/paced"):
            continue
        r = [SETUPS[s].label]
        for regime in ("sat", "paced"):
            r += [_fmt_us(res.med(f"{k}/{regime}", f)) for f in ("p50", "p99", "p999")]
        for regime in ("sat", "paced"):
            r.append(_ratio(res.med(f"calls/stdlib/info/{regime}", "p50"),
                            res.med(f"{k}/{regime}", "p50")))
        rows.append(r)
    return ("### 1. Caller side, enabled info (µs per call, timer read included; "
            "÷ stdlib = stdlib p50 / this p50)\n\n" + _table(
                ["setup", "sat p50", "sat p99", "sat p99.9", "paced p50", "paced p99",
                 "paced p99.9", "÷ stdlib sat", "÷ stdlib paced"], rows))


def _debug_table(res: Results, setups: list[str]) -> str:
    base = res.med("batch/stdlib/debug", "median")
    rows = [[SETUPS[s].label, f"{res.med(f'batch/{s}/debug', 'median'):.0f}",
             _ratio(res.med(f"batch/{s}/debug", "median"), base)]
            for s in setups if res.has(f"batch/{s}/debug")]
    loop = res.med("batch/stdlib/debug", "loop")
    return (f"### 2. Disabled debug (ns per call in batches of 1,000; the loop itself costs "
            f"{loop:.0f} ns and is included)\n\n"
            + _table(["setup", "ns/call", "this ÷ stdlib"], rows))


def _metrics_table(res: Results) -> str:
    rows = []
    for kind in ("info", "counter", "metric", "timer"):
        r = [kind]
        for k, f in ((f"calls/hftlogging/{kind}/sat", "p50"),
                     (f"calls/hftlogging/{kind}/paced", "p50"),
                     (f"batch/hftlogging/{kind}", "median")):
            base = k.replace(f"/{kind}", "/info")
            r += [f"{res.med(k, f):.0f}", _ratio(res.med(k, f), res.med(base, f))]
        rows.append(r)
    return ("### 3. hftlogging metric calls vs the enabled text call (ns; ÷ info = this / "
            "info)\n\n" + _table(["call", "sat p50", "÷ info", "paced p50", "÷ info",
                                  "batch mean", "÷ info"], rows))


def _throughput_table(res: Results, setups: list[str]) -> str:
    rows = []
    for s in setups:
        r = [SETUPS[s].label]
        for fmt in ("text", "json"):
            k = f"throughput/{s}/{fmt}"
            if not res.has(k):
                r += ["-", "-"]
                continue
            ok = all(x["lines"] == x["expected"] for x in res.raw[k])
            rate = res.med(k, "rate")
            r.append(f"{rate / 1000:.1f}k" + ("" if ok else " (LINES MISSING)"))
            r.append(_ratio(rate, res.med(f"throughput/stdlib/{fmt}", "rate")))
        if r[1:] != ["-"] * 4:
            rows.append(r)
    return ("### 4. End-to-end throughput (records/s until every record is on disk; line "
            "counts checked)\n\n"
            + _table(["setup", "text", "÷ stdlib", "JSON lines", "÷ stdlib"], rows))


def _burst_table(res: Results, checks: list[Check]) -> str:
    rows = []
    b = res.raw.get("burst/hftlogging", [{}])[0]
    if b:
        exact = b["written"] + b["dropped"] == b["emitted"] and b["lines"] == b["written"]
        rows.append([f"hftlogging, capacity {b['capacity']:,}", f"{b['emitted']:,}",
                     f"{b['growth_mb']:.1f}", f"{b['written']:,}", f"{b['dropped']:,}",
                     "exact" if exact else "MISMATCH"])
        checks.append(("1M burst memory growth <= 20 MB", b["growth_mb"] <= 20,
                       f"{b['growth_mb']:.1f} MB"))
        checks.append(("burst accounting written + dropped == emitted, written all on disk",
                       exact, f"{b['written']:,} + {b['dropped']:,} vs {b['emitted']:,}; "
                       f"{b['lines']:,} lines"))
    sb = res.raw.get("burst/stdlib", [{}])[0]
    if sb:
        rows.append(["stdlib, unbounded queue.Queue", f"{sb['emitted']:,}",
                     f"{sb['growth_mb']:.1f}", "-", "-", "-"])
    return ("### 5. Burst (peak RSS growth of the process)\n\n"
            + _table(["setup", "emitted", "growth MB", "written", "dropped", "accounting"],
                     rows))


def _procs_table(res: Results, checks: list[Check]) -> str:
    one = res.med("procs/1", "rate")
    four = res.med("procs/4", "rate")
    checks.append(("four processes aggregate >= 1.7x one", four / one >= 1.7,
                   f"{four / one:.2f}x"))
    lines_ok = all(r["lines_ok"] for k in ("procs/1", "procs/4") for r in res.raw.get(k, []))
    return ("### 6. hftlogging processes, each logging to its own file (aggregate "
            f"records/s; lines {'checked' if lines_ok else 'MISSING'})\n\n"
            + _table(["processes", "records/s", "÷ one process"], [
                ["1", f"{one / 1000:.1f}k", "1.00x"],
                ["4", f"{four / 1000:.1f}k", _ratio(four, one)]]))


def _shared_table(res: Results, checks: list[Check]) -> str:
    own, shared, clh = (res.med(f"shared/{m}", "rate") for m in ("own", "shared", "clh"))
    checks.append(("shared file >= 0.7x own files (4 processes)", shared / own >= 0.7,
                   f"{shared / own:.2f}x"))
    if _ok(clh):
        checks.append(("shared file >= 5x concurrent-log-handler (4 processes)",
                       shared / clh >= 5, f"{shared / clh:.1f}x"))
    lines_ok = all(r["lines_ok"] and not r["dropped"]
                   for k, v in res.raw.items() if k.startswith("shared/") for r in v)
    if not lines_ok:
        checks.append(("all records on disk in workload 8", False, "lines missing or dropped"))
    rows = [["hftlogging, one shared file (exclusive: false)", f"{shared / 1000:.1f}k",
             "1.00x" if not _ok(own) else _ratio(shared, own)],
            ["hftlogging, a file per process", f"{own / 1000:.1f}k", "1.00x"]]
    if _ok(clh):
        rows.append(["concurrent-log-handler, one file", f"{clh / 1000:.1f}k",
                     _ratio(clh, own)])
    return ("### 8. four processes, one shared rotating file (aggregate records/s; lines "
            f"{'checked' if lines_ok else 'MISSING'})\n\n"
            + _table(["setup", "records/s", "÷ own files"], rows))


def _monitor_table(res: Results, checks: list[Check]) -> str:
    off, on = res.med("monitor", "off"), res.med("monitor", "on")
    ratio = res.med("monitor", "ratio")
    samples = res.med("monitor", "samples")
    checks.append(("self-monitoring on costs the enabled call at most 1.05x off", ratio <= 1.05,
                   f"{ratio:.3f}x ({on:.0f} vs {off:.0f} ns)"))
    runs = res.raw.get("monitor", [])
    if any(r["lines"] != r["calls"] for r in runs):
        bad = next(r for r in runs if r["lines"] != r["calls"])
        checks.append(("all records on disk in monitor", False,
                       f"{bad['lines']} lines, {bad['calls']} expected"))
    return ("### 9. Self-monitoring: enabled info with latency sampling off and on (one call "
            "in 1,000), ns per call in alternating batches of 1,000, same process\n\n"
            + _table(["sampling", "ns/call", "this ÷ off (median of pairs)", "samples"],
                     [["off", f"{off:.0f}", "1.00", "0"],
                      ["on (1 in 1,000)", f"{on:.0f}", f"{ratio:.3f}", f"{samples:.0f}"]]))


def _target_checks(res: Results, checks: list[Check]) -> None:
    m = res.med
    for regime in ("sat", "paced"):
        h50, s50 = m(f"calls/hftlogging/info/{regime}", "p50"), m(f"calls/stdlib/info/{regime}",
                                                                 "p50")
        p50 = m(f"calls/picologging/info/{regime}", "p50")
        h999 = m(f"calls/hftlogging/info/{regime}", "p999")
        s999 = m(f"calls/stdlib/info/{regime}", "p999")
        if _ok(h50, s50):
            checks.append((f"enabled p50 >= 20x faster than stdlib ({regime})",
                           s50 / h50 >= 20, f"{s50 / h50:.1f}x"))
        if _ok(h50, p50):
            checks.append((f"enabled p50 >= 5x faster than picologging ({regime})",
                           p50 / h50 >= 5, f"{p50 / h50:.1f}x"))
        if _ok(h999, s999):
            checks.append((f"p99.9 >= 5x better than stdlib ({regime})", s999 / h999 >= 5,
                           f"{s999 / h999:.1f}x"))
    hd, sd = m("batch/hftlogging/debug", "median"), m("batch/stdlib/debug", "median")
    if _ok(hd, sd):
        checks.append(("disabled debug <= 0.7x stdlib", hd / sd <= 0.7, f"{hd / sd:.2f}x"))
    for kind, limit in (("counter", 1.2), ("timer", 2.5)):
        for regime in ("sat", "paced"):
            a, t = m(f"calls/hftlogging/{kind}/{regime}", "p50"), m(
                f"calls/hftlogging/info/{regime}", "p50")
            if _ok(a, t):
                checks.append((f"{kind} within {limit}x of the text call (p50, {regime})",
                               a / t <= limit, f"{a / t:.2f}x"))
    for fmt in ("text", "json"):
        h, st = m(f"throughput/hftlogging/{fmt}", "rate"), m(f"throughput/stdlib/{fmt}", "rate")
        sl = m(f"throughput/structlog/{fmt}", "rate")
        if _ok(h, st):
            checks.append((f"throughput >= 6x stdlib ({fmt})", h / st >= 6, f"{h / st:.2f}x"))
        if _ok(h, sl):
            checks.append((f"throughput above structlog ({fmt})", h > sl, f"{h / sl:.2f}x"))


def _loss_checks(res: Results, checks: list[Check]) -> None:
    for k, v in res.raw.items():
        if k.startswith("calls/") and any(x.get("dropped") for x in v):
            checks.append((f"no record dropped in {k}", False,
                           f"{max(x['dropped'] for x in v)} dropped"))
        bad = [x for x in v if "lines" in x and ("calls" in x or "expected" in x)
               and x["lines"] != x.get("calls", x.get("expected"))]
        if bad:
            checks.append((f"all records on disk in {k}", False,
                           f"{bad[0]['lines']} lines, {bad[0].get('calls', bad[0].get('expected'))}"
                           " expected"))


def _storms_table(res: Results) -> str:
    sup = res.med("batch/hftlogging/suppressed", "median")
    dis = res.med("batch/hftlogging/debug", "median")
    ena = res.med("batch/hftlogging/info", "median")
    rows = [["disabled `debug()`", f"{dis:.0f}", "1.00", _ratio(dis, ena)],
            ["`every(...)` call held back", f"{sup:.0f}", _ratio(sup, dis), _ratio(sup, ena)],
            ["enabled `info()`", f"{ena:.0f}", _ratio(ena, dis), "1.00"]]
    file_rate = res.med("backtrace/file", "rate")
    ring_rate = res.med("backtrace/ring", "rate")
    rows2 = [["queue → file", f"{file_rate / 1e3:.1f}k", "1.00"],
             ["queue → backtrace ring → file", f"{ring_rate / 1e3:.1f}k",
              _ratio(ring_rate, file_rate)]]
    return ("### Storms: rate-limited and disabled calls (ns per call in batches of 1,000, "
            "loop included)\n\n"
            + _table(["call", "ns/call", "÷ disabled", "÷ enabled"], rows)
            + "\n\nEnd to end, one ERROR every 1,000 records (records/s until on disk):\n\n"
            + _table(["pipeline", "records/s", "÷ file"], rows2))


def report(res: Results, setups: list[str], plan: Plan) -> tuple[str, list[Check]]:
    """Render the tables; return them and the target checks (name, met, detail)."""
    checks: list[Check] = []
    parts = [_caller_table(res, setups), _debug_table(res, setups)]
    if plan.metrics:
        parts.append(_metrics_table(res))
    parts += [_throughput_table(res, setups), _burst_table(res, checks)]
    if plan.processes and res.has("procs/1") and res.has("procs/4"):
        parts.append(_procs_table(res, checks))
    if res.has("batch/hftlogging/suppressed") and res.has("backtrace/file"):
        parts.append(_storms_table(res))
    if plan.shared_files and res.has("shared/own") and res.has("shared/shared"):
        parts.append(_shared_table(res, checks))
    if res.has("monitor"):
        parts.append(_monitor_table(res, checks))
    if res.has(f"loggers/info/{MANY_LOGGERS}"):
        parts.append(_loggers_table(res, checks))
    _target_checks(res, checks)
    _loss_checks(res, checks)
    return "\n\n".join(parts), checks


def machine() -> str:
    """One line describing the machine, interpreter and date."""
    return (f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; "
            f"{platform.python_implementation()} {platform.python_version()}; "
            f"{platform.system()} {platform.machine()}; {os.cpu_count()} CPUs{_load()}")


def _load() -> str:
    try:
        return "; load average {:.1f} {:.1f} {:.1f}".format(*os.getloadavg())
    except (AttributeError, OSError):  # pragma: no cover - not on Windows
        return ""


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmarks and print a table of medians and ratios.

    Args:
        argv: command-line arguments (default ``sys.argv[1:]``).

    Returns:
        0, or 1 when a measurement failed or lost records.
    """
    parser = argparse.ArgumentParser(
        prog="hftlogging bench",
        description="Benchmark hftlogging against the standard library and the peers.",
    )
    parser.add_argument("--quick", action="store_true",
                        help="the essential comparisons (1, 2, 4, 5, 7) in a minute or two")
    parser.add_argument("--rounds", type=int, default=None,
                        help="repeats of each timed scenario (default 1 quick, 3 full)")
    parser.add_argument("--setups", default=None,
                        help="comma-separated setups (default: all that are importable)")
    parser.add_argument("--json", metavar="FILE", default=None,
                        help="also write the raw results to FILE")
    parser.add_argument("--worker", metavar="SPEC", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(list(argv) if argv is not None else None)

    if args.worker is not None:
        result = _worker(json.loads(args.worker))
        sys.stdout.write("RESULT " + json.dumps(result) + "\n")
        return 0

    plan = Plan(args.quick, args.rounds)
    wanted = args.setups.split(",") if args.setups else [k for k in SETUPS if k != "empty"]
    setups = [k for k in wanted if k in SETUPS and SETUPS[k].available()]
    missing = [k for k in wanted if k not in setups]
    t0 = time.monotonic()
    res = collect(plan, setups)
    tables, checks = report(res, setups, plan)
    if "hftlogging" in setups:
        from hftlogging.bench_audit import audit_section

        tables += "\n\n" + audit_section(plan.rounds, plan.throughput_n, checks, res.raw)
    print(f"hftlogging bench{' --quick' if plan.quick else ''}: {machine()}; "
          f"{plan.rounds} round(s), medians; {time.monotonic() - t0:.0f}s\n")
    print(tables)
    print("\n### Targets\n")
    for name, met, detail in checks:
        print(f"- [{'met' if met else 'MISSED'}] {name}: {detail}")
    print("\n### What each setup was given\n")
    for s in setups:
        print(f"- {SETUPS[s].label}: {SETUPS[s]('.').note}")
    if missing:
        print(f"- not installed (or unknown), skipped: {', '.join(missing)}")
    if res.errors:
        print("\n### Errors\n")
        for e in res.errors:
            print(f"- {e}")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump({"machine": machine(), "quick": plan.quick, "rounds": plan.rounds,
                       "raw": res.raw, "errors": res.errors,
                       "checks": [list(c) for c in checks]}, f, indent=1)
    lost = any(name.startswith(("all records", "no record", "burst accounting")) and not met
               for name, met, _ in checks)
    return 1 if res.errors or lost else 0


if __name__ == "__main__":
    sys.exit(main())
