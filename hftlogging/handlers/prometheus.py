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

import atexit
import contextlib
import decimal
import fnmatch
import logging
import math
import multiprocessing.util
import numbers
import os
import re
import sys
import threading
import weakref
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, cast

import prometheus_client
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client import values as prometheus_values
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
)
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead

from hftlogging.exceptions import ConfigError
from hftlogging.handlers import shared_endpoint
from hftlogging.health import stats as pipeline_stats
from hftlogging.lifecycle import starting_thread
from hftlogging.options import check_duration
from hftlogging.record import METRIC
from hftlogging.worker import get_worker

__all__ = [
    "DEFAULT_BUCKETS",
    "ERROR_REASONS",
    "PipelineCollector",
    "PrometheusHandler",
]

#: Histogram buckets in seconds, 1 µs to 10 s, three per decade. prometheus-client's own
#: defaults start at 5 ms, where a hot path's whole distribution sits in the first bucket.
DEFAULT_BUCKETS: tuple[float, ...] = (
    1e-6, 2.5e-6, 5e-6,
    1e-5, 2.5e-5, 5e-5,
    1e-4, 2.5e-4, 5e-4,
    1e-3, 2.5e-3, 5e-3,
    0.01, 0.025, 0.05,
    0.1, 0.25, 0.5,
    1.0, 2.5, 5.0, 10.0,
)

#: Values of the ``reason`` label of ``<ns>_logging_metric_errors_total``.
ERROR_REASONS: tuple[str, ...] = (
    "conflict",          # the name is taken by a metric of another type or a collector
    "error",             # prometheus-client refused the update for another reason
    "invalid_label",     # a tag name that is not a valid Prometheus label name
    "invalid_name",      # a metric name that is not a valid Prometheus metric name
    "invalid_type",      # metric_type is not counter, gauge or histogram
    "invalid_value",     # not a real number, or infinite
    "label_mismatch",    # other label names than the metric's first observation
    "nan",               # NaN
    "negative_counter",  # a counter cannot go down
    "redefined",         # reconfigured with another definition: values started again
    "series_limit",      # more label combinations than max_series_per_metric
)

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
_GAUGE_MODES = frozenset(
    {"all", "liveall", "min", "livemin", "max", "livemax", "sum", "livesum",
     "mostrecent", "livemostrecent"}
)
_METRIC_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*\Z")
_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*\Z")
_KINDS = ("counter", "gauge", "histogram")
_METHOD = {"counter": "inc", "gauge": "set", "histogram": "observe"}
_INF = (math.inf, -math.inf)


def _valid_label(name: object, kind: str = "") -> bool:
    return (
        type(name) is str
        and _LABEL_NAME.match(name) is not None
        and not name.startswith("__")
        and not (kind == "histogram" and name == "le")
    )


def _label_value(value: object) -> str:
    if type(value) is str:
        return value
    if value is None:
        return ""
    try:
        return str(value)
    except Exception:
        return f"<unprintable {type(value).__name__}>"


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

    def describe(self) -> list[Any]:
        """The series this collector exports, without reading the statistics."""
        return self._families(None)

    def collect(self) -> list[Any]:
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


# --- the metric store (outlives handlers) -------------------------------------------------


class _Family:
    """One metric: the prometheus-client object, its label layout, its cached children."""

    __slots__ = (
        "buckets",
        "children",
        "const_names",
        "const_values",
        "counter",
        "ctx_names",
        "kind",
        "method",
        "metric",
        "ntags",
        "plain",
        "prom_name",
        "scale",
        "single",
        "tag_names",
    )

    def __init__(
        self,
        metric: Any,
        kind: str,
        prom_name: str,
        *,
        tag_names: tuple[str, ...],
        ctx_names: tuple[str, ...],
        const_names: tuple[str, ...],
        const_values: tuple[str, ...],
        buckets: tuple[float, ...] | None,
        scale: float,
    ) -> None:
        self.metric = metric
        self.kind = kind
        self.counter = kind == "counter"
        self.method = _METHOD[kind]
        self.prom_name = prom_name
        self.tag_names = tag_names
        self.ntags = len(tag_names)
        self.single = tag_names[0] if len(tag_names) == 1 else None
        self.ctx_names = ctx_names
        self.const_names = const_names
        self.const_values = const_values
        self.buckets = buckets
        self.scale = scale
        self.children: dict[tuple[Any, ...], Callable[[float], None]] = {}
        labelled = tag_names or ctx_names or const_names
        self.plain: Callable[[float], None] | None = (
            None if labelled else getattr(metric, self.method)
        )


