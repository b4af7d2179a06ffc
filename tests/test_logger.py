"""HFTLogger: structured fields, stdlib arguments, metrics, audit, bad input, caller info.

Most behaviours are checked on both paths a call can take:

- ``stdlib``: the logger has a plain handler, so a call goes through ``makeRecord`` and
  ``handle``;
- ``fast``: the logger's only handler is hftlogging's QueueHandler (configured with
  :func:`hftlogging.configure`), so a call is captured on the caller's thread and the
  listener thread builds the record.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from pythonjsonlogger.json import JsonFormatter

import hftlogging
from hftlogging import health
from hftlogging.formatters import ContextFormatter, JSONFormatter
from hftlogging.logger import HFTLogger
from hftlogging.testing import CaptureHandler, capture

THIS_FILE = __file__
CALLER_FORMAT = "%(funcName)s %(lineno)d %(pathname)s %(message)s"


class Pipe:
    """A logger and the handler its records end in, on one of the two paths."""

    def __init__(self, kind: str, log: HFTLogger, target: CaptureHandler,
                 queue: logging.Handler | None) -> None:
        self.kind = kind
        self._log = log
        self.target = target
        self.queue = queue

    @property
    def log(self) -> HFTLogger:
        """The logger; on the fast pipe, checked to still take the fast path."""
        if self.queue is not None:
            use_fast_path(self._log, self.queue)
        return self._log

    def records(self) -> list[logging.LogRecord]:
        """Everything written so far (the queue is drained first)."""
        if self.queue is not None:
            self.queue.flush()
        return self.target.records

    def one(self) -> logging.LogRecord:
        """The only record written so far."""
        recs = self.records()
        assert len(recs) == 1, [r.getMessage() for r in recs]
        return recs[0]


def make_fast_pipe(name: str, target: CaptureHandler, level: str = "DEBUG") -> Pipe:
    """Configure ``name`` with a QueueHandler in front of ``target`` as its only handler."""
    if target.formatter is None:
        target.setFormatter(logging.Formatter(CALLER_FORMAT))
    hftlogging.configure({
        "version": 1,
        "disable_existing_loggers": False,
        "handlers": {
            "hft_test_queue": {"class": "hftlogging.handlers.QueueHandler",
                               "handlers": ["hft_test_target"]},
            "hft_test_target": {"()": lambda: target},
        },
        "loggers": {name: {"handlers": ["hft_test_queue"], "level": level,
                           "propagate": False}},
    })
    log = logging.getLogger(name)
    assert isinstance(log, HFTLogger)
    queue = logging._handlers["hft_test_queue"]  # type: ignore[attr-defined]
    return Pipe("fast", log, target, queue)


def use_fast_path(log: HFTLogger, queue: logging.Handler) -> None:
    """Make sure calls on ``log`` take the fast path, and fail if they cannot.

    pytest's log capture (9.2 and later) adds its handlers to every non-propagating logger
    at the start of each test phase; with a second handler a logger rightly takes the
    stdlib path, so they are taken off this test's logger.
    """
    for h in list(log.handlers):
        if h is not queue and type(h).__module__.startswith("_pytest"):
            log.removeHandler(h)
    assert log._route(logging.DEBUG) is queue


def make_stdlib_pipe(name: str, target: CaptureHandler, level: int = logging.DEBUG) -> Pipe:
    """A logger with ``target`` as a plain handler (the stdlib path)."""
    hftlogging.install()
    log = logging.getLogger(name)
    assert isinstance(log, HFTLogger)
    log.addHandler(target)
    log.propagate = False
    log.setLevel(level)
    return Pipe("stdlib", log, target, None)


@pytest.fixture(params=["stdlib", "fast"])
def pipe(request: pytest.FixtureRequest, logger_name: str) -> Pipe:
    """A logger on each path, at DEBUG, with a capturing handler at the end."""
    target = CaptureHandler()
    target.setFormatter(logging.Formatter(CALLER_FORMAT))
    if request.param == "fast":
        return make_fast_pipe(logger_name, target)
    return make_stdlib_pipe(logger_name, target)


def marked_line(tag: str) -> int:
    """The line of this file that ends with the comment ``# mark:<tag>``."""
    for i, line in enumerate(Path(THIS_FILE).read_text(encoding="utf-8").splitlines(), 1):
        if line.rstrip().endswith(f"# mark:{tag}"):
            return i
    raise AssertionError(f"no line marked {tag}")


def bad_input_count(reason: str) -> int:
    return int(hftlogging.stats()["bad_input"].get(reason, 0))


# --- structured fields ----------------------------------------------------------------------


