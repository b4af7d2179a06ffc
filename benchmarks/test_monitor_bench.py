"""Self-monitoring: the enabled info call with latency sampling off and on.

Sampling puts a timing wrapper on one call in ``latency_sample_every``; the others must
cost what they cost without it. pytest-benchmark times rounds of 1,000 calls in each mode;
the same-process comparison alternates batches of the two modes in a fresh interpreter
(:func:`hftlogging.tools.bench.measure_monitor`) and is the figure to quote.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from scenarios import LOOPS, batch_loop, drain, record, started

from hftlogging.monitor import get_monitor
from hftlogging.tools import bench

ROUNDS = 30


@pytest.fixture(autouse=True)
def _default_monitor() -> Iterator[None]:
    yield
    get_monitor().configure()


@pytest.mark.parametrize("sampling", ["off", "on"])
def test_enabled_info_with_sampling(benchmark: Any, sampling: str, tmp_path: Path) -> None:
    """Rounds of 1,000 enabled info calls with sampling off or on: every call is a line."""
    with started("hftlogging", str(tmp_path), capacity=10 * LOOPS) as setup:
        get_monitor().configure(latency_sample_every=0 if sampling == "off" else 1_000)
        run, count = batch_loop(setup, "info")
        benchmark.pedantic(run, setup=lambda: drain(setup), rounds=ROUNDS, warmup_rounds=1)
        samples = get_monitor().stats()["call_latency_us"]["samples"]
        setup.stop_once()  # type: ignore[attr-defined]
        assert setup.dropped() == 0
        assert setup.lines() == count[0]
    assert (samples == 0) == (sampling == "off")
    per_call = float(benchmark.stats.stats.median) * 1e9 / LOOPS
    benchmark.extra_info["ns_per_call_median_of_rounds"] = per_call
    record(f"info ns/call, self-monitoring {sampling} (in-process rounds)", "hftlogging",
           per_call)


def test_sampling_on_vs_off_in_one_process() -> None:
    """Alternating batches, same process: the on / off ratio, with every record on disk."""
    res = bench.run_worker({"task": "monitor", "setup": "hftlogging", "capacity": 200_000})
    assert "error" not in res, res
    assert res["lines"] == res["calls"]
    assert res["samples"] > 0
    record("self-monitoring on / off, enabled info (same process, median of pairs)",
           "hftlogging", res["ratio"])
    record("self-monitoring off, enabled info ns/call (same process)", "hftlogging", res["off"])
    record("self-monitoring on, enabled info ns/call (same process)", "hftlogging", res["on"])
