"""Nothing of hftlogging's own bookkeeping reaches a line, and anything a caller logs
serialises without raising."""

from __future__ import annotations

import dataclasses
import enum
import io
import itertools
import json
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hypothesis import example, given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, generate_latest

import hftlogging
from hftlogging.console import ConsoleFormatter
from hftlogging.filters import LevelRangeFilter, LogTypeFilter, RedactFilter, TagFilter
from hftlogging.formatters import ContextFormatter, JSONFormatter, to_jsonable
from hftlogging.handlers import JSONAuditHandler, PrometheusHandler, QueueHandler
from hftlogging.handlers.audit import AuditFormatter
from hftlogging.handlers.handler_state import default_fallback as _default_fallback
from hftlogging.testing import CaptureHandler

# What no line may contain: the names hftlogging gives its own attributes and markers, and
# the redaction settings a RedactFilter used to leave on every record.
_INTERNAL = ("hft", "substring", "redact")

_words = st.text(alphabet="abcdefgijklmnopqrsuvwxyz_", min_size=1, max_size=8).filter(
    lambda s: not any(w in s for w in _INTERNAL) and s.isidentifier()
)
_values = st.one_of(
    st.integers(), st.floats(allow_nan=False), st.booleans(), _words,
    st.lists(_words, max_size=3), st.dictionaries(_words, st.integers(), max_size=3),
)
_fields = st.dictionaries(
    st.one_of(_words, st.sampled_from(["api_key", "password", "token"])), _values, max_size=4
)
_FILTERS: list[Callable[[], logging.Filter]] = [
    lambda: LogTypeFilter(["text", "metric", "audit"]),
    lambda: LevelRangeFilter(min_level="DEBUG"),
    lambda: TagFilter(["zz"], exclude=True),
    RedactFilter,
]
_filter_sets = st.lists(st.sampled_from(range(len(_FILTERS))), unique=True, max_size=4)


def _emit(log: Any, kind: str, message: str, fields: dict[str, Any], use_extra: bool) -> None:
    if kind == "metric":
        log.counter(message, **{k: str(v) for k, v in fields.items()})
    elif kind == "audit":
        log.audit(message, **fields)
    elif use_extra:
        log.info(message, extra=fields)
    elif fields:
        log.info(message, **fields)
    else:
        log.info("%s done", message)


def _lines(records: list[logging.LogRecord], tmp: Path, n: int) -> list[str]:
    """Every shipped formatter's and handler's output for ``records``."""
    out: list[str] = []
    for fmt in (ContextFormatter(), JSONFormatter(), JSONFormatter(serializer="json"),
                ConsoleFormatter(color=False), AuditFormatter()):
        out.extend(fmt.format(r) for r in records)
    fallback = _default_fallback()
    stream = io.StringIO()
    fallback.setStream(stream)  # type: ignore[attr-defined]
    for r in records:
        fallback.handle(r)
    out.append(stream.getvalue())
    audit = JSONAuditHandler(tmp / f"audit{n}.jsonl")
    try:
        audit.emit_batch(records)
    finally:
        audit.close()
    out.append((tmp / f"audit{n}.jsonl").read_text())
    registry = CollectorRegistry()
    prom = PrometheusHandler(namespace="app", registry=registry,
                             context_labels=["api_key", "symbol"])
    try:
        prom.emit_batch(records)
        # The series of the records (the pipeline's own ``app_logging_*`` series and the
        # HELP texts describe hftlogging by design).
        out.extend(
            line for line in generate_latest(registry).decode().splitlines()
            if not line.startswith(("#", "app_logging_"))
        )
    finally:
        prom.close()
    return out


def test_no_internal_field_reaches_any_output(tmp_path: Path, logger_name: str) -> None:
    """Whatever is logged (text, extra=, keyword fields, metrics, audit; through the queue
    or the synchronous path) and whichever filters run, no formatter or handler the
    package ships writes a key or value of hftlogging's internals."""
    sync_capture = CaptureHandler()
    sync_log = hftlogging.get_logger(logger_name + ".sync")
    sync_log.addHandler(sync_capture)
    sync_log.setLevel(logging.DEBUG)
    sync_log.propagate = False
    queued_capture = CaptureHandler()
    queue = QueueHandler(handlers=[queued_capture])
    queued_log = hftlogging.get_logger(logger_name + ".queued")
    queued_log.addHandler(queue)
    queued_log.setLevel(logging.DEBUG)
    queued_log.propagate = False
    counter = itertools.count()
    try:

        @settings(max_examples=60, deadline=None)
        @given(kind=st.sampled_from(["text", "metric", "audit"]), message=_words,
               fields=_fields, use_extra=st.booleans(), filters=_filter_sets)
        def check(kind: str, message: str, fields: dict[str, Any], use_extra: bool,
                  filters: list[int]) -> None:
            n = next(counter)
            _emit(sync_log, kind, message, fields, use_extra)
            _emit(queued_log, kind, message, fields, use_extra)
            assert queued_capture.wait_for(1, timeout=30)
            records = [sync_capture[-1], queued_capture[-1]]
            sync_capture.clear()
            queued_capture.clear()
            chain = [_FILTERS[i]() for i in filters]
            for r in records:
                for _ in range(2):  # a second handler's filters see the record again
                    for f in chain:
                        f.filter(r)
            for text in _lines(records, tmp_path, n):
                lowered = text.lower()
                for word in _INTERNAL:
                    assert word not in lowered, (word, text)
            for name in os.listdir(tmp_path):
                os.unlink(tmp_path / name)

        check()
    finally:
        queue.close()


@dataclasses.dataclass
class _Point:
    x: int = 0


class _Colour(enum.Enum):
    RED = 1


class _Hostile:
    def __str__(self) -> str:
        raise RuntimeError("no str")

    def __repr__(self) -> str:
        raise RuntimeError("no repr")


class _HostileMapping(dict):  # type: ignore[type-arg]
    def items(self) -> Any:
        raise RuntimeError("no items")


def _recursive(depth: int) -> Any:
    a: list[Any] = [depth]
    a.append(a)
    d: dict[str, Any] = {"self": None, "list": a}
    d["self"] = d
    return d


_odd = st.one_of(
    st.sampled_from([_Point, _Colour, _Colour.RED, _Point(), type, object, ValueError,
                     ValueError("x")]),
    st.builds(_Hostile),
    st.builds(_HostileMapping, a=st.integers()),
    st.integers(min_value=0, max_value=3).map(_recursive),
    st.integers(min_value=10**900, max_value=10**6000),
    st.text(max_size=5).map(lambda s: s * 20_000),
    st.binary(max_size=20),
    st.floats(),
)
_anything = st.recursive(
    _odd, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                  st.dictionaries(st.text(max_size=4), inner, max_size=4),
                                  st.frozensets(st.integers(), max_size=3)),
    max_leaves=8,
)


@settings(max_examples=80, deadline=None)
@given(value=_anything)
@example(value=10**5000)
@example(value={"n": [10**2000, _Point]})
def test_anything_serialises(value: Any) -> None:
    """Classes, dataclass and Enum classes, recursive containers, objects whose __str__
    and __repr__ raise, mappings whose items() raises and huge numbers and strings all
    become JSON without raising, in a JSON line and in an audit line."""
    json.dumps(to_jsonable(value))
    record = logging.LogRecord("app", logging.INFO, __file__, 1, "m", (), None)
    record.__dict__.update({"value": value, "context": {"field": value}})
    for fmt in (JSONFormatter(), JSONFormatter(serializer="json"), AuditFormatter()):
        obj = json.loads(fmt.format(record))
        assert "field" in obj
