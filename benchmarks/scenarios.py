"""Shared pieces of the benchmark suite: setups, timed loops, results for the summary.

The setups and measurements themselves live in :mod:`hftlogging.tools.bench` (the same code
``hftlogging bench`` runs); this module adapts them to pytest-benchmark and collects the
figures each test produced so that the session ends with one table of ratios to stdlib.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from hftlogging.tools import bench

#: Setups compared on the caller side (the empty one measures the timer itself).
CALLER_SETUPS = ["hftlogging", "stdlib", "stdlib-tuned", "picologging", "structlog", "loguru",
                 "floor"]
#: Setups compared end to end, with the formats each can write.
THROUGHPUT_CASES = [
    (key, fmt)
    for key in ("hftlogging", "stdlib", "picologging", "structlog", "loguru")
    for fmt in ("text", "json")
    if fmt in bench.SETUPS[key].formats
]
#: Calls per pytest-benchmark round on the caller side.
LOOPS = 1_000
#: Per-call percentile runs (subprocess): calls per run.
SAT_N = int(os.environ.get("HFTLOGGING_BENCH_SAT_N", "20000"))
PACED_N = int(os.environ.get("HFTLOGGING_BENCH_PACED_N", "2000"))

# figure name -> {setup key -> value}; printed by conftest at the end of the session.
RESULTS: dict[str, dict[str, float]] = {}


def record(figure: str, setup: str, value: float) -> None:
    """Keep one figure for the end-of-session summary."""
    RESULTS.setdefault(figure, {})[setup] = value


def require(key: str) -> None:
    """Skip the test when the setup's library is not installed."""
    if not bench.SETUPS[key].available():
        pytest.skip(f"{key} is not installed")


@contextmanager
def started(key: str, directory: str, fmt: str = "text", **options: Any) -> Iterator[bench.Setup]:
    """A started setup writing into ``directory``; stopped (drained) on exit if still running."""
    require(key)
    setup = bench.SETUPS[key](directory, fmt, options.get("capacity"), options.get("overflow"))
    setup.start()
    stopped = False

    def stop() -> None:
        nonlocal stopped
        if not stopped:
            stopped = True
            setup.stop()

    setup.stop_once = stop  # type: ignore[attr-defined]
    try:
        yield setup
    finally:
        stop()


def batch_loop(setup: bench.Setup, kind: str) -> tuple[Callable[[], int], list[int]]:
    """A round of :data:`LOOPS` calls for pytest-benchmark, and the running call count."""
    run = bench.measure.compile_loop(bench.measure.BATCH_TEMPLATE, bench.CALLS[setup.key][kind],
                                     setup.log)
    count = [0]

    def round_() -> int:
        elapsed = int(run(LOOPS, count[0]))
        count[0] += LOOPS
        return elapsed

    return round_, count


def drain(setup: bench.Setup) -> None:
    """Between rounds: let a bounded queue empty so no round measures its overflow path."""
    flush = getattr(setup, "flush", None)
    if flush is not None:
        flush()


def percentiles(key: str, kind: str, regime: str) -> dict[str, Any]:
    """Per-call percentiles measured in a fresh interpreter (see :mod:`hftlogging.tools.bench`)."""
    n = SAT_N if regime == "sat" else PACED_N
    if key == "loguru":
        n = min(n, 2_000)
    spec: dict[str, Any] = {"task": "calls", "setup": key, "kind": kind, "regime": regime,
                            "n": n}
    if key == "hftlogging" and regime == "sat":
        spec["capacity"] = n + 10_000
    return bench.run_worker(spec)