def test_fields_go_to_context_and_attributes(pipe: Pipe) -> None:
    """Keyword fields land in record.context and as record attributes, message untouched."""
    pipe.log.info("Connection established", exchange="mexc", latency_us=12.5)
    rec = pipe.one()
    assert rec.getMessage() == "Connection established"
    assert rec.context == {"exchange": "mexc", "latency_us": 12.5}  # type: ignore[attr-defined]
    assert rec.exchange == "mexc"  # type: ignore[attr-defined]
    assert rec.latency_us == 12.5  # type: ignore[attr-defined]
    assert rec.log_type == "text"  # type: ignore[attr-defined]
    assert rec.tags == []  # type: ignore[attr-defined]


def test_fields_in_stdlib_format_string(pipe: Pipe) -> None:
    """A plain logging.Formatter can use %(exchange)s for a keyword field."""
    pipe.target.setFormatter(logging.Formatter("%(levelname)s %(exchange)s %(message)s"))
    pipe.log.warning("order %s filled", 7, exchange="mexc")
    assert pipe.target.format(pipe.one()) == "WARNING mexc order 7 filled"


@pytest.mark.parametrize("formatter", [JSONFormatter(), JsonFormatter()],
                         ids=["hftlogging", "python-json-logger"])
def test_json_formatter_sees_fields(pipe: Pipe, formatter: logging.Formatter) -> None:
    """JSON formatters (ours and python-json-logger's own) output the keyword fields."""
    pipe.log.info("tick", exchange="mexc", latency_us=12.5)
    out = json.loads(formatter.format(pipe.one()))
    assert out["exchange"] == "mexc"
    assert out["latency_us"] == 12.5
    assert out["message"] == "tick"


def test_positional_args_keep_stdlib_meaning(pipe: Pipe) -> None:
    """``*args`` are %-formatted; a lone mapping argument formats by name, as in stdlib."""
    pipe.log.info("order %s filled at %.2f", "o-1", 101.5)
    pipe.log.info("%(side)s %(qty)d", {"side": "buy", "qty": 3})
    msgs = [r.getMessage() for r in pipe.records()]
    assert msgs == ["order o-1 filled at 101.50", "buy 3"]


def test_exc_info_forms(pipe: Pipe) -> None:
    """exc_info=True, an exception instance and a tuple all attach the traceback."""
    try:
        raise ValueError("boom")
    except ValueError as e:
        err = e
        pipe.log.error("a", exc_info=True, order=1)
        pipe.log.error("b", exc_info=e)
        pipe.log.error("c", exc_info=(type(e), e, e.__traceback__))
        pipe.log.exception("d", order=2)
    recs = pipe.records()
    assert [r.getMessage() for r in recs] == ["a", "b", "c", "d"]
    for r in recs:
        assert r.exc_info is not None and r.exc_info[0] is ValueError
        text = logging.Formatter().format(r)
        assert "ValueError: boom" in text
        assert "raise ValueError" in text
    assert recs[0].context == {"order": 1}  # type: ignore[attr-defined]
    assert recs[3].context == {"order": 2}  # type: ignore[attr-defined]
    assert recs[3].levelno == logging.ERROR
    assert err is not None


def test_exc_info_outside_exception_is_ignored(pipe: Pipe) -> None:
    """exc_info=True with no exception being handled gives a record without one."""
    pipe.log.error("no exc", exc_info=True)
    rec = pipe.one()
    assert not rec.exc_info
    assert "Traceback" not in logging.Formatter().format(rec)


def test_stack_info(pipe: Pipe) -> None:
    """stack_info=True attaches the stack, ending at the call site in this file."""
    pipe.log.info("with stack", stack_info=True)  # mark:stack_info
    rec = pipe.one()
    assert rec.stack_info is not None
    assert rec.stack_info.startswith("Stack (most recent call last):")
    assert f'"{THIS_FILE}", line {marked_line("stack_info")}' in rec.stack_info
    assert "hftlogging" not in rec.stack_info.splitlines()[-2]


def _log_through_helper(log: HFTLogger) -> None:
    log.info("via helper", stacklevel=2)


def test_stacklevel(pipe: Pipe) -> None:
    """stacklevel=2 in a helper attributes the record to the helper's caller."""
    _log_through_helper(pipe.log)  # mark:stacklevel
    rec = pipe.one()
    assert rec.funcName == "test_stacklevel"
    assert rec.lineno == marked_line("stacklevel")
    assert rec.pathname == THIS_FILE


def test_extra_and_keyword_fields_together(pipe: Pipe) -> None:
    """extra= and keywords both become attributes and context; keywords win a clash."""
    pipe.log.info("both", extra={"request_id": "r-1", "side": "buy"}, side="sell", qty=3)
    rec = pipe.one()
    assert rec.request_id == "r-1"  # type: ignore[attr-defined]
    assert rec.qty == 3  # type: ignore[attr-defined]
    assert rec.context == {"request_id": "r-1", "side": "sell", "qty": 3}  # type: ignore[attr-defined]
    assert rec.context["side"] == "sell"  # type: ignore[attr-defined]


