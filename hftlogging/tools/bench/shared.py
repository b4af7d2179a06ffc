"""Section 12 of ``hftlogging bench``: processes writing one shared rotating file.

Four processes start together and each logs ``n`` records; the figure is the aggregate
rate from the first start to the last process's records being on disk, with every line
counted afterwards. Three setups, in the same run:

- ``shared``: hftlogging's QueueHandler -> ComponentRotatingFileHandler with
  ``exclusive: false``, every process appending to one ``bench.log`` and rotating it
  together;
- ``own``: the same, each process writing its own ``bench.<pid>.log``;
- ``clh``: concurrent-log-handler's ConcurrentRotatingFileHandler on one ``bench.log``,
  on a stdlib logger, as its documentation shows it (a lock file taken around every
  record).

All three rotate at the same size and keep every backup, so the lines can be counted.
Run alone with ``python -m hftlogging.tools.bench.shared [--processes K] [--n N]``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from typing import Any

from hftlogging.tools.bench.workers import parse_result, worker_env

__all__ = ["MODES", "available_modes", "run_shared"]

MODES = ("shared", "own", "clh")
MAX_BYTES = 4 << 20
BACKUP_COUNT = 10_000
LOGGER_NAME = "bench"
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s %(context)s"
STDLIB_TEXT_FORMAT = (
    "%(asctime)s %(levelname)s %(name)s: %(message)s exchange=%(exchange)s qty=%(qty)s"
)
WARMUP = 1_000


def available_modes() -> list[str]:
    """The setups that can run here (``clh`` needs concurrent-log-handler)."""
    try:
        import concurrent_log_handler  # noqa: F401
    except ImportError:
        return ["shared", "own"]
    return list(MODES)


# --- one process -----------------------------------------------------------------------------


def _start_hft(directory: str, mode: str) -> tuple[Any, Any]:
    import hftlogging

    hftlogging.configure({
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"text": {"()": "hftlogging.formatters.ContextFormatter",
                                "fmt": TEXT_FORMAT}},
        "handlers": {
            "queue": {"class": "hftlogging.handlers.QueueHandler", "handlers": ["file"],
                      "overflow": "block", "block_timeout_ms": 60_000},
            "file": {"class": "hftlogging.handlers.ComponentRotatingFileHandler",
                     "directory": directory, "formatter": "text",
                     "filename": "bench.log" if mode == "shared" else "bench.{pid}.log",
                     "exclusive": mode != "shared",
                     "max_bytes": MAX_BYTES, "backup_count": BACKUP_COUNT},
        },
        "loggers": {LOGGER_NAME: {"level": "INFO", "handlers": ["queue"],
                                  "propagate": False}},
    })
    log: Any = logging.getLogger(LOGGER_NAME)  # an HFTLogger: keyword fields

    def log_n(first: int, count: int) -> None:
        info = log.info
        for i in range(first, first + count):
            info("order %s filled", i, exchange="mexc", qty=0.5)

    def stop() -> int:
        dropped = int(hftlogging.stats()["dropped"])
        hftlogging.shutdown()
        return dropped

    return log_n, stop


def _start_clh(directory: str) -> tuple[Any, Any]:
    from concurrent_log_handler import ConcurrentRotatingFileHandler

    h = ConcurrentRotatingFileHandler(os.path.join(directory, "bench.log"), "a",
                                      maxBytes=MAX_BYTES, backupCount=BACKUP_COUNT,
                                      encoding="utf-8")
    h.setFormatter(logging.Formatter(STDLIB_TEXT_FORMAT))
    log = logging.getLogger(LOGGER_NAME)
    log.handlers = [h]
    log.setLevel(logging.INFO)
    log.propagate = False
    extra = {"exchange": "mexc", "qty": 0.5}

    def log_n(first: int, count: int) -> None:
        info = log.info
        for i in range(first, first + count):
            info("order %s filled", i, extra=extra)

    def stop() -> int:
        log.removeHandler(h)
        h.close()
        return 0

    return log_n, stop


def _child(spec: dict[str, Any]) -> dict[str, Any]:
    """One writer: warm up, say READY, wait for a line on stdin, log, drain; times."""
    mode, n = spec["mode"], spec["n"]
    log_n, stop = (_start_clh(spec["directory"]) if mode == "clh"
                   else _start_hft(spec["directory"], mode))
    log_n(0, WARMUP)
    sys.stdout.write("READY\n")
    sys.stdout.flush()
    sys.stdin.readline()
    t0 = time.monotonic()
    log_n(WARMUP, n)
    dropped = stop()
    return {"start": t0, "end": time.monotonic(), "dropped": dropped}


# --- the group -------------------------------------------------------------------------------


def _count(directory: str) -> int:
    total = 0
    for name in os.listdir(directory):
        if name.startswith("bench."):
            with open(os.path.join(directory, name), "rb") as f:
                total += sum(chunk.count(b"\n") for chunk in iter(lambda: f.read(1 << 20), b""))
    return total


def run_shared(mode: str, k: int = 4, n: int = 50_000, timeout: float = 600.0) -> dict[str, Any]:
    """Start ``k`` writers of ``mode`` together; their aggregate records/s, lines checked.

    Returns:
        ``rate`` (records/s from the first start to the last end), ``files`` (files left,
        rotated ones included), ``lines_ok`` (every record of every writer on disk,
        warm-up included) and ``dropped``; or ``error``.
    """
    directory = tempfile.mkdtemp(prefix="hftlogging-bench-shared-")
    spec = {"mode": mode, "n": n, "directory": directory}
    cmd = [sys.executable, "-m", "hftlogging.tools.bench.shared", "--worker", json.dumps(spec)]
    procs = [subprocess.Popen(  # noqa: S603 - our own interpreter and module
        cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, env=worker_env()) for _ in range(k)]
    try:
        for p in procs:
            assert p.stdout is not None
            if p.stdout.readline().strip() != "READY":
                why = p.communicate(timeout=60)[1].strip().splitlines() or ["?"]
                return {"error": f"a {mode} writer did not start: {why[-1]}"}
        for p in procs:
            assert p.stdin is not None
            p.stdin.write("go\n")
            p.stdin.flush()
        results = []
        for p in procs:
            out, err = p.communicate(timeout=timeout)
            res = parse_result(out, spec, err)
            if "error" in res:
                return res
            results.append(res)
        start = min(r["start"] for r in results)
        end = max(r["end"] for r in results)
        files = sum(1 for name in os.listdir(directory) if name.startswith("bench."))
        return {"rate": k * n / (end - start), "files": files,
                "lines_ok": _count(directory) == k * (n + WARMUP),
                "dropped": sum(r["dropped"] for r in results)}
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
        shutil.rmtree(directory, ignore_errors=True)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the three setups (interleaved, ``--rounds`` times) and print their medians."""
    parser = argparse.ArgumentParser(prog="python -m hftlogging.tools.bench.shared")
    parser.add_argument("--processes", type=int, default=4)
    parser.add_argument("--n", type=int, default=50_000, help="records per process")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(list(argv) if argv is not None else None)
    if args.worker is not None:
        sys.stdout.write("RESULT " + json.dumps(_child(json.loads(args.worker))) + "\n")
        return 0
    rates: dict[str, list[float]] = {m: [] for m in available_modes()}
    for _ in range(args.rounds):
        for mode, got in rates.items():
            # concurrent-log-handler runs at a tenth of the others' rate: fewer records
            res = run_shared(mode, args.processes, args.n // 5 if mode == "clh" else args.n)
            if "error" in res or not res["lines_ok"] or res["dropped"]:
                print(f"{mode}: {res}")
                return 1
            got.append(res["rate"])
    med = {m: sorted(v)[len(v) // 2] for m, v in rates.items()}
    for mode, rate in med.items():
        print(f"{mode:<7} {rate / 1000:8.1f}k records/s  {rate / med['own']:.2f}x own files")
    if "clh" in med:
        print(f"shared ÷ concurrent-log-handler: {med['shared'] / med['clh']:.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