class _Store:
    """The metrics of one namespace in one registry, shared by successive handlers."""

    def __init__(self, registry: Any, namespace: str) -> None:
        self.registry = registry
        self.namespace = namespace
        self.prefix = f"{namespace}_" if namespace else ""
        self.lock = threading.Lock()
        self.families: dict[tuple[Any, Any, Any], _Family] = {}
        self.rejected: dict[tuple[Any, Any, Any], str] = {}
        p = self.prefix + "logging_"
        try:
            self.errors = Counter(
                p + "metric_errors", "Metric updates dropped by the Prometheus handler.",
                ["reason"], registry=registry,
            )
            self.push_failures = Counter(
                p + "push_failures", "Failed pushes to the Pushgateway.", registry=registry
            )
            self.pushes = Counter(
                p + "pushes", "Successful pushes to the Pushgateway.", registry=registry
            )
            self.collector = PipelineCollector(namespace)
            registry.register(self.collector)
        except ValueError as e:
            msg = (
                f"the registry already has metrics named {p}*: {e}; give this handler "
                "another namespace or another registry"
            )
            raise ConfigError(msg, key="namespace") from e
        # Children for every reason, so each series exists (at 0) from the start.
        self.error_incs: dict[str, Callable[..., None]] = {
            r: self.errors.labels(r).inc for r in ERROR_REASONS
        }
        self.error_counts: dict[str, int] = dict.fromkeys(ERROR_REASONS, 0)

    def count_error(self, reason: str) -> None:
        self.error_counts[reason] += 1
        self.error_incs[reason]()

    def forget(self, key: tuple[Any, Any, Any], fam: _Family) -> None:
        self.families.pop(key, None)
        with contextlib.suppress(Exception):  # already gone: nothing to undo
            self.registry.unregister(fam.metric)




class _StoresLock:
    """The lock over the store tables (replaced in a forked child)."""

    lock = threading.Lock()

    @classmethod
    def reset(cls) -> None:
        cls.lock = threading.Lock()


_stores: weakref.WeakKeyDictionary[Any, dict[str, _Store]] = weakref.WeakKeyDictionary()
_own_registries: dict[str, CollectorRegistry] = {}


def _store_for(registry: Any, namespace: str) -> _Store:
    with _StoresLock.lock:
        per_registry = _stores.setdefault(registry, {})
        store = per_registry.get(namespace)
        if store is None:
            store = _Store(registry, namespace)
            per_registry[namespace] = store
        return store


def _resolve_registry(registry: Any, namespace: str) -> Any:
    if registry is None or registry == "own":
        with _StoresLock.lock:
            reg = _own_registries.get(namespace)
            if reg is None:
                reg = _own_registries[namespace] = CollectorRegistry()
            return reg
    if registry in ("global", "default"):
        return prometheus_client.REGISTRY
    if callable(getattr(registry, "register", None)) and callable(
        getattr(registry, "collect", None)
    ):
        return registry
    msg = (
        "registry must be 'own' (default), 'global'/'default' for prometheus_client.REGISTRY, "
        f"or a CollectorRegistry, got {registry!r}"
    )
    raise ConfigError(msg, key="registry")


# --- process hooks (installed by the first handler, not at import) ------------------------

_live_handlers: weakref.WeakSet[PrometheusHandler] = weakref.WeakSet()
_close_lock = threading.Lock()


class _Hooks:
    """Which process hooks are installed (module state without ``global``)."""

    lock = threading.Lock()
    fork = False
    exit = False



class _MultiprocessingHook:
    """An object multiprocessing's after-fork registry can hold weakly."""


_mp_hook = _MultiprocessingHook()


def _install_fork_hook() -> None:
    with _Hooks.lock:
        if _Hooks.fork or not hasattr(os, "register_at_fork"):
            return
        os.register_at_fork(after_in_child=_after_fork_child)
        _Hooks.fork = True


def _after_fork_child() -> None:
    _Hooks.lock = threading.Lock()
    _StoresLock.reset()
    for per_registry in list(_stores.values()):
        for store in per_registry.values():
            store.lock = threading.Lock()
    for h in list(_live_handlers):
        try:
            h._after_fork_child()
        except Exception as e:
            sys.stderr.write(f"hftlogging: could not reset {h!r} after fork: {e!r}\n")


def _mark_this_process_dead() -> None:
    """Remove this process's live-gauge files from the multiprocess directory."""
    path = os.environ.get(MULTIPROC_ENV)
    if path and os.path.isdir(path):
        try:
            mark_process_dead(os.getpid(), path)  # type: ignore[no-untyped-call]
        except OSError as e:
            sys.stderr.write(f"hftlogging: could not clean up {path}: {e}\n")


def _install_exit_hook() -> None:
    """At a clean exit, clean up this process's live-gauge files (multiprocess mode).

    A child of ``multiprocessing`` made by fork leaves through ``os._exit``, skipping
    ``atexit``: multiprocessing's own finalizers do it there, after the queues drained.
    """
    with _Hooks.lock:
        if _Hooks.exit:
            return
        atexit.register(_mark_this_process_dead)
        _Hooks.exit = True
    multiprocessing.util.register_after_fork(_mp_hook, _in_multiprocessing_child)


