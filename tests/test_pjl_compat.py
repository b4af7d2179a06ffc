"""JSONFormatter as a drop-in for python-json-logger's JsonFormatter: its documented
options, with its meaning, on the same records."""

from __future__ import annotations

import datetime
import json
import logging
from typing import Any

import pytest
from pythonjsonlogger.json import JsonFormatter

from hftlogging.formatters import JSONFormatter
from hftlogging.testing import CaptureHandler


class Money:
    """A type neither serialiser knows."""

    def __init__(self, cents: int) -> None:
        self.cents = cents


def money_default(value: Any) -> Any:
    if isinstance(value, Money):
        return {"cents": value.cents}
    return str(value)


class MoneyEncoder(json.JSONEncoder):
    def default(self, o: Any) -> Any:
        if isinstance(o, Money):
            return f"{o.cents / 100:.2f}"
        return super().default(o)


def _records() -> list[logging.LogRecord]:
    """Records of a plain stdlib logger: the calls python-json-logger's docs show."""
    log = logging.Logger("app.orders")  # not through the manager: stdlib's own records
    capture = CaptureHandler()
    log.addHandler(capture)
    log.info("order placed", extra={"special": "value", "run": 12})
    log.warning("price %s", 1.5, extra={"price": Money(150), "café": "ü"})
    log.info({"event": "filled", "qty": 2})
    try:
        raise ValueError("bad qty")
    except ValueError:
        log.exception("failed", extra={"order_id": "o-1"})
    log.info("with stack", stack_info=True)
    return capture.records


# (options, keys whose values are the same instant written differently)
EXAMPLES: list[tuple[dict[str, Any], tuple[str, ...]]] = [
    ({}, ()),
    ({"fmt": "%(levelname)s %(name)s %(message)s"}, ()),
    ({"fmt": "{levelname}{message}{funcName}", "style": "{"}, ()),
    ({"fmt": "%(levelname)s %(message)s", "rename_fields": {"levelname": "LEVEL"}}, ()),
    ({"rename_fields": {"message": "msg"}}, ()),
    ({"static_fields": {"service": "orders"}}, ()),
    ({"defaults": {"env": "prod", "run": 0}}, ()),
    ({"timestamp": True}, ("timestamp",)),
    ({"timestamp": "ts"}, ("ts",)),
    ({"exc_info_as_array": True}, ()),
    ({"stack_info_as_array": True}, ()),
    ({"json_default": money_default}, ()),
    ({"json_encoder": MoneyEncoder}, ()),
    ({"json_indent": 2}, ()),
    ({"json_ensure_ascii": False}, ()),
    ({"prefix": "JSON: "}, ()),
]


def _instant(text: str) -> datetime.datetime:
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))


def _parse(line: str, prefix: str) -> dict[str, Any]:
    assert line.startswith(prefix)
    return json.loads(line[len(prefix):])  # type: ignore[no-any-return]


@pytest.mark.parametrize(("options", "instants"), EXAMPLES,
                         ids=[",".join(o) or "default" for o, _ in EXAMPLES])
def test_documented_options_write_what_python_json_logger_writes(
    options: dict[str, Any], instants: tuple[str, ...]
) -> None:
    """Every key python-json-logger writes for a documented option, JSONFormatter writes
    with the same value (a timestamp as the same instant); what it adds are its fixed
    keys (docs/configuration.md lists the differences)."""
    theirs_fmt = JsonFormatter(**options)
    ours_fmt = JSONFormatter(**options)
    prefix = options.get("prefix", "")
    for record in _records():
        theirs = _parse(theirs_fmt.format(record), prefix)
        record.__dict__.pop("message", None)
        record.exc_text = None
        ours = _parse(ours_fmt.format(record), prefix)
        for key, value in theirs.items():
            assert key in ours, (key, ours)
            if key in instants:  # hftlogging truncates to the microsecond, pjl rounds
                delta = _instant(value) - _instant(ours[key])
                assert datetime.timedelta(0) <= delta <= datetime.timedelta(microseconds=1)
            else:
                assert ours[key] == value, (key, ours[key], value)
        added = set(ours) - set(theirs)
        assert added <= {"timestamp", "level", "logger", "message", "log_type", "exc_type"}, added


def test_an_unknown_option_is_a_type_error_naming_it() -> None:
    """A misspelt option fails at construction, naming it and the valid ones."""
    with pytest.raises(TypeError, match=r"rename_field; python-json-logger's options"):
        JSONFormatter(rename_field={"a": "b"})


def test_a_raising_custom_serialiser_never_loses_the_line() -> None:
    """A json_default that raises falls back to hftlogging's serialiser."""

    def broken(value: Any) -> Any:
        raise RuntimeError("no")

    record = _records()[1]
    obj = json.loads(JSONFormatter(json_default=broken).format(record))
    assert obj["message"] == "price 1.5" and isinstance(obj["price"], str)


def test_json_lines_stay_one_line_per_record_by_default() -> None:
    """Without json_indent the line is compact, one record per line."""
    line = JSONFormatter().format(_records()[0])
    assert "\n" not in line and line.startswith("{")


def _pjl_lines(logger: logging.Logger) -> list[dict[str, Any]]:
    """python-json-logger's own JsonFormatter on a logger's stdlib-style calls."""
    import io

    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter("%(levelname)s %(name)s %(message)s"))
    logger.handlers[:] = [handler]
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    try:
        logger.info("order placed", extra={"special": "value", "run": 12})
        logger.warning("price %s", 1.5, extra={"qty": [1, 2]})
        logger.info("plain")
        logger.debug("%(a)s", {"a": 1})
    finally:
        logger.handlers.clear()
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_installed_python_json_logger_writes_the_same_keys_and_extra_once() -> None:
    """After install(), python-json-logger's own JsonFormatter writes for stdlib-style calls
    (extra= included) exactly what it writes for a plain stdlib logger: no context, no
    created_ns, each extra field once, as a top-level key."""
    import hftlogging

    plain = _pjl_lines(logging.Logger("app.orders"))
    hftlogging.install()  # the suite's fixture undoes it after the test
    logger = logging.getLogger("test_pjl_compat.installed")
    assert isinstance(logger, hftlogging.HFTLogger)
    installed = _pjl_lines(logger)
    for line in (*plain, *installed):
        line.pop("name", None)
    assert installed == plain
    assert installed[0] == {"levelname": "INFO", "message": "order placed",
                            "special": "value", "run": 12}


def test_extra_fields_still_read_from_record_context_without_a_context_attribute() -> None:
    """The extra= fields of a stdlib-style call read from record.context (as documented),
    though the record carries no context attribute; with a keyword field beside them they
    are in the context attribute as before."""
    import hftlogging

    hftlogging.install()  # the suite's fixture undoes it after the test
    logger = logging.getLogger("test_pjl_compat.context")
    capture = CaptureHandler()
    logger.handlers[:] = [capture]
    logger.propagate = False
    logger.setLevel(logging.INFO)
    logger.info("a", extra={"order_id": "o-1"})
    logger.info("b", extra={"order_id": "o-2"}, venue="x")
    logger.handlers.clear()
    first, second = capture.records
    assert "context" not in first.__dict__
    assert first.context == {"order_id": "o-1"}
    assert first.order_id == "o-1"
    assert second.__dict__["context"] == {"order_id": "o-2", "venue": "x"}
