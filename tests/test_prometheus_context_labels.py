"""Labels from context in the shipped configurations: the factory loggers' exchange and
component, and a strategy logger's tags, are labels of their metrics, within the cap."""

from __future__ import annotations

import logging
import os
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client import values as prometheus_values
from prometheus_client.parser import text_string_to_metric_families
from prometheus_servers import free_port

import hftlogging

Samples = dict[str, list[tuple[dict[str, str], float]]]


def scrape() -> Samples:
    handler = logging._handlers["prometheus"]  # type: ignore[attr-defined]
    with urllib.request.urlopen(f"http://127.0.0.1:{handler.port}/metrics", timeout=5) as r:
        text = r.read().decode()
    out: Samples = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            out.setdefault(s.name, []).append((dict(s.labels), float(s.value)))
    return out


@pytest.fixture(params=["own endpoint", "shared endpoint"])
def production(request: pytest.FixtureRequest, tmp_path: Path,
               monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The shipped production configuration on a free port: its own endpoint (port 0) or
    the shared one (a fixed port, multiprocess mode in this process); its handlers are
    closed after the test (endpoint threads, locks, the shared directory)."""
    monkeypatch.setenv("HFTLOGGING_DIR", str(tmp_path / "logs"))
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    shared = request.param == "shared endpoint"
    monkeypatch.setenv("HFTLOGGING_PROMETHEUS_PORT", str(free_port()) if shared else "0")
    yield str(request.param)
    hftlogging.shutdown()
    for h in list(logging._handlers.values()):  # type: ignore[attr-defined]
        h.close()


def test_exchange_component_and_strategy_tags_are_labels(production: str) -> None:
    """Timers of two exchange loggers are two series; a strategy logger's tags give
    exchange, api_type, transport and strategy_type; every series carries the worker."""
    hftlogging.configure("production")
    handler = logging._handlers["prometheus"]  # type: ignore[attr-defined]
    assert (handler.multiprocess_dir is not None) == (production == "shared endpoint")
    hftlogging.get_exchange_logger("mexc", "ws").latency("order_placement", 1.5)
    gateio = hftlogging.get_exchange_logger("gateio", "ws")
    gateio.latency("order_placement", 2.0)
    gateio.latency("order_placement", 2.0)
    hftlogging.get_strategy_logger(
        "ws.connection.mexc.private", ["mexc", "private", "ws", "connection"]
    ).counter("reconnects")
    hftlogging.shutdown()  # drained; the endpoint stays until the handler closes
    samples = scrape()
    worker = hftlogging.get_worker()
    counts = {(lab["exchange"], lab["component"], lab["worker"]): v
              for lab, v in samples["hft_order_placement_duration_seconds_count"]}
    assert counts == {("mexc", "ws", worker): 1.0, ("gateio", "ws", worker): 2.0}
    [(labels, value)] = samples["hft_reconnects_total"]
    assert value == 1.0
    assert labels == {"exchange": "mexc", "api_type": "private", "transport": "ws",
                      "strategy_type": "connection", "component": "", "worker": worker}


def test_label_combinations_stay_within_the_cap(production: str) -> None:
    """Past max_series_per_metric label combinations, updates are dropped and counted."""
    hftlogging.configure(
        "production", overrides={"handlers": {"prometheus": {"max_series_per_metric": 3}}}
    )
    for exchange in ("a", "b", "c", "d", "e"):
        hftlogging.get_exchange_logger(exchange, "rest").counter("requests")
    hftlogging.shutdown()
    samples = scrape()
    assert sorted(lab["exchange"] for lab, _v in samples["hft_requests_total"]) == \
        ["a", "b", "c"]
    errors = {lab["reason"]: v for lab, v in samples["hft_logging_metric_errors_total"]}
    assert errors["series_limit"] == 2.0


def test_closing_the_shared_handler_gives_prometheus_client_back(production: str) -> None:
    """When the last shared handler of the process closes, prometheus-client is in the
    mode it was before and PROMETHEUS_MULTIPROC_DIR is unset again."""
    before = prometheus_values.ValueClass
    hftlogging.configure("production")
    logging._handlers["prometheus"].close()  # type: ignore[attr-defined]
    assert prometheus_values.ValueClass is before
    assert "PROMETHEUS_MULTIPROC_DIR" not in os.environ
