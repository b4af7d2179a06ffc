"""Routing and redaction filters: stdlib :class:`logging.Filter` subclasses for dictConfig.

Each takes keyword arguments only, so a YAML file can name it with ``()``::

    filters:
      text_only:
        (): hftlogging.filters.LogTypeFilter
        types: [text]
      redact:
        (): hftlogging.filters.RedactFilter

Put them on the handlers behind the queue (they then run on the listener thread): a
filter on the :class:`~hftlogging.handlers.QueueHandler` itself runs on the caller's
thread and turns off the fast path.
"""

from __future__ import annotations

import difflib
import logging
import math
import re
import sys
import threading
import time
import weakref
from collections.abc import Iterable, Mapping
from typing import Any, Literal, TypeVar, cast

from hftlogging.exceptions import ConfigError, ConfigTypeError, Found, describe, show
from hftlogging.record import RESERVED_ATTRS, Record

__all__ = [
    "DEFAULT_REDACT_KEYS",
    "LOG_TYPES",
    "LevelRangeFilter",
    "LogType",
    "LogTypeFilter",
    "RateLimitFilter",
    "RedactFilter",
    "TagFilter",
    "positive_seconds",
    "rate_limit_filters",
    "to_level",
]

#: A log type of the record contract.
LogType = Literal["text", "metric", "audit"]
#: The log types of the record contract.
LOG_TYPES: tuple[LogType, ...] = ("text", "metric", "audit")
_T = TypeVar("_T")

#: Key names whose values :class:`RedactFilter` masks by default.
DEFAULT_REDACT_KEYS = (
    "api_key", "apikey", "secret", "password", "passwd", "token", "authorization",
    "signature", "private_key",
)


def _string_list(value: object, key: str, what: str) -> list[str]:
    """Accept one string or a list of strings; anything else is a ConfigError."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, Iterable) and not isinstance(value, (bytes, Mapping)):
        items = list(value)
        bad = [v for v in items if not isinstance(v, str)]
        if not bad:
            return items
        msg = describe(None, f"a list of {what} (strings)", Found(f"{show(bad[0])} in it"),
                       "write every item as a string")
        raise ConfigTypeError(msg, key=key)
    msg = describe(None, f"a list of {what}", Found(f"{type(value).__name__} {show(value)}"),
                   "write one string or a list of strings")
    raise ConfigTypeError(msg, key=key)


def _log_types(value: object, key: str) -> frozenset[str]:
    types = _string_list(value, key, "log types")
    for t in types:
        if t not in LOG_TYPES:
            close = difflib.get_close_matches(t, LOG_TYPES, n=1)
            msg = describe(None, f"log types among {', '.join(LOG_TYPES)}", t,
                           f"did you mean {close[0]!r}?" if close else None)
            raise ConfigError(msg, key=key)
    return frozenset(types)


def to_level(value: object, key: str) -> int:
    """Turn a level name or number into a level number, or raise a ConfigError.

    Args:
        value: ``"WARNING"``, ``"warning"``, ``30``...
        key: the option name for the error message.

    Returns:
        The numeric level.

    Raises:
        ConfigError: an unknown name, or not a name nor an integer.
    """
    if isinstance(value, bool):
        msg = describe(None, "a level name or number", value, "write a name such as WARNING")
        raise ConfigTypeError(msg, key=key)
    if isinstance(value, int):
        if value < 0:
            msg = describe(None, "a level number >= 0", value, "write a name such as WARNING")
            raise ConfigError(msg, key=key)
        return value
    if isinstance(value, str):
        names = dict(logging._nameToLevel)
        level = names.get(value.upper())
        if level is not None:
            return level
        close = difflib.get_close_matches(value.upper(), list(names), n=1)
        msg = describe(None, f"a level name ({', '.join(_STANDARD_LEVELS)})", value,
                       f"did you mean {close[0]!r}?" if close else None)
        raise ConfigError(msg, key=key)
    msg = describe(None, "a level name or number",
                   Found(f"{type(value).__name__} {show(value)}"), "write a name such as WARNING")
    raise ConfigTypeError(msg, key=key)


_STANDARD_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def _flag(value: object, key: str) -> bool:
    if not isinstance(value, bool):
        msg = describe(None, "true or false", value, "write true or false, without quotes")
        raise ConfigTypeError(msg, key=key)
    return value


def _require_str(value: object, key: str) -> None:
    if not isinstance(value, str):
        msg = describe(None, "a string", Found(f"{type(value).__name__} {show(value)}"),
                       "quote the value")
        raise ConfigTypeError(msg, key=key)


def _require_positive_int(value: object, key: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        msg = describe(None, "an integer >= 1", value, "use a whole number such as 1")
        raise ConfigError(msg, key=key)


class LogTypeFilter(logging.Filter):
    """Pass the records of some log types (``text``, ``metric``, ``audit``).

    A record without ``log_type`` (made by a plain stdlib logger) counts as ``text``.

    Args:
        types: pass only these types.
        exclude: drop these types.

    Raises:
        ConfigError: an unknown type, or neither ``types`` nor ``exclude`` given.
    """

    uses_caller_info = False

    def __init__(
        self,
        types: Iterable[LogType] | LogType | None = None,
        exclude: Iterable[LogType] | LogType | None = None,
    ) -> None:
        super().__init__()
        if types is None and exclude is None:
            msg = describe(None, "'types' (pass only these) or 'exclude' (drop these)",
                           Found("neither"), "give one of them, e.g. types: [text]")
            raise ConfigError(msg, key="types")
        allowed = set(LOG_TYPES) if types is None else set(_log_types(types, "types"))
        if exclude is not None:
            allowed -= _log_types(exclude, "exclude")
        self.types = frozenset(allowed)

    def filter(self, record: logging.LogRecord) -> bool:
        """Whether ``record``'s log type is one of :attr:`types`."""
        return record.__dict__.get("log_type", "text") in self.types

    def __repr__(self) -> str:
        return f"<LogTypeFilter types={sorted(self.types)}>"


