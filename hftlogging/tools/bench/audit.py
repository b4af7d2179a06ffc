"""Audit trail throughput beside JSON lines, in the same run (``hftlogging bench``, section 9).

Both setups log through hftlogging's ``QueueHandler`` from one thread, 4 fields a record,
and the clock runs from the first measured call until the pipeline is shut down and
every record is on disk:

- JSON lines: ``log.info("order_placed", order_id=i, qty=0.5, symbol="BTCUSDT")`` into a
  ``ComponentRotatingFileHandler`` with the ``JSONFormatter``;
- audit: ``log.audit("order_placed", order_id=i, qty=0.5, symbol="BTCUSDT")`` into a
  ``JSONAuditHandler`` with ``fsync: batch`` (one write and one ``fdatasync`` per listener
  batch), hash-chained; the chain is verified after the clock stops.

Each measurement runs in a fresh interpreter (``python -m hftlogging.tools.bench.audit KIND N``),
the two kinds are interleaved over the rounds, and medians are compared.
"""

from __future__ import annotations

import gc
import json
import logging
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from typing import Any

import hftlogging
from hftlogging.tools.bench.results import Check
from hftlogging.tools.bench.workers import worker_env

__all__ = ["KINDS", "TARGET_RATIO", "audit_section", "audit_table", "measure", "run_rounds"]

#: audit records/s through the queue, as a fraction of JSON lines records/s.
TARGET_RATIO = 0.5
KINDS = ("json", "audit")
_MAX_BYTES = 64 * 1024 * 1024
_LABELS = {
    "json": "JSON lines (JSONFormatter, rotating file)",
    "audit": "audit (JSONAuditHandler, fsync batch, hash chain)",
}


def _configure(kind: str, directory: str) -> logging.Logger:
    if kind == "json":
        target: dict[str, Any] = {
            "class": "hftlogging.handlers.ComponentRotatingFileHandler",
            "directory": directory, "filename": "{component}.jsonl",
            "max_bytes": _MAX_BYTES, "backup_count": 100, "formatter": "json",
        }
    else:
        target = {
            "class": "hftlogging.handlers.JSONAuditHandler",
            "filename": os.path.join(directory, "audit.jsonl"), "fsync": "batch",
            "max_bytes": _MAX_BYTES, "backup_count": 100,
        }
    hftlogging.configure({
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": "hftlogging.formatters.JSONFormatter"}},
        "handlers": {
            "out": target,
            "queue": {"class": "hftlogging.handlers.QueueHandler", "handlers": ["out"],
                      "overflow": "block", "block_timeout_ms": 60_000},
        },
        "loggers": {"bench": {"level": "INFO", "handlers": ["queue"], "propagate": False}},
    })
    return logging.getLogger("bench")


def _lines(directory: str) -> int:
    n = 0
    for name in os.listdir(directory):
        if not name.startswith("."):
            with open(os.path.join(directory, name), "rb") as f:
                n += sum(1 for _ in f)
    return n


