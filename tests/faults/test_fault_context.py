"""One ``hftlogging.context(...)`` object shared by many asyncio tasks and threads."""

from __future__ import annotations

import asyncio
import threading

from faultkit import build_pipeline, scenario

import hftlogging
from hftlogging.logger import current_context
from hftlogging.testing import CaptureHandler

TASKS = 1500


def _by_message(cap: CaptureHandler) -> dict[str, dict[str, object]]:
    return {r.getMessage(): dict(r.context) for r in cap.records}  # type: ignore[attr-defined]


@scenario("shared_context_object")
def test_a_context_object_shared_by_asyncio_tasks(logger_name: str) -> None:
    """1,500 tasks enter one module-level context object (``async with SCOPE:``, and again
    inside itself) around their own correlation id, interleaved at every await: each
    record carries its own task's correlation id, inside the scope and after leaving it."""
    cap = CaptureHandler()
    p = build_pipeline(logger_name, {"cap": cap})
    scope = hftlogging.context(service="orders")

    async def request(i: int) -> None:
        with hftlogging.context(correlation_id=f"c-{i}"):
            async with scope:
                await asyncio.sleep(0)
                async with scope:  # re-entered inside itself
                    await asyncio.sleep(0)
                    p.log.info("inner %d", i)
                await asyncio.sleep(0)
                p.log.info("in %d", i)
            await asyncio.sleep(0)
            p.log.info("after %d", i)
        p.log.info("outside %d", i)

    async def main() -> None:
        await asyncio.gather(*(request(i) for i in range(TASKS)))

    asyncio.run(main())
    p.flush()
    got = _by_message(cap)
    assert len(got) == 4 * TASKS
    wrong = [
        m for i in range(TASKS) for m, want in (
            (f"inner {i}", {"correlation_id": f"c-{i}", "service": "orders"}),
            (f"in {i}", {"correlation_id": f"c-{i}", "service": "orders"}),
            (f"after {i}", {"correlation_id": f"c-{i}"}),
            (f"outside {i}", {}),
        ) if got[m] != want
    ]
    assert wrong == [], f"{len(wrong)} records carry another task's context: {wrong[:5]}"
    assert current_context() == {}


@scenario("shared_context_object")
def test_a_context_object_shared_by_threads(logger_name: str) -> None:
    """Eight threads enter one context object (``with SCOPE:``) at the same time, each
    around its own correlation id and in lockstep, so every entry and exit interleaves
    with the others': every record carries its own thread's fields."""
    cap = CaptureHandler()
    p = build_pipeline(logger_name, {"cap": cap})
    scope = hftlogging.context(service="orders")
    n_threads, rounds = 8, 200
    barrier = threading.Barrier(n_threads)

    def worker(t: int) -> None:
        for r in range(rounds):
            with hftlogging.context(correlation_id=f"t{t}-{r}"):
                barrier.wait()
                with scope:
                    barrier.wait()  # every thread is inside: exits now interleave
                    p.log.info("in %d %d", t, r)
                barrier.wait()
                p.log.info("after %d %d", t, r)

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(n_threads)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    p.flush()
    got = _by_message(cap)
    for t in range(n_threads):
        for r in range(rounds):
            assert got[f"in {t} {r}"] == {"correlation_id": f"t{t}-{r}", "service": "orders"}
            assert got[f"after {t} {r}"] == {"correlation_id": f"t{t}-{r}"}


@scenario("shared_context_object")
def test_a_context_left_in_another_task_takes_back_only_its_fields() -> None:
    """A block entered in one task and left in another (a generator resumed elsewhere)
    removes its own fields there and leaves the other task's fields alone."""
    scope = hftlogging.context(service="orders")

    def gen() -> object:
        with scope:
            yield current_context()
            yield current_context()

    it = gen()

    async def first() -> object:
        return next(it)  # type: ignore[call-overload]

    async def other() -> dict[str, object]:
        with hftlogging.context(correlation_id="mine"):
            try:
                next(it)  # type: ignore[call-overload]
                next(it)  # type: ignore[call-overload]
            except StopIteration:
                pass
            return current_context()

    async def main() -> tuple[object, dict[str, object]]:
        entered = await asyncio.create_task(first())
        return entered, await asyncio.create_task(other())

    seen_in_first, after = asyncio.run(main())
    assert seen_in_first == {"service": "orders"}
    assert after == {"correlation_id": "mine"}
    assert current_context() == {}