COLLIDING = [
    "name", "msg", "args", "levelname", "levelno", "pathname", "filename", "module",
    "exc_info", "exc_text", "stack_info", "lineno", "funcName", "created", "msecs",
    "relativeCreated", "thread", "threadName", "processName", "process", "taskName",
    "message", "asctime", "log_type", "context", "tags", "created_ns", "metric_name",
    "metric_value", "metric_type", "metric_tags", "metric_unit", "audit_event", "getMessage",
]
# These keep their stdlib meaning as keywords; as extra= keys they still must not raise.
STDLIB_KEYWORDS = {"exc_info", "stack_info"}


@pytest.mark.parametrize("field", [f for f in COLLIDING if f not in STDLIB_KEYWORDS])
def test_colliding_keyword_field_never_raises(pipe: Pipe, field: str) -> None:
    """A field named like a LogRecord/contract attribute is kept in context only."""
    pipe.log.info("collide %s", "ok", **{field: "user value"})
    rec = pipe.one()
    assert rec.context == {field: "user value"}  # type: ignore[attr-defined]
    _assert_stdlib_meaning_kept(pipe, rec)


@pytest.mark.parametrize("field", COLLIDING)
def test_colliding_extra_key_never_raises(pipe: Pipe, field: str) -> None:
    """stdlib raises KeyError for extra={'name': ...}; HFTLogger keeps it in context."""
    pipe.log.info("collide %s", "ok", extra={field: "user value"})
    rec = pipe.one()
    assert rec.context == {field: "user value"}  # type: ignore[attr-defined]
    _assert_stdlib_meaning_kept(pipe, rec)


def _assert_stdlib_meaning_kept(pipe: Pipe, rec: logging.LogRecord) -> None:
    assert rec.name == pipe.log.name
    assert rec.getMessage() == "collide ok"
    assert rec.levelname == "INFO"
    assert rec.module == "test_logger"
    assert rec.log_type == "text"  # type: ignore[attr-defined]
    assert rec.tags == []  # type: ignore[attr-defined]
    assert isinstance(rec.created_ns, int)  # type: ignore[attr-defined]
    assert isinstance(rec.process, int)
    assert not rec.exc_info
    logging.Formatter("%(asctime)s %(name)s %(message)s").format(rec)


def test_msg_as_keyword(pipe: Pipe) -> None:
    """log.info(msg="x") works as stdlib's keyword form does."""
    pipe.log.info(msg="keyword form")
    pipe.log.warning(msg="with %s", exchange="mexc")
    recs = pipe.records()
    assert recs[0].getMessage() == "keyword form"
    assert recs[1].getMessage() == "with %s"
    assert recs[1].context == {"exchange": "mexc"}  # type: ignore[attr-defined]


@pytest.mark.parametrize("level", ["NO_SUCH_LEVEL", None, 1.5, object()])
def test_bad_level_in_log_does_not_raise(pipe: Pipe, level: Any) -> None:
    """log.log() with a level that is not one is counted as bad input, never raised."""
    before = bad_input_count("level")
    pipe.log.log(level, "lost")
    assert bad_input_count("level") == before + 1
    assert [r for r in pipe.records() if r.name == pipe.log.name] == []


def test_log_with_level_name_and_number(pipe: Pipe) -> None:
    """log() takes a level number or a registered level name."""
    pipe.log.log(logging.WARNING, "by number", k=1)
    pipe.log.log("ERROR", "by name")
    recs = pipe.records()
    assert [(r.levelname, r.getMessage()) for r in recs] == [
        ("WARNING", "by number"), ("ERROR", "by name")]
    assert recs[0].context == {"k": 1}  # type: ignore[attr-defined]


def test_negative_levels_do_not_disturb_other_levels(pipe: Pipe) -> None:
    """Any int is a level to stdlib: negative ones never break info() or isEnabledFor()."""
    log = pipe.log
    assert log.isEnabledFor(-21) is False
    log.log(-16, "never shown")
    assert log.isEnabledFor(15) is True
    assert log.isEnabledFor(5) is False
    log.info("still works")
    assert [r.getMessage() for r in pipe.records()] == ["still works"]


def test_unrenderable_message_does_not_raise(pipe: Pipe) -> None:
    """A format/argument mismatch is rendered with a note instead of raising."""
    pipe.log.info("%d items", "not a number")
    msg = pipe.one().getMessage()
    assert "format error" in msg and "%d items" in msg


