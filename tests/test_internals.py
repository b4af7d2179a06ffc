"""Guards on the private stdlib parts hftlogging relies on: each simulated change either
fails install() loudly, naming the part, or switches to the public path with a warning."""

from __future__ import annotations

import logging
import multiprocessing.util
import threading
from collections.abc import Iterator
from typing import Any

import pytest

import hftlogging
from hftlogging import installation as hft_installation
from hftlogging import internals, lifecycle, notices
from hftlogging import logger as hft_logger
from hftlogging.handlers import queue as hq
from hftlogging.internals import InternalsChanged
from hftlogging.testing import CaptureHandler


@pytest.fixture(autouse=True)
def fresh_check(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Each test checks anew; the result of the real check comes back afterwards."""
    monkeypatch.setattr(internals, "_checked", False)
    monkeypatch.setattr(notices, "_warned", set())
    monkeypatch.setattr(hft_logger, "_logging", hft_logger._logging)
    yield


def test_this_python_passes_every_check_and_reads_the_factory_directly() -> None:
    """On every Python of the matrix the checks pass and the caller's path reads the
    record factory as logging's own attribute (no public-getter fallback)."""
    hftlogging.install()
    assert hft_logger._logging is logging


class _NoConditionLock:
    """A module lock without Condition's private protocol."""

    def __init__(self) -> None:
        self._inner = threading.RLock()

    def acquire(self, *a: Any) -> bool:
        return self._inner.acquire(*a)

    def release(self) -> None:
        self._inner.release()

    def __enter__(self) -> bool:
        return self._inner.acquire()

    def __exit__(self, *exc: object) -> None:
        self._inner.release()


class _NotReleasingLock(_NoConditionLock):
    """Has the protocol, but _release_save leaves the lock held."""

    def _is_owned(self) -> bool:
        return True

    def _release_save(self) -> object:
        return None

    def _acquire_restore(self, state: object) -> None:
        pass


class _IgnoringDict(dict):  # type: ignore[type-arg]
    """A handler registry that does not keep what is put in it."""

    def __setitem__(self, key: Any, value: Any) -> None:
        pass


def _frozen_percent_style(monkeypatch: pytest.MonkeyPatch) -> None:
    """A PercentStyle that formats from a copy taken at construction, not from _fmt."""
    init = logging.PercentStyle.__init__

    def __init__(self: Any, fmt: str, *a: Any, **kw: Any) -> None:
        init(self, fmt, *a, **kw)
        self._frozen = self._fmt

    monkeypatch.setattr(logging.PercentStyle, "__init__", __init__)
    monkeypatch.setattr(logging.PercentStyle, "_format",
                        lambda self, record: self._frozen % record.__dict__)


CHANGES = {
    "lock_without_release_save": (
        lambda mp: mp.setattr(logging, "_lock", _NoConditionLock()), "logging._lock has no"),
    "lock_release_save_keeps_it": (
        lambda mp: mp.setattr(logging, "_lock", _NotReleasingLock()),
        "_release_save() does not release"),
    "handler_list_gone": (
        lambda mp: mp.delattr(logging, "_handlerList"), "logging._handlerList is missing"),
    "handlers_not_kept": (
        lambda mp: mp.setattr(logging, "_handlers", _IgnoringDict()),
        "not registered in logging._handlers"),
    "logger_dict_not_kept": (
        lambda mp: mp.setattr(logging.Logger.manager, "loggerDict", _IgnoringDict()),
        "does not register loggers in manager.loggerDict"),
    "check_level_changed": (
        lambda mp: mp.setattr(logging, "_checkLevel", lambda level: level),
        "logging._checkLevel('INFO') does not give"),
    "level_names_moved": (
        lambda mp: mp.setattr(logging, "_levelToName", {}), "do not map INFO"),
    "srcfile_gone": (lambda mp: mp.delattr(logging, "_srcfile"), "logging._srcfile"),
    "start_time_gone": (lambda mp: mp.delattr(logging, "_startTime"), "logging._startTime"),
    "thread_table_gone": (lambda mp: mp.delattr(threading, "_active"), "threading._active"),
    "style_formats_from_a_copy": (_frozen_percent_style, "does not place the context"),
}


@pytest.mark.parametrize("change", sorted(CHANGES))
def test_a_changed_private_part_fails_install_loudly_before_anything_changes(
    monkeypatch: pytest.MonkeyPatch, change: str
) -> None:
    """install() (and so configure()) raises InternalsChanged naming the part and the
    Python version, and leaves the logger class and the caller's path as they were."""
    simulate, fragment = CHANGES[change]
    class_before = logging.getLoggerClass()
    monkeypatch.setattr(hft_installation, "_installed", False)
    simulate(monkeypatch)
    with pytest.raises(InternalsChanged, match="hftlogging on Python") as info:
        hftlogging.install()
    assert fragment in str(info.value)
    assert logging.getLoggerClass() is class_before


def test_configure_fails_loudly_too(monkeypatch: pytest.MonkeyPatch) -> None:
    """configure() runs the same check before applying anything."""
    monkeypatch.setattr(logging, "_checkLevel", lambda level: level)
    with pytest.raises(InternalsChanged, match=r"logging\._checkLevel"):
        hftlogging.configure({"version": 1, "root": {"level": "INFO"}})


def _factory_kept_elsewhere(monkeypatch: pytest.MonkeyPatch) -> None:
    """A logging whose setLogRecordFactory stores the factory somewhere else."""
    store = [logging.getLogRecordFactory()]
    monkeypatch.setattr(logging, "setLogRecordFactory", lambda f: store.__setitem__(0, f))
    monkeypatch.setattr(logging, "getLogRecordFactory", lambda: store[0])


def test_a_record_factory_kept_elsewhere_switches_to_the_public_getter(
    monkeypatch: pytest.MonkeyPatch, logger_name: str
) -> None:
    """If logging._logRecordFactory stops following setLogRecordFactory(), install() warns
    once and the caller's path asks getLogRecordFactory(): a custom factory set afterwards
    is used for the next record instead of being missed."""
    _factory_kept_elsewhere(monkeypatch)
    with pytest.warns(RuntimeWarning, match="getLogRecordFactory"):
        hftlogging.install()
    assert isinstance(hft_logger._logging, internals.PublicFactoryView)
    default = logging.getLogRecordFactory()
    seen: list[logging.LogRecord] = []
    handler = CaptureHandler()
    log = logging.getLogger(logger_name)
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = default(*args, **kwargs)
        record.stamped = True
        seen.append(record)
        return record

    log.info("before")
    logging.setLogRecordFactory(factory)
    log.info("after")
    assert [getattr(r, "stamped", False) for r in handler.records] == [False, True]
    assert len(seen) == 1


def test_a_formatter_without_a_format_string_is_assumed_to_read_the_caller() -> None:
    """A stdlib-style formatter whose ``_fmt`` is gone: caller information is taken (not
    silently dropped), with a one-time warning."""
    fmt = logging.Formatter("%(message)s")
    del fmt._fmt
    handler = logging.StreamHandler()
    handler.setFormatter(fmt)
    with pytest.warns(RuntimeWarning, match="caller information"):
        assert hq._uses(handler, hq._CALLER_FIELDS)
    assert hq._uses(handler, hq._CALLER_FIELDS)  # once only: no second warning expected


def test_the_caller_decision_reads_the_format_string_while_it_is_there() -> None:
    """With ``_fmt`` present the decision follows the format: no caller field, no capture."""
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(message)s"))
    assert not hq._uses(handler, hq._CALLER_FIELDS)
    handler.setFormatter(logging.Formatter("%(lineno)d %(message)s"))
    assert hq._uses(handler, hq._CALLER_FIELDS)


def test_without_register_after_fork_a_warning_says_child_records_may_be_lost(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """multiprocessing.util.register_after_fork gone: a one-time warning, not silence."""
    monkeypatch.delattr(multiprocessing.util, "register_after_fork")
    monkeypatch.setattr(lifecycle, "_mp_hook_registered", False)
    with pytest.warns(RuntimeWarning, match="register_after_fork"):
        lifecycle._register_multiprocessing_hook()


def test_a_failing_multiprocessing_child_hook_says_so_on_stderr(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """An error in the after-fork hook (which multiprocessing would swallow) is reported."""

    def broken(*a: Any, **kw: Any) -> None:
        raise RuntimeError("finalizers changed")

    monkeypatch.setattr(multiprocessing.util, "Finalize", broken)
    lifecycle._in_multiprocessing_child(None)
    err = capsys.readouterr().err
    assert "could not register the exit drain" in err and "finalizers changed" in err
