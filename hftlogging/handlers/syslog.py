"""SyslogHandler: RFC 5424 messages to a syslog relay over TCP, UDP or a Unix socket.

Python's own ``logging.handlers.SysLogHandler`` writes the old BSD form (``<PRI>msg``:
no version, timestamp, host name, application or structured data) and, over TCP, no
framing: a relay cannot tell where a message with a line break ends. This handler writes
RFC 5424 (``<PRI>1 TIMESTAMP HOST APP PROCID MSGID [SD] MSG``), frames TCP with octet
counting (RFC 6587: ``LEN SP MSG``), puts the record's context fields into one
structured-data element (escaped as RFC 5424 requires, so a relay such as rsyslog can
parse them into fields), and behind the queue writes each batch with one ``send``.

When the relay is down or restarting, messages wait in a bounded buffer and the handler
reconnects with back-off; what the buffer cannot hold is dropped and counted in
``stats()["exporters"]``, never waited for. A log call never waits on the network: the
handler runs on the listener thread. Before each write on a TCP connection the handler
checks that the relay has not closed it. Plain TCP syslog has no acknowledgement: a
relay killed between that check and the write can lose that write, as with every TCP
syslog sender; for acknowledged delivery use the OTLP handler or a relay protocol with
acknowledgements.
"""

from __future__ import annotations

import collections
import logging
import os
import select
import socket
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any

from hftlogging import health
from hftlogging.exceptions import ConfigError, describe
from hftlogging.formatters import rfc3339_utc, to_jsonable
from hftlogging.record import record_context

__all__ = ["FACILITIES", "SyslogHandler"]

#: RFC 5424 facility codes by name.
FACILITIES = {
    "kern": 0, "user": 1, "mail": 2, "daemon": 3, "auth": 4, "syslog": 5, "lpr": 6,
    "news": 7, "uucp": 8, "cron": 9, "authpriv": 10, "ftp": 11,
    "local0": 16, "local1": 17, "local2": 18, "local3": 19,
    "local4": 20, "local5": 21, "local6": 22, "local7": 23,
}

_PROTOCOLS = ("tcp", "udp", "unix")
_NIL = "-"
_MAX_SD_NAME = 32


def severity(levelno: int) -> int:
    """The RFC 5424 severity of a logging level (lower is more severe)."""
    if levelno >= logging.CRITICAL:
        return 2  # critical
    if levelno >= logging.ERROR:
        return 3  # error
    if levelno >= logging.WARNING:
        return 4  # warning
    if levelno >= logging.INFO:
        return 6  # informational
    return 7  # debug


def _header_token(value: object, limit: int) -> str:
    """A header field: printable US-ASCII without spaces, at most ``limit`` chars, or NIL."""
    text = "".join(c if "!" <= c <= "~" else "_" for c in str(value))[:limit]
    return text or _NIL


def _sd_name(key: str) -> str:
    """An SD-NAME: printable US-ASCII except ``= ] "`` and space, at most 32 chars."""
    out = "".join(c if "!" <= c <= "~" and c not in '=]"' else "_" for c in key)
    return out[:_MAX_SD_NAME] or "_"


def _sd_value(value: object) -> str:
    """A PARAM-VALUE with ``"``, ``\\`` and ``]`` escaped (RFC 5424 section 6.3.3)."""
    if not isinstance(value, str):
        value = to_jsonable(value)
        if not isinstance(value, str):
            import json

            value = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("]", "\\]")


def _peer_closed(sock: socket.socket) -> bool:
    """Whether a TCP peer that never sends has closed or reset the connection.

    A send into a connection the relay has closed succeeds locally and is lost; a relay
    sends nothing, so anything readable (an end of file or an error) means it is gone.
    """
    try:
        # Readable first, without waiting: on a socket with a timeout, recv waits up to
        # that timeout for data whatever its flags (MSG_DONTWAIT included).
        if _poll is not None:
            poller = _poll()
            poller.register(sock, select.POLLIN)
            if not poller.poll(0):
                return False
        elif not select.select([sock], [], [], 0)[0]:
            return False
        return sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True


_poll = getattr(select, "poll", None)  # select.select refuses descriptors past FD_SETSIZE