def test_caplog_sees_records_with_context(caplog: pytest.LogCaptureFixture,
                                          logger_name: str) -> None:
    """pytest's caplog (a handler on the root) receives HFTLogger records with context."""
    hftlogging.install()
    log = logging.getLogger(logger_name)
    assert isinstance(log, HFTLogger)
    with caplog.at_level(logging.INFO):
        log.info("filled", order_id=7, exchange="mexc")
        log.counter("orders_placed", exchange="mexc")
        log.audit("order_placed", order_id=7)
    recs = [r for r in caplog.records if r.name == logger_name]
    assert [r.log_type for r in recs] == ["text", "metric", "audit"]  # type: ignore[attr-defined]
    assert recs[0].context == {"order_id": 7, "exchange": "mexc"}  # type: ignore[attr-defined]
    assert recs[0].order_id == 7  # type: ignore[attr-defined]
    assert recs[1].metric_tags == {"exchange": "mexc"}  # type: ignore[attr-defined]
    assert recs[2].context == {"order_id": 7}  # type: ignore[attr-defined]
    assert "filled" in caplog.text


# --- metrics ------------------------------------------------------------------------------


def test_metric_is_a_gauge(pipe: Pipe) -> None:
    """metric() records a gauge with the contract attributes."""
    pipe.log.metric("active_symbols", 42, tags={"exchange": "mexc"})
    rec = pipe.one()
    assert rec.log_type == "metric"  # type: ignore[attr-defined]
    assert rec.metric_name == "active_symbols"  # type: ignore[attr-defined]
    assert rec.metric_value == 42  # type: ignore[attr-defined]
    assert rec.metric_type == "gauge"  # type: ignore[attr-defined]
    assert rec.metric_tags == {"exchange": "mexc"}  # type: ignore[attr-defined]
    assert rec.metric_unit is None  # type: ignore[attr-defined]
    assert rec.levelno == logging.INFO


def test_counter_defaults_to_one(pipe: Pipe) -> None:
    """counter(name) adds 1; counter(name, n) adds n; value= works as a keyword."""
    pipe.log.counter("orders_placed", exchange="mexc")
    pipe.log.counter("orders_placed", 5)
    pipe.log.counter("orders_placed", value=2)
    recs = pipe.records()
    assert [r.metric_value for r in recs] == [1, 5, 2]  # type: ignore[attr-defined]
    assert {r.metric_type for r in recs} == {"counter"}  # type: ignore[attr-defined]
    assert recs[0].metric_tags == {"exchange": "mexc"}  # type: ignore[attr-defined]
    assert recs[1].metric_tags == {}  # type: ignore[attr-defined]


def test_histogram_and_latency(pipe: Pipe) -> None:
    """histogram() has no unit; latency() is a histogram in milliseconds."""
    pipe.log.histogram("spread_bps", 3.2, symbol="BTCUSDT")
    pipe.log.latency("parse_message", 0.012, message_type="book")
    h, lat = pipe.records()
    assert (h.metric_name, h.metric_value, h.metric_type, h.metric_unit) == (  # type: ignore[attr-defined]
        "spread_bps", 3.2, "histogram", None)
    assert h.metric_tags == {"symbol": "BTCUSDT"}  # type: ignore[attr-defined]
    assert (lat.metric_name, lat.metric_value, lat.metric_type, lat.metric_unit) == (  # type: ignore[attr-defined]
        "parse_message", 0.012, "histogram", "ms")
    assert lat.metric_tags == {"message_type": "book"}  # type: ignore[attr-defined]


def test_tags_as_dict_kwargs_and_both(pipe: Pipe) -> None:
    """Tags may come as tags={...}, as keywords, or both (keywords win a clash)."""
    pipe.log.metric("g", 1, tags={"a": "1", "b": "2"})
    pipe.log.metric("g", 2, a="1", b="2")
    pipe.log.metric("g", 3, tags={"a": "1", "b": "x"}, b="2", c="3")
    tags = [r.metric_tags for r in pipe.records()]  # type: ignore[attr-defined]
    assert tags == [{"a": "1", "b": "2"}, {"a": "1", "b": "2"}, {"a": "1", "b": "2", "c": "3"}]


def test_metric_tags_copied_at_call(pipe: Pipe) -> None:
    """Mutating the tags dict after the call does not change the record."""
    tags = {"exchange": "mexc"}
    pipe.log.metric("g", 1, tags=tags)
    tags["exchange"] = "changed"
    assert pipe.one().metric_tags == {"exchange": "mexc"}  # type: ignore[attr-defined]


