"""PrometheusHandler: metric records become Prometheus series, pulled or pushed.

Metric records (``log_type == "metric"``) update prometheus-client metrics on the thread
that runs the handler — behind a :class:`~hftlogging.handlers.QueueHandler`, the listener
thread, never the caller's. Other records are skipped at the cost of one dict lookup.

Mapping (``<ns>`` is ``namespace``, default ``hft``):

=========================================  ==========================================
record                                     series
=========================================  ==========================================
``counter("orders", 2)``                   ``<ns>_orders_total`` (``Counter.inc(2)``)
``metric("active_symbols", 42)``           ``<ns>_active_symbols`` (``Gauge.set(42)``)
``histogram("spread_bps", 3.2)``           ``<ns>_spread_bps`` (``Histogram.observe``)
``latency("parse", 0.012)`` / ``timer``    ``<ns>_parse_duration_seconds`` (observes 1.2e-05)
=========================================  ==========================================

``metric_types`` overrides the type a call implies, by metric-name glob: with
``{"*_failures": "counter"}``, ``metric("websocket_creation_failures", 1)`` increments
``<ns>_websocket_creation_failures_total`` instead of setting a gauge to 1 (durations
from ``latency`` and ``timer`` stay histograms). A ``None`` tag value is an empty label
value, Prometheus' own meaning of an absent label.

Labels are the metric's tags, then the ``context_labels`` (taken from the record's
context, ``""`` when absent), then the ``const_labels``. A metric's label names are fixed
at its first observation. An update that cannot be applied (other label names, an
invalid label name, NaN, a negative counter increment, a series beyond
``max_series_per_metric``, a name taken by a metric of another type) is dropped and
counted in ``<ns>_logging_metric_errors_total{reason=...}``; it never raises.

The pipeline's own health (queue depth and capacity, dropped records by type, handler
errors and fallbacks, batches) is exported from :func:`hftlogging.stats` at scrape time.

Reconfiguration: the metrics of a namespace live in a store attached to the registry,
not to the handler. A handler configured again with the same namespace and registry
(``dictConfig`` twice) takes the store over, so counters continue where they were; a
metric whose definition changed (other context or const label names, other buckets) is
re-created empty, which is counted (``reason="redefined"``) and reported on stderr.
"""

from __future__ import annotations

from hftlogging.handlers.prometheus.collector import PipelineCollector
from hftlogging.handlers.prometheus.handler import PrometheusHandler
from hftlogging.handlers.prometheus.multiprocess import MULTIPROC_ENV
from hftlogging.handlers.prometheus.series import DEFAULT_BUCKETS, ERROR_REASONS

__all__ = [
    "DEFAULT_BUCKETS",
    "ERROR_REASONS",
    "MULTIPROC_ENV",
    "PipelineCollector",
    "PrometheusHandler",
]
