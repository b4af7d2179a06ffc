"""install()/uninstall(): existing loggers gain the methods, the root too, idempotence."""

from __future__ import annotations

import json
import logging
import os
import pickle
import subprocess
import sys
import textwrap
from collections.abc import Iterator

import pytest

import hftlogging
from hftlogging import HFTLogger
from hftlogging.installation import installed
from hftlogging.logger import HFTRootLogger
from hftlogging.testing import CaptureHandler


@pytest.fixture
def uninstalled() -> Iterator[None]:
    """Start with the stdlib logger class; leave install() as it was found."""
    was = installed()
    hftlogging.uninstall()
    logging.setLoggerClass(logging.Logger)
    yield
    if was:
        hftlogging.install()


def run_python(code: str) -> str:
    """Run ``code`` in a fresh interpreter and return its stdout."""
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True, text=True, timeout=60, env=dict(os.environ), check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_install_in_a_fresh_process() -> None:
    """Loggers made before install(), and the root, become HFTLoggers keeping their setup."""
    out = run_python("""
        import json, logging
        early = logging.getLogger("svc.early")
        early.setLevel(logging.INFO)
        seen = []

        class Keep(logging.Handler):
            def emit(self, record):
                seen.append((record.getMessage(), getattr(record, "context", None)))

        handler = Keep()
        early.addHandler(handler)
        early.propagate = False
        flt = logging.Filter("svc")
        early.addFilter(flt)
        root = logging.getLogger()
        root_handlers = list(root.handlers)

        import hftlogging
        hftlogging.install()
        hftlogging.install()  # idempotent

        early.info("hello", exchange="mexc")
        early.debug("below level")
        early.counter("orders_placed")
        logging.getLogger().metric("root_gauge", 1)
        print(json.dumps({
            "early_type": type(early).__name__,
            "same_object": logging.getLogger("svc.early") is early,
            "kept": [early.level, early.handlers == [handler], early.propagate,
                     early.filters == [flt]],
            "root_type": type(root).__name__,
            "root_same": logging.getLogger() is root and logging.root is root,
            "root_is_rootlogger": isinstance(root, logging.RootLogger),
            "root_handlers_kept": root.handlers == root_handlers,
            "new_type": type(logging.getLogger("svc.late")).__name__,
            "seen": seen,
        }))
    """)
    result = json.loads(out)
    assert result["early_type"] == "HFTLogger"
    assert result["same_object"] is True
    assert result["kept"] == [logging.INFO, True, False, True]
    assert result["root_type"] == "HFTRootLogger"
    assert result["root_same"] is True
    assert result["root_is_rootlogger"] is True
    assert result["root_handlers_kept"] is True
    assert result["new_type"] == "HFTLogger"
    assert result["seen"] == [["hello", {"exchange": "mexc"}], ["metric orders_placed=1", {}]]


def test_logger_created_before_install_gains_methods(uninstalled: None, logger_name: str) -> None:
    """A plain logging.Logger existing at install() time becomes an HFTLogger in place."""
    early = logging.getLogger(logger_name)
    assert type(early) is logging.Logger
    target = CaptureHandler()
    early.addHandler(target)
    early.propagate = False
    early.setLevel(logging.INFO)
    hftlogging.install()
    assert type(early) is HFTLogger
    assert early.handlers == [target]
    assert early.propagate is False
    assert early.level == logging.INFO
    early.info("hello", exchange="mexc")  # type: ignore[call-arg]
    early.metric("g", 1)  # type: ignore[attr-defined]
    early.audit("ev")  # type: ignore[attr-defined]
    with early.timer("t"):  # type: ignore[attr-defined]
        pass
    types = [r.log_type for r in target.records]  # type: ignore[attr-defined]
    assert types == ["text", "metric", "audit", "metric"]
    assert target.records[0].context == {"exchange": "mexc"}  # type: ignore[attr-defined]


def test_placeholder_parent_becomes_hftlogger(uninstalled: None, logger_name: str) -> None:
    """A parent name that only existed as a placeholder becomes an HFTLogger on first use."""
    child = logging.getLogger(f"{logger_name}.child")
    hftlogging.install()
    parent = logging.getLogger(logger_name)
    assert type(parent) is HFTLogger
    assert child.parent is parent