def test_metric_and_audit_ignore_logger_level(logger_name: str) -> None:
    """A logger at WARNING drops info() but still records metrics and audit events."""
    for kind in ("stdlib", "fast"):
        name = f"{logger_name}.{kind}"
        target = CaptureHandler()
        if kind == "fast":
            p = make_fast_pipe(name, target, level="WARNING")
        else:
            p = make_stdlib_pipe(name, target, level=logging.WARNING)
        p.log.info("dropped")
        p.log.debug("dropped")
        p.log.metric("g", 1)
        p.log.counter("c")
        p.log.histogram("h", 1.0)
        p.log.latency("op", 1.0)
        p.log.audit("order_placed", order_id=1)
        with p.log.timer("timed"):
            pass
        types = [r.log_type for r in p.records()]  # type: ignore[attr-defined]
        assert types == ["metric"] * 4 + ["audit", "metric"], kind
        hftlogging.shutdown()


def test_disabled_logger_stops_metric_and_audit(pipe: Pipe) -> None:
    """logger.disabled stops everything, metrics and audit included."""
    pipe.log.disabled = True
    pipe.log.metric("g", 1)
    pipe.log.counter("c")
    pipe.log.audit("ev")
    pipe.log.error("e")
    assert pipe.records() == []
    pipe.log.disabled = False
    pipe.log.counter("c")
    assert len(pipe.records()) == 1


def test_handler_level_still_applies_to_metrics(pipe: Pipe) -> None:
    """A handler at WARNING does not receive metric or audit records (they are INFO)."""
    pipe.target.setLevel(logging.WARNING)
    pipe.log.metric("g", 1)
    pipe.log.audit("ev")
    pipe.log.warning("kept")
    assert [r.getMessage() for r in pipe.records()] == ["kept"]


# --- audit ----------------------------------------------------------------------------------


def test_audit_record(pipe: Pipe) -> None:
    """audit(event, data, **fields): log_type audit, audit_event, fields in context."""
    pipe.log.audit("order_placed", {"order_id": "o-1", "qty": 1}, qty=2, side="buy")
    pipe.log.audit("order_cancelled", order_id="o-1")
    placed, cancelled = pipe.records()
    assert placed.log_type == "audit"  # type: ignore[attr-defined]
    assert placed.audit_event == "order_placed"  # type: ignore[attr-defined]
    assert placed.context == {"order_id": "o-1", "qty": 2, "side": "buy"}  # type: ignore[attr-defined]
    assert placed.order_id == "o-1"  # type: ignore[attr-defined]
    assert placed.levelno == logging.INFO
    assert placed.getMessage() == "audit order_placed"
    assert cancelled.audit_event == "order_cancelled"  # type: ignore[attr-defined]
    assert cancelled.context == {"order_id": "o-1"}  # type: ignore[attr-defined]


def test_audit_odd_arguments(pipe: Pipe) -> None:
    """A non-mapping data goes under 'data'; a non-string event is made a string."""
    pipe.log.audit("fills", [1, 2])
    pipe.log.audit(42)
    fills, numbered = pipe.records()
    assert fills.context == {"data": [1, 2]}  # type: ignore[attr-defined]
    assert numbered.audit_event == "42"  # type: ignore[attr-defined]


def test_audit_values_copied_at_call_time(pipe: Pipe) -> None:
    """Mutating the data dict (or a nested value) after the call does not change the record."""
    data: dict[str, Any] = {"legs": [1], "state": "new"}
    extra_list = ["a"]
    pipe.log.audit("order_placed", data, notes=extra_list)
    data["legs"].append(2)
    data["state"] = "filled"
    data["added"] = True
    extra_list.append("b")
    assert pipe.one().context == {  # type: ignore[attr-defined]
        "legs": [1], "state": "new", "notes": ["a"]}


# --- bad input ------------------------------------------------------------------------------

BAD_METRICS: list[tuple[str, Callable[[HFTLogger], None], str]] = [
    ("space in name", lambda log: log.metric("bad name", 1), "metric_name"),
    ("leading digit", lambda log: log.counter("1st"), "metric_name"),
    ("empty name", lambda log: log.histogram("", 1.0), "metric_name"),
    ("dash in name", lambda log: log.latency("rest-call", 1.0), "metric_name"),
    ("None name", lambda log: log.metric(None, 1), "metric_name"),
    ("int name", lambda log: log.metric(5, 1), "metric_name"),
    ("NaN", lambda log: log.metric("g", float("nan")), "metric_value"),
    ("inf", lambda log: log.histogram("h", math.inf), "metric_value"),
    ("-inf", lambda log: log.latency("op", -math.inf), "metric_value"),
    ("string value", lambda log: log.metric("g", "1"), "metric_value"),
    ("None value", lambda log: log.metric("g", None), "metric_value"),
    ("missing value", lambda log: log.histogram("h"), "metric_value"),
    ("bool value", lambda log: log.counter("c", True), "metric_value"),
    ("list value", lambda log: log.metric("g", [1]), "metric_value"),
    ("list name", lambda log: log.counter(["c"]), "metric_name"),
    ("dict name", lambda log: log.metric({"a": 1}, 1), "metric_name"),
    ("int tag", lambda log: log.counter("c", tags={"a": 1}), "metric_tags"),
    ("int tag key", lambda log: log.counter("c", tags={1: "a"}), "metric_tags"),
    ("list tag", lambda log: log.histogram("h", 1.0, tags={"a": ["x"]}), "metric_tags"),
    ("float tag kw", lambda log: log.histogram("h", 1.0, px=1.5), "metric_tags"),
    ("tags not a mapping", lambda log: log.metric("g", 1, tags=["a"]), "metric_tags"),
]


