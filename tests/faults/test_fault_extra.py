"""``extra=`` values are copied at the call, as keyword fields are."""

from __future__ import annotations

import gc
import logging
import threading
import weakref
from typing import Any

import pytest
from faultkit import build_pipeline, scenario

import hftlogging
from hftlogging.testing import CaptureHandler


class Gated(CaptureHandler):
    """Holds the listener on its first record until released (so records stay queued)."""

    def __init__(self) -> None:
        super().__init__()
        self.entered = threading.Event()
        self.gate = threading.Event()

    def emit_batch(self, records: list[logging.LogRecord]) -> None:
        self.entered.set()
        self.gate.wait(60)
        super().emit_batch(records)


def _held_pipeline(logger_name: str) -> tuple[Any, Gated]:
    cap = Gated()
    p = build_pipeline(logger_name, {"cap": cap})
    p.log.info("hold")
    assert cap.entered.wait(10)
    return p, cap


class Marker:
    """A local of the failing frame: alive exactly as long as the frame is."""


def _failing_call() -> BaseException:
    marker = Marker()  # noqa: F841 - kept alive by the frame, which the traceback holds
    try:
        raise RuntimeError("order rejected")
    except RuntimeError as e:
        return e


def _frames_probe() -> tuple[BaseException, weakref.ref[Any]]:
    err = _failing_call()
    tb = err.__traceback__
    assert tb is not None and tb.tb_next is None
    marker = tb.tb_frame.f_locals["marker"]
    return err, weakref.ref(marker)


@scenario("extra_by_reference")
@pytest.mark.parametrize("how", ["hftlogging", "stdlib_logger"])
def test_extra_values_are_the_values_at_the_call(logger_name: str, how: str) -> None:
    """A dict and a list passed with extra= and changed right after the call are written
    as they were at the call, while the listener was held (the record still queued),
    through an hftlogging logger and through a plain stdlib logger alike."""
    p, cap = _held_pipeline(logger_name)
    if how == "stdlib_logger":
        plain = logging.Logger(logger_name + ".plain")
        plain.addHandler(p.queue)
        log: Any = plain
    else:
        log = p.log
    order = {"qty": 1, "legs": ["a"]}
    legs = ["x"]
    log.info("placed", extra={"order": order, "legs": legs})
    order["qty"] = 999
    order["legs"].append("b")  # type: ignore[attr-defined]
    legs.append("y")
    cap.gate.set()
    hftlogging.shutdown()
    rec = next(r for r in cap.records if r.getMessage() == "placed")
    assert rec.order == {"qty": 1, "legs": ["a"]}  # type: ignore[attr-defined]
    assert rec.legs == ["x"]  # type: ignore[attr-defined]
    if how == "hftlogging":
        assert rec.context["order"] == {"qty": 1, "legs": ["a"]}  # type: ignore[attr-defined]


@scenario("extra_by_reference")
@pytest.mark.parametrize("how", ["extra", "keyword", "stdlib_logger"])
def test_an_exception_in_extra_keeps_no_frame_alive(logger_name: str, how: str) -> None:
    """An exception passed with extra= (or as a keyword field) while the record waits in
    the queue: its frames, and their locals, are released at the call; the record still
    names the exception."""
    p, cap = _held_pipeline(logger_name)
    err, marker = _frames_probe()
    if how == "extra":
        p.log.error("failed", extra={"err": err})
    elif how == "keyword":
        p.log.error("failed", err=err)
    else:
        plain = logging.Logger(logger_name + ".plain")
        plain.addHandler(p.queue)
        plain.error("failed", extra={"err": err})
    del err
    gc.collect()
    try:
        assert marker() is None, "a frame of the exception is kept alive by the queue"
    finally:
        cap.gate.set()
    hftlogging.shutdown()
    rec = next(r for r in cap.records if r.getMessage() == "failed")
    assert "order rejected" in repr(rec.err)  # type: ignore[attr-defined]
