"""Multi-process mode: worker processes' counters add up on one endpoint served by the parent.

The test runs a service parent process and three worker processes, each a fresh
interpreter with ``PROMETHEUS_MULTIPROC_DIR`` set from the start (prometheus-client picks
its mode at import). The workers count through hftlogging's pipeline; the parent serves
the aggregate; the test reads it over HTTP while the workers live and after they exit.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_servers import IN_CI, find_binary, http_get, promtool_check

WORKER = textwrap.dedent(
    """
    import sys
    import hftlogging

    name, count = sys.argv[1], int(sys.argv[2])
    hftlogging.set_worker(name)
    hftlogging.configure({
        "version": 1,
        "handlers": {
            "prom": {"class": "hftlogging.handlers.PrometheusHandler", "namespace": "svc"},
            "queue": {"class": "hftlogging.handlers.QueueHandler", "handlers": ["prom"]},
        },
        "root": {"level": "INFO", "handlers": ["queue"]},
    })
    log = hftlogging.get_logger("worker")
    for _ in range(count):
        log.counter("orders", exchange="mexc")
    log.metric("workers_up", 1)
    log.latency("step", 0.05)
    hftlogging.shutdown()  # drained: every update is in this process's files
    print("ready", flush=True)
    sys.stdin.readline()
    # A normal exit: logging.shutdown closes the handler, atexit cleans up the gauges.
    """
)

PARENT = textwrap.dedent(
    """
    import subprocess, sys, logging
    import hftlogging

    worker_script, counts = sys.argv[1], sys.argv[2:]
    hftlogging.configure({
        "version": 1,
        "handlers": {
            "prom": {"class": "hftlogging.handlers.PrometheusHandler", "namespace": "svc",
                     "port": 0},
            "queue": {"class": "hftlogging.handlers.QueueHandler", "handlers": ["prom"]},
        },
        "root": {"level": "INFO", "handlers": ["queue"]},
    })
    print("port", logging._handlers["prom"].port, flush=True)
    workers = [
        subprocess.Popen([sys.executable, worker_script, f"worker_{i}", n],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        for i, n in enumerate(counts)
    ]
    for w in workers:
        line = w.stdout.readline().strip()
        assert line == "ready", line
    print("alive", *[w.pid for w in workers], flush=True)
    sys.stdin.readline()
    for w in workers:
        w.stdin.write("exit\\n")
        w.stdin.flush()
    codes = [w.wait(60) for w in workers]
    print("exited", *codes, flush=True)
    sys.stdin.readline()
    """
)


PARENT_FORK = textwrap.dedent(
    """
    import logging, multiprocessing, sys, warnings
    import hftlogging

    warnings.simplefilter("ignore", DeprecationWarning)  # fork with threads, 3.12+
    counts = [int(n) for n in sys.argv[2:]]
    hftlogging.configure({
        "version": 1,
        "handlers": {
            "prom": {"class": "hftlogging.handlers.PrometheusHandler", "namespace": "svc",
                     "port": 0},
            "queue": {"class": "hftlogging.handlers.QueueHandler", "handlers": ["prom"]},
        },
        "root": {"level": "INFO", "handlers": ["queue"]},
    })
    print("port", logging._handlers["prom"].port, flush=True)

    def work(n, ready, go):
        log = hftlogging.get_logger("worker")
        for _ in range(n):
            log.counter("orders", exchange="mexc")
        log.metric("workers_up", 1)
        log.latency("step", 0.05)
        logging._handlers["queue"].flush()
        ready.set()
        go.wait(60)
        # Returning ends the child with os._exit: multiprocessing's finalizers drain
        # the queue and clean up the gauge files.

    ctx = multiprocessing.get_context("fork")
    go = ctx.Event()
    workers = []
    for n in counts:
        ready = ctx.Event()
        p = ctx.Process(target=work, args=(n, ready, go))
        p.start()
        workers.append((p, ready))
    for p, ready in workers:
        assert ready.wait(60)
    print("alive", *[p.pid for p, _ in workers], flush=True)
    sys.stdin.readline()
    go.set()
    for p, _ in workers:
        p.join(60)
    print("exited", *[p.exitcode for p, _ in workers], flush=True)
    sys.stdin.readline()
    """
)


class Service:
    """The parent process, driven line by line."""

    def __init__(self, tmp_path: Path, counts: list[int], script: str) -> None:
        self.dir = tmp_path / "multiproc"
        self.dir.mkdir()
        worker = tmp_path / "worker.py"
        worker.write_text(WORKER)
        parent = tmp_path / "parent.py"
        parent.write_text(script)
        env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(self.dir),
               "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
        env.pop("HFTLOGGING_WORKER", None)
        self.proc = subprocess.Popen(
            [sys.executable, str(parent), str(worker), *map(str, counts)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env,
        )

    def expect(self, word: str) -> list[str]:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().split()
        assert line and line[0] == word, f"expected {word!r} from the service, got {line!r}"
        return line[1:]

    def send(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write("go\n")
        self.proc.stdin.flush()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(30)


@pytest.fixture
def service(tmp_path: Path) -> Iterator[Any]:
    made: list[Service] = []

    def start(counts: list[int], script: str = PARENT) -> Service:
        s = Service(tmp_path, counts, script)
        made.append(s)
        return s

    yield start
    for s in made:
        s.stop()


def scrape(port: int) -> tuple[bytes, dict[tuple[str, tuple[tuple[str, str], ...]], float]]:
    status, body = http_get(f"http://127.0.0.1:{port}/metrics")
    assert status == 200
    samples = {}
    for fam in text_string_to_metric_families(body.decode()):
        for s in fam.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return body, samples


@pytest.mark.parametrize(
    "script",
    [pytest.param(PARENT, id="spawned-interpreters"),
     pytest.param(PARENT_FORK, id="multiprocessing-fork",
                  marks=pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork"))],
)
def test_three_workers_add_up_on_the_parent_endpoint(service: Any, script: str) -> None:
    """Counters of three worker processes sum on the parent's endpoint; livesum gauges
    count live workers; clean exits remove their gauge files, and counters stay."""
    counts = [100, 200, 300]
    svc = service(counts, script)
    port = int(svc.expect("port")[0])
    pids = [int(p) for p in svc.expect("alive")]
    assert len(pids) == 3

    body, samples = scrape(port)
    assert samples[("svc_orders_total", (("exchange", "mexc"),))] == sum(counts)
    assert samples[("svc_workers_up", ())] == 3
    assert samples[("svc_step_duration_seconds_count", ())] == 3
    assert samples[("svc_step_duration_seconds_sum", ())] == pytest.approx(3 * 0.05 / 1000)
    assert ("svc_logging_queue_capacity", ()) in samples  # the parent's own pipeline
    files = {p.name for p in svc.dir.iterdir()}
    for pid in pids:
        assert f"counter_{pid}.db" in files
        assert f"gauge_livesum_{pid}.db" in files
    if find_binary("promtool") or IN_CI:
        result = promtool_check(body)
        assert result.returncode == 0, (result.stdout + result.stderr).decode()

    svc.send()
    assert svc.expect("exited") == ["0", "0", "0"]
    _body, samples = scrape(port)
    assert samples[("svc_orders_total", (("exchange", "mexc"),))] == sum(counts)
    assert samples.get(("svc_workers_up", ()), 0) == 0
    files = {p.name for p in svc.dir.iterdir()}
    for pid in pids:
        assert f"counter_{pid}.db" in files  # counts of exited workers still add up
        assert f"gauge_livesum_{pid}.db" not in files
    svc.send()
    assert svc.proc.wait(30) == 0
