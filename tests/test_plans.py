"""Cached plans stay right: every way stdlib code changes a logger, checked against stdlib.

A tree of hftlogging loggers (the process's manager) and a twin tree of plain stdlib
loggers (a private :class:`logging.Manager`) get the same configuration changes; after
each change every logger logs at every level and the records that reach each handler are
compared. The reference tree's level caches are cleared before each comparison, so it
gives what stdlib decides from the configuration as it stands.
"""

from __future__ import annotations

import logging
import logging.config
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import hftlogging
from hftlogging import factory, plans
from hftlogging import installation as hft_installation
from hftlogging import logger as hft_logger
from hftlogging.handlers import QueueHandler
from hftlogging.logger import HFTLogger
from hftlogging.testing import CaptureHandler

LEVELS = (logging.DEBUG, logging.INFO, logging.WARNING, logging.ERROR)
METHODS = {logging.DEBUG: "debug", logging.INFO: "info", logging.WARNING: "warning",
           logging.ERROR: "error"}
# Relative names of the tree; "a.b" and "x" do not exist at first (placeholders), and are
# created by an operation, between their parent and existing children.
EXISTING = ("", "a", "a.b.c", "a.b.c.d", "x.y")
LATER = ("a.b", "x")


class WarningAndUp(logging.Filter):
    """A logger filter that lets through WARNING and above."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.WARNING


class Twin:
    """The hftlogging tree and its stdlib twin, with matching handlers."""

    def __init__(self) -> None:
        hftlogging.install()
        self.prefix = f"plans{uuid.uuid4().hex[:10]}"
        self.ref_root = logging.RootLogger(logging.WARNING)
        self.ref = logging.Manager(self.ref_root)
        self.ref.loggerClass = logging.Logger
        self.ref_root.manager = self.ref
        # Handler 0 stands for hftlogging's queue (the fast path when it is a logger's
        # only handler); handler 1 is a plain handler at INFO (the stdlib path).
        self.sink = CaptureHandler()
        self.queue = QueueHandler(handlers=[self.sink])
        self.plain = CaptureHandler(logging.INFO)
        self.ref_handlers = [CaptureHandler(), CaptureHandler(logging.INFO)]
        self.filter = WarningAndUp()
        self.names = list(EXISTING)
        for rel in EXISTING:
            self.hft(rel)
            self.std(rel)
        top_h, top_s = self.hft(""), self.std("")
        top_h.propagate = top_s.propagate = False  # the process's root is not ours
        top_h.addHandler(self.queue)
        top_s.addHandler(self.ref_handlers[0])

    def full(self, rel: str) -> str:
        return f"{self.prefix}.{rel}" if rel else self.prefix

    def hft(self, rel: str) -> HFTLogger:
        lg = logging.getLogger(self.full(rel))
        assert isinstance(lg, HFTLogger)
        return lg

    def std(self, rel: str) -> logging.Logger:
        lg = self.ref.getLogger(self.full(rel))
        assert type(lg) is logging.Logger
        return lg

    def handler(self, i: int) -> tuple[logging.Handler, logging.Handler]:
        return ((self.queue, self.plain)[i], self.ref_handlers[i])

    def outcome(self) -> tuple[list[list[str]], list[list[str]]]:
        """Log at every level on every logger; what reached each handler, both trees."""
        for h in (self.sink, self.plain, *self.ref_handlers):
            h.clear()
        self.ref._clear_cache()  # the reference: stdlib deciding afresh
        for rel in self.names:
            h_log, s_log = self.hft(rel), self.std(rel)
            for level in LEVELS:
                msg = f"{rel or '-'}|{logging.getLevelName(level)}"
                getattr(h_log, METHODS[level])(msg)
                getattr(s_log, METHODS[level])(msg)
                h_log.log(level, msg + "|log")
                s_log.log(level, msg + "|log")
        self.queue.flush()
        got = [sorted(r.getMessage() for r in h.records) for h in (self.sink, self.plain)]
        want = [sorted(r.getMessage() for r in h.records) for h in self.ref_handlers]
        return got, want

    def close(self) -> None:
        """Stop the queue's listener; reset logging.disable."""
        logging.disable(logging.NOTSET)
        self.queue.stop()

    def check(self, what: str) -> None:
        got, want = self.outcome()
        assert got == want, f"after {what}"


