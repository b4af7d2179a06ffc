"""LoggingTimer: context manager and decorator (sync and async), elapsed times, failures."""

from __future__ import annotations

import asyncio
import inspect
import logging
import threading
from pathlib import Path
from time import perf_counter_ns
from typing import Any

import pytest
from test_logger import Pipe, make_fast_pipe, make_stdlib_pipe

import hftlogging
from hftlogging import LoggingTimer
from hftlogging.testing import CaptureHandler

THIS_FILE = __file__


@pytest.fixture(params=["stdlib", "fast"])
def pipe(request: pytest.FixtureRequest, logger_name: str) -> Pipe:
    """A logger on each path with a capturing handler that records caller fields."""
    target = CaptureHandler()
    target.setFormatter(logging.Formatter("%(funcName)s %(lineno)d %(message)s"))
    if request.param == "fast":
        return make_fast_pipe(logger_name, target)
    return make_stdlib_pipe(logger_name, target)


def _line_here(tag: str) -> int:
    for i, line in enumerate(Path(THIS_FILE).read_text(encoding="utf-8").splitlines(), 1):
        if line.rstrip().endswith(f"# mark:{tag}"):
            return i
    raise AssertionError(tag)


def test_context_manager_records_duration_histogram(pipe: Pipe) -> None:
    """On exit a timer records a histogram in ms with its tags, equal to elapsed_ms."""
    outer_start = perf_counter_ns()
    with pipe.log.timer("order_placement", symbol="BTCUSDT") as t:
        assert isinstance(t, LoggingTimer)
    outer = perf_counter_ns() - outer_start
    rec = pipe.one()
    assert rec.log_type == "metric"  # type: ignore[attr-defined]
    assert rec.metric_name == "order_placement"  # type: ignore[attr-defined]
    assert rec.metric_type == "histogram"  # type: ignore[attr-defined]
    assert rec.metric_unit == "ms"  # type: ignore[attr-defined]
    assert rec.metric_tags == {"symbol": "BTCUSDT"}  # type: ignore[attr-defined]
    assert rec.metric_value == t.elapsed_ms  # type: ignore[attr-defined]
    assert 0 < t.elapsed_ns <= outer


def test_elapsed_during_and_after(pipe: Pipe) -> None:
    """elapsed_* are 0 before, grow inside the block, and are frozen after it."""
    timer = pipe.log.timer("op")
    assert timer.elapsed_ns == 0
    with timer as t:
        first = t.elapsed_ns
        spin_until = perf_counter_ns() + 200_000
        while perf_counter_ns() < spin_until:
            pass
        second = t.elapsed_ns
        assert 0 <= first < second
    final = t.elapsed_ns
    assert final >= second
    assert t.elapsed_ns == final  # frozen
    assert t.elapsed_us == final / 1e3
    assert t.elapsed_ms == final / 1e6
    assert final >= 200_000


def test_exception_logs_error_with_duration_and_reraises(pipe: Pipe) -> None:
    """A failing block logs an error with the duration and traceback, then re-raises."""
    with pytest.raises(ZeroDivisionError), pipe.log.timer("risky", venue="x") as t:
        1 / 0
    recs = pipe.records()
    errors = [r for r in recs if r.log_type == "text"]  # type: ignore[attr-defined]
    metrics = [r for r in recs if r.log_type == "metric"]  # type: ignore[attr-defined]
    assert len(errors) == 1 and len(metrics) == 1
    err = errors[0]
    assert err.levelno == logging.ERROR
    assert err.getMessage().startswith("risky failed after ")
    assert err.getMessage().endswith(" ms")
    assert err.context["operation"] == "risky"  # type: ignore[attr-defined]
    assert err.context["duration_ms"] == pytest.approx(t.elapsed_ms)  # type: ignore[attr-defined]
    assert err.exc_info is not None and err.exc_info[0] is ZeroDivisionError
    assert "ZeroDivisionError" in logging.Formatter().format(err)
    assert metrics[0].metric_value == t.elapsed_ms  # type: ignore[attr-defined]


def test_base_exception_is_not_an_error(pipe: Pipe) -> None:
    """KeyboardInterrupt/SystemExit pass through without an error record; duration kept."""
    with pytest.raises(KeyboardInterrupt), pipe.log.timer("interrupted"):
        raise KeyboardInterrupt
    types = [r.log_type for r in pipe.records()]  # type: ignore[attr-defined]
    assert types == ["metric"]


def test_sync_decorator(pipe: Pipe) -> None:
    """A decorated function keeps its name and result; each call records a duration."""
    @pipe.log.timer("parse", kind="book")
    def parse(x: int) -> int:
        """Parse."""
        return x * 2

    assert parse.__name__ == "parse"
    assert parse.__doc__ == "Parse."
    assert parse(2) == 4
    assert parse(3) == 6
    recs = pipe.records()
    assert [r.metric_name for r in recs] == ["parse", "parse"]  # type: ignore[attr-defined]
    assert all(r.metric_tags == {"kind": "book"} for r in recs)  # type: ignore[attr-defined]


