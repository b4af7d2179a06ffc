"""Real Prometheus, Pushgateway and promtool for the tests, on free 127.0.0.1 ports.

A missing binary skips the test outside CI and fails it when ``CI`` is set. The binaries
are found through ``PROMETHEUS_BIN``, ``PUSHGATEWAY_BIN`` and ``PROMTOOL_BIN``, else on
``PATH``, else in ``/usr/bin`` (where the Debian packages put them).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

IN_CI = bool(os.environ.get("CI"))
READY_TIMEOUT_S = 30.0
QUERY_TIMEOUT_S = 30.0

_BINARIES = {
    "prometheus": "PROMETHEUS_BIN",
    "prometheus-pushgateway": "PUSHGATEWAY_BIN",
    "promtool": "PROMTOOL_BIN",
}


def find_binary(name: str) -> str | None:
    """The path of ``name`` (see the module docstring), or None."""
    override = os.environ.get(_BINARIES.get(name, ""), "")
    if override:
        return override if os.access(override, os.X_OK) else None
    found = shutil.which(name)
    if found:
        return found
    fallback = Path("/usr/bin") / name
    return str(fallback) if os.access(fallback, os.X_OK) else None


def require_binary(name: str) -> str:
    """The path of ``name``; skip the test without it, or fail it in CI."""
    path = find_binary(name)
    if path is None:
        msg = f"{name} is not installed (apt-get install prometheus prometheus-pushgateway)"
        if IN_CI:
            pytest.fail(f"{msg}; CI must run this test")
        pytest.skip(msg)
    return path


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def http_get(url: str, timeout: float = 5.0) -> tuple[int, bytes]:
    """GET ``url``: (status, body); a connection failure is status 0."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()
    except (urllib.error.URLError, OSError):
        return 0, b""


def wait_until(check: Callable[[], Any], timeout: float, what: str, pause: float = 0.1) -> Any:
    """Poll ``check`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(pause)  # polling an external process: there is nothing to wait on
    pytest.fail(f"timed out after {timeout:.0f}s waiting for {what} (last: {last!r})")


class _Server:
    """A server process started on a free port, stopped by :meth:`stop`."""

    name = "server"

    def __init__(self, binary: str, workdir: Path) -> None:
        self.binary = binary
        self.workdir = workdir
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = workdir / f"{self.name}.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def args(self) -> list[str]:
        raise NotImplementedError

    def start(self, port: int | None = None) -> None:
        """Start on ``port`` (default: a free one, retried if taken meanwhile); wait until ready."""
        for _attempt in range(3 if port is None else 1):
            self.port = free_port() if port is None else port
            with self.log_path.open("ab") as log:
                self.proc = subprocess.Popen(
                    [self.binary, *self.args()], stdout=log, stderr=subprocess.STDOUT,
                    cwd=self.workdir,
                )
            deadline = time.monotonic() + READY_TIMEOUT_S
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    break  # exited: most likely the port; try another
                status, _ = http_get(f"{self.url}/-/ready", timeout=1.0)
                if status == 200:
                    return
                time.sleep(0.1)  # polling an external process
            self.stop()
        pytest.fail(f"{self.name} did not become ready; log:\n{self.log()}")

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-4000:]
        except OSError:
            return ""

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


class PrometheusServer(_Server):
    """A Prometheus server scraping the given targets every ``scrape_interval``."""

    name = "prometheus"

    def __init__(self, binary: str, workdir: Path, targets: list[str],
                 scrape_interval: str = "1s") -> None:
        super().__init__(binary, workdir)
        self.config = workdir / "prometheus.yml"
        jobs = "\n".join(
            f"  - job_name: target{i}\n    static_configs:\n      - targets: ['{t}']"
            for i, t in enumerate(targets)
        )
        self.config.write_text(
            f"global:\n  scrape_interval: {scrape_interval}\n"
            f"  evaluation_interval: {scrape_interval}\nscrape_configs:\n{jobs}\n"
        )
        (workdir / "data").mkdir(exist_ok=True)

    def args(self) -> list[str]:
        return [
            f"--config.file={self.config}",
            f"--storage.tsdb.path={self.workdir / 'data'}",
            f"--web.listen-address=127.0.0.1:{self.port}",
            "--log.level=warn",
        ]

    def query(self, expr: str) -> list[dict[str, Any]]:
        """Run an instant query; the result vector ([] on any failure)."""
        url = f"{self.url}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
        status, body = http_get(url)
        if status != 200:
            return []
        data = json.loads(body)
        if data.get("status") != "success":
            return []
        return list(data["data"]["result"])

    def wait_for_value(self, expr: str, expected: float,
                       timeout: float = QUERY_TIMEOUT_S) -> list[dict[str, Any]]:
        """Poll ``expr`` until one sample equals ``expected``; return the result vector."""
        def check() -> list[dict[str, Any]] | None:
            result = self.query(expr)
            if any(float(s["value"][1]) == expected for s in result):
                return result
            return None

        return wait_until(check, timeout, f"{expr} == {expected} in Prometheus",  # type: ignore[no-any-return]
                          pause=0.2)


class Pushgateway(_Server):
    """A Pushgateway keeping pushes in memory."""

    name = "pushgateway"

    def args(self) -> list[str]:
        # Debian's build persists to a system-wide file by default: keep each gateway's own.
        return [
            f"--web.listen-address=127.0.0.1:{self.port}",
            f"--persistence.file={self.workdir / 'pushgateway.data'}",
            "--log.level=warn",
        ]

    def metrics_text(self) -> str:
        """The gateway's own /metrics exposition (every pushed group included)."""
        status, body = http_get(f"{self.url}/metrics")
        return body.decode() if status == 200 else ""

    def samples(self, name: str) -> list[tuple[dict[str, str], float]]:
        """(labels, value) of every sample named ``name`` the gateway holds."""
        from prometheus_client.parser import text_string_to_metric_families

        out = []
        for fam in text_string_to_metric_families(self.metrics_text()):
            for s in fam.samples:
                if s.name == name:
                    out.append((dict(s.labels), float(s.value)))
        return out


def promtool_check(exposition: bytes) -> subprocess.CompletedProcess[bytes]:
    """Run ``promtool check metrics`` on an exposition (stdin)."""
    promtool = require_binary("promtool")
    return subprocess.run(  # noqa: PLW1510 - the caller checks returncode
        [promtool, "check", "metrics"], input=exposition, capture_output=True, timeout=60,
    )


@pytest.fixture
def prometheus_factory(tmp_path: Path) -> Iterator[Callable[[list[str]], PrometheusServer]]:
    """Start Prometheus servers scraping given targets; all are stopped at teardown."""
    binary = require_binary("prometheus")
    started: list[PrometheusServer] = []

    def start(targets: list[str]) -> PrometheusServer:
        workdir = tmp_path / f"prometheus{len(started)}"
        workdir.mkdir()
        server = PrometheusServer(binary, workdir, targets)
        started.append(server)
        server.start()
        return server

    yield start
    for s in started:
        s.stop()


@pytest.fixture
def pushgateway(tmp_path: Path) -> Iterator[Pushgateway]:
    """A running Pushgateway on a free port, stopped at teardown."""
    binary = require_binary("prometheus-pushgateway")
    workdir = tmp_path / "pushgateway"
    workdir.mkdir()
    gw = Pushgateway(binary, workdir)
    gw.start()
    yield gw
    gw.stop()
