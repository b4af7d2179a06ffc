"""One /metrics endpoint for every worker process started with the shipped configuration.

Four worker processes run ``configure("production")`` with the same environment (log
directory, port, runtime directory) and no per-process setting: no worker name, no
multiprocess directory. A real Prometheus scrapes the one port. The tests read what it
and the endpoint serve while the workers live, kill the serving worker, and follow the
takeover and the removal of the dead worker's series.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_servers import (
    free_port,
    http_get,
    prometheus_factory,  # noqa: F401 - fixture
    wait_until,
)

WORKER = textwrap.dedent(
    """
    import json, logging, os, sys
    import hftlogging

    exchange = sys.argv[1]
    # The same for every worker: a small queue, so that a burst of lines drops some.
    hftlogging.configure("production", overrides={"hftlogging": {"queue": {"capacity": 8}}})
    log = hftlogging.get_exchange_logger(exchange, "ws")
    for i in range(3000):
        log.warning("burst line %d", i)
    logging._handlers["queue"].flush()
    for _ in range(5):
        log.counter("orders_placed")
        logging._handlers["queue"].flush()  # one at a time: none of these is dropped
    with log.timer("order_placement"):
        pass
    logging._handlers["queue"].flush()
    s = hftlogging.stats()
    print(json.dumps({"worker": hftlogging.get_worker(), "pid": os.getpid(),
                      "dropped": s["dropped_by_type"]["text"]}), flush=True)
    sys.stdin.readline()
    """
)

EXCHANGES = ["mexc", "gateio", "mexc", "gateio"]


class Workers:
    """Worker processes sharing one environment; reports read from their stdout."""

    def __init__(self, tmp_path: Path) -> None:
        self.port = free_port()
        self.run_dir = tmp_path / "run"
        self.run_dir.mkdir()
        script = tmp_path / "worker.py"
        script.write_text(WORKER)
        env = {**os.environ, "HFTLOGGING_DIR": str(tmp_path / "logs"),
               "HFTLOGGING_PROMETHEUS_PORT": str(self.port),
               "XDG_RUNTIME_DIR": str(self.run_dir),
               "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
        for name in ("HFTLOGGING_WORKER", "PROMETHEUS_MULTIPROC_DIR", "HFTLOGGING_ENV"):
            env.pop(name, None)
        self.procs = [
            subprocess.Popen([sys.executable, str(script), ex], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True, env=env)
            for ex in EXCHANGES
        ]
        self.reports: dict[int, dict[str, Any]] = {}
        for p, ex in zip(self.procs, EXCHANGES, strict=False):
            assert p.stdout is not None
            line = p.stdout.readline()
            assert line, f"worker {p.pid} ended early: {p.wait(30)}"
            report = json.loads(line)
            report["exchange"] = ex
            self.reports[p.pid] = report

    @property
    def directory(self) -> Path:
        return self.run_dir / "hftlogging" / f"metrics-127.0.0.1-{self.port}"

    def end(self, pid: int) -> int:
        """End a worker normally (its stdin line) and return its exit code."""
        p = next(p for p in self.procs if p.pid == pid)
        assert p.stdin is not None
        p.stdin.write("exit\n")
        p.stdin.flush()
        return p.wait(60)

    def kill(self, pid: int) -> None:
        p = next(p for p in self.procs if p.pid == pid)
        p.send_signal(signal.SIGKILL)
        p.wait(30)

    def stop(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                p.kill()
            p.wait(30)


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[Workers]:
    w = Workers(tmp_path)
    yield w
    w.stop()


def scrape(port: int) -> list[tuple[str, dict[str, str], float]] | None:
    """Every sample of the endpoint, or None when it does not answer."""
    status, body = http_get(f"http://127.0.0.1:{port}/metrics", timeout=2.0)
    if status != 200:
        return None
    return [(s.name, dict(s.labels), float(s.value))
            for fam in text_string_to_metric_families(body.decode()) for s in fam.samples]


def by_pid(samples: list[tuple[str, dict[str, str], float]], name: str) -> dict[int, float]:
    return {int(lab["pid"]): v for n, lab, v in samples if n == name and "pid" in lab}


def serving_pid(samples: list[tuple[str, dict[str, str], float]]) -> int:
    return next(int(v) for n, _lab, v in samples if n == "hft_logging_endpoint_pid")


def test_four_workers_one_endpoint_with_takeover(
    workers: Workers, prometheus_factory: Any  # noqa: F811
) -> None:
    """Four processes of the shipped production configuration serve one endpoint: each
    worker's series (drops included, with its worker name and pid) reach Prometheus;
    killing the serving worker, a survivor serves within 10 s; the dead worker's series
    leave; a worker ending normally removes its own."""
    reports = workers.reports
    names = sorted(r["worker"] for r in reports.values())
    assert names == ["main", "main-2", "main-3", "main-4"]  # derived, never two "main"
    assert sum(r["dropped"] for r in reports.values()) > 0, reports

    prom = prometheus_factory([f"127.0.0.1:{workers.port}"])
    # Prometheus holds every worker's drop count, as the worker itself counted it.
    expected_drops = {pid: float(r["dropped"]) for pid, r in reports.items()}

    def drops_in_prometheus() -> dict[int, float] | None:
        got = {int(s["metric"]["pid"]): float(s["value"][1])
               for s in prom.query('hft_logging_records_dropped_total{type="text"}')}
        return got if got == expected_drops else None

    wait_until(drops_in_prometheus, 30, "every worker's drops in Prometheus")
    workers_by_pid = {
        int(s["metric"]["pid"]): s["metric"]["worker"]
        for s in prom.query("hft_logging_queue_capacity")
    }
    assert workers_by_pid == {pid: r["worker"] for pid, r in reports.items()}
    orders = {s["metric"]["worker"]: float(s["value"][1])
              for s in prom.query("hft_orders_placed_total")}
    assert orders == dict.fromkeys(names, 5.0)
    # Labels from context: the exchange loggers' timers are separate series.
    timers = {(s["metric"]["exchange"], s["metric"]["component"], s["metric"]["worker"])
              for s in prom.query("hft_order_placement_duration_seconds_count")}
    assert timers == {(r["exchange"], "ws", r["worker"]) for r in reports.values()}

    samples = scrape(workers.port)
    assert samples is not None
    server = serving_pid(samples)
    assert server in reports
    workers.kill(server)
    killed_at = time.monotonic()
    survivors = set(reports) - {server}

    def served_by_survivor() -> list[tuple[str, dict[str, str], float]] | None:
        got = scrape(workers.port)
        return got if got is not None and serving_pid(got) in survivors else None

    wait_until(served_by_survivor, 10, "a surviving worker serving the endpoint")
    assert time.monotonic() - killed_at < 10

    def dead_series_gone() -> list[tuple[str, dict[str, str], float]] | None:
        got = scrape(workers.port)
        if got is None:
            return None
        pids = set(by_pid(got, "hft_logging_records_dropped_total"))
        pids |= set(by_pid(got, "hft_logging_queue_depth"))
        return got if pids == survivors else None

    samples = wait_until(dead_series_gone, 10, "the killed worker's series removed")
    dead_worker = reports[server]["worker"]
    assert all(lab.get("worker") != dead_worker for _n, lab, _v in samples)
    assert not list(workers.directory.glob(f"*_{server}.*"))
    # Prometheus scrapes the new server: its endpoint_pid moves to a survivor.
    wait_until(
        lambda: [s for s in prom.query("hft_logging_endpoint_pid")
                 if int(float(s["value"][1])) in survivors],
        30, "Prometheus scraping the surviving server",
    )

    # A worker ending normally removes its own files and series.
    leaver = min(survivors - {serving_pid(samples)})
    assert workers.end(leaver) == 0
    assert not list(workers.directory.glob(f"*_{leaver}.*"))
    samples = wait_until(lambda: scrape(workers.port), 10, "the endpoint")
    assert leaver not in by_pid(samples, "hft_logging_records_dropped_total")
    assert set(by_pid(samples, "hft_logging_queue_depth")) == survivors - {leaver}


FORKING_PARENT = textwrap.dedent(
    """
    import logging, multiprocessing, os, sys, warnings
    import hftlogging

    warnings.simplefilter("ignore", DeprecationWarning)  # fork with threads, 3.12+
    port = int(sys.argv[1])
    hftlogging.configure({
        "version": 1,
        "handlers": {
            "prom": {"class": "hftlogging.handlers.PrometheusHandler", "port": port,
                     "multiprocess": True, "const_labels": {"worker": "{worker}"}},
            "queue": {"class": "hftlogging.handlers.QueueHandler", "handlers": ["prom"]},
        },
        "root": {"level": "INFO", "handlers": ["queue"]},
    })
    log = hftlogging.get_logger("forking")
    log.counter("orders")

    def work(ready, go):
        log.counter("orders")
        log.counter("orders")
        logging._handlers["queue"].flush()
        ready.put((os.getpid(), hftlogging.get_worker()))
        go.wait(120)

    ctx = multiprocessing.get_context("fork")
    ready, go = ctx.Queue(), ctx.Event()
    children = [ctx.Process(target=work, args=(ready, go)) for _ in range(2)]
    for c in children:
        c.start()
    got = [ready.get(timeout=60) for _ in children]
    logging._handlers["queue"].flush()
    print(os.getpid(), hftlogging.get_worker(), *[x for g in got for x in g], flush=True)
    sys.stdin.readline()
    """
)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_forked_children_join_and_take_over(tmp_path: Path) -> None:
    """Children forked from a serving process get worker names of their own, write
    their own series (the parent's counts are not inherited), and one of them serves
    the endpoint within 10 s once the parent is killed."""
    port = free_port()
    script = tmp_path / "parent.py"
    script.write_text(FORKING_PARENT)
    (tmp_path / "run").mkdir()
    env = {**os.environ, "XDG_RUNTIME_DIR": str(tmp_path / "run"),
           "HFTLOGGING_DIR": str(tmp_path / "logs"),
           "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    for name in ("HFTLOGGING_WORKER", "PROMETHEUS_MULTIPROC_DIR"):
        env.pop(name, None)
    parent = subprocess.Popen([sys.executable, str(script), str(port)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
    children: list[int] = []
    try:
        assert parent.stdout is not None
        fields = parent.stdout.readline().split()
        assert len(fields) == 6, fields
        names = {int(fields[i]): fields[i + 1] for i in range(0, 6, 2)}
        children = [p for p in names if p != parent.pid]
        assert sorted(names.values()) == ["main", "main-2", "main-3"]

        def all_three() -> list[tuple[str, dict[str, str], float]] | None:
            got = scrape(port)
            if got is None:
                return None
            orders = {lab["worker"]: v for n, lab, v in got if n == "hft_orders_total"}
            return got if len(orders) == 3 else None

        samples = wait_until(all_three, 10, "the three processes' series")
        orders = {lab["worker"]: v for n, lab, v in samples if n == "hft_orders_total"}
        assert orders == {names[parent.pid]: 1.0, **{names[c]: 2.0 for c in children}}
        assert serving_pid(samples) == parent.pid

        parent.kill()
        parent.wait(30)
        killed_at = time.monotonic()

        def served_by_child() -> list[tuple[str, dict[str, str], float]] | None:
            got = scrape(port)
            return got if got is not None and serving_pid(got) in children else None

        samples = wait_until(served_by_child, 10, "a forked child serving the endpoint")
        assert time.monotonic() - killed_at < 10

        def parent_gone() -> list[tuple[str, dict[str, str], float]] | None:
            got = scrape(port)
            if got is None or parent.pid in by_pid(got, "hft_logging_records_written_total"):
                return None
            return got

        samples = wait_until(parent_gone, 10, "the killed parent's series removed")
        orders = {lab["worker"]: v for n, lab, v in samples if n == "hft_orders_total"}
        assert orders == {names[c]: 2.0 for c in children}
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait(30)
        for pid in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
