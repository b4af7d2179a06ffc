"""Network handlers (``hftlogging bench`` section 8): records/s through the queue into the
SyslogHandler over TCP to a local rsyslogd and into the OTLPHandler to a local rotel
collector, beside the file handler, in one run.

The servers are the real programs (``RSYSLOGD_BIN``, ``ROTEL_BIN`` or PATH); a target
whose program is not installed is skipped and says why. Every record must be received
(rsyslog's file, the collector's acknowledgements, the lines on disk), none dropped.
"""

from __future__ import annotations

from typing import Any

import pytest
from scenarios import record

from hftlogging.tools import bench
from hftlogging.tools.bench import network

N = 50_000


def test_network_handlers_beside_the_file(benchmark: Any) -> None:
    """One round of the three targets; each figure and its ratio to the file handler."""
    plan = bench.Plan(quick=False, rounds=1)
    plan.network_n = N
    res = bench.Results()
    benchmark.pedantic(network.collect_network, args=(plan, res, bench.run_worker, False),
                       rounds=1)
    assert res.errors == [], res.errors
    for note in res.notes.get("network", []):
        benchmark.extra_info.setdefault("skipped", []).append(note)
    file_rate = res.med("network/file", "rate")
    for target in network.TARGETS:
        runs = res.raw.get(f"network/{target}", [])
        for r in runs:
            assert r["received"] == r["expected"] and r["dropped"] == 0, (target, r)
        if runs:
            rate = res.med(f"network/{target}", "rate")
            record("network: records/s through the queue", target, rate)
            record("network: ÷ file (x)", target, rate / file_rate)
    if len(res.raw) == 1:
        pytest.skip("; ".join(res.notes.get("network", [])))
