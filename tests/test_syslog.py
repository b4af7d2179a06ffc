"""SyslogHandler against a real rsyslog started by the test on 127.0.0.1 / a tmp socket.

rsyslog parses each message as RFC 5424 and, with mmpstrucdata, the structured data into
fields; the tests read what rsyslog extracted (a field, the MSGID, the severity), not only
the raw line. Without rsyslogd the tests skip, or fail when ``CI`` is set.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import hftlogging
from hftlogging.exceptions import ConfigError
from hftlogging.handlers.syslog import SyslogHandler, severity

IN_CI = bool(os.environ.get("CI"))
READY_TIMEOUT_S = 30.0

# One line per message: the fields rsyslog parsed, separated by "|".
_TEMPLATE = """
template(name="fields" type="list") {
  property(name="syslogseverity") constant(value="|")
  property(name="syslogfacility") constant(value="|")
  property(name="app-name") constant(value="|")
  property(name="procid") constant(value="|")
  property(name="msgid") constant(value="|")
  property(name="$!rfc5424-sd!hft@32473!exchange") constant(value="|")
  property(name="$!rfc5424-sd!hft@32473!note") constant(value="|")
  property(name="msg" droplastlf="on") constant(value="\\n")
}
ruleset(name="main") {
  action(type="mmpstrucdata")
  action(type="omfile" file="%(out)s" template="fields")
}
"""


def _rsyslogd() -> str:
    path = os.environ.get("RSYSLOGD_BIN") or shutil.which("rsyslogd")
    if not path and os.access("/usr/sbin/rsyslogd", os.X_OK):
        path = "/usr/sbin/rsyslogd"
    if not path:
        msg = "rsyslogd is not installed (apt-get install rsyslog)"
        if IN_CI:
            pytest.fail(f"{msg}; CI must run this test")
        pytest.skip(msg)
    return path


def _free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Rsyslog:
    """An rsyslogd in the foreground with one input, writing parsed fields to a file."""

    def __init__(self, binary: str, directory: Path, protocol: str) -> None:
        self.binary = binary
        self.dir = directory
        self.protocol = protocol
        self.out = directory / "received.log"
        self.conf = directory / "rsyslog.conf"
        self.socket_path = str(directory / "log.sock")
        self.port = _free_port(socket.SOCK_DGRAM if protocol == "udp" else socket.SOCK_STREAM)
        self.proc: subprocess.Popen[bytes] | None = None
        work = directory / "work"
        work.mkdir()
        if protocol == "tcp":
            inputs = ('module(load="imtcp")\n'
                      f'input(type="imtcp" port="{self.port}" address="127.0.0.1" '
                      'ruleset="main")\n')
        elif protocol == "udp":
            inputs = ('module(load="imudp")\n'
                      f'input(type="imudp" port="{self.port}" address="127.0.0.1" '
                      'ruleset="main")\n')
        else:
            inputs = ('module(load="imuxsock" SysSock.Use="off")\n'
                      f'input(type="imuxsock" Socket="{self.socket_path}" '
                      'UseSpecialParser="off" ParseHostname="on" ruleset="main")\n')
        self.conf.write_text(
            f'global(workDirectory="{work}")\nmodule(load="mmpstrucdata")\n' + inputs
            + _TEMPLATE % {"out": self.out}, encoding="utf-8")

    @property
    def address(self) -> Any:
        return self.socket_path if self.protocol == "unix" else ("127.0.0.1", self.port)

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [self.binary, "-n", "-f", str(self.conf), "-i", str(self.dir / "rsyslogd.pid")],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + READY_TIMEOUT_S
        while not self._ready():
            if self.proc.poll() is not None:
                out = self.proc.stdout.read().decode() if self.proc.stdout else ""
                pytest.fail(f"rsyslogd exited at start: {out}")
            if time.monotonic() > deadline:
                pytest.fail("rsyslogd did not open its input in time")
            time.sleep(0.02)  # an outside process: nothing to wait on but its socket

    def _ready(self) -> bool:
        if self.protocol == "unix":
            return os.path.exists(self.socket_path)
        if self.protocol == "udp":
            # imudp binds without a handshake; its pid file says the inputs are up.
            return (self.dir / "rsyslogd.pid").exists()
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                return True
        except OSError:
            return False

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stdout:
            proc.stdout.close()
        for leftover in (self.dir / "rsyslogd.pid", Path(self.socket_path)):
            leftover.unlink(missing_ok=True)

    def lines(self) -> list[str]:
        try:
            return self.out.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            return []

    def wait_lines(self, n: int, timeout: float = READY_TIMEOUT_S) -> list[str]:
        """The received lines once there are at least ``n`` (rsyslog writes on its own)."""
        deadline = time.monotonic() + timeout
        while True:
            lines = self.lines()
            if len(lines) >= n or time.monotonic() > deadline:
                return lines
            time.sleep(0.02)


@pytest.fixture
def rsyslog(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Rsyslog]:
    """A started rsyslog for the protocol in ``request.param`` (default tcp)."""
    protocol = getattr(request, "param", "tcp")
    server = Rsyslog(_rsyslogd(), tmp_path, protocol)
    server.start()
    yield server
    server.stop()


def _logger(name: str, handler: logging.Handler) -> Any:
    hftlogging.install()
    lg: Any = logging.getLogger(name)
    for h in list(lg.handlers):
        lg.removeHandler(h)
    lg.addHandler(handler)
    lg.setLevel(logging.DEBUG)
    lg.propagate = False
    return lg


@pytest.mark.parametrize("rsyslog", ["tcp", "udp", "unix"], indirect=True)
def test_rsyslog_parses_header_structured_data_and_message(
    rsyslog: Rsyslog, logger_name: str
) -> None:
    """Severity, facility, app name, pid, MSGID, a structured-data field (escaped quote and
    bracket included) and the message arrive as rsyslog's parsed fields."""
    handler = SyslogHandler(address=rsyslog.address, protocol=rsyslog.protocol,
                            app_name="orders", facility="local3")
    lg = _logger(logger_name, handler)
    lg.warning("order %s rejected", "o-1", exchange="mexc", note='a "b" ] c')
    lg.audit("order_placed", order_id="o-2", exchange="gateio")
    handler.flush()
    lines = rsyslog.wait_lines(2)
    handler.close()
    assert len(lines) == 2, lines
    sev, fac, app, pid, msgid, exchange, note, msg = lines[0].split("|", 7)
    assert (int(sev), int(fac), app, int(pid)) == (4, 19, "orders", os.getpid())
    assert msgid == logger_name[:32]
    assert (exchange, note, msg) == ("mexc", 'a "b" ] c', "order o-1 rejected")
    assert lines[1].split("|")[4:6] == ["order_placed", "gateio"]
    assert handler.exporter_stats()["sent"] == 2


