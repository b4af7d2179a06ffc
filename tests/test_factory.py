"""Factory loggers: get_logger, get_exchange_logger, get_strategy_logger."""

from __future__ import annotations

import logging

import pytest
from test_logger import Pipe, make_fast_pipe

import hftlogging
from hftlogging import HFTLogger
from hftlogging.testing import CaptureHandler, capture

TAGS = ["mexc", "private", "ws", "connection"]


def test_get_logger_is_the_named_hftlogger(logger_name: str) -> None:
    """get_logger(component) returns logging.getLogger(component), an HFTLogger."""
    log = hftlogging.get_logger(logger_name)
    assert isinstance(log, HFTLogger)
    assert log.name == logger_name
    assert log is logging.getLogger(logger_name)
    assert hftlogging.get_logger(logger_name) is log


def test_exchange_logger_name_and_context(logger_name: str) -> None:
    """get_exchange_logger names exchange.<exchange>.<component> and sets both fields."""
    log = hftlogging.get_exchange_logger("mexc", f"{logger_name}.ws.public")
    assert log.name == f"exchange.mexc.{logger_name}.ws.public"
    with capture(log) as records:
        log.info("subscribed", symbol="BTCUSDT")
        log.counter("messages")
    text, metric = records
    fields = {"exchange": "mexc", "component": f"{logger_name}.ws.public"}
    assert text.context == {**fields, "symbol": "BTCUSDT"}  # type: ignore[attr-defined]
    assert metric.context == fields  # type: ignore[attr-defined]
    for rec in records:
        assert rec.exchange == "mexc"  # type: ignore[attr-defined]
        assert rec.tags == []  # type: ignore[attr-defined]


def test_strategy_logger_name_tags_and_context(logger_name: str) -> None:
    """get_strategy_logger: name strategy.<path>, record.tags == tags, context from tags."""
    path = f"{logger_name}.ws.connection.mexc.private"
    log = hftlogging.get_strategy_logger(path, TAGS)
    assert log.name == f"strategy.{path}"
    assert log.tags == TAGS
    with capture(log) as records:
        log.info("connected")
        log.metric("open_orders", 3)
        log.audit("session_opened", session="s-1")
    assert len(records) == 3
    for rec in records:
        assert rec.tags == TAGS  # type: ignore[attr-defined]
        ctx = rec.context  # type: ignore[attr-defined]
        assert ctx["exchange"] == "mexc"
        assert ctx["api_type"] == "private"
        assert ctx["transport"] == "ws"
        assert ctx["strategy_type"] == "connection"
        assert rec.api_type == "private"  # type: ignore[attr-defined]
    assert records[2].context["session"] == "s-1"  # type: ignore[attr-defined]


def test_strategy_logger_tags_on_the_fast_path(logger_name: str) -> None:
    """Records built by the listener carry the strategy logger's tags too."""
    path = f"{logger_name}.fast"
    log = hftlogging.get_strategy_logger(path, TAGS)
    pipe: Pipe = make_fast_pipe(log.name, CaptureHandler())
    pipe.log.info("x")
    pipe.log.counter("c")
    recs = pipe.records()
    assert [r.tags for r in recs] == [TAGS, TAGS]  # type: ignore[attr-defined]
    assert all(r.context["strategy_type"] == "connection" for r in recs)  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("tags", "context"),
    [
        (["binance"], {"exchange": "binance"}),
        (("okx", "public"), {"exchange": "okx", "api_type": "public"}),
        ([], {}),
        (["a", "b", "c", "d", "e"],
         {"exchange": "a", "api_type": "b", "transport": "c", "strategy_type": "d"}),
    ],
)
def test_strategy_logger_partial_or_extra_tags(
    logger_name: str, tags: list[str], context: dict[str, str],
) -> None:
    """Missing tag positions give no field; extra tags stay in record.tags only."""
    log = hftlogging.get_strategy_logger(logger_name, tags)
    assert log.context == context
    assert log.tags == list(tags)


def test_strategy_logger_asked_again_with_other_tags(logger_name: str) -> None:
    """Asking again replaces the tags and their fields; other context fields stay."""
    log = hftlogging.get_strategy_logger(logger_name, TAGS)
    log.set_context(owner="desk-1")
    again = hftlogging.get_strategy_logger(logger_name, ["binance", "public"])
    assert again is log
    assert log.tags == ["binance", "public"]
    assert log.context == {"owner": "desk-1", "exchange": "binance", "api_type": "public"}


def test_tags_property_is_a_copy(logger_name: str) -> None:
    """Mutating log.tags does not change the tags records get."""
    log = hftlogging.get_strategy_logger(logger_name, TAGS)
    log.tags.append("x")
    assert log.tags == TAGS
