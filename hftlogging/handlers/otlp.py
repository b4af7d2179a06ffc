"""OTLPHandler: log records to an OpenTelemetry collector over OTLP/HTTP.

Built on the official SDK (``opentelemetry-sdk`` and
``opentelemetry-exporter-otlp-proto-http``; ``pip install hftlogging[otel]``), imported
only when the handler is built. Each record becomes an OTLP log record with its severity,
its message as the body, its context fields, logger name and (when captured) code
location as attributes, its trace context (``otel_trace_id``/``otel_span_id``, captured
at the call when a span is active) and the handler's resource (``service.name``, host,
process id, worker).

The listener hands the handler whole batches; the handler keeps them in a bounded buffer
that its own sender thread exports, so a slow or absent collector never holds the
listener (the SDK's exporter retries within its timeout, which can take seconds). A
failed export is retried with back-off; what the buffer cannot hold is dropped and
counted in ``stats()["exporters"]``. Records of the SDK's own loggers (``opentelemetry.*``)
are not exported, so an export error logged through hftlogging cannot loop back.

Metric records are not exported as OTLP metrics: metrics go to Prometheus (scraped, or
pushed), which every OpenTelemetry collector can also receive.
"""

from __future__ import annotations

import collections
import logging
import os
import socket
import sys
import threading
import time
from collections.abc import Mapping
from typing import Any

from hftlogging import health
from hftlogging.exceptions import ConfigError, Found, describe
from hftlogging.formatters import to_jsonable
from hftlogging.record import record_context
from hftlogging.worker import get_worker

__all__ = ["OTLPHandler"]

# logging level -> OpenTelemetry SeverityNumber (the log data model's table).
_SEVERITY = ((logging.CRITICAL, 21), (logging.ERROR, 17), (logging.WARNING, 13),
             (logging.INFO, 9), (logging.DEBUG, 5))
_CALLER_ATTRS = (("pathname", "code.file.path"), ("funcName", "code.function.name"),
                 ("lineno", "code.line.number"))


def severity_number(levelno: int) -> int:
    """The OpenTelemetry severity number of a logging level."""
    for level, number in _SEVERITY:
        if levelno >= level:
            return number
    return 1  # TRACE