def test_exceptions_and_line_breaks_stay_one_message_over_tcp(
    rsyslog: Rsyslog, logger_name: str
) -> None:
    """Octet-counted framing: a traceback with line breaks is one message, not several."""
    handler = SyslogHandler(address=rsyslog.address, protocol="tcp")
    lg = _logger(logger_name, handler)
    try:
        raise ValueError("bad fill")
    except ValueError:
        lg.exception("fill failed")
    lg.error("after")
    handler.flush()
    lines = rsyslog.wait_lines(2)
    handler.close()
    assert len(lines) == 2, lines
    msg = lines[0].split("|", 7)[7]
    assert msg.startswith("fill failed#012Traceback") and "ValueError: bad fill" in msg
    assert int(lines[0].split("|")[0]) == severity(logging.ERROR) == 3
    assert lines[1].endswith("|after")


def test_batches_after_the_first_reuse_the_connection_without_waiting(
    rsyslog: Rsyslog, logger_name: str
) -> None:
    """Before each batch the handler checks whether the relay closed the connection; on a
    live connection that check neither waits for the socket's timeout nor counts a failure:
    five batches go out on one connection, none is sent again."""
    handler = SyslogHandler(address=rsyslog.address, protocol="tcp", timeout_s=30.0)
    lg = _logger(logger_name, handler)
    for batch in range(5):
        for i in range(3):
            lg.info("batch %d record %d", batch, i)
        handler.flush()
        assert len(rsyslog.wait_lines(3 * (batch + 1))) == 3 * (batch + 1)
    stats = handler.exporter_stats()
    handler.close()
    assert (stats["reconnects"], stats["send_errors"], stats["sent"]) == (1, 0, 15)


def test_an_outage_is_buffered_then_delivered_and_overflow_is_counted(
    rsyslog: Rsyslog, logger_name: str
) -> None:
    """rsyslog stopped between bursts and restarted: records logged during the outage
    arrive after it; the log calls return all along; what the bounded buffer cannot hold
    is counted as dropped; nothing else is missing."""
    hftlogging.configure({
        "version": 1,
        "disable_existing_loggers": False,
        "handlers": {
            "syslog": {"class": "hftlogging.handlers.SyslogHandler",
                       "address": list(rsyslog.address), "protocol": "tcp",
                       "buffer_size": 1_500, "reconnect_initial_s": 0.05,
                       "reconnect_max_s": 0.2},
            "queue": {"class": "hftlogging.handlers.QueueHandler", "handlers": ["syslog"]},
        },
        "loggers": {logger_name: {"level": "INFO", "handlers": ["queue"], "propagate": False}},
    })
    lg: Any = logging.getLogger(logger_name)
    queue = lg.handlers[0]
    for i in range(500):
        lg.info("before %d", i)
    queue.flush()
    assert len(rsyslog.wait_lines(500)) == 500
    rsyslog.stop()
    for i in range(2_000):  # the relay is down: these wait in the buffer (1,500 fit)
        lg.info("during %d", i)
    queue.flush()
    rsyslog.start()
    queue.handlers[0].flush()  # reconnect now rather than at the next back-off step
    lg.info("after")
    hftlogging.shutdown()
    stats = hftlogging.stats()["exporters"]["syslog"]
    assert stats["dropped"] == 500
    lines = rsyslog.wait_lines(500 + 1_500 + 1)
    messages = [ln.split("|", 7)[7] for ln in lines]
    assert messages[:500] == [f"before {i}" for i in range(500)]
    assert messages[500:] == [f"during {i}" for i in range(500, 2_000)] + ["after"]


def test_bad_options_are_config_errors() -> None:
    """Protocol, address, facility and sizes are checked at construction, naming the key."""
    for kwargs, key in (
        ({"protocol": "http"}, "protocol"),
        ({"protocol": "unix", "address": ("127.0.0.1", 514)}, "address"),
        ({"address": "/dev/log"}, "address"),
        ({"address": ("127.0.0.1", 70_000)}, "address"),
        ({"facility": "local9"}, "facility"),
        ({"buffer_size": 0}, "buffer_size"),
        ({"timeout_s": float("nan")}, "timeout_s"),
    ):
        with pytest.raises(ConfigError) as info:
            SyslogHandler(**kwargs)
        assert info.value.key == key, kwargs
