"""Self-monitoring: sampled caller-side latency, throughput, thresholds, check_performance."""

from __future__ import annotations

import logging
import sys
import time
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

import hftlogging
from hftlogging import lifecycle
from hftlogging.exceptions import ConfigError
from hftlogging.handlers import PrometheusHandler
from hftlogging.monitor import get_monitor
from hftlogging.testing import CaptureHandler
from hftlogging.tools import bench


@pytest.fixture(autouse=True)
def _fresh_monitor() -> Iterator[None]:
    """Each test starts with no figures, and leaves the default settings behind."""
    monitor = get_monitor()
    monitor.reset()
    yield
    monitor.configure()
    monitor.reset()


def _configure(
    logger_name: str, target: logging.Handler, queue: dict[str, Any] | None = None,
    **settings: Any,
) -> None:
    hftlogging.configure({
        "version": 1,
        "disable_existing_loggers": False,
        "handlers": {
            "target": {"()": lambda: target},
            "queue": {"class": "hftlogging.handlers.QueueHandler", "handlers": ["target"],
                      **(queue or {})},
        },
        "loggers": {
            logger_name: {"level": "DEBUG", "handlers": ["queue"], "propagate": False},
            "hftlogging": {"level": "DEBUG", "handlers": ["queue"], "propagate": False},
        },
        "hftlogging": settings,
    })


def _timed_calls(log: Any, n: int) -> list[int]:
    """n info calls, each timed from outside and each written (and so sampled) before the next."""
    outside = []
    for i in range(n):
        t0 = time.perf_counter_ns()
        log.info("order %s filled", i, exchange="mexc")
        outside.append(time.perf_counter_ns() - t0)
        assert log.flush()
    return outside


