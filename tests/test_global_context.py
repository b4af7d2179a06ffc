"""Global context: set_global_context() and the hftlogging: section's global_context."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
from test_logger import Pipe, make_fast_pipe, make_stdlib_pipe

import hftlogging
from hftlogging import global_context as gc
from hftlogging.exceptions import ConfigError
from hftlogging.logger import HFTLogger
from hftlogging.testing import CaptureHandler


@pytest.fixture(params=["stdlib", "fast"])
def pipe(request: pytest.FixtureRequest, logger_name: str) -> Pipe:
    """A logger on each path with a capturing handler."""
    if request.param == "fast":
        return make_fast_pipe(logger_name, CaptureHandler())
    return make_stdlib_pipe(logger_name, CaptureHandler())


def contexts(pipe: Pipe) -> list[dict[str, Any]]:
    return [r.context for r in pipe.records()]  # type: ignore[attr-defined]


def test_every_logger_carries_global_fields(pipe: Pipe) -> None:
    """Fields set once reach records of a logger made before and as attributes too."""
    hftlogging.set_global_context(service="hft-arbitrage", version="1.0.0")
    pipe.log.info("started")
    pipe.log.counter("orders")
    pipe.log.audit("order_placed", order_id="o-1")
    ctx = contexts(pipe)
    assert ctx[0] == {"service": "hft-arbitrage", "version": "1.0.0"}
    assert ctx[1] == {"service": "hft-arbitrage", "version": "1.0.0"}
    assert ctx[2] == {"service": "hft-arbitrage", "version": "1.0.0", "order_id": "o-1"}
    assert pipe.records()[0].service == "hft-arbitrage"  # type: ignore[attr-defined]


def test_loggers_made_later_and_children_carry_them(logger_name: str) -> None:
    """A logger created after the call, a child one, and the root all carry the fields."""
    target = CaptureHandler()
    hftlogging.configure({
        "handlers": {"q": {"class": "hftlogging.handlers.QueueHandler", "handlers": ["t"]},
                     "t": {"()": lambda: target}},
        "loggers": {logger_name: {"handlers": ["q"], "level": "DEBUG", "propagate": False}},
    })
    hftlogging.set_global_context(service="svc")
    child = hftlogging.get_logger(f"{logger_name}.later.child")
    child.info("from a child")
    parent = logging.getLogger(logger_name)
    parent.warning("from the parent")
    logging._handlers["q"].flush()  # type: ignore[attr-defined]
    assert [r.context for r in target.records] == [{"service": "svc"}, {"service": "svc"}]


def test_precedence_global_is_lowest(pipe: Pipe) -> None:
    """global < set_context < hftlogging.context() < extra < with_context < call keywords."""
    keys = ("k0", "k1", "k2", "k3", "k4", "k5")
    hftlogging.set_global_context(**dict.fromkeys(keys, "global"))
    log = pipe.log
    log.set_context(**dict.fromkeys(keys[1:], "logger"))
    with hftlogging.context(**dict.fromkeys(keys[2:], "cv")):
        log.with_context(k4="bound", k5="bound").info(
            "x", extra={"k3": "extra", "k4": "extra", "k5": "extra"}, k5="kw",
        )
        log.with_context(k4="bound", k5="bound").info("y", k5="kw")
    assert contexts(pipe) == [
        {"k0": "global", "k1": "logger", "k2": "cv", "k3": "extra", "k4": "bound", "k5": "kw"},
        {"k0": "global", "k1": "logger", "k2": "cv", "k3": "cv", "k4": "bound", "k5": "kw"},
    ]


def test_set_context_and_clear_keep_the_global_fields(pipe: Pipe) -> None:
    """A logger's own fields come and go over the global ones; its context shows its own."""
    hftlogging.set_global_context(service="svc", component="global")
    log = pipe.log
    log.set_context(component="parser")
    log.info("own")
    assert log.context == {"component": "parser"}
    log.clear_context()
    log.info("cleared")
    assert contexts(pipe) == [
        {"service": "svc", "component": "parser"},
        {"service": "svc", "component": "global"},
    ]


