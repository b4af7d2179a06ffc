"""Field-name presets: Elastic Common Schema (checked against the ecs-logging package's own
formatter) and the OpenTelemetry log data model."""

from __future__ import annotations

import json
import logging
import os
from typing import Any

import pytest

import hftlogging
from hftlogging.formatters import JSONFormatter
from hftlogging.handlers import QueueHandler
from hftlogging.testing import CaptureHandler

try:
    import ecs_logging
except ImportError:  # in the test extra; only a bare environment lacks it
    if os.environ.get("CI"):
        raise
    pytest.skip("ecs-logging is not installed (pip install hftlogging[test])",
                allow_module_level=True)


def _flat(obj: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested objects as dotted keys (ECS allows either; compare the same way)."""
    out: dict[str, Any] = {}
    for k, v in obj.items():
        if isinstance(v, dict) and v:
            out.update(_flat(v, f"{prefix}{k}."))
        else:
            out[prefix + k] = v
    return out


def _stdlib_records() -> list[logging.LogRecord]:
    log = logging.Logger("app.orders")
    capture = CaptureHandler()
    log.addHandler(capture)
    log.info("order %s placed", 7, extra={"order_id": "o-1", "exchange": "mexc"})
    log.warning("slow fill", extra={"latency_ms": 12.5})
    try:
        raise ValueError("bad qty")
    except ValueError:
        log.exception("order failed", extra={"order_id": "o-2"})
    return capture.records


ECS_REQUIRED = {"@timestamp", "log.level", "log.logger", "message", "process.pid",
                "process.thread.id", "ecs.version"}


def test_ecs_matches_ecs_logging_on_the_same_records() -> None:
    """For every field both write, JSONFormatter(schema="ecs") writes the key and value
    ecs-logging's StdlibFormatter writes; the ECS fields of the preset are all there,
    exceptions included (error.type, error.message, error.stack_trace)."""
    theirs_fmt = ecs_logging.StdlibFormatter()
    ours_fmt = JSONFormatter(schema="ecs")
    for record in _stdlib_records():
        theirs = _flat(json.loads(theirs_fmt.format(record)))
        ours = _flat(json.loads(ours_fmt.format(record)))
        assert set(ours) >= ECS_REQUIRED
        shared = set(theirs) & set(ours)
        assert shared >= ECS_REQUIRED
        for key in shared:
            assert ours[key] == theirs[key], (key, ours[key], theirs[key])
        for key in ("order_id", "exchange", "latency_ms"):
            if key in theirs:
                assert ours[key] == theirs[key]
        if record.exc_info:
            assert {"error.type", "error.message", "error.stack_trace"} <= shared
            assert ours["error.type"] == "ValueError" and ours["error.message"] == "bad qty"


def test_ecs_and_otel_through_the_queue_with_context(logger_name: str) -> None:
    """hftlogging records (keyword fields, an audit record) through the queue: ECS keeps the
    fields as they are at the top level; OTel puts them in attributes, with the timestamp
    in nanoseconds, the severity as text and number, and the message as body."""
    capture = CaptureHandler()
    queue = QueueHandler(handlers=[capture])
    log: Any = hftlogging.get_logger(logger_name)
    log.addHandler(queue)
    log.propagate = False
    log.setLevel(logging.INFO)
    try:
        log.warning("order filled", order_id="o-7", qty=0.5)
        log.audit("order_placed", order_id="o-8")
        assert capture.wait_for(2, timeout=30)
    finally:
        log.removeHandler(queue)
        queue.close()
    text, audit = capture.records
    ecs = json.loads(JSONFormatter(schema="ecs").format(text))
    assert (ecs["order_id"], ecs["qty"], ecs["log.level"]) == ("o-7", 0.5, "warning")
    assert ecs["log"]["logger"] == logger_name and ecs["message"] == "order filled"
    otel = json.loads(JSONFormatter(schema="otel", static_fields={"service.name": "oms"})
                      .format(text))
    assert otel["timestamp"] == text.created_ns  # type: ignore[attr-defined]
    assert (otel["severity_text"], otel["severity_number"], otel["body"]) == (
        "WARNING", 13, "order filled")
    assert otel["attributes"]["order_id"] == "o-7" and otel["attributes"]["qty"] == 0.5
    assert otel["resource"]["service.name"] == "oms" and "process.pid" in otel["resource"]
    assert otel["instrumentation_scope"] == {"name": logger_name}
    audit_otel = json.loads(JSONFormatter(schema="otel").format(audit))
    assert audit_otel["attributes"]["audit_event"] == "order_placed"
    assert json.loads(JSONFormatter(schema="ecs").format(audit))["event"]["action"] == (
        "order_placed")


def test_a_schema_refuses_python_json_logger_layout_options() -> None:
    """An unknown schema, or a schema with layout options, fails at construction."""
    with pytest.raises(ValueError, match="key schema: expected one of ecs, otel"):
        JSONFormatter(schema="gelf")
    with pytest.raises(ValueError, match="rename_fields"):
        JSONFormatter(schema="ecs", rename_fields={"a": "b"})
