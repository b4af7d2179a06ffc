"""The pipeline's own health as Prometheus series, read from :func:`hftlogging.stats`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
)
from prometheus_client.metrics_core import Metric

from hftlogging.health import stats as pipeline_stats

__all__ = ["PipelineCollector"]


# --- the pipeline's health ----------------------------------------------------------------


class PipelineCollector:
    """Export :func:`hftlogging.stats` at scrape time (a prometheus-client collector).

    Series (``<ns>`` is the namespace): ``<ns>_logging_queue_depth``,
    ``<ns>_logging_queue_capacity``, ``<ns>_logging_queue_high_water``,
    ``<ns>_logging_listeners``, ``<ns>_logging_batch_size_mean`` (gauges);
    ``<ns>_logging_records_written_total``, ``<ns>_logging_batches_total``,
    ``<ns>_logging_records_dropped_total{type}``,
    ``<ns>_logging_handler_errors_total{handler}``,
    ``<ns>_logging_handler_fallbacks_total{handler}``,
    ``<ns>_logging_bad_input_total{reason}``, ``<ns>_logging_audit_sync_writes_total``
    (counters; they restart from zero when the queue handlers are reconfigured).
    Self-monitoring: ``<ns>_logging_call_latency_seconds`` (histogram of the sampled
    caller-side cost of a log call), ``<ns>_logging_records_per_second`` (gauge) and
    ``<ns>_logging_latency_breaches_total{threshold}`` (sampled calls over
    ``warning_threshold_us`` only, or over ``max_latency_us``).

    Args:
        namespace: prefix of every series.
        stats: the function read at scrape time (default :func:`hftlogging.stats`).
    """

    def __init__(
        self, namespace: str = "hft", stats: Callable[[], dict[str, Any]] | None = None
    ) -> None:
        self.prefix = f"{namespace}_logging_" if namespace else "logging_"
        self._stats = stats

    def describe(self) -> list[Metric]:
        """The series this collector exports, without reading the statistics."""
        return self._families(None)

    def collect(self) -> list[Metric]:
        """Read the statistics now and return them as metric families."""
        try:
            s = (self._stats or pipeline_stats)()
        except Exception:  # a scrape must not fail because the statistics did
            return []
        return self._families(s)

    def _families(self, s: dict[str, Any] | None) -> list[Any]:
        p = self.prefix
        out: list[Any] = []

        def gauge(name: str, doc: str, key: str) -> None:
            fam = GaugeMetricFamily(p + name, doc)
            if s is not None:
                fam.add_metric([], float(s.get(key, 0)))
            out.append(fam)

        def counter(name: str, doc: str, key: str, label: str | None = None) -> None:
            fam = CounterMetricFamily(p + name, doc, labels=[label] if label else None)
            if s is not None:
                if label is None:
                    fam.add_metric([], float(s.get(key, 0)))
                else:
                    for k, v in sorted((s.get(key) or {}).items()):
                        fam.add_metric([str(k)], float(v))
            out.append(fam)

        gauge("queue_depth", "Records waiting in the hftlogging queues.", "queue_depth")
        gauge("queue_capacity", "Capacity of the hftlogging queues.", "capacity")
        gauge("queue_high_water", "Most records queued at once.", "high_water")
        gauge("listeners", "Running hftlogging listener threads.", "listeners")
        gauge("batch_size_mean", "Mean records per listener batch.", "mean_batch_size")
        counter("records_written", "Records handed to the handlers.", "written")
        counter("batches", "Batches the listeners dispatched.", "batches")
        counter("records_dropped", "Records dropped by a full queue, by log type.",
                "dropped_by_type", "type")
        counter("handler_errors", "Errors raised by handlers, by handler.",
                "handler_errors", "handler")
        counter("handler_fallbacks", "Records routed to the fallback, by failing handler.",
                "handler_fallbacks", "handler")
        counter("bad_input", "Log calls dropped for bad input, by reason.", "bad_input",
                "reason")
        counter("audit_sync_writes", "Audit records written on the caller's thread.",
                "audit_sync_writes")
        gauge("records_per_second", "Records written per second by the hftlogging listeners.",
              "records_per_s")
        counter("latency_breaches", "Sampled log calls slower than a threshold, by threshold.",
                "latency_breaches", "threshold")
        out.append(_call_latency(p, s))
        return out


def _call_latency(prefix: str, s: dict[str, Any] | None) -> Any:
    """The sampled caller-side cost of a log call, as a histogram family."""
    doc = "Sampled caller-side cost of a log call, in seconds."
    h = (s or {}).get("call_latency_histogram")
    if not h:
        return HistogramMetricFamily(prefix + "call_latency_seconds", doc)
    bounds = [repr(float(b)) for b in h["buckets_s"]] + ["+Inf"]
    return HistogramMetricFamily(
        prefix + "call_latency_seconds", doc,
        buckets=list(zip(bounds, [float(c) for c in h["cumulative"]], strict=False)),
        sum_value=float(h["sum_s"]),
    )


