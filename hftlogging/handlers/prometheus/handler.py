"""The Prometheus handler: metric records become series, served on an endpoint or pushed.

See :mod:`hftlogging.handlers.prometheus` for the mapping of records to series.
"""

from __future__ import annotations

import contextlib
import decimal
import fnmatch
import logging
import math
import numbers
import os
import sys
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, cast

import prometheus_client
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client import values as prometheus_values
from prometheus_client.multiprocess import MultiProcessCollector

from hftlogging.exceptions import ConfigError, Found, describe
from hftlogging.handlers import shared_endpoint
from hftlogging.handlers.prometheus import endpoint
from hftlogging.handlers.prometheus.collector import PipelineCollector
from hftlogging.handlers.prometheus.multiprocess import (
    MULTIPROC_ENV,
    install_exit_hook,
    install_fork_hook,
    live_handlers,
)
from hftlogging.handlers.prometheus.series import (
    DEFAULT_BUCKETS,
    KINDS,
    METRIC_NAME,
    Family,
    Store,
    label_value,
    resolve_registry,
    store_for,
    valid_label,
)
from hftlogging.lifecycle import starting_thread
from hftlogging.options import check_duration
from hftlogging.record import METRIC
from hftlogging.worker import get_worker

__all__ = ["PrometheusHandler"]

_close_lock = threading.Lock()
_GAUGE_MODES = frozenset(
    {"all", "liveall", "min", "livemin", "max", "livemax", "sum", "livesum",
     "mostrecent", "livemostrecent"}
)


# --- option checks ------------------------------------------------------------------------


def _number(name: str, value: Any, *, positive: bool = True) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
        msg = describe(None, "a number", value, "use a number such as 0.5")
        raise ConfigError(msg, key=name)
    if positive and value <= 0:
        msg = describe(None, "> 0", value, "use a number above 0, such as 0.5")
        raise ConfigError(msg, key=name)
    return float(value)


def _bucket_list(key: str, value: Any) -> tuple[float, ...]:
    if isinstance(value, (str, bytes, Mapping)) or not isinstance(value, Iterable):
        msg = describe(None, "a list of increasing numbers (seconds for durations)", value,
                       "give bounds such as [0.001, 0.01, 0.1, 1]")
        raise ConfigError(msg, key=key)
    out: list[float] = []
    for b in value:
        if isinstance(b, bool) or not isinstance(b, (int, float)) or math.isnan(b):
            msg = describe(None, "a list holding numbers only", b,
                           "remove what is not a number from the list")
            raise ConfigError(msg, key=key)
        if out and b <= out[-1]:
            msg = describe(None, f"strictly increasing bounds (after {out[-1]!r})", b,
                           "list each bound once, smallest first")
            raise ConfigError(msg, key=key)
        out.append(float(b))
    if not out or (len(out) == 1 and out[0] == math.inf):
        msg = describe(None, "a list holding at least one finite bucket bound", value,
                       "give at least one finite bound, such as [0.01, 0.1, 1]")
        raise ConfigError(msg, key=key)
    return tuple(out)


