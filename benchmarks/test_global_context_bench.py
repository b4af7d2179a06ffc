"""Global context on the caller's side: an enabled info costs the same with global fields.

The fields are merged into each logger's context when they change, not per call; this
compares rounds of 1,000 enabled calls through hftlogging's queue with no global context
and with two global fields, in the same run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from scenarios import LOOPS, batch_loop, drain, record, started

import hftlogging
from hftlogging.global_context import clear_global_context

ROUNDS = 30


@pytest.mark.parametrize("fields", ["none", "two global fields"])
def test_enabled_info_with_global_context(benchmark: Any, fields: str, tmp_path: Path) -> None:
    """Enabled info with and without global context: every call ends up as a line."""
    try:
        with started("hftlogging", str(tmp_path), capacity=10 * LOOPS) as setup:
            if fields != "none":
                hftlogging.set_global_context(service="hft-arbitrage", version="1.0.0")
            run, count = batch_loop(setup, "info")
            benchmark.pedantic(run, setup=lambda: drain(setup), rounds=ROUNDS, warmup_rounds=1)
            dropped = setup.dropped()
            setup.stop_once()  # type: ignore[attr-defined]
            assert dropped == 0
            assert setup.lines() == count[0]
    finally:
        clear_global_context()
    per_call = float(benchmark.stats.stats.median) * 1e9 / LOOPS
    benchmark.extra_info["ns_per_call_median_of_rounds"] = per_call
    record("info ns/call with global context (in-process rounds of 1,000)", fields, per_call)