@pytest.fixture
def twin() -> Iterator[Twin]:
    """A fresh pair of trees; logging.disable is reset afterwards."""
    t = Twin()
    try:
        yield t
    finally:
        t.close()


# --- the operations -----------------------------------------------------------------------

Op = Callable[[Twin], str]


def op_set_level(i: int, level: int) -> Op:
    def run(t: Twin) -> str:
        rel = t.names[i % len(t.names)]
        t.hft(rel).setLevel(level)
        t.std(rel).setLevel(level)
        return f"setLevel({level}) on {rel!r}"
    return run


def op_raw_level_then_clear(i: int, level: int, way: int) -> Op:
    """``logger.level = x`` then the level caches cleared in one of several ways."""
    def run(t: Twin) -> str:
        rel = t.names[i % len(t.names)]
        h_log = t.hft(rel)
        h_log.level = level
        t.std(rel).level = level
        how = CLEAR_WAYS[way % len(CLEAR_WAYS)]
        how[1](h_log)
        return f"level={level} on {rel!r}, then {how[0]}"
    return run


def op_handler(i: int, which: int, add: bool, direct: bool) -> Op:
    def run(t: Twin) -> str:
        rel = t.names[i % len(t.names)]
        h, s = t.handler(which)
        h_log, s_log = t.hft(rel), t.std(rel)
        if add:
            if direct:  # as some libraries do, bypassing addHandler
                if h not in h_log.handlers:
                    h_log.handlers.append(h)
                    s_log.handlers.append(s)
            else:
                h_log.addHandler(h)
                s_log.addHandler(s)
        elif direct:
            h_log.handlers = [x for x in h_log.handlers if x is not h]
            s_log.handlers = [x for x in s_log.handlers if x is not s]
        else:
            h_log.removeHandler(h)
            s_log.removeHandler(s)
        return f"{'add' if add else 'remove'} handler {which} on {rel!r} (direct={direct})"
    return run


def op_propagate(i: int, value: bool) -> Op:
    def run(t: Twin) -> str:
        rel = t.names[i % len(t.names)]
        if not rel:
            return "nothing"  # the top logger stays apart from the process's root
        t.hft(rel).propagate = value
        t.std(rel).propagate = value
        return f"propagate={value} on {rel!r}"
    return run


def op_disabled(i: int, value: bool) -> Op:
    def run(t: Twin) -> str:
        rel = t.names[i % len(t.names)]
        t.hft(rel).disabled = value
        t.std(rel).disabled = value
        return f"disabled={value} on {rel!r}"
    return run


def op_filter(i: int, add: bool, direct: bool) -> Op:
    def run(t: Twin) -> str:
        rel = t.names[i % len(t.names)]
        h_log, s_log = t.hft(rel), t.std(rel)
        for lg in (h_log, s_log):
            if add and direct:
                if t.filter not in lg.filters:
                    lg.filters.append(t.filter)
            elif add:
                lg.addFilter(t.filter)
            elif direct:
                lg.filters = []
            else:
                lg.removeFilter(t.filter)
        return f"{'add' if add else 'remove'} filter on {rel!r} (direct={direct})"
    return run


def op_disable(level: int, direct: bool) -> Op:
    def run(t: Twin) -> str:
        if direct:
            logging.Logger.manager.disable = level
        else:
            logging.disable(level)
        t.ref.disable = level
        return f"{'manager.disable =' if direct else 'logging.disable'} {level}"
    return run


def op_create(k: int) -> Op:
    """A logger created between an existing parent and existing children."""
    def run(t: Twin) -> str:
        rel = LATER[k % len(LATER)]
        if rel in t.names:
            return "nothing"
        t.hft(rel)
        t.std(rel)
        t.names.append(rel)
        return f"create {rel!r}"
    return run


