"""Rotating files end to end: hftlogging against stdlib, records/s until all are on disk.

Both setups log ``log.info("order %s filled qty=%s", i, 0.5)`` from one thread, through a
queue and a listener thread, into size-rotating files with the same line format
(``%(asctime)s %(levelname)s %(name)s: %(message)s``):

- stdlib: ``QueueHandler`` -> ``QueueListener`` -> ``RotatingFileHandler``;
- hftlogging: ``QueueHandler`` -> ``QueueListener`` -> ``ComponentRotatingFileHandler``
  (default ``ContextFormatter``; with no context fields its lines are the same).

The clock runs from the first measured call until the pipeline is stopped and every
record is in a file. Each round runs in a fresh interpreter (no shared GC or import
state), rounds of the two setups are interleaved, and the medians are compared. Every
round counts the lines in all files (current and rotated) and checks their format.

Run: ``pytest benchmarks/test_throughput_files.py -s`` or
``python benchmarks/test_throughput_files.py [N]``. Set ``HFTLOGGING_BENCH_STRICT=1`` to
fail when the ratio is below the target of 4x.
"""

from __future__ import annotations

import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

N = 100_000
WARMUP = 1_000
ROUNDS = 3
MAX_BYTES = 1_000_000
BACKUP_COUNT = 100
FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
TARGET_RATIO = 4.0
LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} INFO bench: order \d+ filled qty=0\.5$")


def _count_lines(directory: str) -> tuple[int, int]:
    """(lines in every *.log* file, lines not in the expected format)."""
    lines = bad = 0
    for p in Path(directory).glob("*.log*"):
        for line in p.read_text(encoding="utf-8").splitlines():
            lines += 1
            if not LINE.match(line):
                bad += 1
    return lines, bad


def _run_stdlib(directory: str, n: int) -> float:
    import logging
    import logging.handlers
    import queue

    q: queue.SimpleQueue[Any] = queue.SimpleQueue()
    fh = logging.handlers.RotatingFileHandler(
        os.path.join(directory, "bench.log"), maxBytes=MAX_BYTES, backupCount=BACKUP_COUNT,
        encoding="utf-8",
    )
    fh.setFormatter(logging.Formatter(FORMAT))
    listener = logging.handlers.QueueListener(q, fh)
    log = logging.getLogger("bench")
    log.setLevel(logging.INFO)
    log.propagate = False
    log.addHandler(logging.handlers.QueueHandler(q))
    listener.start()
    for i in range(WARMUP):
        log.info("order %s filled qty=%s", i, 0.5)
    t0 = time.perf_counter()
    for i in range(WARMUP, WARMUP + n):
        log.info("order %s filled qty=%s", i, 0.5)
    listener.stop()
    fh.close()
    return time.perf_counter() - t0


def _run_hftlogging(directory: str, n: int) -> float:
    import hftlogging

    hftlogging.configure({
        "version": 1,
        "handlers": {
            "queue": {"class": "hftlogging.handlers.QueueHandler", "handlers": ["files"],
                      "overflow": "block", "block_timeout_ms": 60_000},
            "files": {"class": "hftlogging.handlers.ComponentRotatingFileHandler",
                      "directory": directory, "max_bytes": MAX_BYTES,
                      "backup_count": BACKUP_COUNT},
        },
        "loggers": {"bench": {"level": "INFO", "handlers": ["queue"], "propagate": False}},
    })
    log = hftlogging.get_logger("bench")
    for i in range(WARMUP):
        log.info("order %s filled qty=%s", i, 0.5)
    t0 = time.perf_counter()
    for i in range(WARMUP, WARMUP + n):
        log.info("order %s filled qty=%s", i, 0.5)
    hftlogging.shutdown()
    seconds = time.perf_counter() - t0
    dropped = hftlogging.stats()["dropped"]
    if dropped:
        msg = f"{dropped} records dropped"
        raise AssertionError(msg)
    return seconds


def _worker(setup: str, n: int) -> None:
    """Run one round in this (fresh) interpreter; print a JSON result line."""
    import gc

    directory = tempfile.mkdtemp(prefix=f"bench-{setup}-")
    gc.collect()
    seconds = (_run_stdlib if setup == "stdlib" else _run_hftlogging)(directory, n)
    lines, bad = _count_lines(directory)
    files = len(list(Path(directory).glob("*.log*")))
    import shutil

    shutil.rmtree(directory, ignore_errors=True)
    print(json.dumps({"setup": setup, "seconds": seconds, "rate": n / seconds,
                      "lines": lines, "bad": bad, "files": files, "expected": n + WARMUP}))


def _round(setup: str, n: int) -> dict[str, Any]:
    here = Path(__file__).resolve()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(here.parent.parent), *sys.path])}
    out = subprocess.run(
        [sys.executable, str(here), "--worker", setup, str(n)], capture_output=True,
        text=True, check=True, env=env, timeout=600,
    )
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def compare(n: int = N, rounds: int = ROUNDS) -> dict[str, Any]:
    """Interleaved rounds of both setups; medians, ratio and every round's figures."""
    runs: dict[str, list[dict[str, Any]]] = {"stdlib": [], "hftlogging": []}
    for _ in range(rounds):
        for setup, done in runs.items():
            done.append(_round(setup, n))
    median = {k: statistics.median(r["rate"] for r in v) for k, v in runs.items()}
    return {"runs": runs, "median": median, "ratio": median["hftlogging"] / median["stdlib"]}


def _report(result: dict[str, Any]) -> str:
    out = []
    for setup, rs in result["runs"].items():
        rates = ", ".join(f"{r['rate']:,.0f}" for r in rs)
        out.append(f"{setup:<11} median {result['median'][setup]:>10,.0f} records/s "
                   f"(rounds: {rates}; {rs[0]['files']} files)")
    out.append(f"ratio hftlogging / stdlib: {result['ratio']:.2f}x (target >= {TARGET_RATIO}x)")
    return "\n".join(out)


def test_rotating_files_throughput_against_stdlib() -> None:
    """Both setups write every record, in the same format, into rotated files; prints
    records/s and the ratio (asserted only with HFTLOGGING_BENCH_STRICT=1)."""
    result = compare()
    for rs in result["runs"].values():
        for r in rs:
            assert r["lines"] == r["expected"], r
            assert r["bad"] == 0, r
            assert r["files"] > 1, r  # rotation happened
    print("\n" + _report(result))
    try:
        from scenarios import record
    except ImportError:  # run outside the benchmarks directory
        pass
    else:
        for setup, rate in result["median"].items():
            record("rotating files end to end records/s", setup, rate)
    if os.environ.get("HFTLOGGING_BENCH_STRICT"):
        assert result["ratio"] >= TARGET_RATIO, _report(result)


if __name__ == "__main__":
    if len(sys.argv) >= 3 and sys.argv[1] == "--worker":
        _worker(sys.argv[2], int(sys.argv[3]) if len(sys.argv) > 3 else N)
    else:
        print(_report(compare(int(sys.argv[1]) if len(sys.argv) > 1 else N)))
