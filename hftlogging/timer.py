"""LoggingTimer: time a block or a function and record its duration."""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import Callable
from time import perf_counter_ns
from typing import TYPE_CHECKING, Any, TypeVar, cast

if TYPE_CHECKING:
    from types import TracebackType

    from hftlogging.capture import TagValue
    from hftlogging.logger import BoundLogger, HFTLogger

__all__ = ["LoggingTimer", "set_plain_logger_adopter"]

_F = TypeVar("_F", bound=Callable[..., Any])

# Turns a plain logging.Logger into an HFTLogger in place; registered by
# hftlogging.installation (this module sits below the logger and imports none of it).
_adopt: list[Callable[[logging.Logger], None]] = []


def set_plain_logger_adopter(adopt: Callable[[logging.Logger], None]) -> None:
    """Register what makes a plain ``logging.Logger`` given to a timer an HFTLogger."""
    _adopt[:] = [adopt]


class LoggingTimer:
    """Time a block (``with``) or every call of a function (decorator, sync or async).

    On exit it records the duration as a histogram in milliseconds (``log.latency(name,
    ms)``, which the Prometheus handler exports as ``<name>_duration_seconds``). If the
    block raises an ``Exception``, it also logs an error with the duration and the
    traceback, then lets the exception propagate. ``elapsed_ns``, ``elapsed_us`` and
    ``elapsed_ms`` read the running time inside the block and the final time after it.

    Records point at the user's code: for a ``with`` block, the line of the ``with``; for a
    decorated function, the line that called it.

    Example::

        with log.timer("order_placement", symbol="BTCUSDT") as t:
            place()
        print(t.elapsed_us)

        @log.timer("parse")
        async def parse(msg): ...
    """

    __slots__ = ("_end", "_logger", "_start", "name", "tags")

    def __init__(
        self, logger: HFTLogger | BoundLogger | logging.Logger, name: str, /, **tags: TagValue,
    ) -> None:
        if type(logger) is logging.Logger:
            # A logging.getLogger() logger from before install(): convert this one logger
            # in place rather than fail at the end of the block; the others stay as
            # they are.
            for adopt in _adopt:
                adopt(logger)
        self._logger = cast("HFTLogger | BoundLogger", logger)
        self.name = name
        self.tags = tags
        self._start: int | None = None
        self._end: int | None = None

    def __enter__(self) -> LoggingTimer:
        self._end = None
        self._start = perf_counter_ns()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        end = self._end = perf_counter_ns()
        elapsed_ms = (end - self._start) / 1e6  # type: ignore[operator]
        log = self._logger
        if exc_type is not None and issubclass(exc_type, Exception):
            log.error(
                "%s failed after %.3f ms", self.name, elapsed_ms,
                exc_info=(exc_type, exc, tb), operation=self.name, duration_ms=elapsed_ms,
            )
        log._observe_ms(self.name, elapsed_ms, self.tags)

    async def __aenter__(self) -> LoggingTimer:
        return self.__enter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.__exit__(exc_type, exc, tb)

    @property
    def elapsed_ns(self) -> int:
        """Nanoseconds since the start: running inside the block, final after it (0 before)."""
        start = self._start
        if start is None:
            return 0
        end = self._end
        return (end if end is not None else perf_counter_ns()) - start

    @property
    def elapsed_us(self) -> float:
        """:attr:`elapsed_ns` in microseconds."""
        return self.elapsed_ns / 1e3

    @property
    def elapsed_ms(self) -> float:
        """:attr:`elapsed_ns` in milliseconds."""
        return self.elapsed_ns / 1e6

    def __call__(self, func: _F) -> _F:
        """Decorate ``func``: each call is timed by a fresh timer with the same name and tags."""
        logger, name, tags = self._logger, self.name, self.tags
        if inspect.iscoroutinefunction(func):

            @functools.wraps(func)
            async def async_timed(*args: Any, **kwargs: Any) -> Any:
                with LoggingTimer(logger, name, **tags):
                    return await func(*args, **kwargs)

            return cast("_F", async_timed)

        @functools.wraps(func)
        def timed(*args: Any, **kwargs: Any) -> Any:
            with LoggingTimer(logger, name, **tags):
                return func(*args, **kwargs)

        return cast("_F", timed)

    def __repr__(self) -> str:
        return f"<LoggingTimer {self.name!r} elapsed_ms={self.elapsed_ms:.3f}>"
