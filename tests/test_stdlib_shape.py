"""After install(), a stdlib-style call gives a stdlib-shaped record; hftlogging's
attributes read correctly on every record and reach a line only when they carry
something."""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from pythonjsonlogger.json import JsonFormatter

import hftlogging
from hftlogging.formatters import ContextFormatter
from hftlogging.handlers import QueueHandler
from hftlogging.testing import CaptureHandler


def _stdlib_attributes() -> set[str]:
    """The instance attributes a plain stdlib Logger's record has at a handler, here."""
    plain = logging.Logger("plain")  # not through the manager: never an HFTLogger
    capture = CaptureHandler()
    plain.addHandler(capture)
    plain.info("order %s filled", 7)
    return set(capture[0].__dict__)


@contextlib.contextmanager
def _wiring(path: str, logger_name: str) -> Iterator[tuple[Any, CaptureHandler]]:
    hftlogging.install()
    log: Any = logging.getLogger(logger_name)
    log.setLevel(logging.DEBUG)
    log.propagate = False
    capture = CaptureHandler()
    queue = QueueHandler(handlers=[capture]) if path == "queued" else None
    log.addHandler(queue or capture)
    try:
        yield log, capture
    finally:
        log.removeHandler(queue or capture)
        if queue is not None:
            queue.close()


@pytest.fixture(params=["synchronous", "queued"])
def wired(request: pytest.FixtureRequest, logger_name: str) -> Iterator[Any]:
    """Wires an installed logger whose records are captured directly or behind the queue
    (in the test's own phase: pytest adds its log capture handlers between phases)."""
    return lambda: _wiring(request.param, logger_name)


def _one(capture: CaptureHandler) -> logging.LogRecord:
    assert capture.wait_for(1, timeout=30)
    (record,) = capture.records
    capture.clear()
    return record


def test_stdlib_style_call_gives_exactly_stdlib_attributes(wired: Any) -> None:
    """A call using no hftlogging feature has exactly stdlib's instance attributes; the
    contract attributes still read as text, no tags, an empty context, and created_ns
    agrees with created."""
    with wired() as (log, capture):
        log.info("order %s filled", 7)
        record = _one(capture)
        assert set(record.__dict__) == _stdlib_attributes()
        assert record.getMessage() == "order 7 filled"
        assert (record.log_type, record.tags, record.context) == ("text", [], {})
        assert abs(record.created_ns - record.created * 1e9) < 1_000
        json.dumps(record.context)  # a plain, serialisable mapping


def test_features_appear_as_instance_attributes(wired: Any) -> None:
    """Keyword fields give a context (and attributes); metrics and audit records say
    their log type."""
    with wired() as (log, capture):
        log.info("filled", order_id=7)
        record = _one(capture)
        assert record.__dict__["context"] == {"order_id": 7} and record.order_id == 7
        log.counter("orders")
        assert _one(capture).__dict__["log_type"] == "metric"
        log.audit("order_placed", order_id=7)
        record = _one(capture)
        assert record.__dict__["log_type"] == "audit" and record.context == {"order_id": 7}


def test_a_filter_may_add_to_an_absent_context(wired: Any) -> None:
    """Writing to the empty context of a plain record keeps what was written."""
    with wired() as (log, capture):
        log.info("plain")
        record = _one(capture)
        record.context["enriched"] = True
        assert record.context == {"enriched": True}
        assert record.__dict__["context"] == {"enriched": True}


def test_python_json_logger_sees_the_same_schema_after_install(logger_name: str) -> None:
    """python-json-logger's JsonFormatter writes the same keys for the same stdlib-style
    calls before and after install(), through the queue too."""

    def keys_of_lines(install: bool) -> list[list[str]]:
        if install:
            hftlogging.install()
        log = logging.getLogger(f"{logger_name}.{install}")
        log.setLevel(logging.INFO)
        log.propagate = False
        capture = CaptureHandler()
        queue = QueueHandler(handlers=[capture]) if install else None
        log.addHandler(queue or capture)
        log.info("order %s filled", 7)
        log.warning("plain")
        try:
            assert capture.wait_for(2, timeout=30)
        finally:
            log.removeHandler(queue or capture)
            if queue is not None:
                queue.close()
        fmt = JsonFormatter("%(levelname)s %(name)s %(message)s")
        return [sorted(json.loads(fmt.format(r))) for r in capture.records]

    assert keys_of_lines(install=False) == keys_of_lines(install=True)


def test_text_formats_may_name_contract_attributes(wired: Any) -> None:
    """A ContextFormatter format naming log_type, tags or created_ns renders them on a
    plain record, whose attributes stay stdlib's afterwards."""
    with wired() as (log, capture):
        log.info("plain")
        record = _one(capture)
        for fmt, style in (("%(log_type)s %(tags)s %(message)s", "%"),
                           ("{log_type} {tags} {message}", "{")):
            assert ContextFormatter(fmt, style=style).format(record) == "text [] plain"
        assert set(record.__dict__) <= _stdlib_attributes() | {"message"}