def test_sync_decorator_failure(pipe: Pipe) -> None:
    """A decorated function that raises logs the error and re-raises it."""
    @pipe.log.timer("fails")
    def fails() -> None:
        raise ValueError("nope")

    with pytest.raises(ValueError, match="nope"):
        fails()
    types = sorted(r.log_type for r in pipe.records())  # type: ignore[attr-defined]
    assert types == ["metric", "text"]


def test_async_decorator(pipe: Pipe) -> None:
    """An async def stays a coroutine function; each awaited call records a duration."""
    @pipe.log.timer("fetch")
    async def fetch(x: int) -> int:
        await asyncio.sleep(0)
        return x + 1

    assert inspect.iscoroutinefunction(fetch)
    assert fetch.__name__ == "fetch"

    async def main() -> list[int]:
        return list(await asyncio.gather(fetch(1), fetch(2)))

    assert asyncio.run(main()) == [2, 3]
    recs = pipe.records()
    assert [r.metric_name for r in recs] == ["fetch", "fetch"]  # type: ignore[attr-defined]


def test_async_decorator_failure(pipe: Pipe) -> None:
    """An async decorated function that raises logs the error and re-raises it."""
    @pipe.log.timer("afails")
    async def afails() -> None:
        raise RuntimeError("down")

    with pytest.raises(RuntimeError, match="down"):
        asyncio.run(afails())
    types = sorted(r.log_type for r in pipe.records())  # type: ignore[attr-defined]
    assert types == ["metric", "text"]


def test_async_with(pipe: Pipe) -> None:
    """``async with log.timer(...)`` works as the sync form does."""
    async def main() -> float:
        async with pipe.log.timer("ablock") as t:
            await asyncio.sleep(0)
        return t.elapsed_ms

    elapsed = asyncio.run(main())
    assert pipe.one().metric_value == elapsed  # type: ignore[attr-defined]


def test_logging_timer_constructed_directly(pipe: Pipe) -> None:
    """hftlogging.LoggingTimer(logger, name) is the same thing as logger.timer(name)."""
    assert type(pipe.log.timer("x")) is LoggingTimer
    with hftlogging.LoggingTimer(pipe.log, "rest_request", method="GET") as t:
        pass
    rec = pipe.one()
    assert rec.metric_name == "rest_request"  # type: ignore[attr-defined]
    assert rec.metric_tags == {"method": "GET"}  # type: ignore[attr-defined]
    assert rec.metric_value == t.elapsed_ms  # type: ignore[attr-defined]


def test_timer_on_bound_logger_carries_context(pipe: Pipe) -> None:
    """A timer from a bound view puts the bound fields in the record's context."""
    bound = pipe.log.with_context(correlation_id="c-1")
    with bound.timer("step"):
        pass
    with hftlogging.LoggingTimer(bound, "step2"):
        pass
    for rec in pipe.records():
        assert rec.context == {"correlation_id": "c-1"}  # type: ignore[attr-defined]


def test_timer_reused_sequentially(pipe: Pipe) -> None:
    """One timer object can time several blocks in turn; each exit records once."""
    t = pipe.log.timer("again")
    with t:
        pass
    first = t.elapsed_ns
    with t:
        spin_until = perf_counter_ns() + 100_000
        while perf_counter_ns() < spin_until:
            pass
    assert t.elapsed_ns >= 100_000
    assert t.elapsed_ns != first
    assert len(pipe.records()) == 2


def test_timer_in_threads(pipe: Pipe) -> None:
    """Timers used concurrently in threads each record their own duration."""
    barrier = threading.Barrier(4)

    def work() -> None:
        barrier.wait()
        with pipe.log.timer("threaded"):
            pass

    threads = [threading.Thread(target=work) for _ in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert len(pipe.records()) == 4


def failing_block(log: Any) -> None:
    with log.timer("boom"):  # mark:failing_with
        raise KeyError("k")  # mark:failing_raise


def test_error_record_points_at_the_with_block(pipe: Pipe) -> None:
    """The error record of a failing block is attributed to the user's with statement."""
    with pytest.raises(KeyError):
        failing_block(pipe.log)
    recs = pipe.records()
    assert len(recs) == 2
    expected = {_line_here("failing_with")}
    for rec in recs:
        assert rec.pathname == THIS_FILE
        assert rec.funcName == "failing_block"
        assert rec.lineno in expected


def test_repr_names_timer() -> None:
    """repr shows the name and the elapsed time."""
    hftlogging.install()
    t = LoggingTimer(logging.getLogger("timer.repr"), "op")  # type: ignore[arg-type]
    assert repr(t) == "<LoggingTimer 'op' elapsed_ms=0.000>"


def test_timer_on_a_plain_logger_from_before_install(logger_name: str) -> None:
    """LoggingTimer(logging.getLogger(...)) works even when install() was not called yet."""
    was = hftlogging.installation.installed()
    hftlogging.uninstall()
    logging.setLoggerClass(logging.Logger)
    try:
        plain = logging.getLogger(logger_name)
        assert type(plain) is logging.Logger
        target = CaptureHandler()
        plain.addHandler(target)
        plain.propagate = False
        with pytest.raises(ValueError), hftlogging.LoggingTimer(plain, "plain_block"):
            raise ValueError
        assert [r.log_type for r in target.records] == ["text", "metric"]  # type: ignore[attr-defined]
    finally:
        if was:
            hftlogging.install()
