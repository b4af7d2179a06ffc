"""Section 8 of ``hftlogging bench``: records/s into the network handlers, beside the file.

The enabled ``info`` of section 1 goes through hftlogging's queue (``overflow: block``)
into one of three targets, each measured in a fresh interpreter:

- ``file``: the ``ComponentRotatingFileHandler`` of section 7, until every line is on disk;
- ``syslog``: the ``SyslogHandler`` over TCP (RFC 6587 octet counting) to an rsyslogd
  started for the run on 127.0.0.1, until rsyslog has written every message to its file;
- ``otlp``: the ``OTLPHandler`` to an OpenTelemetry collector (rotel) started for the run
  on 127.0.0.1, until the collector has acknowledged every export.

The servers are real programs: ``rsyslogd`` (``RSYSLOGD_BIN``, or on PATH) and
``rotel-agent`` (``ROTEL_BIN``, or on PATH). When one is not installed, or the
OpenTelemetry exporter is not importable, its row is skipped and the section says why.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from typing import Any

import hftlogging
from hftlogging.exceptions import ConfigError, StateError, describe
from hftlogging.tools.bench.results import Check, Plan, Results, md_table, measured, progress
from hftlogging.tools.bench.setups import (
    BACKUP_COUNT,
    LOGGER_NAME,
    MAX_BYTES,
    TEXT_FORMAT,
    count_lines,
)

__all__ = [
    "TARGETS", "Rotel", "Rsyslog", "collect_network", "measure_network", "missing",
    "network_table",
]

TARGETS = ("file", "syslog", "otlp")
_LABELS = {
    "file": "queue → ComponentRotatingFileHandler (on disk)",
    "syslog": "queue → SyslogHandler, TCP → rsyslogd (written by rsyslog)",
    "otlp": "queue → OTLPHandler, HTTP → rotel (acknowledged)",
}
_READY_S = 30.0
#: how long rsyslog may write nothing new before the missing records count as lost.
_STALL_S = 30.0
_WARMUP = 1_000
_RECEIVED = "received"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_port(port: int, proc: subprocess.Popen[bytes], what: str) -> None:
    deadline = time.monotonic() + _READY_S
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            pass
        if proc.poll() is not None:
            raise StateError(describe(what, "a server listening on 127.0.0.1",
                                      f"exit status {proc.returncode}",
                                      "run it by hand to see why it stops"))
        if time.monotonic() > deadline:
            raise StateError(describe(what, f"port {port} open within {_READY_S:g} s",
                                      "no listener", "check the machine's load"))
        time.sleep(0.02)  # an outside process: nothing to wait on but its port


def _stop(proc: subprocess.Popen[bytes] | None) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _program(variable: str, name: str, *fallbacks: str) -> str | None:
    """The program to start: the path in ``variable`` when set (and then only that path),
    else ``name`` on PATH or a fallback; None when it is not an executable."""
    chosen = os.environ.get(variable)
    candidates = [chosen] if chosen else [shutil.which(name), *fallbacks]
    return next((c for c in candidates if c and os.access(c, os.X_OK)), None)


def rsyslogd_path() -> str | None:
    """The rsyslogd to start: ``RSYSLOGD_BIN``, PATH, or Debian's place; None if absent."""
    return _program("RSYSLOGD_BIN", "rsyslogd", "/usr/sbin/rsyslogd")


def rotel_path() -> str | None:
    """The rotel-agent to start: ``ROTEL_BIN`` or PATH; None if absent."""
    return _program("ROTEL_BIN", "rotel-agent")


def missing() -> dict[str, str]:
    """Targets that cannot run here, with the reason."""
    out: dict[str, str] = {}
    if rsyslogd_path() is None:
        out["syslog"] = "rsyslogd is not installed (apt-get install rsyslog, or set RSYSLOGD_BIN)"
    if rotel_path() is None:
        out["otlp"] = "rotel-agent is not installed (pip install rotel, and set ROTEL_BIN)"
    elif importlib.util.find_spec("opentelemetry") is None or importlib.util.find_spec(
            "opentelemetry.exporter.otlp.proto.http") is None:
        out["otlp"] = "the OTLP exporter is not importable (pip install 'hftlogging[otel]')"
    return out