class LevelRangeFilter(logging.Filter):
    """Pass the records whose level lies in ``[min_level, max_level]`` (both inclusive).

    Args:
        min_level: lowest level passed, a name or a number (default: everything).
        max_level: highest level passed (default ``CRITICAL``; e.g. ``WARNING`` keeps
            errors off a stdout console).

    Raises:
        ConfigError: an unknown level name, or ``min_level`` above ``max_level``.
    """

    uses_caller_info = False

    def __init__(
        self, min_level: int | str = logging.NOTSET, max_level: int | str = logging.CRITICAL
    ) -> None:
        super().__init__()
        self.min_level = to_level(min_level, "min_level")
        self.max_level = to_level(max_level, "max_level")
        if self.min_level > self.max_level:
            msg = describe(
                None, "min_level <= max_level",
                Found(f"min_level {logging.getLevelName(self.min_level)} above max_level "
                      f"{logging.getLevelName(self.max_level)}"),
                "swap them or lower min_level",
            )
            raise ConfigError(msg, key="min_level")

    def filter(self, record: logging.LogRecord) -> bool:
        """Whether ``record.levelno`` is within the range."""
        return self.min_level <= record.levelno <= self.max_level

    def __repr__(self) -> str:
        lo, hi = logging.getLevelName(self.min_level), logging.getLevelName(self.max_level)
        return f"<LevelRangeFilter {lo}..{hi}>"


class TagFilter(logging.Filter):
    """Pass the records whose ``tags`` include any of ``tags``.

    ``record.tags`` are the logger's hierarchical tags (see
    :func:`hftlogging.get_strategy_logger`), e.g. ``["mexc", "private", "ws", "trading"]``.

    Args:
        tags: the tags, any of which lets a record pass.
        exclude: if true, drop those records instead and pass the others.

    Raises:
        ConfigError: ``tags`` empty or not a list of strings.
    """

    uses_caller_info = False

    def __init__(self, tags: Iterable[str] | str = (), exclude: bool = False) -> None:
        super().__init__()
        wanted = _string_list(tags, "tags", "tags")
        if not wanted:
            msg = describe(None, "at least one tag", Found("an empty list"),
                           "list the tags whose records pass (or are dropped with exclude)")
            raise ConfigError(msg, key="tags")
        self.tags = frozenset(wanted)
        self.exclude = _flag(exclude, "exclude")

    def filter(self, record: logging.LogRecord) -> bool:
        """Whether the record carries one of the tags (the opposite with ``exclude``)."""
        tags = record.__dict__.get("tags")
        hit = bool(tags) and not self.tags.isdisjoint(tags)  # type: ignore[arg-type]
        return hit != self.exclude

    def __repr__(self) -> str:
        return f"<TagFilter tags={sorted(self.tags)}{' exclude' if self.exclude else ''}>"


# --- redaction ---------------------------------------------------------------------------------

_NOT_ALNUM = re.compile(r"[^0-9a-z]+")
# Attributes a record has besides the keyword fields: never treated as user fields.
_RECORD_ATTRS = frozenset(RESERVED_ATTRS) | frozenset(
    {"_hft_context_text", "exc_info", "exc_text"}
)
_CONTAINERS = (dict, list, tuple)


def _normalise(key: str) -> str:
    return _NOT_ALNUM.sub("", key.lower())


