"""The metric store: series definitions, label rules, and the stores that outlive handlers.

A store holds the metrics of one namespace in one registry; successive handlers of that
namespace and registry take it over (see :mod:`hftlogging.handlers.prometheus`).
"""

from __future__ import annotations

import contextlib
import re
import threading
import weakref
from collections.abc import Callable
from typing import Any, cast

import prometheus_client
from prometheus_client import CollectorRegistry, Counter

from hftlogging.exceptions import ConfigError, Found, describe
from hftlogging.handlers.prometheus.collector import PipelineCollector

__all__ = [
    "DEFAULT_BUCKETS",
    "ERROR_REASONS",
    "KINDS",
    "METRIC_NAME",
    "Family",
    "Store",
    "StoresLock",
    "label_value",
    "resolve_registry",
    "store_for",
    "stores",
    "valid_label",
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

METRIC_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*\Z")
_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*\Z")
KINDS = ("counter", "gauge", "histogram")
_METHOD = {"counter": "inc", "gauge": "set", "histogram": "observe"}




def valid_label(name: object, kind: str = "") -> bool:
    return (
        type(name) is str
        and _LABEL_NAME.match(name) is not None
        and not name.startswith("__")
        and not (kind == "histogram" and name == "le")
    )


def label_value(value: object) -> str:
    if type(value) is str:
        return value
    if value is None:
        return ""
    try:
        return str(value)
    except Exception:
        return f"<unprintable {type(value).__name__}>"


# --- the metric store (outlives handlers) -------------------------------------------------


class Family:
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


class Store:
    """The metrics of one namespace in one registry, shared by successive handlers."""

    def __init__(self, registry: CollectorRegistry, namespace: str) -> None:
        self.registry = registry
        self.namespace = namespace
        self.prefix = f"{namespace}_" if namespace else ""
        self.lock = threading.Lock()
        self.families: dict[tuple[Any, Any, Any], Family] = {}
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
            msg = describe(
                None, f"a registry without metrics named {p}*", Found(str(e)),
                "give this handler another namespace or another registry",
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

    def forget(self, key: tuple[Any, Any, Any], fam: Family) -> None:
        self.families.pop(key, None)
        with contextlib.suppress(Exception):  # already gone: nothing to undo
            self.registry.unregister(fam.metric)




class StoresLock:
    """The lock over the store tables (replaced in a forked child)."""

    lock = threading.Lock()

    @classmethod
    def reset(cls) -> None:
        cls.lock = threading.Lock()


stores: weakref.WeakKeyDictionary[Any, dict[str, Store]] = weakref.WeakKeyDictionary()
_own_registries: dict[str, CollectorRegistry] = {}


def store_for(registry: CollectorRegistry, namespace: str) -> Store:
    with StoresLock.lock:
        per_registry = stores.setdefault(registry, {})
        store = per_registry.get(namespace)
        if store is None:
            store = Store(registry, namespace)
            per_registry[namespace] = store
        return store


def resolve_registry(registry: object, namespace: str) -> CollectorRegistry:
    if registry is None or registry == "own":
        with StoresLock.lock:
            reg = _own_registries.get(namespace)
            if reg is None:
                reg = _own_registries[namespace] = CollectorRegistry()
            return reg
    if registry in ("global", "default"):
        return prometheus_client.REGISTRY
    if callable(getattr(registry, "register", None)) and callable(
        getattr(registry, "collect", None)
    ):
        return cast(CollectorRegistry, registry)  # any object with register() and collect()
    msg = describe(
        None, "'own' (default), 'global'/'default' for prometheus_client.REGISTRY, or a "
        "CollectorRegistry", registry, "use 'own', 'global' or a CollectorRegistry",
    )
    raise ConfigError(msg, key="registry")