def test_root_is_an_hft_root_logger() -> None:
    """After install() the root has the methods and is still the root."""
    hftlogging.install()
    root = logging.getLogger()
    assert isinstance(root, HFTRootLogger)
    assert isinstance(root, logging.RootLogger)
    assert root is logging.root
    assert root.name == "root"
    with hftlogging.testing.capture() as records:
        root.metric("g", 2, tags={"a": "b"})
        root.info("root text", k=1)
    assert [r.log_type for r in records] == ["metric", "text"]  # type: ignore[attr-defined]


def test_install_is_idempotent(uninstalled: None, logger_name: str) -> None:
    """A second install() changes nothing: same objects, same class, same handlers."""
    hftlogging.install()
    log = logging.getLogger(logger_name)
    target = CaptureHandler()
    log.addHandler(target)
    log.set_context(a=1)  # type: ignore[attr-defined]
    hftlogging.install()
    assert logging.getLogger(logger_name) is log
    assert type(log) is HFTLogger
    assert log.handlers == [target]
    assert log.context == {"a": 1}  # type: ignore[attr-defined]
    assert logging.getLoggerClass() is HFTLogger
    assert installed()


def test_uninstall_restores_stdlib_class_for_new_loggers(
    uninstalled: None, logger_name: str,
) -> None:
    """uninstall(): new loggers are plain Loggers again; existing ones keep working."""
    hftlogging.install()
    existing = logging.getLogger(f"{logger_name}.existing")
    hftlogging.uninstall()
    assert not installed()
    assert logging.getLoggerClass() is logging.Logger
    assert type(logging.getLogger(f"{logger_name}.new")) is logging.Logger
    assert type(existing) is HFTLogger
    target = CaptureHandler()
    existing.addHandler(target)
    existing.warning("still works", k=1)  # type: ignore[call-arg]
    assert target.records[0].context == {"k": 1}  # type: ignore[attr-defined]
    hftlogging.uninstall()  # a second uninstall is harmless
    assert logging.getLoggerClass() is logging.Logger


def test_user_logger_subclass_left_alone(uninstalled: None, logger_name: str) -> None:
    """Loggers of a user's Logger subclass are not converted; uninstall restores the class."""

    class AppLogger(logging.Logger):
        pass

    logging.setLoggerClass(AppLogger)
    mine = logging.getLogger(f"{logger_name}.mine")
    assert type(mine) is AppLogger
    hftlogging.install()
    assert type(mine) is AppLogger
    mine.info("plain stdlib call")
    hftlogging.uninstall()
    assert logging.getLoggerClass() is AppLogger


def test_converted_logger_fast_path_after_adding_queue(
    uninstalled: None, logger_name: str,
) -> None:
    """A logger converted by install() picks up a queue handler added afterwards."""
    early = logging.getLogger(logger_name)
    hftlogging.install()
    target = CaptureHandler()
    hftlogging.configure({
        "version": 1, "disable_existing_loggers": False,
        "handlers": {"q": {"class": "hftlogging.handlers.QueueHandler", "handlers": ["t"]},
                     "t": {"()": lambda: target}},
        "loggers": {logger_name: {"handlers": ["q"], "level": "INFO", "propagate": False}},
    })
    queue = logging._handlers["q"]  # type: ignore[attr-defined]
    assert early._route(logging.INFO) is queue  # type: ignore[attr-defined]
    early.info("queued", k=1)  # type: ignore[call-arg]
    hftlogging.shutdown()
    assert [r.context for r in target.records] == [{"k": 1}]  # type: ignore[attr-defined]


def test_hftloggers_pickle_by_name() -> None:
    """Pickling a logger gives back the same logger, as stdlib does."""
    log = hftlogging.get_logger("pickled.logger")
    assert pickle.loads(pickle.dumps(log)) is log
    root = logging.getLogger()
    assert pickle.loads(pickle.dumps(root)) is root
