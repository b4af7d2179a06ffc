"""Storms (``hftlogging bench`` section 4): a call held back by ``every()`` against a
disabled and an enabled call, and records/s with a backtrace ring in front of the file.

pytest-benchmark times rounds of 1,000 calls of each kind in this process; the ratios are
recorded for the end-of-session summary. The end-to-end pair runs each pipeline in a fresh
interpreter (the code ``hftlogging bench`` runs) and checks the lines on disk.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from scenarios import LOOPS, RESULTS, batch_loop, drain, record, started

from hftlogging.tools import bench

ROUNDS = 30
N = 100_000
FIGURE = "storms: ns/call (in-process rounds of 1,000)"


@pytest.mark.parametrize("kind", ["debug", "suppressed", "info"])
def test_suppressed_vs_disabled_vs_enabled(benchmark: Any, kind: str, tmp_path: Path) -> None:
    """A disabled debug writes nothing; a call held back by every(3600) writes one record
    (the first); an enabled info writes every call."""
    with started("hftlogging", str(tmp_path), capacity=10 * LOOPS) as setup:
        run, count = batch_loop(setup, kind)
        benchmark.pedantic(run, setup=lambda: drain(setup), rounds=ROUNDS, warmup_rounds=1)
        setup.stop_once()  # type: ignore[attr-defined]
        expected = {"debug": 0, "suppressed": 1, "info": count[0]}[kind]
        assert setup.lines() == expected
    per_call = float(benchmark.stats.stats.median) * 1e9 / LOOPS
    benchmark.extra_info["ns_per_call_median_of_rounds"] = per_call
    record(FIGURE, kind, per_call)
    figures = RESULTS[FIGURE]
    if {"debug", "suppressed"} <= set(figures):
        record("storms: held back ÷ disabled (x)", "suppressed",
               figures["suppressed"] / figures["debug"])
    if {"info", "suppressed"} <= set(figures):
        record("storms: held back ÷ enabled (x)", "suppressed",
               figures["suppressed"] / figures["info"])


@pytest.mark.parametrize("pipeline", ["file", "ring"])
def test_backtrace_ring_vs_file(benchmark: Any, pipeline: str) -> None:
    """100,000 records, one ERROR in 1,000, the others INFO: through the queue to the file,
    or through a backtrace ring of 1,000 flushed at ERROR; the same lines reach the disk."""
    spec = {"task": "backtrace", "setup": "hftlogging", "n": N, "ring": pipeline == "ring"}
    res = benchmark.pedantic(bench.run_worker, args=(spec,), rounds=1)
    assert "error" not in res, res
    assert res["lines"] == res["expected"]
    benchmark.extra_info.update(res)
    record("storms: records/s through the queue", pipeline, res["rate"])
    figures = RESULTS["storms: records/s through the queue"]
    if {"file", "ring"} <= set(figures):
        record("storms: ring ÷ file (x)", "ring", figures["ring"] / figures["file"])
