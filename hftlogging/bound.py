"""BoundLogger: a view of an HFTLogger that adds fields to every record."""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from hftlogging import health, ratelimit
from hftlogging import strict as _strict
from hftlogging.capture import MISSING, ExcInfo, Name, Number, TagValue
from hftlogging.exceptions import ConfigTypeError, describe
from hftlogging.lifecycle import flush_all
from hftlogging.timer import LoggingTimer

if TYPE_CHECKING:
    from hftlogging.logger import HFTLogger

_NOMSG = MISSING

__all__ = ["BoundLogger"]


# --- bound view -----------------------------------------------------------------------------


class BoundLogger(logging.LoggerAdapter):  # type: ignore[type-arg]
    """A view of an :class:`HFTLogger` that adds fields to every record.

    Made by :meth:`HFTLogger.with_context`; the shared logger is not changed. A bound view
    is a :class:`logging.LoggerAdapter`, so code typed for adapters accepts it.
    """

    logger: HFTLogger

    def __init__(self, logger: HFTLogger, fields: dict[str, Any]) -> None:
        super().__init__(logger, fields)
        self._fields = fields

    def process(self, msg: Any, kwargs: Any) -> tuple[Any, Any]:
        """Add the bound fields as keywords (used only by LoggerAdapter's own paths)."""
        return msg, {**self._fields, **kwargs}

    def _text(self, level: int, msg: Any, args: tuple[Any, ...], kw: dict[str, Any]) -> None:
        self.logger._emit_text(level, msg, args, kw, self._fields)

    def debug(self, msg: object = _NOMSG, /, *args: object, **kw: object) -> None:
        """As :meth:`HFTLogger.debug`, with the bound fields."""
        self._text(logging.DEBUG, msg, args, kw)

    def info(self, msg: object = _NOMSG, /, *args: object, **kw: object) -> None:
        """As :meth:`HFTLogger.info`, with the bound fields."""
        self._text(logging.INFO, msg, args, kw)

    def warning(self, msg: object = _NOMSG, /, *args: object, **kw: object) -> None:
        """As :meth:`HFTLogger.warning`, with the bound fields."""
        self._text(logging.WARNING, msg, args, kw)

    warn = warning

    def error(self, msg: object = _NOMSG, /, *args: object, **kw: object) -> None:
        """As :meth:`HFTLogger.error`, with the bound fields."""
        self._text(logging.ERROR, msg, args, kw)

    def exception(
        self, msg: object = _NOMSG, /, *args: object, exc_info: ExcInfo = True, **kw: object,
    ) -> None:
        """As :meth:`HFTLogger.exception`, with the bound fields."""
        kw["exc_info"] = exc_info
        self._text(logging.ERROR, msg, args, kw)

    def critical(self, msg: object = _NOMSG, /, *args: object, **kw: object) -> None:
        """As :meth:`HFTLogger.critical`, with the bound fields."""
        self._text(logging.CRITICAL, msg, args, kw)

    fatal = critical

    def log(self, level: int | str, msg: object = _NOMSG, /, *args: object, **kw: object) -> None:  # type: ignore[override]
        """As :meth:`HFTLogger.log`, with the bound fields."""
        if type(level) is not int:
            try:
                level = logging._checkLevel(level)  # type: ignore[attr-defined]
            except (TypeError, ValueError) as e:
                if _strict.enabled:  # strict mode: stdlib's Logger.log raises TypeError
                    msg = describe("level", "an integer or a level name", level,
                                   "pass logging.INFO or 'INFO'")
                    raise ConfigTypeError(msg) from e
                health.bad_input("level", str(e))
                return
        self._text(level, msg, args, kw)  # type: ignore[arg-type]

    def metric(
        self, name: Name = _NOMSG, value: Number = _NOMSG, /,
        tags: Mapping[str, TagValue] | None = None, **more_tags: TagValue,
    ) -> None:
        """As :meth:`HFTLogger.metric`; the bound fields go to the record's context."""
        self.logger._metric("gauge", name, value, tags, more_tags, None, self._fields)

    def counter(
        self, name: Name = _NOMSG, value: Number = _NOMSG, /,
        tags: Mapping[str, TagValue] | None = None, **more_tags: TagValue,
    ) -> None:
        """As :meth:`HFTLogger.counter`; the bound fields go to the record's context."""
        if value is _NOMSG and "value" not in more_tags:
            value = 1
        self.logger._metric("counter", name, value, tags, more_tags, None, self._fields)

    def histogram(
        self, name: Name = _NOMSG, value: Number = _NOMSG, /,
        tags: Mapping[str, TagValue] | None = None, **more_tags: TagValue,
    ) -> None:
        """As :meth:`HFTLogger.histogram`; the bound fields go to the record's context."""
        self.logger._metric("histogram", name, value, tags, more_tags, None, self._fields)

    def latency(
        self, operation: Name = _NOMSG, duration_ms: Number = _NOMSG, /,
        tags: Mapping[str, TagValue] | None = None, **more_tags: TagValue,
    ) -> None:
        """As :meth:`HFTLogger.latency`; the bound fields go to the record's context."""
        if operation is _NOMSG:
            operation = more_tags.pop("operation", _NOMSG)  # type: ignore[assignment]
        if duration_ms is _NOMSG:
            duration_ms = more_tags.pop("duration_ms", _NOMSG)  # type: ignore[assignment]
        self.logger._metric("histogram", operation, duration_ms, tags, more_tags, "ms",
                            self._fields)

    def timer(self, name: str, /, **tags: TagValue) -> LoggingTimer:
        """As :meth:`HFTLogger.timer`, logging through this view."""
        return LoggingTimer(self, name, **tags)

    def _observe_ms(self, name: str, elapsed_ms: float, tags: dict[str, Any]) -> None:
        self.logger._metric("histogram", name, elapsed_ms, None, tags, "ms", self._fields)

    def audit(
        self, event: Name = _NOMSG, data: Mapping[str, object] | None = None, /, **fields: object
    ) -> None:
        """As :meth:`HFTLogger.audit`, with the bound fields."""
        self.logger._audit(event, data, fields, self._fields)

    def flush(self, timeout: float | None = None) -> bool:
        """As :meth:`HFTLogger.flush`."""
        return flush_all(timeout, self.logger)

    def with_context(self, **fields: object) -> BoundLogger:
        """Return a further view with more fields bound."""
        return BoundLogger(self.logger, {**self._fields, **fields})

    def every(self, seconds: float) -> ratelimit.RateLimitedLogger:
        """As :meth:`HFTLogger.every`, keeping this view's fields."""
        return ratelimit.view(self, seconds)

    def once(self) -> ratelimit.RateLimitedLogger:
        """As :meth:`HFTLogger.once`, keeping this view's fields."""
        return ratelimit.view(self, math.inf)

    @property
    def context(self) -> dict[str, Any]:
        """The logger's own context with this view's fields over it."""
        return {**self.logger._own_context, **self._fields}