def _labels_option(key: str, names: Iterable[Any]) -> None:
    for n in names:
        if not valid_label(n):
            msg = describe(
                None, "Prometheus label names (letters, digits and underscores, not starting "
                "with a digit or '__')", n, "rename the label, such as 'venue'",
            )
            raise ConfigError(msg, key=key)
        if n == "le":
            msg = describe(
                None, "a label name other than 'le' (reserved for histogram buckets)", n,
                "choose another label name",
            )
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
        registry: str | CollectorRegistry | None = None,
        port: int | None = None,
        addr: str = "127.0.0.1",
        pushgateway: str | None = None,
        job: str = "hftlogging",
        grouping_key: Mapping[str, object] | None = None,
        push_interval_s: float = 10.0,
        timeout_s: float = 2.0,
        buckets: Sequence[float] | Mapping[str, Sequence[float]] | None = None,
        const_labels: Mapping[str, object] | None = None,
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
            str(k): label_value(v) for k, v in (grouping_key or {}).items()
        }
        self.push_interval_s = _number("push_interval_s", push_interval_s)
        self.timeout_s = _number("timeout_s", timeout_s)
        check_duration("push_interval_s", push_interval_s)
        check_duration("timeout_s", timeout_s)
        self.max_series_per_metric = max_series_per_metric
        self.multiprocess_gauge_mode = multiprocess_gauge_mode
        self._const_templates = {k: label_value(v) for k, v in (const_labels or {}).items()}
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
            self.registry = resolve_registry(registry, namespace)
        try:
            store = store_for(self.registry, namespace)
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

        install_fork_hook()
        if self.multiprocess_dir and self._member is None:
            install_exit_hook()
        if pushgateway:
            self._start_push_thread()
        self._pid = os.getpid()
        live_handlers.add(self)

    # -- configuration ---------------------------------------------------------------------

    @staticmethod
    def _check_targets(
        *, namespace: Any, port: Any, addr: Any, pushgateway: Any, job: Any
    ) -> None:
        if not isinstance(namespace, str) or (namespace and not METRIC_NAME.match(namespace)):
            msg = describe(None, "a Prometheus metric name prefix such as 'hft'", namespace,
                           "use letters, digits and underscores, such as 'hft'")
            raise ConfigError(msg, key="namespace")
        if port is not None and (
            isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535
        ):
            msg = describe(
                None, "an integer from 0 (pick a free port) to 65535, or null", port,
                "give a port such as 9100, 0 for any free port, or null"
            )
            raise ConfigError(msg, key="port")
        if not isinstance(addr, str) or not addr:
            msg = describe(None, "a host address such as '127.0.0.1'", addr,
                           "give the address to listen on, such as '127.0.0.1'")
            raise ConfigError(msg, key="addr")
        if pushgateway is not None and (not isinstance(pushgateway, str) or not pushgateway):
            msg = describe(None, "a URL such as 'http://localhost:9091'", pushgateway,
                           "give the Pushgateway URL, or null for none")
            raise ConfigError(msg, key="pushgateway")
        if not isinstance(job, str) or not job:
            msg = describe(None, "a non-empty string", job, "name the job, such as 'hftlogging'")
            raise ConfigError(msg, key="job")

    @staticmethod
    def _check_labels(*, grouping_key: Any, const_labels: Any, context_labels: Any) -> None:
        for key, value in (("grouping_key", grouping_key), ("const_labels", const_labels)):
            if value is not None and not isinstance(value, Mapping):
                msg = describe(None, "a mapping of label names to values", value,
                               "map label names to values, such as {'venue': 'xnas'}")
                raise ConfigError(msg, key=key)
            _labels_option(key, value or ())
        if context_labels is not None and (
            isinstance(context_labels, (str, bytes, Mapping))
            or not isinstance(context_labels, Iterable)
        ):
            msg = describe(None, "a list of context field names", context_labels,
                           "list field names, such as ['venue']")
            raise ConfigError(msg, key="context_labels")
        _labels_option("context_labels", context_labels or ())
        both = sorted(set(context_labels or ()) & set(const_labels or ()))
        if both:
            msg = describe(
                None, "labels that are not also const_labels",
                Found(f"{both} in both"), "keep each label in one of them",
            )
            raise ConfigError(msg, key="context_labels")

    @staticmethod
    def _check_limits(*, max_series: Any, gauge_mode: Any) -> None:
        if isinstance(max_series, bool) or not isinstance(max_series, int) or max_series < 1:
            msg = describe(None, "a positive integer", max_series,
                           "use a whole number such as 1000")
            raise ConfigError(msg, key="max_series_per_metric")
        if gauge_mode not in _GAUGE_MODES:
            msg = describe(None, f"one of {', '.join(sorted(_GAUGE_MODES))}", gauge_mode,
                           f"name one of: {', '.join(sorted(_GAUGE_MODES))}")
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
                    msg = describe(None, "metric names as strings", name,
                                   "write each metric name as a string")
                    raise ConfigError(msg, key="buckets")
                per[name] = _bucket_list(f"buckets.{name}", value)
            return DEFAULT_BUCKETS, per
        return _bucket_list("buckets", buckets), {}

    @staticmethod
    def _check_metric_types(value: Any) -> dict[str, str]:
        if value is None:
            return {}
        if not isinstance(value, Mapping):
            msg = describe(
                None, "a mapping of metric-name patterns to counter, gauge or histogram, "
                "such as {'*_failures': 'counter'}", value, "give a mapping of patterns to kinds",
            )
            raise ConfigError(msg, key="metric_types")
        out = {}
        for pattern, kind in value.items():
            if not isinstance(pattern, str) or not pattern:
                msg = describe(None, "patterns as non-empty strings", pattern,
                               "write each pattern as a non-empty string, such as '*_total'")
                raise ConfigError(msg, key="metric_types")
            if kind not in KINDS:
                msg = describe(None, "counter, gauge or histogram", kind,
                               "name one of: counter, gauge, histogram")
                raise ConfigError(msg, key=f"metric_types.{pattern}")
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
            msg = describe(
                None, "an existing directory", Found(f"{path!r}, which is not a directory"),
                "create it first",
            )
            raise ConfigError(msg, key=MULTIPROC_ENV)
        if not getattr(prometheus_values.ValueClass, "_multiprocess", False):
            msg = describe(
                None, "a variable set before prometheus_client was imported",
                Found(
                    "set after prometheus_client was imported in this process, so metrics "
                    "would stay in memory instead of the shared directory"
                ),
                "set it in the environment before the process starts",
            )
            raise ConfigError(msg, key=MULTIPROC_ENV)
        return path

    def _join_group(
        self, port: int | None, registry: Any, directory: Any
    ) -> shared_endpoint.Member:
        """Join the processes sharing this endpoint (``multiprocess: true``)."""
        if registry not in (None, "own"):
            msg = describe(
                None, "no registry with multiprocess: true (the metrics live in a registry "
                "of its own, their values in the shared directory)", registry,
                "drop registry",
            )
            raise ConfigError(msg, key="registry")
        if directory is not None and (not isinstance(directory, str) or not directory):
            msg = describe(None, "a directory path", directory, "give a directory path, or null")
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
        store = store_for(self.registry, self.namespace)
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

    def _adopt(self, store: Store) -> None:
        """Take over a store's metrics, re-creating those whose definition changed."""
        store.rejected.clear()
        redefined = []
        for key, fam in list(store.families.items()):
            ctx, const = self._layout(fam.tag_names)
            same = ctx == fam.ctx_names and const == fam.const_names
            if same and type(key[0]) is str and key[1] in KINDS:
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
        server, thread = endpoint.serve(port, self.addr, served)
        self._server = server
        self._server_thread = thread
        self.port = int(server.server_address[1])

    def _stop_endpoint(self) -> None:
        server, thread = self._server, self._server_thread
        self._server = self._server_thread = None
        if server is None:
            return
        endpoint.stop(server, thread)

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

    def after_fork_child(self) -> None:
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
                            labels += tuple([label_value(ctx.get(k)) for k in fam.ctx_names])
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
    ) -> Family | None:
        """Create the metric of a first observation (None when it cannot be: counted)."""
        store = self._store
        name, mtype, unit = key
        rejected = store.rejected.get(key)
        if rejected is not None:
            store.count_error(rejected)
            return None
        if type(name) is not str or not METRIC_NAME.match(name):
            return self._reject(key, "invalid_name")
        if mtype not in KINDS:
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
            if not valid_label(t, kind):
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
        fam = Family(
            metric, kind, prom_name, tag_names=tag_names, ctx_names=ctx, const_names=const,
            const_values=tuple(self.const_labels[c] for c in const), buckets=buckets,
            scale=scale,
        )
        store.families[key] = fam
        return fam

    def _reject(self, key: tuple[Any, Any, Any], reason: str) -> Family | None:
        store = self._store
        if len(store.rejected) < 10_000:
            store.rejected[key] = reason
        store.count_error(reason)
        return None

    def _child(self, fam: Family, labels: tuple[Any, ...]) -> Callable[[float], None] | None:
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
        live_handlers.discard(self)
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

