"""Context: with_context views, set_context, and hftlogging.context() across threads and tasks."""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any

import pytest
from test_logger import GatedTarget, Pipe, make_fast_pipe, make_stdlib_pipe

import hftlogging
from hftlogging import BoundLogger
from hftlogging.logger import current_context
from hftlogging.testing import CaptureHandler


@pytest.fixture(params=["stdlib", "fast"])
def pipe(request: pytest.FixtureRequest, logger_name: str) -> Pipe:
    """A logger on each path with a capturing handler."""
    if request.param == "fast":
        return make_fast_pipe(logger_name, CaptureHandler())
    return make_stdlib_pipe(logger_name, CaptureHandler())


def contexts(pipe: Pipe) -> list[dict[str, Any]]:
    return [r.context for r in pipe.records()]  # type: ignore[attr-defined]


# --- with_context -----------------------------------------------------------------------------


def test_with_context_adds_fields_without_touching_the_logger(pipe: Pipe) -> None:
    """A bound view adds its fields; the shared logger and other views are unchanged."""
    log = pipe.log
    bound = log.with_context(correlation_id="c-1", exchange="mexc")
    other = log.with_context(correlation_id="c-2")
    bound.info("bound", step=1)
    log.info("plain")
    other.info("other")
    assert contexts(pipe) == [
        {"correlation_id": "c-1", "exchange": "mexc", "step": 1},
        {},
        {"correlation_id": "c-2"},
    ]
    assert log.context == {}
    assert isinstance(bound, BoundLogger)
    assert isinstance(bound, logging.LoggerAdapter)
    assert bound.logger is log


def test_bound_fields_become_attributes(pipe: Pipe) -> None:
    """Bound fields are record attributes as keyword fields are."""
    pipe.log.with_context(exchange="mexc").warning("w")
    assert pipe.one().exchange == "mexc"  # type: ignore[attr-defined]


def test_nested_with_context(pipe: Pipe) -> None:
    """with_context on a view adds to its fields; the outer view is unchanged."""
    outer = pipe.log.with_context(a=1, b=1)
    inner = outer.with_context(b=2, c=3)
    inner.info("inner")
    outer.info("outer")
    assert contexts(pipe) == [{"a": 1, "b": 2, "c": 3}, {"a": 1, "b": 1}]
    assert inner.context == {"a": 1, "b": 2, "c": 3}


def test_every_bound_method_carries_fields(pipe: Pipe) -> None:
    """Text, exception, log, metric, counter, histogram, latency, audit, timer: all bound."""
    b = pipe.log.with_context(cid="c")
    b.debug("d")
    b.info("i")
    b.warning("w")
    b.error("e")
    b.critical("c")
    b.log(logging.INFO, "l")
    try:
        raise ValueError("x")
    except ValueError:
        b.exception("x")
    b.metric("g", 1)
    b.counter("n")
    b.histogram("h", 1.0)
    b.latency("op", 1.0)
    b.audit("ev", k=1)
    with b.timer("t"):
        pass
    recs = pipe.records()
    assert len(recs) == 13
    for r in recs:
        assert r.context["cid"] == "c"  # type: ignore[attr-defined]
    assert recs[6].exc_info is not None
    assert recs[11].context == {"cid": "c", "k": 1}  # type: ignore[attr-defined]


def test_bound_views_isolated_across_threads(pipe: Pipe) -> None:
    """Views made and used in different threads at once never mix their fields."""
    n = 8
    barrier = threading.Barrier(n)

    idents: dict[int, int] = {}

    def work(i: int) -> None:
        idents[i] = threading.get_ident()
        view = pipe.log.with_context(worker=i)
        barrier.wait()
        for j in range(20):
            view.info("step", j=j)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    recs = pipe.records()
    assert len(recs) == n * 20
    for r in recs:
        assert r.thread == idents[r.context["worker"]]  # type: ignore[attr-defined]
    by_worker: dict[int, list[int]] = {}
    for r in recs:
        by_worker.setdefault(r.context["worker"], []).append(r.context["j"])  # type: ignore[attr-defined]
    assert by_worker == {i: list(range(20)) for i in range(n)}


# --- set_context ------------------------------------------------------------------------------


def test_set_context_applies_to_every_record_of_the_logger(pipe: Pipe) -> None:
    """set_context fields go on every record of that logger, including metrics and audit."""
    pipe.log.set_context(component="parser")
    pipe.log.set_context(exchange="mexc")
    pipe.log.info("x")
    pipe.log.counter("c")
    pipe.log.audit("ev")
    for ctx in contexts(pipe):
        assert ctx == {"component": "parser", "exchange": "mexc"}
    assert pipe.log.context == {"component": "parser", "exchange": "mexc"}


def test_context_property_is_a_copy(pipe: Pipe) -> None:
    """Mutating log.context does not change what the logger adds."""
    pipe.log.set_context(a=1)
    pipe.log.context["b"] = 2
    pipe.log.info("x")
    assert contexts(pipe) == [{"a": 1}]


def test_clear_context(pipe: Pipe) -> None:
    """clear_context removes the set_context fields."""
    pipe.log.set_context(a=1)
    pipe.log.clear_context()
    pipe.log.info("x")
    assert contexts(pipe) == [{}]


def test_set_context_after_the_call_does_not_change_a_queued_record(logger_name: str) -> None:
    """A record queued before set_context/clear_context keeps the context of its call."""
    target = GatedTarget()
    p = make_fast_pipe(logger_name, target)
    try:
        p.log.set_context(a=1)
        with hftlogging.context(cid="c-1"):
            p.log.info("queued")
        p.log.set_context(a=2)
        p.log.clear_context()
    finally:
        target.gate.set()
    hftlogging.shutdown()
    assert target.lines == ["queued a=1 cid=c-1"]


