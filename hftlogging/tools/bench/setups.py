"""The setups the benchmarks compare: one library each, configured to write ``bench`` records."""

from __future__ import annotations

import abc
import importlib
import importlib.util
import json
import logging
import logging.handlers
import os
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

from pythonjsonlogger.json import JsonFormatter

import hftlogging

__all__ = [
    "BACKUP_COUNT",
    "BURST",
    "CALLS",
    "LOGGER_NAME",
    "LOGURU_TEXT_FORMAT",
    "MAX_BYTES",
    "PAUSE_S",
    "PICO_TEXT_FORMAT",
    "SETUPS",
    "STDLIB_TEXT_FORMAT",
    "TEXT_FORMAT",
    "EmptySetup",
    "FloorSetup",
    "HftSetup",
    "LoguruSetup",
    "PicoSetup",
    "Setup",
    "StdlibSetup",
    "StdlibTunedSetup",
    "StructlogSetup",
    "count_lines",
    "importable",
]

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


def count_lines(directory: str, prefix: str = LOGGER_NAME, needle: bytes | None = None) -> int:
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


def importable(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


# --- setups -------------------------------------------------------------------------------


class Setup(abc.ABC):
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
        return all(importable(m) for m in cls.requires)

    @abc.abstractmethod
    def start(self) -> None:
        """Configure the library and make :attr:`log` the logger to call."""

    @abc.abstractmethod
    def stop(self) -> None:
        """Drain every queued record to disk, then undo the configuration."""

    def dropped(self) -> int:
        """Records the library counted as dropped (0 where it never drops)."""
        return 0

    def lines(self) -> int:
        """Lines on disk from this setup's files."""
        return count_lines(self.directory)


class HftSetup(Setup):
    """hftlogging: QueueHandler -> rotating file, configured with ``hftlogging.configure``."""

    key = "hftlogging"
    label = "hftlogging QueueHandler"
    requires = ("hftlogging",)
    text_format = TEXT_FORMAT

    def _file_handler(self) -> dict[str, Any]:
        formatter = "text" if self.fmt == "text" else "json"
        if importable("hftlogging.handlers.rotating"):
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
            if importable("hftlogging.handlers.rotating")
            else "stdlib RotatingFileHandler"
        )
        serializer = "orjson" if importable("orjson") else "json"
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
                "text": {"()": "hftlogging.formatters.ContextFormatter",
                         "fmt": self.text_format},
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
        # Only in this setup's own process, and undone by stop(): no caller lookup.
        self._saved_srcfile = logging._srcfile
        logging._srcfile = None
        try:
            super().start()
        except BaseException:
            logging._srcfile = self._saved_srcfile
            raise

    def stop(self) -> None:
        try:
            super().stop()
        finally:
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
            if importable("orjson"):
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

