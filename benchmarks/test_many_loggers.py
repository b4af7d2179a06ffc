"""Many loggers (docs/benchmarks.md, section 13): what 10,000 loggers cost against stdlib.

Each scenario runs in a fresh interpreter (the code ``hftlogging bench`` runs), stdlib and
hftlogging interleaved over three rounds; the medians and their ratios to stdlib go to the
end-of-session summary. The enabled ``info`` with 10,000 loggers is compared with the same
call with 10, by time and, when valgrind is installed, by instructions (callgrind), which
do not move with the machine's load.
"""

from __future__ import annotations

import shutil
import statistics

import pytest
from scenarios import record

from hftlogging.tools import bench

ROUNDS = 3
OPERATIONS = ("create", "get", "add_handler", "set_level")


def test_many_loggers_operations_against_stdlib() -> None:
    """Create 10,000 loggers, get one, addHandler/setLevel on one: ns per operation."""
    got: dict[tuple[str, str], list[float]] = {}
    for _ in range(ROUNDS):
        for what in OPERATIONS:
            for key in ("stdlib", "hftlogging"):
                res = bench.run_worker({"task": "loggers", "what": what, "setup": key,
                                        "n": bench.MANY_LOGGERS})
                assert "error" not in res, res
                got.setdefault((what, key), []).append(res["ns"])
    for (what, key), values in got.items():
        record(f"many loggers: {what} ns (10,000 loggers)", key, statistics.median(values))


def test_enabled_info_with_many_loggers() -> None:
    """An enabled info with 10,000 loggers against 10: p50 by rounds, every record on disk."""
    p50: dict[int, list[float]] = {}
    for _ in range(ROUNDS):
        for n in (bench.FEW_LOGGERS, bench.MANY_LOGGERS):
            res = bench.run_worker({"task": "loggers", "what": "info", "setup": "hftlogging",
                                    "n": n, "calls": 20_000})
            assert "error" not in res, res
            assert res["dropped"] == 0 and res["lines"] == res["calls"], res
            p50.setdefault(n, []).append(res["p50"])
    for n, values in p50.items():
        record("enabled info p50 ns, by loggers in the process", f"{n:,}",
               statistics.median(values))


@pytest.mark.skipif(shutil.which("valgrind") is None, reason="valgrind is not installed")
def test_enabled_info_instructions_with_many_loggers() -> None:
    """Instructions per enabled info on the calling thread, 10 and 10,000 loggers."""
    for n in (bench.FEW_LOGGERS, bench.MANY_LOGGERS):
        for collect in (True, False):
            res = bench.callgrind_info(n, collect=collect)
            assert "error" not in res, res
            record("enabled info instructions/call (callgrind)",
                   f"{n:,}{'' if collect else ', gc off'}", res["instructions"])