def op_dictconfig_incremental(i: int, level: int, propagate: bool) -> Op:
    def run(t: Twin) -> str:
        rel = t.names[i % len(t.names)]
        conf: dict[str, Any] = {"level": logging.getLevelName(level)}
        if rel:
            conf["propagate"] = propagate
        logging.config.dictConfig({"version": 1, "incremental": True,
                                   "loggers": {t.full(rel): conf}})
        s_log = t.std(rel)
        s_log.setLevel(level)
        s_log.disabled = False
        if rel:
            s_log.propagate = propagate
        return f"dictConfig(incremental) level={level} propagate={propagate} on {rel!r}"
    return run


def _clear_by_manager(lg: logging.Logger) -> None:
    logging.Manager._clear_cache(logging.Logger.manager)  # type: ignore[attr-defined]


def _clear_own(lg: logging.Logger) -> None:
    for other in logging.Logger.manager.loggerDict.values():
        if isinstance(other, logging.Logger):
            other._cache.clear()  # type: ignore[attr-defined]


def _stdlib_set_level(lg: logging.Logger) -> None:
    logging.Logger.setLevel(lg, lg.level)


CLEAR_WAYS: list[tuple[str, Callable[[logging.Logger], None]]] = [
    ("stdlib's Manager._clear_cache", _clear_by_manager),
    ("every logger's _cache.clear()", _clear_own),
    ("stdlib's Logger.setLevel", _stdlib_set_level),
]

LEVEL = st.sampled_from([logging.NOTSET, *LEVELS, logging.CRITICAL])
IDX = st.integers(0, 10)
OPS = st.one_of(
    st.builds(op_set_level, IDX, LEVEL),
    st.builds(op_raw_level_then_clear, IDX, LEVEL, st.integers(0, len(CLEAR_WAYS) - 1)),
    st.builds(op_handler, IDX, st.integers(0, 1), st.booleans(), st.booleans()),
    st.builds(op_propagate, IDX, st.booleans()),
    st.builds(op_disabled, IDX, st.booleans()),
    st.builds(op_filter, IDX, st.booleans(), st.booleans()),
    st.builds(op_disable, st.sampled_from([logging.NOTSET, logging.DEBUG, logging.INFO,
                                           logging.WARNING]), st.booleans()),
    st.builds(op_create, st.integers(0, 1)),
    st.builds(op_dictconfig_incremental, IDX, LEVEL, st.booleans()),
)


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(ops=st.lists(OPS, min_size=1, max_size=10))
def test_random_changes_give_stdlibs_outcome(ops: list[Op]) -> None:
    """Any sequence of configuration changes: every logger, every level, as stdlib does."""
    t = Twin()
    try:
        t.check("setup")
        done = []
        for op in ops:
            done.append(op(t))
            t.check("; ".join(done))
    finally:
        t.close()


@pytest.mark.parametrize("make", [
    pytest.param(lambda: op_set_level(1, logging.ERROR), id="setLevel"),
    pytest.param(lambda: op_handler(2, 1, True, False), id="addHandler"),
    pytest.param(lambda: op_handler(2, 1, True, True), id="handlers.append"),
    pytest.param(lambda: op_propagate(2, False), id="propagate"),
    pytest.param(lambda: op_disabled(1, True), id="disabled"),
    pytest.param(lambda: op_filter(1, True, False), id="addFilter"),
    pytest.param(lambda: op_filter(1, True, True), id="filters.append"),
    pytest.param(lambda: op_disable(logging.WARNING, False), id="logging.disable"),
    pytest.param(lambda: op_disable(logging.WARNING, True), id="manager.disable"),
    pytest.param(lambda: op_dictconfig_incremental(1, logging.ERROR, False),
                 id="dictConfig-incremental"),
])
def test_each_change_after_plans_are_cached(twin: Twin, make: Callable[[], Op]) -> None:
    """Each kind of change, made once every plan is cached, gives stdlib's outcome."""
    twin.check("setup")
    twin.check("setup, cached")
    what = make()(twin)
    twin.check(what)