class SyslogHandler(logging.Handler):
    """Send records as RFC 5424 syslog messages.

    Args:
        address: ``(host, port)`` for ``tcp``/``udp``, a socket path for ``unix``.
        protocol: ``"tcp"`` (octet-counted framing), ``"udp"`` (a datagram per message)
            or ``"unix"`` (a datagram per message to a local socket, as ``/dev/log``).
        app_name: APP-NAME (default: the program's name).
        facility: a facility name (``"user"``, ``"local0"``...) or code.
        hostname: HOSTNAME (default: this host's name).
        sd_id: the structured-data ID the context fields go under; a private one takes
            the ``name@enterprise-number`` form.
        max_message_bytes: longer messages are cut to this size (the message part only).
        buffer_size: messages kept while the relay cannot be reached; older ones beyond
            this are dropped and counted.
        timeout_s: the longest a connect or a send may take.
        reconnect_initial_s, reconnect_max_s: back-off between connection attempts.
        level: the handler's level.

    The MSGID is the audit event or metric name of such records, else the logger name.
    Context fields (and ``otel_trace_id``/``otel_span_id`` when present) form the
    structured data; the formatter, when one is set, renders MSG (default: the message,
    then the traceback if any).
    """

    def __init__(
        self,
        address: Sequence[str | int] | str | os.PathLike[str] = ("127.0.0.1", 514),
        protocol: str = "tcp",
        app_name: str | None = None,
        facility: str | int = "user",
        hostname: str | None = None,
        sd_id: str = "hft@32473",
        max_message_bytes: int = 8192,
        buffer_size: int = 10_000,
        timeout_s: float = 5.0,
        reconnect_initial_s: float = 0.5,
        reconnect_max_s: float = 30.0,
        level: int | str = logging.NOTSET,
    ) -> None:
        super().__init__(level)
        if protocol not in _PROTOCOLS:
            msg = describe(None, f"one of {', '.join(_PROTOCOLS)}", protocol,
                           f"name one of: {', '.join(_PROTOCOLS)}")
            raise ConfigError(msg, key="protocol")
        if protocol == "unix":
            if not isinstance(address, (str, os.PathLike)):
                msg = describe(None, "a socket path for protocol unix", address,
                               "give a socket path such as '/dev/log'")
                raise ConfigError(msg, key="address")
            self.address: Any = os.fspath(address)
        else:
            if (isinstance(address, (str, bytes)) or not isinstance(address, Sequence)
                    or len(address) != 2):
                msg = describe(None, f"[host, port] for protocol {protocol}", address,
                               "use protocol: unix for a socket path")
                raise ConfigError(msg, key="address")
            host, port = address[0], address[1]
            if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
                msg = describe(None, "a port number 1-65535", port,
                               "give a port in 1..65535, such as 514")
                raise ConfigError(msg, key="address")
            self.address = (str(host), port)
        if isinstance(facility, str):
            if facility not in FACILITIES:
                msg = describe(None, f"one of {', '.join(FACILITIES)}", facility,
                               "name a facility such as 'user' or 'local0'")
                raise ConfigError(msg, key="facility")
            self.facility = FACILITIES[facility]
        elif isinstance(facility, int) and not isinstance(facility, bool) and 0 <= facility <= 23:
            self.facility = facility
        else:
            msg = describe(None, "a facility name or a code 0-23", facility,
                           "give a name such as 'local0', or a code in 0..23")
            raise ConfigError(msg, key="facility")
        for key, value in (("max_message_bytes", max_message_bytes), ("buffer_size", buffer_size)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                msg = describe(None, "a whole number >= 1", value,
                               "use a whole number such as 1024")
                raise ConfigError(msg, key=key)
        for key, fvalue in (("timeout_s", timeout_s), ("reconnect_initial_s", reconnect_initial_s),
                            ("reconnect_max_s", reconnect_max_s)):
            if (isinstance(fvalue, bool) or not isinstance(fvalue, (int, float))
                    or not 0 < fvalue < 86_400):
                msg = describe(None, "a number of seconds > 0 and < 86400", fvalue,
                               "use a number of seconds such as 5")
                raise ConfigError(msg, key=key)
        self.protocol = protocol
        self.app_name = _header_token(
            app_name or os.path.basename(sys.argv[0] or "") or "python", 48)
        self.hostname = _header_token(hostname or socket.gethostname(), 255)
        self.sd_id = _sd_name(sd_id)
        self.max_message_bytes = max_message_bytes
        self.timeout_s = float(timeout_s)
        self.reconnect_initial_s = float(reconnect_initial_s)
        self.reconnect_max_s = float(reconnect_max_s)
        self.buffer: collections.deque[bytes] = collections.deque()
        self.buffer_size = buffer_size
        self.sent = 0
        self.dropped = 0
        self.reconnects = 0
        self.send_errors = 0
        self._sock: socket.socket | None = None
        self._retry_at = 0.0
        self._retry_delay = self.reconnect_initial_s
        self._pid = os.getpid()
        self._io_lock = threading.Lock()
        health.register_exporter(self)

    # -- the message -----------------------------------------------------------------------

    def build(self, record: logging.LogRecord) -> bytes:
        """The RFC 5424 message of ``record`` (without TCP framing)."""
        d = record.__dict__
        pri = self.facility * 8 + severity(record.levelno)
        created_ns = d.get("created_ns") or int(record.created * 1e9)
        msgid = d.get("audit_event") or d.get("metric_name") or record.name
        header = (f"<{pri}>1 {rfc3339_utc(created_ns)} {self.hostname} {self.app_name} "
                  f"{record.process or _NIL} {_header_token(msgid, 32)} ")
        params = []
        ctx = record_context(record)
        if isinstance(ctx, Mapping):
            for key, value in ctx.items():
                params.append(f'{_sd_name(str(key))}="{_sd_value(value)}"')
        for key in ("otel_trace_id", "otel_span_id"):
            value = d.get(key)
            if value:
                params.append(f'{key}="{_sd_value(value)}"')
        sd = f"[{self.sd_id} {' '.join(params)}]" if params else _NIL
        if self.formatter is not None:
            text = self.format(record)
        else:
            text = record.getMessage()
            exc = d.get("exc_text")
            if not exc and record.exc_info:
                exc = logging.Formatter().formatException(record.exc_info)
            if exc:
                text = f"{text}\n{exc}"
        body = (header + sd + " ").encode("utf-8", "replace")
        msg = text.encode("utf-8", "replace")
        room = self.max_message_bytes - len(body)
        if len(msg) > room:
            msg = msg[:max(room, 0)].decode("utf-8", "ignore").encode("utf-8")
        return body + msg

    # -- sending -----------------------------------------------------------------------------

    def emit(self, record: logging.LogRecord) -> None:
        """Send one record (the listener prefers :meth:`emit_batch`)."""
        try:
            self.emit_batch([record])
        except Exception:
            self.handleError(record)

    def emit_batch(self, records: Sequence[logging.LogRecord]) -> None:
        """Build every record's message, buffer them, and send what the relay takes."""
        if os.getpid() != self._pid:
            self._after_fork()
        frames = []
        for r in records:
            try:
                frames.append(self.build(r))
            except Exception:
                self.handleError(r)
        with self._io_lock:
            buf = self.buffer
            buf.extend(frames)
            self._send_buffered()
            over = len(buf) - self.buffer_size  # what the relay did not take, beyond room
            if over > 0:
                for _ in range(over):
                    buf.popleft()
                self.dropped += over

    def _after_fork(self) -> None:
        self._pid = os.getpid()
        self._io_lock = threading.Lock()
        self._sock = None
        self.buffer.clear()  # the parent sends its own

    def _connect(self) -> socket.socket | None:
        now = time.monotonic()
        if now < self._retry_at:
            return None
        try:
            if self.protocol == "tcp":
                sock = socket.create_connection(self.address, timeout=self.timeout_s)
            elif self.protocol == "udp":
                sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                sock.settimeout(self.timeout_s)
                sock.connect(self.address)
            else:
                sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
                sock.settimeout(self.timeout_s)
                sock.connect(self.address)
        except OSError:
            self._retry_at = now + self._retry_delay
            self._retry_delay = min(self._retry_delay * 2, self.reconnect_max_s)
            return None
        self._retry_delay = self.reconnect_initial_s
        self.reconnects += 1
        return sock

    def _send_buffered(self) -> None:
        buf = self.buffer
        if buf and self._sock is not None and self.protocol == "tcp" and _peer_closed(self._sock):
            self._close_socket()  # the relay went away: reconnect before sending into a void
        while buf:
            sock = self._sock or self._connect()
            if sock is None:
                return
            self._sock = sock
            try:
                if self.protocol == "tcp":
                    n = min(len(buf), 512)
                    chunk = [buf[i] for i in range(n)]
                    sock.sendall(b"".join(b"%d %s" % (len(m), m) for m in chunk))
                    for _ in range(n):
                        buf.popleft()
                    self.sent += n
                else:
                    sock.send(buf[0])
                    buf.popleft()
                    self.sent += 1
            except OSError:
                # A TCP send that failed part-way may have delivered some of the chunk; it
                # is sent again whole, so a relay may see a message twice, never lose it.
                self.send_errors += 1
                self._close_socket()
                self._retry_at = time.monotonic() + self._retry_delay
                self._retry_delay = min(self._retry_delay * 2, self.reconnect_max_s)
                return

    def _close_socket(self) -> None:
        sock, self._sock = self._sock, None
        if sock is not None:
            try:
                sock.close()
            except OSError:
                pass

    def flush(self) -> None:
        """Try once more to send what is buffered (never waits past ``timeout_s``)."""
        with self._io_lock:
            self._retry_at = 0.0
            self._send_buffered()

    def close(self) -> None:
        """Send what can be sent, count the rest as dropped, close the socket."""
        try:
            self.flush()
        finally:
            with self._io_lock:
                self.dropped += len(self.buffer)
                self.buffer.clear()
                self._close_socket()
            super().close()

    def exporter_stats(self) -> dict[str, int]:
        """Sent, buffered and dropped messages, reconnects and send errors."""
        return {"sent": self.sent, "buffered": len(self.buffer), "dropped": self.dropped,
                "reconnects": self.reconnects, "send_errors": self.send_errors}