@pytest.mark.parametrize(("case", "call", "reason"), BAD_METRICS,
                         ids=[c[0] for c in BAD_METRICS])
def test_bad_metric_input_is_dropped_and_counted(
    pipe: Pipe, case: str, call: Callable[[HFTLogger], None], reason: str,
) -> None:
    """Invalid metric input never raises: it is dropped and counted in stats()."""
    before = bad_input_count(reason)
    total = hftlogging.stats()["bad_input_total"]
    call(pipe.log)
    assert bad_input_count(reason) == before + 1, case
    assert hftlogging.stats()["bad_input_total"] == total + 1
    assert [r for r in pipe.records() if r.name == pipe.log.name] == []


def test_good_metric_values(pipe: Pipe) -> None:
    """ints, floats, Decimals, Fractions and negative numbers are accepted."""
    from decimal import Decimal
    from fractions import Fraction

    for value in (0, -3, 2.5, Decimal("1.25"), Fraction(1, 4), 10**20):
        pipe.log.metric("g", value)
    values = [r.metric_value for r in pipe.records()]  # type: ignore[attr-defined]
    assert values == [0, -3, 2.5, 1.25, 0.25, 10**20]


def test_bad_input_warning_is_rate_limited(pipe: Pipe, monkeypatch: pytest.MonkeyPatch) -> None:
    """The first bad input warns on the 'hftlogging' logger; more within the interval don't."""
    monkeypatch.setattr(health, "_last_report", 0.0)
    monkeypatch.setattr(health, "_unreported", 0)
    with capture("hftlogging") as warnings:
        pipe.log.metric("bad name", 1)
        pipe.log.metric("g", float("nan"))
        pipe.log.counter("c", tags={"a": 1})
        assert len(warnings) == 1
        first = warnings[0]
        assert first.levelno == logging.WARNING
        assert first.name == "hftlogging"
        assert "1 bad call-site input" in first.getMessage()
        assert "metric_name" in first.getMessage()
        # Once the interval has passed, the next report counts what was held back.
        monkeypatch.setattr(health, "_last_report", 0.0)
        pipe.log.metric("g", "x")
        assert len(warnings) == 2
        assert "3 bad call-site input" in warnings[1].getMessage()
    assert [r for r in pipe.records() if r.name == pipe.log.name] == []


# --- timestamps -----------------------------------------------------------------------------