class RedactFilter(logging.Filter):
    """Mask the values of secret-looking keys before any handler writes them.

    Looks in ``record.context`` (keyword fields, bound context, audit fields), in the
    record's extra attributes, in ``metric_tags``, in mapping ``args``
    (``log.info("%(user)s", {...})``) and in nested dicts and lists inside those. A
    record that holds a secret gets *copies* with the values masked: the caller's dicts
    are never changed. The filter never drops a record.

    Keys are compared case-insensitively with punctuation ignored (``API-Key``,
    ``api_key`` and ``apiKey`` are one key). With ``match="substring"`` (the default) a
    key that *contains* a listed name is secret too (``exchange_api_key``,
    ``X-Auth-Token``, ``client_secret``); ``match="exact"`` compares whole keys only.

    Args:
        keys: the secret key names (default :data:`DEFAULT_REDACT_KEYS`).
        extra_keys: names added to ``keys`` (handy to extend the default list).
        mask: what a secret value becomes.
        match: ``"substring"`` or ``"exact"``.
        max_depth: how deep nested containers are searched; deeper values are masked
            when their key is secret and otherwise left as they are.

    Raises:
        ConfigError: an invalid option.
    """

    uses_caller_info = False

    def __init__(
        self,
        keys: Iterable[str] | None = None,
        extra_keys: Iterable[str] = (),
        mask: str = "***",
        match: Literal["substring", "exact"] = "substring",
        max_depth: int = 8,
    ) -> None:
        super().__init__()
        names = DEFAULT_REDACT_KEYS if keys is None else _string_list(keys, "keys", "key names")
        names = [*names, *_string_list(extra_keys, "extra_keys", "key names")]
        normalised = frozenset(n for n in (_normalise(k) for k in names) if n)
        if not normalised:
            msg = describe(None, "at least one key name", Found("none"),
                           "list the secret key names, or leave keys out for the defaults")
            raise ConfigError(msg, key="keys")
        _require_str(mask, "mask")
        if match not in ("substring", "exact"):
            msg = describe(None, "'substring' or 'exact'", match,
                           "set match to 'substring' or 'exact'")
            raise ConfigError(msg, key="match")
        _require_positive_int(max_depth, "max_depth")
        self.keys = normalised
        self.mask = mask
        self.match = match
        self.max_depth = max_depth
        self._verdicts: dict[str, bool] = {}
        # Several RedactFilters with the same settings (one per handler) redact a record
        # once: the record remembers who already did it.
        self._signature = (normalised, mask, match, max_depth)

    def is_secret(self, key: object) -> bool:
        """Whether a key names a secret under this filter's settings."""
        if not isinstance(key, str):
            return False
        verdict = self._verdicts.get(key)
        if verdict is None:
            norm = _normalise(key)
            if self.match == "exact":
                verdict = norm in self.keys
            else:
                verdict = any(k in norm for k in self.keys)
            if len(self._verdicts) < 10_000:
                self._verdicts[key] = verdict
        return verdict

    def redact(self, value: _T, depth: int = 0) -> _T:
        """Return ``value`` with secrets masked: the same object if it holds none, else a
        copy of the same type (dict, list or tuple)."""
        if depth >= self.max_depth or type(value) not in _CONTAINERS:
            return value
        if type(value) is dict:
            src = cast("dict[object, object]", value)
            out: dict[object, object] | None = None
            for k, v in src.items():
                new = self.mask if self.is_secret(k) else self.redact(v, depth + 1)
                if new is not v:
                    if out is None:
                        out = dict(src)
                    out[k] = new
            return value if out is None else cast(_T, out)
        items = list(cast("list[object] | tuple[object, ...]", value))
        changed = False
        for i, v in enumerate(items):
            new = self.redact(v, depth + 1)
            if new is not v:
                items[i] = new
                changed = True
        if not changed:
            return value
        return cast(_T, items if type(value) is list else tuple(items))

    def filter(self, record: logging.LogRecord) -> bool:
        """Mask secrets in ``record`` (always passes it)."""
        # The marker lives in a slot of hftlogging's records, never in ``__dict__`` (where
        # every JSON formatter would write it); other records are simply redacted again.
        marked = isinstance(record, Record)
        if marked and getattr(record, "hft_redacted", None) == self._signature:
            return True
        d = record.__dict__
        try:
            self._redact_record(d)
        except Exception:  # a filter must never lose a record; mask what it cannot read
            d["context"] = {"redaction_failed": True}
        if marked:
            record.hft_redacted = self._signature
        return True

    def _redact_record(self, d: dict[str, Any]) -> None:
        ctx = d.get("context")
        if isinstance(ctx, dict) and ctx:
            new_ctx = self.redact(ctx)
            if new_ctx is not ctx:
                d["context"] = new_ctx
                for k, v in new_ctx.items():
                    if k in d and k not in _RECORD_ATTRS:
                        d[k] = v
        # Extra attributes: set by extra= on a plain stdlib logger, or by a custom factory.
        for k in list(d):
            if k in _RECORD_ATTRS:
                continue
            v = d[k]
            if self.is_secret(k):
                d[k] = self.mask
            elif type(v) in _CONTAINERS:
                d[k] = self.redact(v)
        tags = d.get("metric_tags")
        if isinstance(tags, dict) and tags:
            d["metric_tags"] = self.redact(tags)
        args = d.get("args")
        if isinstance(args, dict) and args:
            d["args"] = self.redact(args)

    def __repr__(self) -> str:
        return f"<RedactFilter keys={sorted(self.keys)} match={self.match}>"


