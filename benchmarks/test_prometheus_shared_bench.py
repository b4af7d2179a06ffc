"""What sharing one endpoint among worker processes costs the listener.

``PrometheusHandler.emit_batch`` on 512-record batches already built, with the handler's
own in-memory registry and with ``multiprocess: true`` (prometheus-client's
multiprocess values: every update also written to a memory-mapped file), in the same
run. Each figure is checked: the handler's registry holds exactly the updates applied.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import pytest
from scenarios import record

from hftlogging.handlers.prometheus import PrometheusHandler
from hftlogging.record import build_record

ROUNDS = 20
BATCHES = 20
BATCH = 512
FIGURE = "prometheus updates/s applied, own registry vs shared endpoint"


def _batches(kind: str) -> list[list[logging.LogRecord]]:
    out = []
    for _ in range(BATCHES):
        batch = []
        for _ in range(BATCH):
            rec = build_record("b", logging.INFO, "metric", (), time.time_ns(), None,
                               log_type="metric")
            if kind == "counter":
                rec.__dict__.update(metric_name="orders", metric_value=1, metric_type="counter",
                                    metric_tags={"exchange": "mexc"}, metric_unit=None)
            else:
                rec.__dict__.update(metric_name="op", metric_value=0.004,
                                    metric_type="histogram", metric_tags={"symbol": "BTCUSDT"},
                                    metric_unit="ms")
            batch.append(rec)
        out.append(batch)
    return out


@pytest.mark.parametrize("kind", ["counter", "timer"])
@pytest.mark.parametrize("mode", ["own", "shared"])
def test_emit_batch_own_and_shared(benchmark: Any, kind: str, mode: str,
                                   tmp_path: Path) -> None:
    """emit_batch with the in-memory registry and with the shared directory."""
    options: dict[str, Any] = {"namespace": f"bench_{mode}_{kind}"}
    if mode == "shared":
        options.update(multiprocess=True, multiprocess_dir=str(tmp_path / "shared"))
    prom = PrometheusHandler(**options)
    try:
        batches = _batches(kind)

        def run() -> None:
            for b in batches:
                prom.emit_batch(b)

        benchmark.pedantic(run, rounds=ROUNDS, warmup_rounds=1)
        ns = options["namespace"]
        name, labels = ((f"{ns}_orders_total", {"exchange": "mexc"}) if kind == "counter"
                        else (f"{ns}_op_duration_seconds_count", {"symbol": "BTCUSDT"}))
        assert prom.registry.get_sample_value(name, labels) == (ROUNDS + 1) * BATCHES * BATCH
        rate = BATCHES * BATCH / float(benchmark.stats.stats.median)
        benchmark.extra_info["updates_per_s"] = rate
        record(FIGURE, f"{kind} emit_batch, {mode}", rate)
    finally:
        prom.close()
