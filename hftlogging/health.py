"""Counters the library keeps about itself, and :func:`stats`.

Bad input at a call site (an invalid metric name, NaN, a non-number value, non-string
tags, a bad level) never raises into the caller: it is counted here and reported by a
rate-limited warning record on the ``hftlogging`` logger.
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from collections.abc import Callable, Mapping
from typing import Any

from hftlogging import lifecycle
from hftlogging import strict as _strict
from hftlogging.exceptions import CallSiteError

__all__ = [
    "add_stats_fields", "add_stats_source", "bad_input", "register_exporter", "reset_after_fork",
    "stats",
]

REPORT_INTERVAL_S = 10.0

_lock = threading.Lock()
_bad_input: dict[str, int] = {}
_unreported = 0
_last_report = 0.0
_reporting = threading.local()


def bad_input(reason: str, detail: str) -> None:
    """Count one dropped call-site input and report it at most every few seconds.

    In strict mode (:mod:`hftlogging.strict`) the input is not counted: this raises.

    Args:
        reason: short machine-readable reason, e.g. ``"metric_name"``, ``"metric_value"``.
        detail: what was received, for the warning line.

    Raises:
        CallSiteError: strict mode is on.
    """
    if _strict.enabled:
        raise CallSiteError(reason, detail)
    global _unreported, _last_report
    now = time.monotonic()
    with _lock:
        _bad_input[reason] = _bad_input.get(reason, 0) + 1
        _unreported += 1
        if now - _last_report < REPORT_INTERVAL_S or getattr(_reporting, "active", False):
            return
        count, _unreported = _unreported, 0
        _last_report = now
    _reporting.active = True
    try:
        logging.getLogger("hftlogging").warning(
            "hftlogging dropped %d bad call-site input(s) in the last %.0fs; latest: %s: %s",
            count, REPORT_INTERVAL_S, reason, detail,
        )
    except Exception:  # reporting must never raise into the caller
        pass
    finally:
        _reporting.active = False


_sources: dict[str, Callable[[], object]] = {}


def add_stats_source(key: str, source: Callable[[], object]) -> None:
    """Have :func:`stats` report ``source()`` under ``key``.

    Modules register their own figures here (rate limits, for one), so this module
    imports nothing of the package.
    """
    _sources[key] = source


_exporters: weakref.WeakSet[Any] = weakref.WeakSet()


def register_exporter(handler: Any) -> None:
    """Have :func:`stats` report ``handler.exporter_stats()`` under ``exporters``.

    Handlers that send records off the host (syslog, OTLP) register themselves: what
    they buffer during an outage and what they drop is part of the pipeline's figures.
    """
    _exporters.add(handler)


def _exporter_stats() -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for h in list(_exporters):
        name = h.get_name() or f"{type(h).__name__}@{id(h):x}"
        out[name] = h.exporter_stats()
    return out


add_stats_source("exporters", _exporter_stats)

# Until the file handlers' module is imported (it registers file_stats), no file counted.
add_stats_source("files", lambda: {
    "rotations": 0, "write_errors": 0, "file_conflicts": 0, "torn_tails": 0,
})

_field_sources: list[Callable[[], Mapping[str, object]]] = []


def add_stats_fields(source: Callable[[], Mapping[str, object]]) -> None:
    """Have :func:`stats` merge the dict ``source()`` returns into its top level.

    The self-monitoring registers its figures this way.
    """
    if source not in _field_sources:
        _field_sources.append(source)


def bad_input_counts() -> dict[str, int]:
    """Return a copy of the per-reason counts of dropped call-site inputs."""
    with _lock:
        return dict(_bad_input)


def reset_after_fork() -> None:
    """Give a forked child fresh locks (the parent's may have been held at fork)."""
    global _lock
    _lock = threading.Lock()


lifecycle.add_after_fork_child(reset_after_fork)


def stats() -> dict[str, Any]:
    """Return the pipeline's counters: queue depth, drops, handler errors, bad input.

    Keys: ``queue_depth``, ``capacity``, ``high_water``, ``enqueued``, ``written``,
    ``dropped`` (total), ``dropped_by_type`` (``{"text": n, "metric": n, "audit": 0}``),
    ``dropped_by_level``, ``handler_errors`` (per handler name), ``handler_fallbacks``,
    ``batches``, ``mean_batch_size``, ``audit_sync_writes``, ``audit_over_capacity``,
    ``exporters`` (per syslog/OTLP handler: sent, buffered, dropped, reconnects),
    ``kept_over_capacity`` (records at or above ``discard_threshold`` queued past the
    capacity by ``overflow: discard_below``),
    ``unfinished_stops`` (stops whose drain could not finish), ``dropped_at_stop`` (the
    records they counted as dropped), ``audit_left_at_stop`` (audit records the last of
    them kept queued), ``close_timeouts`` (handlers whose close() did not return in time),
    ``bad_input`` (per reason),
    ``bad_input_total``, ``suppressed`` (calls held back by ``every()``/``once()`` and
    ``RateLimitFilter``, per logger), ``listeners`` (running listener threads),
    ``queues`` (the same figures for each active queue handler) and ``files`` (the
    rotating file handlers' ``rotations``, ``write_errors``, ``file_conflicts`` and
    ``torn_tails``).

    Self-monitoring (see :mod:`hftlogging.monitor`): ``call_latency_us`` (``p50``,
    ``p99``, ``max`` of the sampled caller-side cost of a log call in microseconds, None
    before the first sample; ``samples``; ``sample_every``), ``call_latency_histogram``
    (the samples in buckets, for Prometheus), ``records_per_s`` (records written per
    second over the last window), ``latency_breaches`` (sampled calls over
    ``warning_threshold_us`` only, and over ``max_latency_us``) and
    ``latency_thresholds_us``.
    """
    queues = [h.stats() for h in lifecycle.active_queue_handlers()]
    total: dict[str, Any] = {
        "queue_depth": 0,
        "capacity": 0,
        "high_water": 0,
        "enqueued": 0,
        "written": 0,
        "dropped": 0,
        "dropped_by_type": {"text": 0, "metric": 0, "audit": 0},
        "dropped_by_level": {},
        "handler_errors": {},
        "handler_fallbacks": {},
        "batches": 0,
        "mean_batch_size": 0.0,
        "audit_sync_writes": 0,
        "audit_over_capacity": 0,
        "kept_over_capacity": 0,
        "listeners": 0,
    }
    for q in queues:
        for key in ("queue_depth", "capacity", "enqueued", "written", "dropped", "batches",
                    "audit_sync_writes", "audit_over_capacity", "kept_over_capacity",
                    "listeners"):
            total[key] += q[key]
        total["high_water"] = max(total["high_water"], q["high_water"])
        for key in ("dropped_by_type", "dropped_by_level", "handler_errors", "handler_fallbacks"):
            for k, v in q[key].items():
                total[key][k] = total[key].get(k, 0) + v
    if total["batches"]:
        total["mean_batch_size"] = total["written"] / total["batches"]
    counts = bad_input_counts()
    total["bad_input"] = counts
    total["bad_input_total"] = sum(counts.values())
    total["close_timeouts"] = lifecycle.close_timeouts()
    for key in ("unfinished_stops", "dropped_at_stop", "audit_left_at_stop"):
        total[key] = sum(q.get(key, 0) for q in queues)
    total["queues"] = queues
    for key, source in list(_sources.items()):
        try:
            total[key] = source()
        except Exception as e:  # a figure that cannot be read must not hide the others
            total[key] = f"<unavailable: {type(e).__name__}: {e}>"
    for fields in list(_field_sources):
        total.update(fields())
    return total
