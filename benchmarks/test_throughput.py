"""End-to-end throughput: records/s until every record is on disk (docs/benchmarks.md, 4).

Each round starts a fresh setup in a fresh directory, logs the records back to back and
stops the setup (drain, flush, close); the round's time is the time to disk. Text goes
through size-rotating files where the library has them; JSON lines too. Line counts are
checked after every round.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

import pytest
from scenarios import THROUGHPUT_CASES, record, require

from hftlogging.tools import bench

N = 20_000
ROUNDS = 3


@pytest.mark.parametrize(("key", "fmt"), THROUGHPUT_CASES)
def test_throughput(benchmark: Any, key: str, fmt: str, tmp_path: Path) -> None:
    """N records, then stop: every record is a line on disk, none dropped."""
    require(key)
    n = N // 4 if key == "loguru" else N
    rates: list[float] = []
    results: list[dict[str, Any]] = []

    def setup() -> tuple[tuple[bench.Setup], dict[str, Any]]:
        directory = tempfile.mkdtemp(dir=tmp_path)
        s = bench.SETUPS[key](directory, fmt, None, "block")
        s.start()
        return (s,), {}

    def run(s: bench.Setup) -> None:
        t0 = time.perf_counter()
        res = bench.measure_throughput(s, n, warmup=100)
        rates.append(n / (time.perf_counter() - t0))
        results.append(res)

    benchmark.pedantic(run, setup=setup, rounds=ROUNDS)
    for res in results:
        assert res["dropped"] == 0
        assert res["lines"] == res["expected"]
    median_rate = sorted(rates)[len(rates) // 2]
    benchmark.extra_info["records_per_s"] = median_rate
    benchmark.extra_info["setup"] = bench.SETUPS[key].note
    record(f"throughput {fmt} records/s", key, median_rate)
