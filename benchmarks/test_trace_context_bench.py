"""Trace context (``hftlogging bench`` section 5): the enabled info with opentelemetry
never imported, imported with no span, and imported with a span recording.

Each scenario runs in a fresh interpreter (the code ``hftlogging bench`` runs): a process
that never asks for trace context must not import opentelemetry at all. The figures are
the per-call mean over batches of 1,000 calls and the ``sat`` p50; the ratios to the
untraced call are recorded for the end-of-session summary.
"""

from __future__ import annotations

from typing import Any

import pytest
from scenarios import RESULTS, SAT_N, record

from hftlogging.tools import bench
from hftlogging.tools.bench import otel


@pytest.mark.parametrize("mode", otel.MODES)
def test_enabled_info_with_trace_context(benchmark: Any, mode: str) -> None:
    """Every record reaches the file; with a span, every line carries its trace ids."""
    if mode != "none" and not otel.available():
        pytest.skip("opentelemetry-sdk is not installed")
    spec = {"task": "otel", "mode": mode, "n": SAT_N}
    res = benchmark.pedantic(bench.run_worker, args=(spec,), rounds=1)
    assert "error" not in res, res
    assert res["lines"] == res["calls"]
    assert res["otel_imported"] == (mode != "none")
    if mode == "span":
        assert res["traced"] == res["lines"]
    benchmark.extra_info.update(res)
    record("trace context: ns/call (batches of 1,000, own process)", mode, res["median"])
    record("trace context: sat p50 ns (own process)", mode, res["p50"])
    figures = RESULTS["trace context: ns/call (batches of 1,000, own process)"]
    if "none" in figures and mode != "none":
        record("trace context: ÷ never imported (x)", mode, res["median"] / figures["none"])