def test_created_ns_on_every_record(pipe: Pipe) -> None:
    """Every record carries an integer created_ns consistent with created and msecs."""
    t0 = time.time_ns()
    pipe.log.info("text")
    pipe.log.counter("c")
    pipe.log.audit("ev")
    pipe.log.error("err", exc_info=ValueError("x"))
    with pipe.log.timer("t"):
        pass
    t1 = time.time_ns()
    recs = pipe.records()
    assert len(recs) == 5
    for r in recs:
        ns = r.created_ns  # type: ignore[attr-defined]
        assert type(ns) is int
        assert t0 <= ns <= t1
        assert abs(r.created - ns / 1e9) < 1e-6
        assert int(r.msecs) == (ns // 1_000_000) % 1000


def test_created_ns_with_custom_record_factory(logger_name: str) -> None:
    """A user LogRecord factory still gets the contract attributes, created_ns included."""
    old = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        rec = old(*args, **kwargs)
        rec.custom = True  # type: ignore[attr-defined]
        return rec

    logging.setLogRecordFactory(factory)
    p = make_stdlib_pipe(logger_name, CaptureHandler())
    p.log.info("x", k=1)
    p.log.counter("c")
    for r in p.records():
        assert r.custom is True  # type: ignore[attr-defined]
        assert type(r.created_ns) is int  # type: ignore[attr-defined]
        assert abs(r.created - r.created_ns / 1e9) < 1e-6  # type: ignore[attr-defined]
    assert p.records()[0].context == {"k": 1}  # type: ignore[attr-defined]


# --- caller information ---------------------------------------------------------------------


def call_debug(log: Any) -> None:
    log.debug("m")  # mark:debug


def call_info(log: Any) -> None:
    log.info("m", field=1)  # mark:info


def call_warning(log: Any) -> None:
    log.warning("m")  # mark:warning


def call_error(log: Any) -> None:
    log.error("m")  # mark:error


def call_critical(log: Any) -> None:
    log.critical("m")  # mark:critical


def call_log(log: Any) -> None:
    log.log(logging.INFO, "m")  # mark:log


def call_exception(log: Any) -> None:
    try:
        raise KeyError("k")
    except KeyError:
        log.exception("m")  # mark:exception


def call_metric(log: Any) -> None:
    log.metric("g", 1)  # mark:metric


def call_counter(log: Any) -> None:
    log.counter("c", exchange="mexc")  # mark:counter


def call_histogram(log: Any) -> None:
    log.histogram("h", 1.0)  # mark:histogram


def call_latency(log: Any) -> None:
    log.latency("op", 1.0)  # mark:latency


def call_audit(log: Any) -> None:
    log.audit("ev", {"a": 1})  # mark:audit


def call_timer_with(log: Any) -> None:
    with log.timer("t"):  # mark:timer_with
        x = 1
    assert x == 1


def call_timer_decorated(log: Any) -> None:
    @log.timer("t")
    def work() -> int:
        return 1

    work()  # mark:timer_decorated


def call_timer_async_awaited(log: Any) -> None:
    @log.timer("t")
    async def work() -> int:
        return 1

    async def main() -> None:
        await work()  # mark:timer_async_awaited

    asyncio.run(main())


def call_timer_async_as_task(log: Any) -> None:
    @log.timer("t")
    async def work() -> int:
        return 1

    asyncio.run(work())  # mark:timer_async_as_task


CALLS: list[tuple[Callable[[Any], None], str, str]] = [
    (call_debug, "debug", "call_debug"),
    (call_info, "info", "call_info"),
    (call_warning, "warning", "call_warning"),
    (call_error, "error", "call_error"),
    (call_critical, "critical", "call_critical"),
    (call_log, "log", "call_log"),
    (call_exception, "exception", "call_exception"),
    (call_metric, "metric", "call_metric"),
    (call_counter, "counter", "call_counter"),
    (call_histogram, "histogram", "call_histogram"),
    (call_latency, "latency", "call_latency"),
    (call_audit, "audit", "call_audit"),
    (call_timer_with, "timer_with", "call_timer_with"),
    (call_timer_decorated, "timer_decorated", "call_timer_decorated"),
    (call_timer_async_awaited, "timer_async_awaited", "main"),
    (call_timer_async_as_task, "timer_async_as_task", "call_timer_async_as_task"),
]


def _expected_lines(tag: str) -> set[int]:
    return {marked_line(tag)}


@pytest.mark.parametrize("bound", [False, True], ids=["logger", "bound"])
@pytest.mark.parametrize(("call", "tag", "func"), CALLS, ids=[c[1] for c in CALLS])
def test_caller_info_points_at_call_site(
    pipe: Pipe, call: Callable[[Any], None], tag: str, func: str, bound: bool,
) -> None:
    """pathname/lineno/funcName point at this file's call line for every method."""
    log: Any = pipe.log.with_context(bound_field=1) if bound else pipe.log
    call(log)
    recs = pipe.records()
    assert recs, tag
    for rec in recs:
        assert rec.pathname == THIS_FILE, (tag, rec.pathname)
        assert rec.filename == "test_logger.py"
        assert rec.module == "test_logger"
        assert rec.funcName == func, tag
        assert rec.lineno in _expected_lines(tag), (tag, rec.lineno)
        if bound:
            assert rec.context["bound_field"] == 1  # type: ignore[attr-defined]
    # The formatter behind the queue saw the same caller fields.
    line = pipe.target.format(recs[-1])
    assert line.startswith(f"{func} {recs[-1].lineno} {THIS_FILE} ")


@pytest.mark.parametrize("kind", ["stdlib", "fast"])
def test_caller_info_from_a_thread(kind: str, logger_name: str) -> None:
    """A call from another thread (ended before its record is written) records that
    thread, its name and its call site when the format shows them."""
    target = CaptureHandler()
    target.setFormatter(logging.Formatter("%(threadName)s " + CALLER_FORMAT))
    pipe = (make_fast_pipe(logger_name, target) if kind == "fast"
            else make_stdlib_pipe(logger_name, target))

    def worker() -> None:
        pipe.log.info("from thread")  # mark:thread_call

    t = threading.Thread(target=worker, name="order-worker")
    t.start()
    t.join()
    rec = pipe.one()
    assert rec.threadName == "order-worker"
    assert rec.thread == t.ident
    assert rec.funcName == "worker"
    assert rec.lineno == marked_line("thread_call")
    assert target.format(rec).startswith("order-worker worker ")


# --- call-time values -----------------------------------------------------------------------


class GatedTarget(CaptureHandler):
    """A target that waits for ``gate`` before writing, and formats as it writes."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = threading.Event()
        self.lines: list[str] = []
        self.setFormatter(ContextFormatter("%(message)s %(context)s"))

    def emit(self, record: logging.LogRecord) -> None:
        self.emit_batch([record])

    def emit_batch(self, records: list[logging.LogRecord]) -> None:
        self.gate.wait(10)
        for r in records:
            self.lines.append(self.format(r))
        super().emit_batch(records)


@pytest.fixture
def gated(logger_name: str) -> Iterator[tuple[Pipe, GatedTarget]]:
    """A fast pipe whose target waits for ``target.gate`` before writing anything."""
    target = GatedTarget()
    p = make_fast_pipe(logger_name, target)
    try:
        yield p, target
    finally:
        target.gate.set()


class Box:
    def __init__(self) -> None:
        self.v = 1

    def __str__(self) -> str:
        return f"Box({self.v})"


@pytest.mark.parametrize("route", ["fast", "stdlib-into-queue"])
def test_mutable_values_show_call_time_state(
    gated: tuple[Pipe, GatedTarget], route: str,
) -> None:
    """Mutating a list/dict/object after the call does not change the written line."""
    pipe, target = gated
    log = pipe.log
    if route == "stdlib-into-queue":
        log.addFilter(lambda r: True)  # a logger filter forces the stdlib path
    lst = [1]
    mapping = {"a": [1]}
    box = Box()
    log.info("%s", lst)
    log.info("%(a)s", mapping)
    log.info("%s", box)
    log.info("field", items=lst)
    bound = log.with_context(bound_items=lst)
    bound.info("bound")
    log.audit("ev", {"items": lst})
    lst.append(2)
    mapping["a"].append(2)
    box.v = 2
    target.gate.set()
    hftlogging.shutdown()
    assert target.lines == [
        "[1]", "[1]", "Box(1)", "field items=[1]", "bound bound_items=[1]", "audit ev items=[1]",
    ]


@pytest.mark.parametrize("route", ["fast", "stdlib-into-queue"])
def test_mutable_message_object_shows_call_time_state(
    gated: tuple[Pipe, GatedTarget], route: str, request: pytest.FixtureRequest,
) -> None:
    """log.info(obj) with a mutable message object writes the object as it was."""
    pipe, target = gated
    log = pipe.log
    if route == "stdlib-into-queue":
        log.addFilter(lambda r: True)  # a logger filter forces the stdlib path
    lst = [1]
    box = Box()
    log.info(lst)
    log.info(box)
    lst.append(2)
    box.v = 2
    target.gate.set()
    hftlogging.shutdown()
    assert target.lines == ["[1]", "Box(1)"]


def test_immutable_args_are_deferred(gated: tuple[Pipe, GatedTarget]) -> None:
    """Immutable arguments are not formatted on the caller's thread: record.args is kept."""
    pipe, target = gated
    pipe.log.info("order %s qty %d px %s", "o-1", 3, (1.5, "x"))
    target.gate.set()
    hftlogging.shutdown()
    rec = target.records[0]
    assert rec.msg == "order %s qty %d px %s"
    assert rec.args == ("o-1", 3, (1.5, "x"))
    assert rec.getMessage() == "order o-1 qty 3 px (1.5, 'x')"


def test_fast_path_record_has_stdlib_attributes(pipe: Pipe) -> None:
    """A record built by the listener has every attribute LogRecord.__init__ sets."""
    pipe.log.info("x")
    rec = pipe.one()
    reference = logging.LogRecord("n", logging.INFO, "p", 1, "m", (), None)
    missing = set(vars(reference)) - set(vars(rec))
    assert not missing
    assert rec.processName == reference.processName
    assert rec.process == reference.process
    assert rec.threadName == threading.current_thread().name


def test_traceback_text_is_rendered_for_queued_exception(pipe: Pipe) -> None:
    """An exception logged through the queue still renders its traceback later."""
    def fail() -> None:
        raise RuntimeError("deep")

    try:
        fail()
    except RuntimeError:
        pipe.log.exception("failed")
    text = logging.Formatter().format(pipe.one())
    assert "RuntimeError: deep" in text
    assert "in fail" in text
    assert traceback is not None