class Rsyslog:
    """rsyslogd in the foreground with a TCP input, writing each message as a line."""

    def __init__(self, binary: str, directory: str) -> None:
        self.binary = binary
        self.dir = directory
        self.port = _free_port()
        self.out = os.path.join(directory, _RECEIVED + ".log")
        self.proc: subprocess.Popen[bytes] | None = None
        work = os.path.join(directory, "work")
        os.makedirs(work, exist_ok=True)
        self.conf = os.path.join(directory, "rsyslog.conf")
        with open(self.conf, "w", encoding="utf-8") as f:
            f.write(f'global(workDirectory="{work}")\nmodule(load="imtcp")\n'
                    f'input(type="imtcp" port="{self.port}" address="127.0.0.1" '
                    'ruleset="bench")\n'
                    'template(name="line" type="string" string="%msg%\\n")\n'
                    'ruleset(name="bench") {\n'
                    f'  action(type="omfile" file="{self.out}" template="line")\n}}\n')

    def start(self) -> None:
        self.proc = subprocess.Popen(  # noqa: S603 - the configured rsyslogd
            [self.binary, "-n", "-f", self.conf, "-i", os.path.join(self.dir, "rsyslogd.pid")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _wait_port(self.port, self.proc, "rsyslogd")

    def stop(self) -> None:
        _stop(self.proc)
        self.proc = None

    def lines(self) -> int:
        """Messages rsyslog has written so far."""
        return count_lines(self.dir, prefix=_RECEIVED)


class Rotel:
    """The rotel OpenTelemetry collector in the foreground, discarding what it receives."""

    def __init__(self, binary: str, directory: str) -> None:
        self.binary = binary
        self.dir = directory
        self.port = _free_port()
        self.grpc_port = _free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1/logs"

    def start(self) -> None:
        self.proc = subprocess.Popen(  # noqa: S603 - the configured collector
            [self.binary, "start", "--otlp-http-endpoint", f"127.0.0.1:{self.port}",
             "--otlp-grpc-endpoint", f"127.0.0.1:{self.grpc_port}", "--exporter",
             "blackhole", "--pid-file", os.path.join(self.dir, "rotel.pid")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _wait_port(self.port, self.proc, "rotel-agent")

    def stop(self) -> None:
        _stop(self.proc)
        self.proc = None


def _target(spec: dict[str, Any], directory: str) -> dict[str, Any]:
    target = spec["target"]
    n = spec["n"] + _WARMUP
    if target == "file":
        return {"class": "hftlogging.handlers.ComponentRotatingFileHandler",
                "directory": directory, "filename": "{component}.log",
                "max_bytes": MAX_BYTES, "backup_count": BACKUP_COUNT, "formatter": "text"}
    if target == "syslog":
        return {"class": "hftlogging.handlers.SyslogHandler",
                "address": ["127.0.0.1", spec["port"]], "protocol": "tcp",
                "app_name": "bench", "buffer_size": n}
    if target == "otlp":
        return {"class": "hftlogging.handlers.OTLPHandler", "endpoint": spec["endpoint"],
                "resource": {"service.name": "bench"}, "buffer_size": n, "timeout_s": 60}
    raise ConfigError(describe("bench network target", f"one of {', '.join(TARGETS)}", target,
                               f"name one of: {', '.join(TARGETS)}"))


def measure_network(spec: dict[str, Any]) -> dict[str, Any]:
    """One target of section 8 in this (fresh) process.

    ``spec``: ``target`` (one of :data:`TARGETS`), ``n`` records, and for ``syslog`` the
    server's ``port``, its output file ``out`` and the lines it held before (``base``);
    for ``otlp`` the collector's ``endpoint``.

    Returns:
        ``rate`` (records/s until all were received), ``seconds``, ``expected``,
        ``received`` (lines on disk, lines rsyslog wrote, or records the collector
        acknowledged) and ``dropped`` (by the queue or the handler).
    """
    directory = tempfile.mkdtemp(prefix="hftlogging-bench-net-")
    try:
        hftlogging.configure({
            "version": 1, "disable_existing_loggers": False,
            "formatters": {"text": {"()": "hftlogging.formatters.ContextFormatter",
                                    "fmt": TEXT_FORMAT}},
            "handlers": {
                "out": _target(spec, directory),
                "queue": {"class": "hftlogging.handlers.QueueHandler", "handlers": ["out"],
                          "overflow": "block", "block_timeout_ms": 60_000},
            },
            "loggers": {LOGGER_NAME: {"level": "INFO", "handlers": ["queue"],
                                      "propagate": False}},
        })
        log: Any = logging.getLogger(LOGGER_NAME)
        queue_handler: Any = logging.getHandlerByName("queue") if hasattr(
            logging, "getHandlerByName") else log.handlers[0]
        out: Any = queue_handler.handlers[0]
        info = log.info
        for i in range(_WARMUP):
            info("order %s filled", i, exchange="mexc", qty=0.5)
        queue_handler.flush()
        n = spec["n"]
        t0 = time.perf_counter()
        for i in range(_WARMUP, _WARMUP + n):
            info("order %s filled", i, exchange="mexc", qty=0.5)
        dropped = int(queue_handler.stats()["dropped"])
        hftlogging.shutdown()
        out.close()  # the network handlers send what they still hold, then stop
        expected = n + _WARMUP
        received = _received(spec, directory, out, expected)
        seconds = time.perf_counter() - t0
        if hasattr(out, "exporter_stats"):
            dropped += int(out.exporter_stats()["dropped"])
        return {"rate": n / seconds, "seconds": seconds, "expected": expected,
                "received": received, "dropped": dropped}
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def _received(spec: dict[str, Any], directory: str, out: Any, expected: int) -> int:
    target = spec["target"]
    if target == "file":
        return count_lines(directory)
    if target == "otlp":
        return int(out.exporter_stats()["sent"])
    # rsyslog writes on its own thread: nothing to wait on but its file.
    server_dir = os.path.dirname(spec["out"])
    got, last, deadline = 0, -1, 0.0
    while got < expected:
        if got != last:  # progress: wait on
            last, deadline = got, time.monotonic() + _STALL_S
        elif time.monotonic() > deadline:
            break
        time.sleep(0.01)
        got = count_lines(server_dir, prefix=_RECEIVED) - int(spec["base"])
    return got


def collect_network(plan: Plan, res: Results, run: Any, verbose: bool = True) -> None:
    """Start the servers that are installed, run the targets interleaved over the rounds
    (``run`` runs one spec in a fresh interpreter), stop the servers."""
    skipped = missing()
    for target, reason in skipped.items():
        res.note("network", f"{target}: {reason}; skipped")
    base = tempfile.mkdtemp(prefix="hftlogging-bench-servers-")
    syslog: Rsyslog | None = None
    rotel: Rotel | None = None
    try:
        targets = ["file"]
        if "syslog" not in skipped:
            syslog = Rsyslog(rsyslogd_path() or "", os.path.join(base, "rsyslog"))
            syslog.start()
            targets.append("syslog")
        if "otlp" not in skipped:
            rotel = Rotel(rotel_path() or "", os.path.join(base, "rotel"))
            rotel.start()
            targets.append("otlp")
        for rnd in range(plan.rounds):
            for target in targets:
                spec: dict[str, Any] = {"task": "network", "target": target,
                                        "n": plan.network_n}
                if syslog is not None and target == "syslog":
                    spec.update(port=syslog.port, out=syslog.out, base=syslog.lines())
                if rotel is not None and target == "otlp":
                    spec["endpoint"] = rotel.endpoint
                if verbose:
                    progress(f"[round {rnd + 1}/{plan.rounds}] network/{target}")
                res.add(f"network/{target}", run(spec))
    except StateError as e:
        res.note("network", f"a server did not start: {e}")
    finally:
        for server in (syslog, rotel):
            if server is not None:
                server.stop()
        shutil.rmtree(base, ignore_errors=True)


def network_table(res: Results, checks: list[Check]) -> str:
    """Render section 8; a check per target that every record was received, none dropped."""
    file_rate = res.med("network/file", "rate")
    rows = []
    for target in TARGETS:
        key = f"network/{target}"
        if not res.has(key):
            continue
        runs = res.raw[key]
        bad = [r for r in runs if r["received"] != r["expected"] or r["dropped"]]
        if bad:
            checks.append((f"all records received in {key}", False,
                           f"{bad[0]['received']} received, {bad[0]['dropped']} dropped, "
                           f"{bad[0]['expected']} expected"))
        rate = res.med(key, "rate")
        rows.append([_LABELS[target], f"{rate / 1000:.1f}k" + (" (LOST)" if bad else ""),
                     f"{rate / file_rate:.2f}x" if measured(rate, file_rate) else "-"])
    notes = "".join(f"\n- {n}" for n in res.notes.get("network", []))
    return ("### 8. Network handlers beside the file (records/s through the queue until "
            "every record is received; local servers)\n\n"
            + md_table(["pipeline", "records/s", "÷ file"], rows) + ("\n" + notes if notes
                                                                      else ""))