def measure(kind: str, n: int, warmup: int = 1_000) -> dict[str, Any]:
    """Log ``n`` records of ``kind`` (``"json"`` or ``"audit"``) and shut down.

    Returns:
        ``rate`` (records/s until all are on disk), ``seconds``, ``lines`` on disk,
        ``expected``, and for audit ``verified`` (records in the verified chain).
    """
    directory = tempfile.mkdtemp(prefix="hftlogging-bench-audit-")
    try:
        log: Any = _configure(kind, directory)
        emit = log.audit if kind == "audit" else log.info
        for i in range(warmup):
            emit("order_placed", order_id=i, qty=0.5, symbol="BTCUSDT")
        for h in log.handlers:
            h.flush()
        gc.collect()
        t0 = time.perf_counter()
        for i in range(warmup, warmup + n):
            emit("order_placed", order_id=i, qty=0.5, symbol="BTCUSDT")
        hftlogging.shutdown()
        seconds = time.perf_counter() - t0
        res: dict[str, Any] = {"rate": n / seconds, "seconds": seconds,
                               "lines": _lines(directory), "expected": n + warmup}
        if kind == "audit":
            from hftlogging.handlers.audit import verify_chains

            results = verify_chains(
                [os.path.join(directory, f) for f in os.listdir(directory)
                 if not f.startswith(".")])
            res["verified"] = sum(r.records for r in results if r.ok)
        return res
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def _run_child(kind: str, n: int) -> dict[str, Any]:
    env = worker_env()
    try:
        p = subprocess.run(  # noqa: S603 - our own interpreter and module
            [sys.executable, "-m", "hftlogging.tools.bench.audit", kind, str(n)],
            capture_output=True, text=True, timeout=600, env=env, check=False,
        )
    except subprocess.TimeoutExpired:
        return {"error": "timed out"}
    for line in reversed(p.stdout.splitlines()):
        if line.startswith("RESULT "):
            return json.loads(line[7:])  # type: ignore[no-any-return]
    return {"error": (p.stderr.strip().splitlines() or ["no result"])[-1]}


def run_rounds(rounds: int, n: int, verbose: bool = False) -> dict[str, list[dict[str, Any]]]:
    """Both kinds, interleaved, ``rounds`` times, each in a fresh interpreter."""
    raw: dict[str, list[dict[str, Any]]] = {k: [] for k in KINDS}
    for r in range(rounds):
        for kind in KINDS:
            if verbose:
                sys.stderr.write(f"[round {r + 1}/{rounds}] audit/{kind}\n")
            raw[kind].append(_run_child(kind, n))
    return raw


def audit_section(rounds: int, n: int, checks: list[Check],
                  raw_out: dict[str, Any] | None = None) -> str:
    """Measure and render section 9; append the target and accounting checks."""
    raw = {f"audit/{k}": v for k, v in run_rounds(rounds, n, verbose=True).items()}
    if raw_out is not None:
        raw_out.update(raw)
    return audit_table(raw, n, checks)


def audit_table(raw: dict[str, list[dict[str, Any]]], n: int, checks: list[Check]) -> str:
    """Render section 9 from the results under ``audit/json`` and ``audit/audit``; append
    the target and accounting checks."""
    runs = {k: raw.get(f"audit/{k}", []) for k in KINDS}
    med = {k: statistics.median([r["rate"] for r in v if "rate" in r] or [float("nan")])
           for k, v in runs.items()}
    ratio = med["audit"] / med["json"]
    checks.append((f"audit >= {TARGET_RATIO}x JSON lines through the queue (fsync batch)",
                   ratio >= TARGET_RATIO, f"{ratio:.2f}x"))
    for kind, results in runs.items():
        for r in results:
            if "error" in r:
                checks.append((f"all records on disk in audit/{kind}", False, r["error"]))
            elif r["lines"] != r["expected"] or r.get("verified", r["expected"]) != r["expected"]:
                checks.append((f"all records on disk in audit/{kind}", False,
                               f"{r['lines']} lines, {r.get('verified')} verified, "
                               f"{r['expected']} expected"))
    rows = [f"| {_LABELS['json']} | {med['json'] / 1000:.1f}k | 1.00x |",
            f"| {_LABELS['audit']} | {med['audit'] / 1000:.1f}k | {ratio:.2f}x |"]
    return ("### 9. Audit trail beside JSON lines (records/s through the queue until on "
            f"disk, {n:,} records, chain verified)\n\n"
            "| setup | records/s | ÷ JSON lines |\n|---|---:|---:|\n" + "\n".join(rows))


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m hftlogging.tools.bench.audit KIND N``: one measurement, as a RESULT line."""
    args = list(sys.argv[1:] if argv is None else argv)
    kind, n = args[0], int(args[1])
    if kind not in KINDS:
        sys.stderr.write(f"expected one of {KINDS}, got {kind!r}\n")
        return 2
    sys.stdout.write("RESULT " + json.dumps(measure(kind, n)) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