def test_sampled_latency_agrees_with_an_external_timing_of_the_same_calls(
    logger_name: str,
) -> None:
    """With every call sampled, the monitor's p50 is within 2x of the same calls timed outside."""
    _configure(logger_name, CaptureHandler(), latency_sample_every=1)
    log = hftlogging.get_logger(logger_name)
    outside = _timed_calls(log, 400)
    lat = hftlogging.stats()["call_latency_us"]
    # Every call but the first finds the wrapper the previous batch armed.
    assert lat["samples"] >= 350
    outside_p50_us = sorted(outside)[len(outside) // 2] / 1000
    assert outside_p50_us / 2 <= lat["p50"] <= outside_p50_us * 2, (lat, outside_p50_us)
    assert lat["p50"] <= lat["p99"] <= lat["max"]


def test_one_call_in_n_is_sampled_and_the_rest_run_unwrapped(logger_name: str) -> None:
    """latency_sample_every: N samples at most one call per N records written."""
    _configure(logger_name, CaptureHandler(), latency_sample_every=100)
    log = hftlogging.get_logger(logger_name)
    for i in range(2000):
        log.info("tick %d", i)
        if i % 50 == 49:
            assert log.flush()
    samples = hftlogging.stats()["call_latency_us"]["samples"]
    assert 5 <= samples <= 2000 // 100


def test_sampling_off_measures_nothing_and_wraps_nothing(logger_name: str) -> None:
    """latency_sample_every: 0 turns sampling off; the check says nothing was measured."""
    _configure(logger_name, CaptureHandler(), latency_sample_every=0)
    log = hftlogging.get_logger(logger_name)
    _timed_calls(log, 20)
    assert "info" not in vars(log)
    assert hftlogging.stats()["call_latency_us"]["samples"] == 0
    check = hftlogging.check_performance()
    assert check.ok and check.p99_us is None
    assert "sampling is off" in check.warnings[0]


def test_sampled_call_keeps_the_call_site_and_its_result(logger_name: str) -> None:
    """A sampled call is still attributed to the user's line and behaves as an unsampled one."""
    cap = CaptureHandler()
    _configure(logger_name, cap, {"caller_info": True}, latency_sample_every=1)
    log = hftlogging.get_logger(logger_name)
    log.info("first")
    assert log.flush()
    assert "info" in vars(log)  # armed by the first batch
    line = sys._getframe().f_lineno + 1
    log.info("second", exchange="mexc")
    assert log.flush()
    assert "info" in vars(log)  # armed again, by the second batch
    assert hftlogging.stats()["call_latency_us"]["samples"] == 1
    assert cap.messages() == ["first", "second"]
    assert cap[1].__dict__["context"] == {"exchange": "mexc"}
    assert (cap[1].funcName, cap[1].lineno) == (
        "test_sampled_call_keeps_the_call_site_and_its_result", line)
    assert cap[1].pathname == __file__


def test_a_kept_reference_to_an_armed_method_is_timed_once(logger_name: str) -> None:
    """Code that keeps ``log.info`` while it is armed gets one sample, then plain calls."""
    cap = CaptureHandler()
    _configure(logger_name, cap, latency_sample_every=1)
    log = hftlogging.get_logger(logger_name)
    log.info("first")
    assert log.flush()
    kept = log.info  # the wrapper the first batch armed
    assert "info" in vars(log)
    get_monitor().configure(latency_sample_every=0)  # no further arming
    for i in range(10):
        kept("kept %d", i)
    assert log.flush()
    assert hftlogging.stats()["call_latency_us"]["samples"] == 1
    assert cap.messages() == ["first", *[f"kept {i}" for i in range(10)]]


def test_throughput_is_reported_in_records_per_second(logger_name: str) -> None:
    """records_per_s reflects records written over the last window of about a second."""
    _configure(logger_name, CaptureHandler())
    log = hftlogging.get_logger(logger_name)
    start = time.monotonic()
    written = 0
    while time.monotonic() - start < 1.5 or written < 1000:
        for _ in range(100):
            log.info("x")
        written += 100
        assert log.flush()
    rate = hftlogging.stats()["records_per_s"]
    # A window lasts at least a second and holds at most every record written.
    assert 0 < rate <= written


def test_thresholds_count_breaches_and_warn_once_per_interval(logger_name: str) -> None:
    """Calls over the thresholds are counted; one warning record on 'hftlogging' says so."""
    cap = CaptureHandler()
    _configure(logger_name, cap, latency_sample_every=1,
               warning_threshold_us=0.0001, max_latency_us=0.0002)
    log = hftlogging.get_logger(logger_name)
    _timed_calls(log, 30)
    s = hftlogging.stats()
    assert s["latency_breaches"]["max_latency_us"] == s["call_latency_us"]["samples"] >= 25
    assert log.flush()
    warnings = [r for r in cap.records if r.name == "hftlogging"]
    assert len(warnings) == 1
    assert warnings[0].levelno == logging.WARNING
    assert "max_latency_us=0.0002" in warnings[0].getMessage()
    check = hftlogging.check_performance()
    assert not check.ok and not check
    assert "exceeds max_latency_us" in check.reasons[0]
    assert check.breaches["max_latency_us"] >= 25


def test_default_thresholds_count_but_log_nothing(logger_name: str) -> None:
    """Without thresholds in the configuration, no record of ours reaches the output."""
    cap = CaptureHandler()
    _configure(logger_name, cap, latency_sample_every=1)
    get_monitor().configure(latency_sample_every=1, warning_threshold_us=0.0001,
                            max_latency_us=0.0002)  # as set by the API: counting only
    log = hftlogging.get_logger(logger_name)
    _timed_calls(log, 10)
    assert hftlogging.stats()["latency_breaches"]["max_latency_us"] >= 5
    assert [r for r in cap.records if r.name == "hftlogging"] == []


def test_check_performance_passes_within_generous_thresholds(logger_name: str) -> None:
    """Measured figures under max_latency_us give ok with the figures filled in."""
    _configure(logger_name, CaptureHandler(), latency_sample_every=1,
               warning_threshold_us=4_000_000, max_latency_us=5_000_000)
    log = hftlogging.get_logger(logger_name)
    _timed_calls(log, 20)
    check = hftlogging.check_performance()
    assert check.ok and bool(check)
    assert check.reasons == () and check.warnings == ()
    assert check.samples >= 15
    assert check.p50_us is not None and check.p99_us is not None and check.max_us is not None
    assert 0 < check.p50_us <= check.p99_us <= check.max_us
    assert check.max_latency_us == 5_000_000


@pytest.mark.parametrize(("settings", "key"), [
    ({"latency_sample_every": -1}, "hftlogging.latency_sample_every"),
    ({"latency_sample_every": 1.5}, "hftlogging.latency_sample_every"),
    ({"max_latency_us": 0}, "hftlogging.max_latency_us"),
    ({"warning_threshold_us": "fast"}, "hftlogging.warning_threshold_us"),
    ({"warning_threshold_us": 900, "max_latency_us": 800}, "hftlogging.warning_threshold_us"),
])
def test_bad_monitor_settings_fail_at_configure_naming_the_key(
    logger_name: str, settings: dict[str, Any], key: str
) -> None:
    """Invalid self-monitoring settings are a ConfigError naming the hftlogging key."""
    with pytest.raises(ConfigError) as info:
        _configure(logger_name, CaptureHandler(), **settings)
    assert info.value.key == key or key in str(info.value)


def test_prometheus_exports_call_latency_throughput_and_breaches(logger_name: str) -> None:
    """/metrics serves the call-latency histogram, the throughput gauge and the breaches."""
    hftlogging.configure({
        "version": 1,
        "disable_existing_loggers": False,
        "handlers": {
            "prom": {"class": "hftlogging.handlers.PrometheusHandler", "port": 0,
                     "namespace": "selfmon"},
            "queue": {"class": "hftlogging.handlers.QueueHandler", "handlers": ["prom"]},
        },
        "loggers": {logger_name: {"level": "DEBUG", "handlers": ["queue"], "propagate": False}},
        "hftlogging": {"latency_sample_every": 1},
    })
    prom = next(h for q in lifecycle.active_queue_handlers() for h in q.handlers
                if isinstance(h, PrometheusHandler))
    try:
        log = hftlogging.get_logger(logger_name)
        _timed_calls(log, 20)
        samples = hftlogging.stats()["call_latency_us"]["samples"]
        with urllib.request.urlopen(f"http://127.0.0.1:{prom.port}/metrics", timeout=10) as r:
            page = r.read().decode()
    finally:
        prom.close()
    assert f'selfmon_logging_call_latency_seconds_bucket{{le="+Inf"}} {float(samples)}' in page
    assert f"selfmon_logging_call_latency_seconds_count {float(samples)}" in page
    assert "selfmon_logging_records_per_second " in page
    assert 'selfmon_logging_latency_breaches_total{threshold="max_latency_us"}' in page


def test_bench_measures_sampling_off_and_on_with_every_record_on_disk() -> None:
    """The `hftlogging bench` scenario: both modes timed in one process, every line written,
    samples taken only with sampling on, and section 6 reports the ratio as a target."""
    res = bench.run_worker({"task": "monitor", "setup": "hftlogging", "capacity": 200_000,
                            "loops": 200, "repeat": 20, "sample_every": 10})
    assert "error" not in res, res
    assert res["lines"] == res["calls"] == 200 * 41
    assert res["samples"] >= 1
    assert res["off"] > 0 and res["on"] > 0 and res["ratio"] > 0
    results = bench.Results()
    results.add("monitor", res)
    checks: list[Any] = []
    table = bench.tables.monitor_table(results, checks)
    assert table.startswith("### 6. Self-monitoring")
    assert [c[0] for c in checks] == [
        "self-monitoring on costs the enabled call at most 1.05x off"]
