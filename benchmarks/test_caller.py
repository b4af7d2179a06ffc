"""Caller-side cost: enabled info, disabled debug, metric calls (docs/benchmarks.md, 1-3).

pytest-benchmark times rounds of 1,000 back-to-back calls in this process; per-call
percentiles (p50/p99/p99.9, ``sat`` and ``paced`` regimes) come from a fresh interpreter
per scenario and are attached to ``benchmark.extra_info``. Every test also checks that the
records reached the file: a fast benchmark that loses records measures nothing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from scenarios import CALLER_SETUPS, LOOPS, batch_loop, drain, percentiles, record, started

from hftlogging.tools import bench

ROUNDS = 30


def _per_call_ns(benchmark: Any) -> float:
    return float(benchmark.stats.stats.median) * 1e9 / LOOPS


@pytest.mark.parametrize("key", CALLER_SETUPS)
def test_enabled_info(benchmark: Any, key: str, tmp_path: Path) -> None:
    """An enabled info with one %-argument and two fields: every call ends up as a line."""
    with started(key, str(tmp_path), capacity=10 * LOOPS) as setup:
        run, count = batch_loop(setup, "info")
        benchmark.pedantic(run, setup=lambda: drain(setup), rounds=ROUNDS, warmup_rounds=1)
        dropped = setup.dropped()
        setup.stop_once()  # type: ignore[attr-defined]
        assert dropped == 0
        assert setup.lines() == count[0]
    benchmark.extra_info["setup"] = bench.SETUPS[key].note
    benchmark.extra_info["ns_per_call_median_of_rounds"] = _per_call_ns(benchmark)
    record("info ns/call, in-process rounds of 1,000 (listener shares the GIL)", key,
           _per_call_ns(benchmark))
    for regime in ("sat", "paced"):
        p = percentiles(key, "info", regime)
        assert "error" not in p, p
        assert p["lines"] == p["calls"], "records missing from the file"
        for f in ("p50", "p99", "p999"):
            benchmark.extra_info[f"{regime}_{f}_ns"] = p[f]
        record(f"info {regime} p50 ns (own process)", key, p["p50"])
        record(f"info {regime} p99.9 ns (own process)", key, p["p999"])


@pytest.mark.parametrize("key", [k for k in CALLER_SETUPS if k != "floor"])
def test_disabled_debug(benchmark: Any, key: str, tmp_path: Path) -> None:
    """A debug call below the logger's level: nothing is written."""
    with started(key, str(tmp_path)) as setup:
        run, _ = batch_loop(setup, "debug")
        benchmark.pedantic(run, rounds=ROUNDS, warmup_rounds=1)
        setup.stop_once()  # type: ignore[attr-defined]
        assert setup.lines() == 0
    benchmark.extra_info["setup"] = bench.SETUPS[key].note
    record("disabled debug ns/call", key, _per_call_ns(benchmark))


@pytest.mark.parametrize("kind", ["info", "counter", "metric", "timer"])
def test_hftlogging_metric_calls(benchmark: Any, kind: str, tmp_path: Path) -> None:
    """counter, metric and timer against the text call: each call writes one record."""
    with started("hftlogging", str(tmp_path), capacity=10 * LOOPS) as setup:
        run, count = batch_loop(setup, kind)
        benchmark.pedantic(run, setup=lambda: drain(setup), rounds=ROUNDS, warmup_rounds=1)
        dropped = setup.dropped()
        setup.stop_once()  # type: ignore[attr-defined]
        assert dropped == 0
        assert setup.lines() == count[0]
    record("hftlogging call ns/call (in-process)", kind, _per_call_ns(benchmark))
    for regime in ("sat", "paced"):
        p = percentiles("hftlogging", kind, regime)
        assert "error" not in p, p
        for f in ("p50", "p99", "p999"):
            benchmark.extra_info[f"{regime}_{f}_ns"] = p[f]
        record(f"hftlogging {regime} p50 ns (own process)", kind, p["p50"])
