"""hftlogging demo, end to end: real worker processes, files, a live endpoint, verified audit."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _scrape_until(
    url: str, needles: list[str], proc: subprocess.Popen[str], deadline: float
) -> str:
    """Scrape the demo's endpoint until every needle (a regular expression) shows up, while
    the demo still runs."""
    last = ""
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                last = r.read().decode()
        except (urllib.error.URLError, OSError):
            last = ""
        if all(re.search(n, last, re.MULTILINE) for n in needles):
            return last
        time.sleep(0.1)  # polling another process's endpoint, not synchronising threads
    return last


def test_demo_end_to_end(tmp_path: Path) -> None:
    """A short demo with two worker processes writes per-component files and a verified
    audit trail per worker, serves an aggregated /metrics while it runs, prints the
    summary, masks the secret it logs, and exits 0."""
    port = _free_port()
    demo_dir = tmp_path / "demo"
    proc = subprocess.Popen(
        [sys.executable, "-m", "hftlogging.cli", "demo", "--seconds", "3", "--workers", "2",
         "--port", str(port), "--dir", str(demo_dir), "--rate", "2000"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
    )
    try:
        assert proc.stdout is not None
        header = [proc.stdout.readline() for _ in range(3)]
        assert header[2].strip() == f"metrics: http://127.0.0.1:{port}/metrics", header
        # Both workers' series (one exchange each) on the one endpoint.
        scraped = _scrape_until(
            f"http://127.0.0.1:{port}/metrics",
            [rf'^hft_orders_placed_total{{.*\bexchange="{ex}"' for ex in ("mexc", "binance")],
            proc, time.monotonic() + 30,
        )
        still_running = proc.poll() is None
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, out + err
    assert still_running
    for exchange in ("mexc", "binance"):
        # The shipped configuration also labels the context (component, ...) and the worker.
        assert re.search(
            rf'^hft_orders_placed_total{{(?=[^}}]*\bexchange="{exchange}")(?=[^}}]*\bside="buy")'
            rf'[^}}]*}} \d', scraped, re.MULTILINE), scraped
    assert "hft_messages_received_total" in scraped

    assert "result: ok" in out
    assert re.search(r"^  exchange\.mexc\.ws +[\d,]+ +[\d,]+ +0$", out, re.MULTILINE), out
    assert re.search(r"^  orders +[\d,]+ +[\d,]+ +[\d,]+$", out, re.MULTILINE), out
    assert re.search(r"p50 [\d.]+ µs, p99 [\d.]+ µs", out), out
    assert re.search(r"records/s", out)
    assert "appears in no file" in out

    names = sorted(p.name for p in demo_dir.iterdir() if not p.name.startswith("."))
    from hftlogging.handlers.audit import verify

    assert "audit.demo-0.jsonl" in names and "audit.demo-1.jsonl" in names
    assert "exchange.mexc.ws.demo-0.log" in names
    assert "orders.demo-1.log" in names
    for worker in ("demo-0", "demo-1"):
        res = verify([str(demo_dir / f"audit.{worker}.jsonl")])
        assert res.ok and res.records > 0, res
        assert f"audit.{worker}.jsonl" in out
    assert out.count("hash chain verified") == 2
    for p in demo_dir.iterdir():
        if p.is_file():
            assert b"do-not-log" not in p.read_bytes(), p


def test_demo_reports_a_taken_port(tmp_path: Path) -> None:
    """A port already in use ends the demo with a clear message and exit code 1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        port = s.getsockname()[1]
        proc = subprocess.run(
            [sys.executable, "-m", "hftlogging.cli", "demo", "--seconds", "1", "--port",
             str(port), "--dir", str(tmp_path / "d")],
            capture_output=True, text=True, timeout=60, check=False,
        )
    assert proc.returncode == 1
    assert proc.stdout.startswith(f"hftlogging demo: cannot serve metrics on 127.0.0.1:{port}:")
    assert "Traceback" not in proc.stderr


def test_demo_reports_an_invalid_config_without_starting(tmp_path: Path) -> None:
    """An invalid --config is reported in one message (exit 1) before any process starts."""
    import io

    from hftlogging.tools.demo import run_demo

    bad = tmp_path / "bad.yaml"
    bad.write_text("handlers: {q: {class: hftlogging.handlers.QueueHandlr}}\n")
    out = io.StringIO()
    assert run_demo(config=str(bad), seconds=1, directory=str(tmp_path / "d"), out=out) == 1
    assert out.getvalue() == (
        f"hftlogging demo: {bad}, key handlers.q.class: expected an importable class, found "
        "'hftlogging.handlers.QueueHandlr' (hftlogging.handlers has no 'QueueHandlr'); "
        "did you mean 'hftlogging.handlers.QueueHandler'?\n"
    )
    assert not (tmp_path / "d").exists()