_rate_filters: weakref.WeakSet[RateLimitFilter] = weakref.WeakSet()


def rate_limit_filters() -> list[RateLimitFilter]:
    """The live :class:`RateLimitFilter` instances (for ``stats()["suppressed"]``)."""
    return list(_rate_filters)


def positive_seconds(value: object, key: str) -> float:
    """Check a positive number of seconds (``inf`` allowed), or raise a ConfigError."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        msg = describe(None, "a number of seconds", value, "write a number such as 1.0")
        raise ConfigTypeError(msg, key=key)
    seconds = float(value)
    if math.isnan(seconds) or seconds <= 0:
        msg = describe(None, "a positive number of seconds", value,
                       "use a positive number of seconds, such as 1.0")
        raise ConfigError(msg, key=key)
    return seconds


class RateLimitFilter(logging.Filter):
    """Let through ``burst`` records per key every ``every_s`` seconds; count the rest.

    Args:
        every_s: the length of one window, in seconds.
        burst: how many records of one key pass per window.
        key: ``"call_site"`` (the record's file and line: the queue then captures caller
            information for the handlers this filter is on) or ``"message"`` (the
            message template, ``record.msg``).
        levels_below: only records below this level are limited (default: all levels;
            ``"ERROR"`` keeps every ERROR and CRITICAL).

    The first record let through after a window in which records were held back carries
    ``suppressed=N`` in its context and as an attribute.
    """

    def __init__(
        self,
        every_s: float = 1.0,
        burst: int = 1,
        key: Literal["call_site", "message"] = "call_site",
        levels_below: int | str | None = None,
        name: str = "",
    ) -> None:
        super().__init__(name)
        self.every_s = positive_seconds(every_s, "every_s")
        if isinstance(burst, bool) or not isinstance(burst, int) or burst < 1:
            msg = describe(None, "a whole number of records >= 1", burst,
                           "set burst to a whole number such as 10")
            raise ConfigError(msg, key="burst")
        self.burst = burst
        if key not in ("call_site", "message"):
            msg = describe(None, "'call_site' or 'message'", key,
                           "set key to 'call_site' or 'message'")
            raise ConfigError(msg, key="key")
        self.key = key
        self.uses_caller_info = key == "call_site"
        if levels_below is None:
            self.levels_below = sys.maxsize
        else:
            self.levels_below = to_level(levels_below, "levels_below")
        self._lock = threading.Lock()
        # key -> [window end, passed in window, held back since the last pass, logger name]
        self._state: dict[Any, list[Any]] = {}
        self._suppressed: dict[str, int] = {}
        _rate_filters.add(self)

    def filter(self, record: logging.LogRecord) -> bool:
        """Pass the record, or hold it back and count it."""
        if record.levelno >= self.levels_below:
            return True
        if self.key == "call_site":
            k: Any = (record.name, record.pathname, record.lineno)
        else:
            k = (record.name, record.msg if isinstance(record.msg, str) else repr(record.msg))
        now = time.monotonic()
        with self._lock:
            st = self._state.get(k)
            if st is None or now >= st[0]:
                held = st[2] if st is not None else 0
                self._state[k] = [now + self.every_s, 1, 0]
            elif st[1] < self.burst:
                st[1] += 1
                held = 0
            else:
                st[2] += 1
                self._suppressed[record.name] = self._suppressed.get(record.name, 0) + 1
                return False
        if held:
            _mark_suppressed(record, held)
        return True

    def counts(self) -> dict[str, int]:
        """Held-back records of this filter, by logger name."""
        with self._lock:
            return dict(self._suppressed)


def _mark_suppressed(record: logging.LogRecord, n: int) -> None:
    ctx = getattr(record, "context", None)
    record.context = {**ctx, "suppressed": n} if isinstance(ctx, dict) else {"suppressed": n}
    record.suppressed = n