def _in_multiprocessing_child(_hook: object) -> None:
    # Lower priority than the queue drain (100): the drained records update first.
    multiprocessing.util.Finalize(_mp_hook, _mark_this_process_dead, exitpriority=10)


# --- option checks ------------------------------------------------------------------------


def _number(name: str, value: Any, *, positive: bool = True) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
        msg = f"{name} must be a number, got {value!r}"
        raise ConfigError(msg, key=name)
    if positive and value <= 0:
        msg = f"{name} must be > 0, got {value!r}"
        raise ConfigError(msg, key=name)
    return float(value)


def _bucket_list(key: str, value: Any) -> tuple[float, ...]:
    if isinstance(value, (str, bytes, Mapping)) or not isinstance(value, Iterable):
        msg = f"{key} must be a list of increasing numbers (seconds for durations), got {value!r}"
        raise ConfigError(msg, key=key)
    out: list[float] = []
    for b in value:
        if isinstance(b, bool) or not isinstance(b, (int, float)) or math.isnan(b):
            msg = f"{key} must hold numbers only, got {b!r}"
            raise ConfigError(msg, key=key)
        if out and b <= out[-1]:
            msg = f"{key} must be strictly increasing, got {b!r} after {out[-1]!r}"
            raise ConfigError(msg, key=key)
        out.append(float(b))
    if not out or (len(out) == 1 and out[0] == math.inf):
        msg = f"{key} must hold at least one finite bucket bound, got {value!r}"
        raise ConfigError(msg, key=key)
    return tuple(out)


def _labels_option(key: str, names: Iterable[Any]) -> None:
    for n in names:
        if not _valid_label(n):
            msg = (
                f"{key}: {n!r} is not a Prometheus label name (letters, digits and "
                "underscores, not starting with a digit or '__')"
            )
            raise ConfigError(msg, key=key)
        if n == "le":
            msg = f"{key}: 'le' is reserved for histogram buckets; choose another label name"
            raise ConfigError(msg, key=key)


# --- the handler --------------------------------------------------------------------------


