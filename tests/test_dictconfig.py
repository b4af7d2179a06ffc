"""Plain ``logging.config.dictConfig`` with hftlogging's QueueHandler, on each Python.

With ``"()": "hftlogging.handlers.QueueHandler"`` every option arrives on every Python.
With ``"class":`` stdlib's dictConfig treats any QueueHandler specially from 3.12 on:
3.12.0-3.12.3 pass it no option but ``handlers`` (hftlogging warns), and 3.12.4+ keep
``respect_handler_level`` for a listener of their own (hftlogging's stays true).
"""

from __future__ import annotations

import logging
import logging.config
import sys
import warnings
from typing import Any

import pytest

import hftlogging
from hftlogging import notices
from hftlogging.testing import CaptureHandler

OPTIONS: dict[str, Any] = {
    "capacity": 7,
    "overflow": "drop_oldest",
    "block_timeout_ms": 250,
    "audit_wait_ms": 125,
    "batch_size": 3,
    "flush_interval_ms": 2,
    "respect_handler_level": False,
    "caller_info": False,
    "failure_threshold": 4,
    "retry_initial_s": 0.75,
    "retry_max_s": 9,
    "drop_report_interval_s": 3,
    "stop_timeout_s": 6,
    "hang_timeout_s": 8,
    "drain_on_sigterm": False,
}
DEFAULTS = {
    "capacity": 10_000, "overflow": "drop_newest", "block_timeout_ms": 100,
    "audit_wait_ms": 500, "batch_size": 512, "flush_interval_ms": 5,
    "respect_handler_level": True, "caller_info": "auto", "failure_threshold": 3,
    "retry_initial_s": 0.5, "retry_max_s": 30, "drop_report_interval_s": 10,
    "stop_timeout_s": 10, "hang_timeout_s": 5, "drain_on_sigterm": True,
}


def _apply(logger_name: str, key: str) -> tuple[Any, CaptureHandler]:
    """dictConfig a queue (by ``key``: "()" or "class") in front of an ERROR-level target."""
    target = CaptureHandler(logging.ERROR)
    spec: dict[str, Any] = {key: "hftlogging.handlers.QueueHandler", "handlers": ["target"],
                            **OPTIONS}
    logging.config.dictConfig({
        "version": 1,
        "disable_existing_loggers": False,
        "handlers": {"target": {"()": lambda: target}, "queue": spec},
        "loggers": {logger_name: {"level": "INFO", "handlers": ["queue"], "propagate": False}},
    })
    return logging._handlers["queue"], target  # type: ignore[attr-defined]


def _arrived(qh: Any) -> dict[str, Any]:
    """Every option as the running queue and listener have it."""
    listener = qh.listener
    ring = qh._ring
    return {
        "capacity": qh.capacity,
        "overflow": ring.overflow_policy,
        "block_timeout_ms": round(ring.block_timeout_s * 1000),
        "audit_wait_ms": round(ring.audit_wait_s * 1000),
        "batch_size": listener.batch_size,
        "flush_interval_ms": round(listener.flush_interval_s * 1000),
        "respect_handler_level": listener.respect_handler_level,
        "caller_info": qh.caller_info,
        "failure_threshold": listener.failure_threshold,
        "retry_initial_s": listener.retry_initial_s,
        "retry_max_s": listener.retry_max_s,
        "drop_report_interval_s": listener.drop_report_interval_s,
        "stop_timeout_s": listener.stop_timeout_s,
        "hang_timeout_s": listener.hang_timeout_s,
        "drain_on_sigterm": qh.drain_on_sigterm,
    }


def _log_info(logger_name: str, qh: Any) -> None:
    logging.getLogger(logger_name).info("below the target's level")
    qh.flush()


def test_with_the_factory_key_every_option_arrives(logger_name: str) -> None:
    """``"()"`` bypasses stdlib's QueueHandler special case on every Python: each option
    reaches the queue and its listener, and respect_handler_level: false lets an INFO
    record through to an ERROR-level handler."""
    hftlogging.install()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        qh, target = _apply(logger_name, "()")
    _log_info(logger_name, qh)
    assert _arrived(qh) == OPTIONS
    assert target.messages() == ["below the target's level"]
    hftlogging.shutdown()


def test_with_the_class_key_what_arrives_is_what_this_python_passes(
    logger_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``"class":`` on 3.10/3.11: every option; on 3.12.0-3.12.3: none but the handlers,
    with a warning naming the fix; on 3.12.4 and later: all but respect_handler_level,
    which stays true (an INFO record does not reach an ERROR-level handler)."""
    monkeypatch.setattr(notices, "_warned", set())
    hftlogging.install()
    version = sys.version_info[:3]
    if (3, 12, 0) <= version < (3, 12, 4):
        with pytest.warns(RuntimeWarning, match=r"'\(\)': 'hftlogging.handlers.QueueHandler'"):
            qh, target = _apply(logger_name, "class")
        expected = dict(DEFAULTS)
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            qh, target = _apply(logger_name, "class")
        expected = dict(OPTIONS)
        if version >= (3, 12):
            expected["respect_handler_level"] = True
    _log_info(logger_name, qh)
    assert _arrived(qh) == expected
    assert target.messages() == ([] if expected["respect_handler_level"] else
                                 ["below the target's level"])
    hftlogging.shutdown()
