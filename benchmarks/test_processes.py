"""Worker processes each logging to their own file: aggregate throughput (workload 6)."""

from __future__ import annotations

from typing import Any

import pytest
from scenarios import RESULTS, record

from hftlogging.tools import bench

N = 50_000


@pytest.mark.parametrize("processes", [1, 4])
def test_processes(benchmark: Any, processes: int) -> None:
    """k processes start together; every process's records are all in its own file."""
    res = benchmark.pedantic(bench.run_processes, args=(processes, N), rounds=1)
    assert "error" not in res, res
    assert res["lines_ok"]
    assert res["dropped"] == 0
    benchmark.extra_info.update(res)
    record("hftlogging processes records/s", str(processes), res["rate"])
    figures = RESULTS["hftlogging processes records/s"]
    if "1" in figures and "4" in figures:
        record("hftlogging processes, 4 ÷ 1 (x one process)", "4", figures["4"] / figures["1"])