class PrometheusHandler(logging.Handler):
    """Turn metric records into Prometheus series; serve them and/or push them.

    Configure it behind the queue, next to the file handlers::

        handlers:
          prometheus:
            class: hftlogging.handlers.PrometheusHandler
            namespace: hft
            port: 9108                 # GET http://127.0.0.1:9108/metrics
            context_labels: [exchange]
            const_labels: {service: arbitrage}
          queue:
            class: hftlogging.handlers.QueueHandler
            handlers: [file, prometheus]

    Args:
        namespace: prefix of every series name (``hft`` gives ``hft_orders_total``).
        registry: where the metrics live: ``"own"`` (default; a registry private to
            hftlogging, one per namespace, reused when the handler is configured again),
            ``"global"`` or ``"default"`` for ``prometheus_client.REGISTRY``, or a
            ``CollectorRegistry`` object.
        port: serve ``/metrics`` on this port; ``0`` picks a free port (read it from
            :attr:`port`); None (default) serves nothing.
        addr: the address the endpoint binds (default ``127.0.0.1``, this host only; give
            ``0.0.0.0`` to let other hosts scrape).
        pushgateway: Pushgateway URL (``http://host:9091``); None (default) pushes nothing.
        job: the Pushgateway job.
        grouping_key: further Pushgateway grouping labels; ``{worker}`` in a value is
            replaced by :func:`hftlogging.get_worker` (one group per worker process).
        push_interval_s: seconds between pushes (``pushadd``, on a thread of the handler).
        timeout_s: longest wait of a push on each network operation.
        buckets: histogram buckets: a list for every histogram, or a mapping from metric
            name (as logged: ``order_placement`` for a timer) to its list; histograms
            without buckets of their own use :data:`DEFAULT_BUCKETS` (1 µs to 10 s).
        const_labels: labels with fixed values on every series of this handler;
            ``{worker}`` in a value becomes :func:`hftlogging.get_worker`.
        context_labels: context fields promoted to labels (``""`` when a record lacks
            one); keep them to fields with few distinct values.
        max_series_per_metric: most label combinations per metric; the updates of any
            further one are dropped and counted.
        multiprocess_gauge_mode: how gauges of several processes combine in
            prometheus-client's multiprocess mode (default ``livesum``: the sum over
            the live processes).
        multiprocess: share one endpoint among every process of this host configured
            with the same ``addr`` and ``port``: each writes its series (and its pipeline
            health, labelled ``worker`` and ``pid``) to a directory they agree on, one
            serves them all, another takes over within a second when it ends, and the
            series of ended processes are removed (see
            :mod:`hftlogging.handlers.shared_endpoint`). Without a port, or with port
            ``0`` (a free port per process), nothing is shared unless
            ``multiprocess_dir`` is given (then the process writes there and, with port
            ``0``, serves nothing). Where advisory file locks are missing (Windows), the
            option is ignored: each process serves its own endpoint. ``{worker}`` in a
            ``const_labels`` value becomes :func:`hftlogging.get_worker`.
        multiprocess_dir: the shared directory (default: derived from ``addr`` and
            ``port`` in a runtime directory private to the user, or
            ``$PROMETHEUS_MULTIPROC_DIR`` when set).
        metric_types: a mapping from metric-name glob patterns (``fnmatch``, case
            sensitive, first match in order wins) to ``counter``, ``gauge`` or
            ``histogram``: the type of the series, whatever call logged the value.
            ``latency`` and ``timer`` durations are always histograms.
        level: the handler's level.

    Raises:
        ConfigError: an option is invalid, the port cannot be bound, the namespace is
            taken in the registry, or the multiprocess directory is unusable.
    """

    #: The endpoint's port (the one picked when ``port=0``); None without an endpoint.
    port: int | None

    def __init__(
        self,
        *,
        namespace: str = "hft",
        registry: Any = None,
        port: int | None = None,
        addr: str = "127.0.0.1",
        pushgateway: str | None = None,
        job: str = "hftlogging",
        grouping_key: Mapping[str, Any] | None = None,
        push_interval_s: float = 10.0,
        timeout_s: float = 2.0,
        buckets: Any = None,
        const_labels: Mapping[str, Any] | None = None,
        context_labels: Sequence[str] | None = None,
        max_series_per_metric: int = 1000,
        multiprocess_gauge_mode: str = "livesum",
        multiprocess: bool = False,
        multiprocess_dir: str | None = None,
        metric_types: Mapping[str, str] | None = None,
        level: int | str = logging.NOTSET,
    ) -> None:
        super().__init__(level)
        self._closed = False
        self._server: Any = None
        self._server_thread: threading.Thread | None = None
        self._push_thread: threading.Thread | None = None
        self._push_stop = threading.Event()
        self._push_pending_start = False
        self._member: shared_endpoint.Member | None = None
        self.port = None
        self._check_targets(
            namespace=namespace, port=port, addr=addr, pushgateway=pushgateway, job=job
        )
        self._check_labels(
            grouping_key=grouping_key, const_labels=const_labels, context_labels=context_labels
        )
        self._check_limits(max_series=max_series_per_metric, gauge_mode=multiprocess_gauge_mode)
        self.namespace = namespace
        self.addr = addr
        self.pushgateway = pushgateway
        self.job = job
        self.grouping_key: dict[str, str] = {
            str(k): _label_value(v) for k, v in (grouping_key or {}).items()
        }
        self.push_interval_s = _number("push_interval_s", push_interval_s)
        self.timeout_s = _number("timeout_s", timeout_s)
        check_duration("push_interval_s", push_interval_s)
        check_duration("timeout_s", timeout_s)
        self.max_series_per_metric = max_series_per_metric
        self.multiprocess_gauge_mode = multiprocess_gauge_mode
        self._const_templates = {k: _label_value(v) for k, v in (const_labels or {}).items()}
        self.const_labels: dict[str, str] = self._resolve_const_labels()
        self.context_labels: tuple[str, ...] = tuple(context_labels or ())
        self._default_buckets, self._buckets_by_name = self._check_buckets(buckets)
        self.metric_types: dict[str, str] = self._check_metric_types(metric_types)

        #: Pushes that succeeded / failed, and the last failure's description.
        self.pushes = 0
        self.push_failures = 0
        self.last_push_error: str | None = None
        self._consecutive_push_failures = 0

        if multiprocess and (port or multiprocess_dir is not None) and shared_endpoint.available():
            self._member = self._join_group(port, registry, multiprocess_dir)
            self.multiprocess_dir: str | None = self._member.directory
            self.registry = shared_endpoint.registry_for(self._member, namespace)
            self.port = port or None
        else:
            self.multiprocess_dir = self._check_multiprocess()
            self.registry = _resolve_registry(registry, namespace)
        try:
            store = _store_for(self.registry, namespace)
        except BaseException:
            self._leave_group()
            raise
        if port is not None and self._member is None:
            # Before taking the store over: a taken port leaves the store as it was.
            self._start_endpoint(port)
        with store.lock:
            self._adopt(store)
        self._store = store
        self._families = store.families

        _install_fork_hook()
        if self.multiprocess_dir and self._member is None:
            _install_exit_hook()
        if pushgateway:
            self._start_push_thread()
        self._pid = os.getpid()
        _live_handlers.add(self)

    # -- configuration ---------------------------------------------------------------------

    @staticmethod
    def _check_targets(
        *, namespace: Any, port: Any, addr: Any, pushgateway: Any, job: Any
    ) -> None:
        if not isinstance(namespace, str) or (namespace and not _METRIC_NAME.match(namespace)):
            msg = (
                "namespace must be a Prometheus metric name prefix such as 'hft', "
                f"got {namespace!r}"
            )
            raise ConfigError(msg, key="namespace")
        if port is not None and (
            isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535
        ):
            msg = (
                "port must be an integer from 0 (pick a free port) to 65535, or null, "
                f"got {port!r}"
            )
            raise ConfigError(msg, key="port")
        if not isinstance(addr, str) or not addr:
            msg = f"addr must be a host address such as '127.0.0.1', got {addr!r}"
            raise ConfigError(msg, key="addr")
        if pushgateway is not None and (not isinstance(pushgateway, str) or not pushgateway):
            msg = f"pushgateway must be a URL such as 'http://localhost:9091', got {pushgateway!r}"
            raise ConfigError(msg, key="pushgateway")
        if not isinstance(job, str) or not job:
            msg = f"job must be a non-empty string, got {job!r}"
            raise ConfigError(msg, key="job")

    @staticmethod
    def _check_labels(*, grouping_key: Any, const_labels: Any, context_labels: Any) -> None:
        for key, value in (("grouping_key", grouping_key), ("const_labels", const_labels)):
            if value is not None and not isinstance(value, Mapping):
                msg = f"{key} must be a mapping of label names to values, got {value!r}"
                raise ConfigError(msg, key=key)
            _labels_option(key, value or ())
        if context_labels is not None and (
            isinstance(context_labels, (str, bytes, Mapping))
            or not isinstance(context_labels, Iterable)
        ):
            msg = f"context_labels must be a list of context field names, got {context_labels!r}"
            raise ConfigError(msg, key="context_labels")
        _labels_option("context_labels", context_labels or ())
        both = sorted(set(context_labels or ()) & set(const_labels or ()))
        if both:
            msg = f"{both} are both context_labels and const_labels; keep each in one"
            raise ConfigError(msg, key="context_labels")

    @staticmethod
    def _check_limits(*, max_series: Any, gauge_mode: Any) -> None:
        if isinstance(max_series, bool) or not isinstance(max_series, int) or max_series < 1:
            msg = f"max_series_per_metric must be a positive integer, got {max_series!r}"
            raise ConfigError(msg, key="max_series_per_metric")
        if gauge_mode not in _GAUGE_MODES:
            msg = (
                f"multiprocess_gauge_mode must be one of {', '.join(sorted(_GAUGE_MODES))}, "
                f"got {gauge_mode!r}"
            )
            raise ConfigError(msg, key="multiprocess_gauge_mode")

    @staticmethod
    def _check_buckets(
        buckets: Any,
    ) -> tuple[tuple[float, ...], dict[str, tuple[float, ...]]]:
        if buckets is None:
            return DEFAULT_BUCKETS, {}
        if isinstance(buckets, Mapping):
            per = {}
            for name, value in buckets.items():
                if not isinstance(name, str):
                    msg = f"buckets: metric names must be strings, got {name!r}"
                    raise ConfigError(msg, key="buckets")
                per[name] = _bucket_list(f"buckets.{name}", value)
            return DEFAULT_BUCKETS, per
        return _bucket_list("buckets", buckets), {}

    @staticmethod
    def _check_metric_types(value: Any) -> dict[str, str]:
        if value is None:
            return {}
        if not isinstance(value, Mapping):
            msg = (
                "metric_types must be a mapping of metric-name patterns to counter, gauge "
                f"or histogram, such as {{'*_failures': 'counter'}}, got {value!r}"
            )
            raise ConfigError(msg, key="metric_types")
        out = {}
        for pattern, kind in value.items():
            if not isinstance(pattern, str) or not pattern:
                msg = f"metric_types: patterns must be non-empty strings, got {pattern!r}"
                raise ConfigError(msg, key="metric_types")
            if kind not in _KINDS:
                msg = (
                    f"metric_types.{pattern}: expected counter, gauge or histogram, "
                    f"got {kind!r}"
                )
                raise ConfigError(msg, key="metric_types")
            out[pattern] = kind
        return out

    def _kind_for(self, name: str, mtype: str, unit: str | None) -> str:
        """The series type of a metric: histogram for durations, else ``metric_types``."""
        if unit == "ms":
            return "histogram"
        for pattern, kind in self.metric_types.items():
            if fnmatch.fnmatchcase(name, pattern):
                return kind
        return mtype

    @staticmethod
    def _check_multiprocess() -> str | None:
        path = os.environ.get(MULTIPROC_ENV) or os.environ.get(MULTIPROC_ENV.lower())
        if not path:
            return None
        if not os.path.isdir(path):
            msg = f"{MULTIPROC_ENV} is {path!r}, which is not a directory; create it first"
            raise ConfigError(msg, key=MULTIPROC_ENV)
        if not getattr(prometheus_values.ValueClass, "_multiprocess", False):
            msg = (
                f"{MULTIPROC_ENV} was set after prometheus_client was imported in this "
                "process, so metrics would stay in memory instead of the shared directory; "
                "set it in the environment before the process starts"
            )
            raise ConfigError(msg, key=MULTIPROC_ENV)
        return path

    def _join_group(
        self, port: int | None, registry: Any, directory: Any
    ) -> shared_endpoint.Member:
        """Join the processes sharing this endpoint (``multiprocess: true``)."""
        if registry not in (None, "own"):
            msg = (
                "multiprocess: true keeps the metrics in a registry of its own (their "
                f"values live in the shared directory); drop registry, got {registry!r}"
            )
            raise ConfigError(msg, key="registry")
        if directory is not None and (not isinstance(directory, str) or not directory):
            msg = f"multiprocess_dir must be a directory path, got {directory!r}"
            raise ConfigError(msg, key="multiprocess_dir")
        return shared_endpoint.join(
            addr=self.addr, port=port or None, namespace=self.namespace, directory=directory
        )

    def _resolve_const_labels(self) -> dict[str, str]:
        worker = get_worker()
        return {k: v.replace("{worker}", worker) for k, v in self._const_templates.items()}

    def _rejoin_after_fork(self, member: shared_endpoint.Member) -> None:
        """In a forked child: this process's own worker name, registry and store."""
        member.after_fork_child()
        self.const_labels = self._resolve_const_labels()
        self.registry = shared_endpoint.registry_for(member, self.namespace)
        store = _store_for(self.registry, self.namespace)
        self._store = store
        self._families = store.families

    def _leave_group(self) -> None:
        member, self._member = self._member, None
        if member is not None:
            shared_endpoint.leave(member, self.namespace)

    def _buckets_for(self, name: str, prom_name: str) -> tuple[float, ...]:
        per = self._buckets_by_name
        if per:
            b = per.get(name)
            if b is None:
                b = per.get(prom_name[len(self._store_prefix()):])
            if b is not None:
                return b
        return self._default_buckets

    def _store_prefix(self) -> str:
        return f"{self.namespace}_" if self.namespace else ""

    def _layout(self, tag_names: tuple[str, ...]) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """The context and const label names that follow ``tag_names``."""
        ctx = tuple(c for c in self.context_labels if c not in tag_names)
        const = tuple(c for c in self.const_labels if c not in tag_names)
        return ctx, const

    def _adopt(self, store: _Store) -> None:
        """Take over a store's metrics, re-creating those whose definition changed."""
        store.rejected.clear()
        redefined = []
        for key, fam in list(store.families.items()):
            ctx, const = self._layout(fam.tag_names)
            same = ctx == fam.ctx_names and const == fam.const_names
            if same and type(key[0]) is str and key[1] in _KINDS:
                same = fam.kind == self._kind_for(key[0], key[1], key[2])
            if same and fam.kind == "histogram":
                same = fam.buckets == self._buckets_for(key[0], fam.prom_name)
            if same:
                fam.const_values = tuple(self.const_labels[c] for c in const)
                fam.children.clear()  # const values may have changed
                continue
            store.forget(key, fam)
            store.count_error("redefined")
            redefined.append(fam.prom_name)
        if redefined:
            sys.stderr.write(
                "hftlogging: the Prometheus handler was reconfigured with other labels or "
                f"buckets; these metrics start again from zero: {', '.join(sorted(redefined))}\n"
            )

    # -- the endpoint ----------------------------------------------------------------------

    def _start_endpoint(self, port: int) -> None:
        if self.multiprocess_dir:
            served = CollectorRegistry()
            MultiProcessCollector(served, path=self.multiprocess_dir)  # type: ignore[no-untyped-call]
            served.register(PipelineCollector(self.namespace))
        else:
            served = self.registry
        try:
            # dictConfig builds handlers holding logging's lock; a starting thread may need
            # it (a garbage handler's weakref callback), so start with the lock released.
            with starting_thread():
                result: Any = prometheus_client.start_http_server(
                    port, addr=self.addr, registry=served
                )
        except OSError as e:
            msg = (
                f"cannot serve metrics on {self.addr}:{port}: {e.strerror or e}; another "
                "process may hold the port: choose another port, or 0 to pick a free one "
                "(several worker processes share one endpoint with multiprocess: true)"
            )
            raise ConfigError(msg, key="port") from e
        if not isinstance(result, tuple):  # prometheus-client < 0.20 gives no handle
            msg = "the port option needs prometheus-client >= 0.20 (to close the endpoint)"
            raise ConfigError(msg, key="port")
        server, thread = result
        thread.name = "hftlogging-prometheus-http"
        self._server = server
        self._server_thread = thread
        self.port = int(server.server_address[1])

    def _stop_endpoint(self) -> None:
        server, thread = self._server, self._server_thread
        self._server = self._server_thread = None
        if server is None:
            return
        try:
            server.shutdown()
        finally:
            server.server_close()
        if thread is not None:
            thread.join(5.0)

    # -- pushing ---------------------------------------------------------------------------

    def _start_push_thread(self) -> None:
        self._push_pending_start = False
        self._push_stop = threading.Event()
        t = threading.Thread(target=self._push_loop, name="hftlogging-prometheus-push",
                             daemon=True)
        self._push_thread = t
        with starting_thread():
            t.start()

    def retry_delay(self, failures: int) -> float:
        """Seconds to wait after ``failures`` consecutive failed pushes (0: the interval).

        Exponential back-off from ``min(1, push_interval_s)``, doubling per failure, up
        to ``max(push_interval_s, 30)``.
        """
        if failures <= 0:
            return self.push_interval_s
        first = min(1.0, self.push_interval_s)
        return float(min(first * 2 ** (failures - 1), max(self.push_interval_s, 30.0)))

    def _push_loop(self) -> None:
        stop = self._push_stop
        while not stop.wait(self.retry_delay(self._consecutive_push_failures)):
            self.push()

    def push(self) -> bool:
        """Push the registry to the Pushgateway now (``pushadd``); never raises.

        Returns:
            Whether the push succeeded. A failure is counted in :attr:`push_failures`
            and in ``<ns>_logging_push_failures_total``.
        """
        if not self.pushgateway:
            return False
        worker = get_worker()
        key = {k: v.replace("{worker}", worker) for k, v in self.grouping_key.items()}
        store = self._store
        try:
            prometheus_client.pushadd_to_gateway(
                self.pushgateway, job=self.job, registry=self.registry, grouping_key=key,
                timeout=self.timeout_s,
            )
        except Exception as e:
            self.push_failures += 1
            self._consecutive_push_failures += 1
            self.last_push_error = f"{type(e).__name__}: {e}"
            with contextlib.suppress(Exception):
                store.push_failures.inc()
            return False
        self.pushes += 1
        self._consecutive_push_failures = 0
        with contextlib.suppress(Exception):
            store.pushes.inc()
        return True

    # -- fork --------------------------------------------------------------------------------

    def _after_fork_child(self) -> None:
        """In a forked child: the parent serves the endpoint; pushes restart on first use."""
        self.createLock()
        server = self._server
        self._server = self._server_thread = None
        if server is not None:
            with contextlib.suppress(OSError):
                server.socket.close()  # the child's copy only: the parent keeps serving
        if self._push_thread is not None:
            self._push_thread = None
            self._push_pending_start = True
        if self._member is not None:
            self._rejoin_after_fork(self._member)

    # -- records -----------------------------------------------------------------------------

    def emit(self, record: logging.LogRecord) -> None:
        """Apply one record (stdlib entry point); bad metric data is counted, not raised."""
        try:
            self.emit_batch((record,))
        except Exception:
            self.handleError(record)

    def emit_batch(
        self, records: Sequence[logging.LogRecord]
    ) -> None:
        """Apply every metric record of a batch, in one pass under one lock.

        Records that are not metrics are skipped. An update that cannot be applied is
        counted in ``<ns>_logging_metric_errors_total{reason}`` and skipped.
        """
        if self._push_pending_start and not self._closed:
            self._start_push_thread()
        store = self._store
        families = self._families
        count_error = store.count_error
        with store.lock:
            for r in records:
                d = r.__dict__
                if d.get("log_type") != METRIC:
                    continue
                try:
                    # Metric records always carry these attributes; a KeyError is an error.
                    key = (d["metric_name"], d["metric_type"], d.get("metric_unit"))
                    fam = families.get(key)
                    if fam is None:
                        fam = self._define(key, d)
                        if fam is None:
                            continue
                    value = d["metric_value"]
                    if type(value) is not float and type(value) is not int:
                        value = self._coerce(value)
                        if value is None:
                            continue
                    # x - x is 0 for a finite number, NaN for NaN and the infinities.
                    if value - value:
                        count_error("nan" if math.isnan(value) else "invalid_value")
                        continue
                    if fam.counter and value < 0:
                        count_error("negative_counter")
                        continue
                    tags = d["metric_tags"]
                    if fam.plain is not None:
                        if tags:
                            count_error("label_mismatch")
                            continue
                        update = fam.plain
                    else:
                        if not tags or len(tags) != fam.ntags:
                            if fam.ntags or tags:
                                count_error("label_mismatch")
                                continue
                            tags = {}
                        try:
                            single = fam.single
                            if single is not None:
                                labels: tuple[Any, ...] = (tags[single],)
                            else:
                                labels = tuple([tags[k] for k in fam.tag_names])
                        except KeyError:
                            count_error("label_mismatch")
                            continue
                        if fam.ctx_names:
                            ctx = d.get("context") or {}
                            labels += tuple([_label_value(ctx.get(k)) for k in fam.ctx_names])
                        child = fam.children.get(labels)
                        if child is None:
                            child = self._child(fam, labels)
                            if child is None:
                                continue
                        update = child
                    update(value * fam.scale if fam.scale != 1.0 else value)
                except Exception:
                    count_error("error")

    def _coerce(self, value: Any) -> float | None:
        if isinstance(value, bool) or not isinstance(value, (numbers.Real, decimal.Decimal)):
            self._store.count_error("invalid_value")
            return None
        try:
            return float(value)
        except Exception:
            self._store.count_error("invalid_value")
            return None

    def _define(
        self, key: tuple[Any, Any, Any], d: dict[str, Any]
    ) -> _Family | None:
        """Create the metric of a first observation (None when it cannot be: counted)."""
        store = self._store
        name, mtype, unit = key
        rejected = store.rejected.get(key)
        if rejected is not None:
            store.count_error(rejected)
            return None
        if type(name) is not str or not _METRIC_NAME.match(name):
            return self._reject(key, "invalid_name")
        if mtype not in _KINDS:
            return self._reject(key, "invalid_type")
        prom_name = store.prefix + name
        scale = 1.0
        kind = self._kind_for(name, mtype, unit)
        if unit == "ms":  # timer() and latency(): durations in Prometheus base units
            prom_name += "_duration_seconds"
            scale = 0.001
        tags = d.get("metric_tags") or {}
        if not isinstance(tags, Mapping):
            store.count_error("invalid_label")
            return None
        tag_names = tuple(sorted(tags))
        for t in tag_names:
            if not _valid_label(t, kind):
                store.count_error("invalid_label")  # depends on the tags: not remembered
                return None
        ctx, const = self._layout(tag_names)
        labelnames = tag_names + ctx + const
        doc = (
            f"Duration of {name} in seconds, logged through hftlogging."
            if unit == "ms" else f"{name} ({kind}), logged through hftlogging."
        )
        buckets = self._buckets_for(name, prom_name) if kind == "histogram" else None
        try:
            if kind == "counter":
                metric: Any = Counter(prom_name, doc, labelnames, registry=store.registry)
            elif kind == "gauge":
                metric = Gauge(prom_name, doc, labelnames, registry=store.registry,
                               multiprocess_mode=cast(Any, self.multiprocess_gauge_mode))
            else:
                metric = Histogram(prom_name, doc, labelnames, registry=store.registry,
                                   buckets=buckets or DEFAULT_BUCKETS)
        except ValueError:  # a duplicated series: the name is taken
            return self._reject(key, "conflict")
        fam = _Family(
            metric, kind, prom_name, tag_names=tag_names, ctx_names=ctx, const_names=const,
            const_values=tuple(self.const_labels[c] for c in const), buckets=buckets,
            scale=scale,
        )
        store.families[key] = fam
        return fam

    def _reject(self, key: tuple[Any, Any, Any], reason: str) -> _Family | None:
        store = self._store
        if len(store.rejected) < 10_000:
            store.rejected[key] = reason
        store.count_error(reason)
        return None

    def _child(self, fam: _Family, labels: tuple[Any, ...]) -> Callable[[float], None] | None:
        if len(fam.children) >= self.max_series_per_metric:
            self._store.count_error("series_limit")
            return None
        child = fam.metric.labels(*labels, *fam.const_values)
        update: Callable[[float], None] = getattr(child, fam.method)
        fam.children[labels] = update
        return update

    # -- observability -------------------------------------------------------------------------

    def errors(self) -> dict[str, int]:
        """Dropped metric updates per reason, counted by this process since the store began."""
        return dict(self._store.error_counts)

    # -- shutdown ----------------------------------------------------------------------------

    def close(self) -> None:
        """Stop pushing (one final push first), stop the endpoint. Idempotent.

        The final push runs on the closing thread and costs at most ``timeout_s`` per
        network operation when the gateway does not answer.
        """
        with _close_lock:
            if self._closed:
                super().close()
                return
            self._closed = True
        _live_handlers.discard(self)
        try:
            thread = self._push_thread
            self._push_thread = None
            self._push_pending_start = False
            self._push_stop.set()
            if thread is not None and thread is not threading.current_thread():
                thread.join(self.timeout_s * 3 + 1.0)
            # A handler whose options were refused has no pushgateway attribute yet.
            if getattr(self, "pushgateway", None) and "_store" in self.__dict__:
                self.push()
            self._stop_endpoint()
            self._leave_group()
        finally:
            super().close()

    def __repr__(self) -> str:
        where = []
        if self.port is not None:
            where.append(f"{self.addr}:{self.port}")
        if self.pushgateway:
            where.append(f"push {self.pushgateway}")
        return f"<PrometheusHandler {self.namespace} {' '.join(where)}>".replace(" >", ">")
