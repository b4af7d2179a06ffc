"""A burst of 1,000,000 records into a queue of capacity 10,000 (docs/benchmarks.md, 5).

Runs in a fresh interpreter so the peak RSS belongs to the burst. The accounting must be
exact: every emitted record is either written (and on disk) or counted as dropped.
"""

from __future__ import annotations

from typing import Any

from scenarios import record

from hftlogging.tools import bench

BURST = 1_000_000


def test_burst_memory_and_accounting(benchmark: Any) -> None:
    """Peak RSS grows by at most 20 MB; written + dropped == emitted; written are on disk."""
    spec = {"task": "burst", "setup": "hftlogging", "n": BURST, "capacity": 10_000}
    res = benchmark.pedantic(bench.run_worker, args=(spec,), rounds=1)
    assert "error" not in res, res
    assert res["written"] + res["dropped"] == res["emitted"]
    assert res["lines"] == res["written"]
    assert res["high_water"] <= res["capacity"]
    assert res["growth_mb"] <= 20, f"peak RSS grew by {res['growth_mb']:.1f} MB"
    benchmark.extra_info.update(res)
    record("1M burst RSS growth MB", "hftlogging", res["growth_mb"])


def test_stdlib_burst_memory(benchmark: Any) -> None:
    """For comparison: stdlib's unbounded queue keeps every record of a burst alive."""
    spec = {"task": "burst", "setup": "stdlib", "n": BURST // 5}
    res = benchmark.pedantic(bench.run_worker, args=(spec,), rounds=1)
    assert "error" not in res, res
    benchmark.extra_info.update(res)
    record("200k burst RSS growth MB", "stdlib", res["growth_mb"])