def _attribute(value: Any) -> Any:
    """A value OTLP attributes accept: str, bool, int, float, or a list/map of those."""
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    value = to_jsonable(value)
    if isinstance(value, (list, tuple)):
        return [_attribute(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _attribute(v) for k, v in value.items()}
    return value if isinstance(value, (str, bool, int, float)) else str(value)


class _NotOurs(logging.Filter):
    """Keep the SDK's own records out of the export (no loop through a failing export)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.name.startswith("opentelemetry")


class OTLPHandler(logging.Handler):
    """Export records to an OpenTelemetry collector over OTLP/HTTP.

    Args:
        endpoint: the full OTLP/HTTP logs URL, as the SDK's exporter takes it.
        resource: resource attributes added to (and overriding) the defaults
            ``service.name`` (the program's name), ``host.name``, ``process.pid`` and
            ``service.instance.id`` (the hftlogging worker).
        headers: HTTP headers for each request (an API key, for one).
        timeout_s: the SDK exporter's timeout for one export, retries included.
        buffer_size: records kept while the collector cannot take them; beyond this the
            oldest are dropped and counted.
        max_batch: records per export request.
        retry_initial_s, retry_max_s: back-off between failed exports.
        level: the handler's level.

    Raises:
        ConfigError: an option is out of range, or the SDK is not installed (the message
            says ``pip install hftlogging[otel]``).
    """

    #: Tells the queue to capture the trace context at the call (see docs/deployment.md).
    uses_trace_context = True

    def __init__(
        self,
        endpoint: str = "http://127.0.0.1:4318/v1/logs",
        resource: Mapping[str, object] | None = None,
        headers: Mapping[str, str] | None = None,
        timeout_s: float = 10.0,
        buffer_size: int = 10_000,
        max_batch: int = 512,
        retry_initial_s: float = 0.5,
        retry_max_s: float = 30.0,
        level: int | str = logging.NOTSET,
    ) -> None:
        super().__init__(level)
        try:
            from opentelemetry._logs import LogRecord as ApiLogRecord
            from opentelemetry._logs import SeverityNumber
            from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
            from opentelemetry.sdk._logs import ReadableLogRecord
            from opentelemetry.sdk._logs.export import LogRecordExportResult
            from opentelemetry.sdk.resources import Resource
            from opentelemetry.sdk.util.instrumentation import InstrumentationScope
            from opentelemetry.trace import TraceFlags
        except ImportError as e:
            msg = describe(None, "the OpenTelemetry SDK installed",
                           Found(f"it is not installed ({e})"),
                           "pip install 'hftlogging[otel]' (opentelemetry-sdk and "
                           "opentelemetry-exporter-otlp-proto-http)")
            raise ConfigError(msg, key="class") from e
        if not isinstance(endpoint, str) or not endpoint.startswith(("http://", "https://")):
            msg = describe(None, "an http(s) URL of the OTLP logs endpoint", endpoint,
                           "give the collector's URL, such as 'http://localhost:4318/v1/logs'")
            raise ConfigError(msg, key="endpoint")
        for key, n in (("buffer_size", buffer_size), ("max_batch", max_batch)):
            if isinstance(n, bool) or not isinstance(n, int) or n < 1:
                msg = describe(None, "a whole number >= 1", n, "use a whole number such as 1000")
                raise ConfigError(msg, key=key)
        for key, s in (("timeout_s", timeout_s), ("retry_initial_s", retry_initial_s),
                       ("retry_max_s", retry_max_s)):
            if isinstance(s, bool) or not isinstance(s, (int, float)) or not 0 < s < 86_400:
                msg = describe(None, "a number of seconds > 0 and < 86400", s,
                               "use a number of seconds such as 5")
                raise ConfigError(msg, key=key)
        self._ApiLogRecord = ApiLogRecord
        self._Severity = SeverityNumber
        self._Readable = ReadableLogRecord
        self._ok = LogRecordExportResult.SUCCESS
        self._TraceFlags = TraceFlags
        attrs: dict[str, Any] = {
            "service.name": os.path.basename(sys.argv[0] or "") or "python",
            "host.name": socket.gethostname(),
            "process.pid": os.getpid(),
            "service.instance.id": get_worker(),
        }
        attrs.update({str(k): _attribute(v) for k, v in (resource or {}).items()})
        self.resource = Resource.create(attrs)
        self._scope = InstrumentationScope("hftlogging")
        self.endpoint = endpoint
        self._exporter = OTLPLogExporter(endpoint=endpoint, headers=dict(headers or {}),
                                         timeout=float(timeout_s))
        self.buffer_size = buffer_size
        self.max_batch = max_batch
        self.retry_initial_s = float(retry_initial_s)
        self.retry_max_s = float(retry_max_s)
        self.addFilter(_NotOurs())
        self._buffer: collections.deque[Any] = collections.deque()
        self._cond = threading.Condition()
        self._in_flight = 0
        self._closed = False
        self._thread: threading.Thread | None = None
        self._pid = os.getpid()
        self.sent = 0
        self.dropped = 0
        self.failed_exports = 0
        health.register_exporter(self)

    # -- building ----------------------------------------------------------------------------

    def _convert(self, record: logging.LogRecord) -> Any:
        d = record.__dict__
        attrs: dict[str, Any] = {"logger.name": record.name}
        ctx = record_context(record)
        if isinstance(ctx, Mapping):
            for k, v in ctx.items():
                attrs[str(k)] = _attribute(v)
        if record.lineno:
            for src, dst in _CALLER_ATTRS:
                attrs[dst] = d.get(src)
        if d.get("audit_event"):
            attrs["event.name"] = d["audit_event"]
        exc_text = d.get("exc_text")
        if not exc_text and record.exc_info and record.exc_info[0] is not None:
            exc_text = logging.Formatter().formatException(record.exc_info)
        if exc_text:
            ei = record.exc_info
            if ei and ei[0] is not None:
                attrs["exception.type"] = ei[0].__name__
                attrs["exception.message"] = str(ei[1])
            attrs["exception.stacktrace"] = exc_text
        trace_id = d.get("otel_trace_id")
        span_id = d.get("otel_span_id")
        created_ns = d.get("created_ns") or int(record.created * 1e9)
        api = self._ApiLogRecord(
            timestamp=created_ns,
            observed_timestamp=time.time_ns(),
            trace_id=int(trace_id, 16) if trace_id else None,
            span_id=int(span_id, 16) if span_id else None,
            trace_flags=self._TraceFlags(int(d.get("otel_trace_flags") or 0)) if trace_id
            else None,
            severity_text=record.levelname,
            severity_number=self._Severity(severity_number(record.levelno)),
            body=record.getMessage(),
            attributes=attrs,
        )
        return self._Readable(api, self.resource, self._scope)

    # -- the listener side -------------------------------------------------------------------

    def emit(self, record: logging.LogRecord) -> None:
        """Queue one record for export (the listener prefers :meth:`emit_batch`)."""
        try:
            self.emit_batch([record])
        except Exception:
            self.handleError(record)

    def emit_batch(self, records: list[logging.LogRecord]) -> None:
        """Convert the records and hand them to the sender thread (never waits on it)."""
        if os.getpid() != self._pid:
            self._after_fork()
        converted = []
        for r in records:
            try:
                converted.append(self._convert(r))
            except Exception:
                self.handleError(r)
        with self._cond:
            buf = self._buffer
            buf.extend(converted)
            over = len(buf) - self.buffer_size
            if over > 0:
                for _ in range(over):
                    buf.popleft()
                self.dropped += over
            self._cond.notify()
        if self._thread is None:
            self._start()

    def _start(self) -> None:
        with self._cond:
            if self._thread is not None or self._closed:
                return
            self._thread = threading.Thread(target=self._run, name="hftlogging-otlp",
                                            daemon=True)
        self._thread.start()

    def _after_fork(self) -> None:
        self._pid = os.getpid()
        self._cond = threading.Condition()
        self._buffer.clear()  # the parent exports its own
        self._in_flight = 0
        self._thread = None

    # -- the sender thread -------------------------------------------------------------------

    def _run(self) -> None:
        delay = self.retry_initial_s
        while True:
            with self._cond:
                while not self._buffer and not self._closed:
                    self._cond.wait()
                if not self._buffer:
                    return  # closed and empty
                n = min(len(self._buffer), self.max_batch)
                batch = [self._buffer[i] for i in range(n)]
                self._in_flight = n
            try:
                ok = self._exporter.export(batch) == self._ok
            except Exception:
                ok = False
            with self._cond:
                self._in_flight = 0
                if ok:
                    for _ in range(min(n, len(self._buffer))):
                        self._buffer.popleft()
                    self.sent += n
                    delay = self.retry_initial_s
                    self._cond.notify_all()
                    continue
                self.failed_exports += 1
                if self._closed:
                    self.dropped += len(self._buffer)
                    self._buffer.clear()
                    self._cond.notify_all()
                    return
                self._cond.wait(delay)  # back off; close() wakes it
                delay = min(delay * 2, self.retry_max_s)

    def flush(self, timeout: float | None = None) -> None:
        """Wait until the buffer is exported, or the timeout (default the export timeout)."""
        deadline = time.monotonic() + (timeout if timeout is not None else
                                       self._exporter_timeout())
        with self._cond:
            self._cond.notify_all()
            while (self._buffer or self._in_flight) and self._thread is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    return
                self._cond.wait(min(left, 0.1))

    def _exporter_timeout(self) -> float:
        return float(getattr(self._exporter, "_timeout", 10.0))

    def close(self) -> None:
        """Export what the collector takes within the timeout; count the rest as dropped."""
        if self._closed:
            return
        self.flush()
        with self._cond:
            self._closed = True
            self._cond.notify_all()
            thread = self._thread
        if thread is not None:
            thread.join(self._exporter_timeout() + 1.0)
        with self._cond:
            if self._buffer:
                self.dropped += len(self._buffer)
                self._buffer.clear()
        try:
            self._exporter.shutdown()  # type: ignore[no-untyped-call,unused-ignore]
        except Exception:
            pass
        super().close()

    def exporter_stats(self) -> dict[str, int]:
        """Exported, buffered and dropped records, and failed exports."""
        return {"sent": self.sent, "buffered": len(self._buffer), "dropped": self.dropped,
                "failed_exports": self.failed_exports}