def test_logger_inserted_between_parent_and_children(twin: Twin) -> None:
    """A logger created where a placeholder was takes its place for the children below."""
    twin.hft("").setLevel(logging.ERROR)
    twin.std("").setLevel(logging.ERROR)
    twin.check("setup")
    op_create(0)(twin)  # "a.b", between "a" and "a.b.c"
    twin.check("create a.b")
    assert twin.hft("a.b.c").parent is twin.hft("a.b")
    op_set_level(twin.names.index("a.b"), logging.DEBUG)(twin)
    twin.check("setLevel(DEBUG) on the new logger")
    op_handler(twin.names.index("a.b"), 1, True, False)(twin)
    twin.check("addHandler on the new logger")


def quiet_debug(name: str, noop: bool = True) -> tuple[HFTLogger, CaptureHandler]:
    """A logger at INFO into a capturing handler, after a debug() call (now a no-op)."""
    log = factory.get_logger(name)
    target = CaptureHandler()
    log.addHandler(target)
    log.propagate = False
    log.setLevel(logging.INFO)
    log.debug("dropped")
    assert ("debug" in log.__dict__) is noop  # the no-op is in place, where they are used
    return log, target


@pytest.mark.parametrize("way", CLEAR_WAYS, ids=[w[0] for w in CLEAR_WAYS])
def test_disabled_debug_comes_back_however_the_cache_is_cleared(
    way: tuple[str, Callable[[logging.Logger], None]], logger_name: str
) -> None:
    """debug() made a no-op at INFO logs again at DEBUG, whichever way the cache is cleared."""
    log, target = quiet_debug(logger_name)
    log.level = logging.DEBUG  # no cache cleared: stdlib too would still answer False
    way[1](log)
    assert log.isEnabledFor(logging.DEBUG)
    log.debug("kept")
    assert [r.getMessage() for r in target.records] == ["kept"]