def test_precedence(pipe: Pipe) -> None:
    """set_context < hftlogging.context() < extra < with_context < call keywords."""
    log = pipe.log
    log.set_context(k1="logger", k2="logger", k3="logger", k4="logger", k5="logger")
    with hftlogging.context(k2="cv", k3="cv", k4="cv", k5="cv"):
        log.with_context(k4="bound", k5="bound").info(
            "x", extra={"k3": "extra", "k4": "extra", "k5": "extra"}, k5="kw",
        )
    assert contexts(pipe) == [
        {"k1": "logger", "k2": "cv", "k3": "extra", "k4": "bound", "k5": "kw"},
    ]


# --- hftlogging.context() -------------------------------------------------------------------


def test_context_block_adds_fields_and_is_removed_on_exit(pipe: Pipe) -> None:
    """Fields from the block go on records inside it only; nested blocks add and override."""
    log = pipe.log
    with hftlogging.context(correlation_id="c-1", a=1) as fields:
        assert fields == {"correlation_id": "c-1", "a": 1}
        log.info("outer")
        with hftlogging.context(a=2, b=3):
            log.info("inner")
            assert current_context() == {"correlation_id": "c-1", "a": 2, "b": 3}
        log.info("outer again")
    log.info("outside")
    assert contexts(pipe) == [
        {"correlation_id": "c-1", "a": 1},
        {"correlation_id": "c-1", "a": 2, "b": 3},
        {"correlation_id": "c-1", "a": 1},
        {},
    ]
    assert current_context() == {}


def test_context_block_restored_after_exception(pipe: Pipe) -> None:
    """A block left by an exception still removes its fields."""
    with pytest.raises(RuntimeError), hftlogging.context(cid="x"):
        raise RuntimeError
    pipe.log.info("after")
    assert contexts(pipe) == [{}]


def test_context_isolated_across_threads(pipe: Pipe) -> None:
    """Each thread sees only its own context fields, even while all are inside a block."""
    n = 8
    inside = threading.Barrier(n + 1)
    logged = threading.Barrier(n + 1)
    errors: list[BaseException] = []

    def work(i: int) -> None:
        try:
            with hftlogging.context(correlation_id=f"c-{i}"):
                inside.wait(10)  # every thread is inside its block now
                pipe.log.info("step", i=i)
                logged.wait(10)
        except BaseException as e:  # reported by the main thread
            errors.append(e)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(n)]
    with hftlogging.context(correlation_id="main"):
        for t in threads:
            t.start()
        inside.wait(10)
        pipe.log.info("main")
        logged.wait(10)
    for t in threads:
        t.join()
    assert not errors
    recs = pipe.records()
    assert len(recs) == n + 1
    for r in recs:
        ctx = r.context  # type: ignore[attr-defined]
        if r.getMessage() == "main":
            assert ctx == {"correlation_id": "main"}
        else:
            assert ctx == {"correlation_id": f"c-{ctx['i']}", "i": ctx["i"]}


def test_context_isolated_across_asyncio_tasks(pipe: Pipe) -> None:
    """Concurrent tasks each keep their own correlation id across awaits."""
    n = 10
    log = pipe.log

    async def handle(i: int, entered: asyncio.Event, gate: asyncio.Event) -> None:
        with hftlogging.context(correlation_id=f"c-{i}"):
            entered.set()
            await gate.wait()  # every task is inside its block before any logs
            for step in range(3):
                log.info("step", i=i, step=step)
                await asyncio.sleep(0)

    async def main() -> None:
        gate = asyncio.Event()
        entered = [asyncio.Event() for _ in range(n)]
        tasks = [asyncio.ensure_future(handle(i, entered[i], gate)) for i in range(n)]
        await asyncio.gather(*(e.wait() for e in entered))
        gate.set()
        await asyncio.gather(*tasks)

    asyncio.run(main())
    recs = pipe.records()
    assert len(recs) == n * 3
    # The tasks interleaved: consecutive records come from different tasks.
    assert recs[0].context["i"] != recs[1].context["i"]  # type: ignore[attr-defined]
    for r in recs:
        ctx = r.context  # type: ignore[attr-defined]
        assert ctx["correlation_id"] == f"c-{ctx['i']}"


def test_async_with_context_and_child_task(pipe: Pipe) -> None:
    """``async with`` works; a child task inherits the fields but cannot leak changes back."""
    log = pipe.log

    async def child() -> None:
        log.info("child inherits")
        with hftlogging.context(extra_field="child only"):
            log.info("child block")

    async def main() -> None:
        async with hftlogging.context(correlation_id="c-9"):
            await asyncio.create_task(child())
            log.info("parent")

    asyncio.run(main())
    assert contexts(pipe) == [
        {"correlation_id": "c-9"},
        {"correlation_id": "c-9", "extra_field": "child only"},
        {"correlation_id": "c-9"},
    ]


def test_context_applies_to_metrics_and_audit(pipe: Pipe) -> None:
    """context() fields reach metric and audit records' context too."""
    with hftlogging.context(correlation_id="c-1"):
        pipe.log.counter("c")
        pipe.log.audit("ev", order_id=1)
    assert contexts(pipe) == [{"correlation_id": "c-1"},
                              {"correlation_id": "c-1", "order_id": 1}]