def test_calls_add_and_clear_removes(pipe: Pipe) -> None:
    """Later calls add to and override earlier ones; clear_global_context removes them."""
    hftlogging.set_global_context(service="a", region="eu")
    hftlogging.set_global_context(service="b")
    pipe.log.info("both")
    gc.clear_global_context()
    pipe.log.info("none")
    assert contexts(pipe) == [{"service": "b", "region": "eu"}, {}]
    assert gc.global_context() == {}


def test_configuration_section_sets_them_and_code_wins(tmp_path: Path, logger_name: str) -> None:
    """global_context: in the hftlogging section applies at configure(); fields given in
    code override the configuration's; a later configuration replaces its own fields."""
    target = CaptureHandler()

    def config(fields: dict[str, Any] | None) -> dict[str, Any]:
        section = {"global_context": fields} if fields is not None else {}
        return {
            "hftlogging": section,
            "handlers": {"q": {"class": "hftlogging.handlers.QueueHandler", "handlers": ["t"]},
                         "t": {"()": lambda: target}},
            "loggers": {logger_name: {"handlers": ["q"], "level": "DEBUG", "propagate": False}},
        }

    hftlogging.configure(config({"service": "from-config", "version": "1.0.0"}))
    log = hftlogging.get_logger(logger_name)
    log.info("config")
    hftlogging.set_global_context(service="from-code")
    log.info("code over config")
    hftlogging.configure(config(None))
    log.info("config without fields")
    logging._handlers["q"].flush()  # type: ignore[attr-defined]
    assert [r.context for r in target.records] == [
        {"service": "from-config", "version": "1.0.0"},
        {"service": "from-code", "version": "1.0.0"},
        {"service": "from-code"},
    ]


def test_bad_global_context_section_is_refused() -> None:
    """global_context must be a mapping: the error names the key."""
    with pytest.raises(ConfigError) as e:
        hftlogging.configure({"hftlogging": {"global_context": ["service"]}})
    assert str(e.value) == (
        "key hftlogging.global_context: expected the global context fields (a mapping), "
        "found a list; write it as keys and values, or leave it out"
    )


def test_thresholds_are_accepted_and_checked() -> None:
    """max_latency_us / warning_threshold_us are hftlogging: keys: numbers > 0, warning
    not above max."""
    plan = hftlogging.config.prepare(
        {"hftlogging": {"max_latency_us": 1000, "warning_threshold_us": 500}}, env={})
    assert plan.settings["max_latency_us"] == 1000
    assert plan.settings["warning_threshold_us"] == 500
    with pytest.raises(ConfigError) as e:
        hftlogging.config.prepare(
            {"hftlogging": {"max_latency_us": 100, "warning_threshold_us": 500}}, env={})
    assert str(e.value) == (
        "key hftlogging.warning_threshold_us: expected at most max_latency_us (100), found "
        "500; lower warning_threshold_us or raise max_latency_us"
    )
    with pytest.raises(ConfigError) as e:
        hftlogging.config.prepare({"hftlogging": {"max_latency_us": "fast"}}, env={})
    assert str(e.value) == (
        "key hftlogging.max_latency_us: expected a number of microseconds > 0, found 'fast'; "
        "write a positive number or leave it out"
    )


class _PlainLogger(logging.Logger):
    """A user's own Logger subclass: install() leaves it as it is."""


def test_records_of_plain_loggers_get_them_through_the_queue(logger_name: str) -> None:
    """A logger that is not an HFTLogger gets the global fields when its records pass
    through hftlogging's queue, below its own extra= fields."""
    target = CaptureHandler()
    hftlogging.configure({
        "handlers": {"q": {"class": "hftlogging.handlers.QueueHandler", "handlers": ["t"]},
                     "t": {"()": lambda: target}},
    })
    plain = _PlainLogger(logger_name)
    plain.addHandler(logging._handlers["q"])  # type: ignore[attr-defined]
    assert not isinstance(plain, HFTLogger)
    hftlogging.set_global_context(service="svc", region="eu")
    plain.warning("plain", extra={"region": "us"})
    logging._handlers["q"].flush()  # type: ignore[attr-defined]
    rec = target.records[0]
    assert rec.context == {"service": "svc", "region": "us"}  # type: ignore[attr-defined]
    assert rec.service == "svc"  # type: ignore[attr-defined]
    assert rec.region == "us"  # type: ignore[attr-defined]