def test_a_stdlib_that_replaces_the_cache_dict_gets_no_noops(
    logger_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A future stdlib that gives loggers a new cache dict instead of clearing it.

    Simulated by replacing Manager._clear_cache with one that does that: install() finds
    out, no no-op is made, and debug() logs again after stdlib's own setLevel(DEBUG).
    """
    def clear_other_way(self: logging.Manager) -> None:
        for lg in list(self.loggerDict.values()):
            if isinstance(lg, logging.Logger):
                lg._cache = {}  # type: ignore[attr-defined]
        self.root._cache = {}  # type: ignore[attr-defined]

    monkeypatch.setattr(logging.Manager, "_clear_cache", clear_other_way)
    try:
        hftlogging.install()
        assert not plans.noops_allowed()
        log, target = quiet_debug(logger_name, noop=False)
        logging.Logger.setLevel(log, logging.DEBUG)
        log.debug("kept")
        assert [r.getMessage() for r in target.records] == ["kept"]
    finally:
        monkeypatch.undo()
        assert plans.check_cache_clearing()


def test_set_level_without_stdlibs_level_parser_falls_back(
    logger_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without logging._checkLevel, setLevel takes stdlib's path and stays right.

    Simulated as a stdlib that renamed its level parser: stdlib's own setLevel keeps
    working, the private name is gone.
    """
    check = logging._checkLevel  # type: ignore[attr-defined]

    def renamed_set_level(self: logging.Logger, level: int | str) -> None:
        self.level = check(level)
        self.manager._clear_cache()  # type: ignore[attr-defined]

    monkeypatch.setattr(logging.Logger, "setLevel", renamed_set_level)
    log, target = quiet_debug(logger_name)
    monkeypatch.delattr(logging, "_checkLevel")
    log.setLevel(logging.DEBUG)
    log.debug("kept")
    assert [r.getMessage() for r in target.records] == ["kept"]


def test_a_manager_without_a_disable_property_is_reported(
    monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where manager.disable cannot be hooked, install() says so once, with a warning."""
    monkeypatch.setattr(plans, "_disable_prop", None)
    monkeypatch.setattr(hft_installation, "_warned_disable_hook", False)
    manager = logging.Logger.manager
    original = type(manager)
    monkeypatch.setattr(manager, "__class__", logging.Manager)
    try:
        with pytest.warns(RuntimeWarning, match="disable"):
            hftlogging.install()
        assert not plans.disable_hook_installed(manager)
    finally:
        manager.__class__ = original


# --- what a change costs: only the loggers below it --------------------------------------


def test_a_change_forgets_only_the_loggers_below(logger_name: str) -> None:
    """addHandler/setLevel on one logger forgets its subtree's plans, not a sibling's."""
    hftlogging.install()
    names = ["a", "a.b", "a.b.c", "a.bc", "z"]
    logs = {n: factory.get_logger(f"{logger_name}.{n}") for n in names}
    for lg in logs.values():
        lg.info("plan it")
        assert lg._cache
    logs["a.b"].addHandler(logging.NullHandler())
    assert not logs["a.b"]._cache and not logs["a.b.c"]._cache
    assert logs["a"]._cache and logs["a.bc"]._cache and logs["z"]._cache
    for lg in logs.values():
        lg.info("plan it again")
    logs["a"].setLevel(logging.WARNING)
    assert not logs["a"]._cache and not logs["a.b"]._cache and not logs["a.bc"]._cache
    assert logs["z"]._cache


def test_get_logger_of_an_existing_logger_does_not_install(
    logger_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """get_logger/get_exchange_logger/get_strategy_logger of an existing logger: a lookup."""
    first = factory.get_logger(logger_name)
    ex = factory.get_exchange_logger("mexc", logger_name)
    st_log = factory.get_strategy_logger(logger_name, ["mexc", "private"])

    def no_install() -> None:
        raise AssertionError("install() ran for an existing logger")

    monkeypatch.setattr(factory, "install", no_install)
    assert factory.get_logger(logger_name) is first
    assert factory.get_exchange_logger("mexc", logger_name) is ex
    assert factory.get_strategy_logger(logger_name, ["mexc", "private"]) is st_log
    assert st_log.tags == ["mexc", "private"]


def test_get_logger_converts_a_plain_logger_made_after_uninstall(logger_name: str) -> None:
    """A plain logging.Logger (made while uninstalled) is turned into an HFTLogger."""
    hftlogging.install()
    hftlogging.uninstall()
    plain = logging.getLogger(logger_name)
    assert type(plain) is logging.Logger
    lg = factory.get_logger(logger_name)
    assert lg is plain and isinstance(lg, HFTLogger)


def test_plans_need_no_stdlib_level_cache(logger_name: str) -> None:
    """A logger whose stdlib level cache is gone gets one of hftlogging's own."""
    hftlogging.install()
    lg = logging.Logger(logger_name)
    del lg.__dict__["_cache"]
    hft_installation._convert(lg, HFTLogger)
    assert lg.__dict__["_cache"] == {}


def test_logger_built_without_the_known_stdlib_init_is_the_same(
    logger_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where stdlib's Logger.__init__ is not the known one, Logger.__init__ builds it.

    Simulated by turning off HFTLogger's own initialisation: both ways give a logger with
    the same configuration that logs the same way.
    """
    fast = HFTLogger(logger_name)
    monkeypatch.setattr(hft_logger, "_check_level", None)
    slow = HFTLogger(logger_name)
    for lg in (fast, slow):
        assert (lg.name, lg.level, lg.parent, lg.propagate, lg.disabled) == (
            logger_name, logging.NOTSET, None, True, False)
        assert lg.handlers == [] and lg.filters == [] and lg._cache == {}
        target = CaptureHandler()
        lg.addHandler(target)
        lg.setLevel(logging.INFO)
        lg.debug("dropped")
        lg.info("kept")
        lg.addFilter(WarningAndUp())
        lg.info("filtered")
        assert [r.getMessage() for r in target.records] == ["kept"]
