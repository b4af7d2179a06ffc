"""Shared fixtures: every test leaves stdlib logging as it found it, and leaks no listener."""

from __future__ import annotations

import gc
import logging
import os
import threading
import uuid
from collections.abc import Iterator

import pytest

import hftlogging
from hftlogging import global_context as hft_global_context
from hftlogging import installation as hft_installation
from hftlogging import strict as hft_strict
from hftlogging.config.apply import AppliedState

IN_CI = bool(os.environ.get("CI"))


def _snapshot(lg: logging.Logger) -> tuple[object, ...]:
    return (lg.level, list(lg.handlers), lg.propagate, lg.disabled, list(lg.filters))


def _restore(lg: logging.Logger, state: tuple[object, ...]) -> None:
    level, handlers, propagate, disabled, filters = state
    lg.setLevel(level)  # type: ignore[arg-type]
    lg.handlers = list(handlers)  # type: ignore[call-overload]
    lg.propagate = propagate  # type: ignore[assignment]
    lg.disabled = disabled  # type: ignore[assignment]
    lg.filters = list(filters)  # type: ignore[call-overload]


@pytest.fixture(autouse=True)
def _logging_state() -> Iterator[None]:
    """Snapshot stdlib logging before each test, restore it after, fail on leaked listeners."""
    manager = logging.Logger.manager
    root = logging.getLogger()
    saved_root = _snapshot(root)
    saved = {
        name: _snapshot(lg)
        for name, lg in list(manager.loggerDict.items())
        if isinstance(lg, logging.Logger)
    }
    factory = logging.getLogRecordFactory()
    logger_class = logging.getLoggerClass()
    was_installed = hft_installation.installed()
    was_strict = hft_strict.is_strict()
    disable = manager.disable
    threads_before = set(threading.enumerate())
    yield
    hftlogging.shutdown()
    AppliedState.last_applied = None  # one test's configuration never comes back later
    AppliedState.applied_handlers = {}
    hft_global_context.clear_global_context()  # global fields never outlive a test
    hft_global_context.set_configured({})
    _restore(root, saved_root)
    for name, lg in list(manager.loggerDict.items()):
        if not isinstance(lg, logging.Logger):
            continue
        if name in saved:
            _restore(lg, saved[name])
        else:
            _restore(lg, (logging.NOTSET, [], True, False, []))
    hft_strict.set_strict(was_strict)
    logging.setLogRecordFactory(factory)
    if not was_installed and hft_installation.installed():
        hftlogging.uninstall()
    logging.setLoggerClass(logger_class)
    logging.disable(disable)
    gc.collect()
    leaked = [
        t for t in threading.enumerate()
        if t not in threads_before and t.is_alive() and t.name.startswith("hftlogging")
    ]
    assert not leaked, f"test leaked listener threads: {leaked}"


@pytest.fixture
def logger_name(request: pytest.FixtureRequest) -> str:
    """A logger name unique to this test."""
    return f"test.{request.node.name}.{uuid.uuid4().hex[:8]}"
