"""Four processes writing one shared rotating file, against their own files and against
concurrent-log-handler (workload 7)."""

from __future__ import annotations

from typing import Any

import pytest
from scenarios import RESULTS, record

from hftlogging.tools.bench import shared as bench_shared

N = 50_000


@pytest.mark.parametrize("mode", bench_shared.MODES)
def test_shared_file(benchmark: Any, mode: str) -> None:
    """Four processes start together; every record of each is on disk (rotated files
    counted); the rates are compared in the same session."""
    if mode not in bench_shared.available_modes():
        pytest.skip("concurrent-log-handler is not installed")
    n = N // 5 if mode == "clh" else N  # its rate is a tenth of the others'
    res = benchmark.pedantic(bench_shared.run_shared, args=(mode, 4, n), rounds=1)
    assert "error" not in res, res
    assert res["lines_ok"] and res["dropped"] == 0, res
    benchmark.extra_info.update(res)
    record("4 processes, one file, records/s", mode, res["rate"])
    figures = RESULTS["4 processes, one file, records/s"]
    if "shared" in figures and "own" in figures:
        record("4 processes, shared ÷ own files (x)", "shared", figures["shared"] / figures["own"])
    if "shared" in figures and "clh" in figures:
        record("4 processes, shared ÷ concurrent-log-handler (x)", "shared",
               figures["shared"] / figures["clh"])
