"""HFTLogger: a :class:`logging.Logger` with structured fields, metrics, audit and context.

The hot path
------------
When the only handler a record would reach is an hftlogging
:class:`~hftlogging.handlers.QueueHandler` (no logger filters, no other handler on the way
up, the default LogRecord factory), a log call captures a small tuple — level, message,
arguments, fields, timestamp, thread id, caller only if a formatter needs it — and appends
it to the queue; the listener thread builds the LogRecord. Whether that fast path applies
is decided once per logger and level and cached in the logger's level cache, which stdlib
already clears on ``setLevel``/``logging.disable``; hftlogging also clears it on any change
of handlers, filters, ``propagate`` or ``disabled``. Anything else takes the stdlib path:
``makeRecord`` then ``handle``.

Field names
-----------
``log.info("msg", exchange="mexc")`` puts ``exchange`` in ``record.context`` and sets
``record.exchange``. A field named like a built-in LogRecord attribute (``name``,
``module``, ``process``, ``msg``...) or a contract attribute (``context``, ``tags``...)
does not raise: it is kept in ``record.context`` only and the attribute keeps its
stdlib meaning. ``exc_info``, ``stack_info``, ``stacklevel`` and ``extra`` keep their
stdlib meaning and are not fields.

Context precedence (later wins): global context (``hftlogging.set_global_context``, the
configuration's ``global_context:``), ``set_context`` on the logger,
``hftlogging.context()``, ``extra=``, ``with_context()`` on a bound view, call keywords.
A logger's ``_context`` holds its own fields already merged over the global ones, so the
global context costs nothing per call.
"""

from __future__ import annotations

import contextvars
import decimal
import logging
import math
import numbers
import os
import re
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from hftlogging import health, internals, ratelimit
from hftlogging import otel as _otel
from hftlogging import strict as _strict
from hftlogging.plans import (
    check_cache_clearing,
    forget_all,
    forget_subtree,
    forget_subtree_locked,
    install_disable_hook,
    make_noop,
    noops_allowed,
)
from hftlogging.record import (
    AUDIT,
    IMMUTABLE_FAST,
    METRIC,
    RESERVED_ATTRS,
    TEXT,
    Record,
    attach_contract,
    extra_fields,
    is_immutable,
    render_message,
    snapshot_fields,
    snapshot_value,
)

if TYPE_CHECKING:
    from hftlogging.timer import LoggingTimer

__all__ = [
    "BoundLogger",
    "HFTLogger",
    "HFTRootLogger",
    "context",
    "current_context",
    "flush_all",
    "global_fields",
    "install",
    "installed",
    "uninstall",
]

_F = TypeVar("_F", bound=Callable[..., Any])

# Kinds of captured calls (first element of the tuple a fast call enqueues).
KIND_TEXT = 0
KIND_METRIC = 1
KIND_AUDIT = 2

# Keys of the per-logger plan, stored in Logger._cache beside stdlib's level entries so
# that stdlib's own cache clearing (setLevel, logging.disable) invalidates them too.
# All plan keys are strings: stdlib's keys are levels, and any int, negative ones too, may
# be a level (isEnabledFor(-21) must not overwrite the plan of INFO).
_KEY_METRIC = "hftlogging:metric"
_KEY_AUDIT = "hftlogging:audit"
_text_keys: dict[int, str] = {}


def _text_key(level: int) -> str:
    """Return the cache key of the text plan at ``level``."""
    key = _text_keys.get(level)
    if key is None:
        key = _text_keys[level] = f"hftlogging:text:{level}"
    return key

METRIC_LEVEL = logging.INFO
AUDIT_LEVEL = logging.INFO


class _Slow:
    """Plan marker: take the stdlib path (makeRecord + handle)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "<slow path>"


SLOW: Any = _Slow()


class _StartFirst:
    """Plan marker: the queue handler's listener must be started before deciding."""

    __slots__ = ("handler",)

    def __init__(self, handler: Any) -> None:
        self.handler = handler
_NOMSG: Any = object()
_RESERVED_KW = frozenset({"exc_info", "stack_info", "stacklevel", "extra"})
_IMMUTABLE = IMMUTABLE_FAST

_time_ns = time.time_ns
_get_ident = threading.get_ident
_current_thread = threading.current_thread
_LogRecord = logging.LogRecord
_logging: Any = logging  # typed Any: the fast path reads private stdlib state

# --- contextvars context -----------------------------------------------------------------

_ctxvar: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar(
    "hftlogging_context", default=None
)
_cv_get = _ctxvar.get


# The tokens of the context() blocks active in this thread or task: each entry of a
# context object (shared by many tasks, entered again inside itself) keeps its own token
# here, in the entering context, never in the object.
_entries: contextvars.ContextVar[dict[Any, tuple[Any, ...]] | None] = contextvars.ContextVar(
    "hftlogging_context_entries", default=None
)


class context:
    """Add fields to every record logged in this thread or asyncio task while active.

    Uses :mod:`contextvars`: each thread and each asyncio task sees its own fields, and
    nested blocks add to (and may override) the outer ones. One object may be entered by
    many threads and tasks at once, and inside itself: each entry restores exactly what
    its own thread or task had before it.

    Example::

        with hftlogging.context(correlation_id="c-1"):
            log.info("step")          # record.context["correlation_id"] == "c-1"
    """

    __slots__ = ("_fields",)

    def __init__(self, **fields: Any) -> None:
        self._fields = fields

    def __enter__(self) -> dict[str, Any]:
        cur = _ctxvar.get()
        new = {**cur, **self._fields} if cur else dict(self._fields)
        token = _ctxvar.set(new)
        entries = _entries.get() or {}
        _entries.set({**entries, self: (*entries.get(self, ()), token)})
        return new

    def __exit__(self, *exc: object) -> None:
        entries = _entries.get() or {}
        stack = entries.get(self)
        if not stack:
            # Left in another thread or task than the one that entered (a generator
            # resumed elsewhere): take back only this block's own fields.
            cur = _ctxvar.get()
            if cur:
                _ctxvar.set({k: v for k, v in cur.items()
                             if k not in self._fields or v is not self._fields[k]} or None)
            return
        token = stack[-1]
        rest = {k: v for k, v in entries.items() if k is not self}
        if len(stack) > 1:
            rest[self] = stack[:-1]
        _entries.set(rest or None)
        try:
            _ctxvar.reset(token)
        except ValueError:  # the token is of an outer context copy (asyncio callbacks)
            _ctxvar.set(token.old_value if token.old_value is not token.MISSING else None)

    async def __aenter__(self) -> dict[str, Any]:
        return self.__enter__()

    async def __aexit__(self, *exc: object) -> None:
        self.__exit__(*exc)


# --- global context ------------------------------------------------------------------------

# The global fields in effect: replaced (never mutated) by set_global_fields.
_global: dict[str, Any] = {}


def global_fields() -> dict[str, Any]:
    """Return the global fields in effect (the shared dict: do not mutate it)."""
    return _global


def set_global_fields(fields: dict[str, Any]) -> None:
    """Make ``fields`` the global fields and re-merge every logger's context over them.

    Each HFTLogger keeps its own fields (``_own_context``) and the merge of both
    (``_context``, what a call captures), so merging happens here, once, not per call.
    """
    global _global
    with logging._lock:  # type: ignore[attr-defined]
        _global = dict(fields)
        loggers = [logging.root, *logging.Logger.manager.loggerDict.values()]
        for lg in loggers:
            if isinstance(lg, HFTLogger):
                lg._merge_context()


def current_context() -> dict[str, Any]:
    """Return a copy of the fields set by :class:`context` in this thread or task."""
    cur = _ctxvar.get()
    return dict(cur) if cur else {}


# --- caller information --------------------------------------------------------------------

_PKG_DIR = os.path.normcase(os.path.dirname(os.path.abspath(__file__))) + os.sep
_LOGGING_SRC = os.path.normcase(logging.__file__) if logging.__file__ else ""
_internal_files: dict[str, bool] = {}


def _is_internal(filename: str) -> bool:
    try:
        return _internal_files[filename]
    except KeyError:
        norm = os.path.normcase(filename)
        internal = (
            norm.startswith(_PKG_DIR)
            or norm == _LOGGING_SRC
            or ("importlib" in norm and "_bootstrap" in norm)
        )
        _internal_files[filename] = internal
        return internal


_CO_COROUTINE = 0x80  # inspect.CO_COROUTINE, without importing inspect
_ASYNCIO_DIR = os.path.join(os.path.dirname(os.path.dirname(_LOGGING_SRC)), "asyncio") + os.sep
_loop_files: dict[str, bool] = {}


def _outer(f: Any) -> Any:
    """Return the frame that called ``f``, an hftlogging coroutine's frame.

    A timed ``async def`` run as a task is resumed by the event loop: the line that called
    it is gone from the stack. Skip the loop's frames to the code that runs the loop
    instead of pointing into asyncio.
    """
    back = f.f_back
    while back is not None:
        name = back.f_code.co_filename
        loop = _loop_files.get(name)
        if loop is None:
            loop = _loop_files[name] = os.path.normcase(name).startswith(_ASYNCIO_DIR)
        if not loop:
            break
        back = back.f_back
    return back


def find_user_frame(start: int = 1, stacklevel: int = 1) -> Any:
    """Return the first frame outside hftlogging and stdlib logging, then ``stacklevel - 1`` up."""
    f: Any = sys._getframe(start)
    while f is not None and _is_internal(f.f_code.co_filename):
        f = _outer(f) if f.f_code.co_flags & _CO_COROUTINE else f.f_back
    while stacklevel > 1 and f is not None:
        nxt = f.f_back
        while nxt is not None and _is_internal(nxt.f_code.co_filename):
            nxt = nxt.f_back
        if nxt is None:
            break
        f = nxt
        stacklevel -= 1
    return f


def _caller(start: int = 2) -> tuple[str, int, str]:
    f: Any = sys._getframe(start)
    while f is not None:
        code = f.f_code
        if not _is_internal(code.co_filename):
            return code.co_filename, f.f_lineno, code.co_name
        f = _outer(f) if code.co_flags & _CO_COROUTINE else f.f_back
    return "(unknown file)", 0, "(unknown function)"


def _task_name() -> str | None:
    asyncio = sys.modules.get("asyncio")
    if asyncio is None:
        return None
    try:
        task = asyncio.current_task()
    except Exception:
        return None
    return task.get_name() if task is not None else None


# --- metric validation ---------------------------------------------------------------------

_METRIC_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*\Z")
_good_metric_names: set[str] = set()
_INF = (math.inf, -math.inf)


def _check_metric(name: object, value: object, tags: dict[str, Any]) -> str | None:
    """Return why a metric call is invalid, or None; a None tag value becomes ``""``."""
    if type(name) is not str or name not in _good_metric_names:  # a list name: unhashable
        if type(name) is not str or not _METRIC_NAME.match(name):
            return "metric_name"
        if len(_good_metric_names) < 100_000:
            _good_metric_names.add(name)
    t = type(value)
    if t is float:
        if value != value or value in _INF:
            return "metric_value"
    elif t is not int and (t is bool or not isinstance(value, (int, float))):
        try:
            # Decimal is registered as numbers.Number only, not numbers.Real.
            real = isinstance(value, (numbers.Real, decimal.Decimal))
            if not real or isinstance(value, bool):
                return "metric_value"
            f = float(value)  # type: ignore[arg-type]  # Decimal, Fraction, numpy
        except Exception:
            return "metric_value"
        if f != f or f in _INF:
            return "metric_value"
    absent = None
    for k, v in tags.items():
        if type(v) is not str or type(k) is not str:
            if v is None and type(k) is str:
                absent = [k] if absent is None else [*absent, k]
                continue
            return "metric_tags"
    if absent is not None:
        # None is Prometheus' absent label: an empty label value, not a dropped metric.
        # ``tags`` is the call's own dict (keywords, or a merged copy), never the caller's.
        for k in absent:
            tags[k] = ""
    return None


def _metric_value(value: Any) -> float | int:
    t = type(value)
    if t is int or t is float:
        return value  # type: ignore[no-any-return]
    return float(value)


# --- handler list that invalidates plans --------------------------------------------------


def invalidate_plans() -> None:
    """Forget every logger's cached plan (and stdlib's level cache with it)."""
    forget_all(logging.Logger.manager)


_strict.on_change(invalidate_plans)


# A level that does nothing for a logger gets a no-op as an instance attribute
# (``log.debug = <no-op>``), so a disabled call costs one plain call: cheaper than stdlib's
# ``isEnabledFor``. The no-op checks that its plan is still cached (see hftlogging.plans).
_NOOP_NAMES = {
    logging.DEBUG: "debug", logging.INFO: "info", logging.WARNING: "warning",
    logging.ERROR: "error", logging.CRITICAL: "critical",
}


_list_append = list.append
_list_remove = list.remove


def _watched(items: Iterable[Any], owner: Any) -> HandlerList:
    """A :class:`HandlerList` of ``items`` whose changes forget ``owner``'s plans."""
    lst = HandlerList(items)
    lst._owner = owner  # type: ignore[attr-defined]
    return lst


class HandlerList(list):  # type: ignore[type-arg]
    """A logger's handler (or filter) list: a mutation forgets the owner's subtree's plans."""

    __slots__ = ("_owner",)

    def _changed(self) -> None:
        owner = getattr(self, "_owner", None)
        if owner is None:
            invalidate_plans()
        else:
            owner._changed()

    def append(self, item: Any) -> None:
        super().append(item)
        self._changed()

    def extend(self, items: Iterable[Any]) -> None:
        super().extend(items)
        self._changed()

    def insert(self, index: Any, item: Any) -> None:
        super().insert(index, item)
        self._changed()

    def remove(self, item: Any) -> None:
        super().remove(item)
        self._changed()

    def pop(self, index: Any = -1) -> Any:
        item = super().pop(index)
        self._changed()
        return item

    def clear(self) -> None:
        super().clear()
        self._changed()

    def __setitem__(self, index: Any, item: Any) -> None:
        super().__setitem__(index, item)
        self._changed()

    def __delitem__(self, index: Any) -> None:
        super().__delitem__(index)
        self._changed()

    def __iadd__(self, items: Iterable[Any]) -> HandlerList:  # type: ignore[misc]
        super().__iadd__(items)
        self._changed()
        return self

    def __imul__(self, n: Any) -> HandlerList:  # type: ignore[misc]
        super().__imul__(n)
        self._changed()
        return self

    def sort(self, *args: Any, **kwargs: Any) -> None:
        super().sort(*args, **kwargs)
        self._changed()

    def reverse(self) -> None:
        super().reverse()
        self._changed()


# --- the logger -----------------------------------------------------------------------------


def _text_method(level: int, name: str) -> Callable[..., None]:
    """Build a level method (``info``...) with the fast path inlined.

    Per call, on the fast path: one cache lookup for the plan, a type check per argument
    and per field, two clock/thread reads, a tuple, and an append. Everything else —
    building the LogRecord, formatting, I/O — happens on the listener thread.
    """
    key = _text_key(level)

    def method(self: HFTLogger, msg: Any = _NOMSG, /, *args: Any, **kw: Any) -> None:
        try:
            sink = self._cache[key]
        except KeyError:
            sink = self._plan(key, level, TEXT)
        if sink is None:
            return
        if sink is SLOW or msg is _NOMSG or _logging._logRecordFactory is not _LogRecord:
            self._emit_text(level, msg, args, kw, None)
            return
        if type(msg) is not str and not is_immutable(msg):
            # A list or an object with __str__ as the message: render it now, or the
            # listener would show it as it is when it writes, not as it was at the call.
            msg = render_message(msg, args)
            args = ()
        for a in args:
            if type(a) not in _IMMUTABLE and not is_immutable(a):
                if type(a) is dict and len(args) == 1:
                    # Mapping arguments stay a mapping (a copy): a RedactFilter behind the
                    # queue must see the keys to mask a secret before the message is built.
                    args = (snapshot_value(a),)
                else:
                    msg = render_message(msg, args)
                    args = ()
                break
        if kw:
            if "exc_info" in kw or "extra" in kw or "stack_info" in kw or "stacklevel" in kw:
                self._emit_text(level, msg, args, kw, None)
                return
            for v in kw.values():
                if type(v) not in _IMMUTABLE:
                    snapshot_fields(kw)
                    break
        else:
            kw = None  # type: ignore[assignment]
        if sink.capture:  # a formatter behind the queue reads the call site, task or thread
            self._enqueue(sink, KIND_TEXT, level, msg, args, kw)
            return
        ring = sink.ring
        if len(ring) < sink.capacity:
            ring.append((KIND_TEXT, self, level, msg, args, kw, self._context, _cv_get(),
                         _time_ns(), _get_ident(), None, None))
        else:
            sink.overflow((KIND_TEXT, self, level, msg, args, kw, self._context, _cv_get(),
                           _time_ns(), _get_ident(), None, None))

    method.__name__ = method.__qualname__ = name
    method.__doc__ = (
        f"Log ``msg % args`` at {logging.getLevelName(level)}; keywords are structured fields."
    )
    return method


def _logger_init_is_known() -> bool:
    """Whether stdlib's Logger.__init__ sets exactly the attributes HFTLogger sets itself."""
    try:
        probe = logging.Logger.__new__(logging.Logger)
        logging.Logger.__init__(probe, "hftlogging.probe")
        return set(probe.__dict__) == {
            "filters", "name", "level", "parent", "propagate", "handlers", "disabled",
            "_cache",
        } and probe.level == logging.NOTSET
    except Exception:  # pragma: no cover - a stdlib we do not know
        return False


# HFTLogger.__init__ sets the attributes itself where stdlib's Logger.__init__ is the one
# it knows; anywhere else it calls Logger.__init__ (see HFTLogger.__init__).
_check_level: Callable[[Any], int] | None = (
    getattr(logging, "_checkLevel", None) if _logger_init_is_known() else None
)


class HFTLogger(logging.Logger):
    """A :class:`logging.Logger` with structured fields, metrics, timers, audit and context.

    Existing stdlib calls keep their meaning; keyword arguments other than ``exc_info``,
    ``stack_info``, ``stacklevel`` and ``extra`` become structured fields.
    """

    _context: dict[str, Any]  # global fields with the logger's own merged over them
    _own_context: dict[str, Any]  # the fields given to set_context
    _tags: list[str]
    _cache: dict[Any, Any]  # stdlib's level cache, which also holds hftlogging's plans

    def __init__(self, name: str, level: int = logging.NOTSET) -> None:
        # Logger.__init__ assigns handlers, filters, propagate and disabled through the
        # properties below, which create hftlogging's attributes.
        self._hft_handlers: HandlerList | None
        self._hft_filters: HandlerList | None
        self._hft_propagate: bool
        self._hft_disabled: bool
        check = _check_level
        if check is not None:
            # What Logger.__init__ would do, in one step (checked at import: stdlib's
            # Logger sets exactly these attributes); thousands of loggers get created.
            self.name = name
            self.level = check(level)
            self.parent = None
            self._hft_propagate = True
            self._hft_handlers = None  # made when first used
            self._hft_disabled = False
            self._cache = {}
            self._hft_filters = None
            self._own_context = {}
            self._context = _global  # the global context until fields of its own are set
            self._tags = []
            return
        super().__init__(name, level)
        if type(self.__dict__.get("_cache")) is not dict:
            # The plans live here; every change that can alter them forgets them here,
            # whether or not stdlib keeps (and clears) a level cache of its own.
            self._cache = {}
        self._own_context = {}
        self._context = _global
        self._tags = []

    # Attributes stdlib (and dictConfig) assign directly: changing them forgets the plans
    # of this logger and of the loggers below it.
    @property
    def handlers(self) -> HandlerList:
        h = self._hft_handlers
        if h is None:
            h = self._hft_handlers = _watched((), self)
        return h

    @handlers.setter
    def handlers(self, value: Iterable[logging.Handler]) -> None:
        self._hft_handlers = _watched(value, self)
        self._changed()

    @property
    def filters(self) -> HandlerList:
        f = self._hft_filters
        if f is None:
            f = self._hft_filters = _watched((), self)
        return f

    @filters.setter
    def filters(self, value: Iterable[Any]) -> None:
        self._hft_filters = _watched(value, self)
        self._changed()

    @property
    def propagate(self) -> bool:
        return self._hft_propagate

    @propagate.setter
    def propagate(self, value: bool) -> None:
        self._hft_propagate = value
        self._changed()

    @property
    def disabled(self) -> bool:
        return self._hft_disabled

    @disabled.setter
    def disabled(self, value: bool) -> None:
        self._hft_disabled = value
        self._changed()

    def _changed(self) -> None:
        # Logger.__init__ assigns these before it creates _cache: a logger being built has
        # no plan, and no other logger's plan depends on it yet.
        if "_cache" in self.__dict__:
            forget_subtree(self)

    def addHandler(self, hdlr: logging.Handler) -> None:
        """As stdlib; forgets the plans of this logger and of the loggers below it."""
        lock = logging._lock  # type: ignore[attr-defined]
        lock.acquire()
        try:
            handlers = self._hft_handlers
            if handlers is None:
                handlers = self.handlers
            if hdlr not in handlers:
                _list_append(handlers, hdlr)
                forget_subtree_locked(self)
        finally:
            lock.release()

    def removeHandler(self, hdlr: logging.Handler) -> None:
        """As stdlib; forgets the plans of this logger and of the loggers below it."""
        lock = logging._lock  # type: ignore[attr-defined]
        lock.acquire()
        try:
            handlers = self._hft_handlers
            if handlers is not None and hdlr in handlers:
                _list_remove(handlers, hdlr)
                forget_subtree_locked(self)
        finally:
            lock.release()

    def setLevel(self, level: int | str) -> None:
        """As stdlib, but forget only the cached answers of this logger and those below it.

        stdlib clears the level cache of every logger in the process; only this logger's
        and its descendants' effective level can change.
        """
        check = getattr(logging, "_checkLevel", None)
        if check is None:  # stdlib's own path: it clears every logger's cache
            super().setLevel(level)
            forget_subtree(self)
            return
        self.level = check(level)
        forget_subtree(self)

    # -- plan ------------------------------------------------------------------------------

    def _plan(self, key: int | str, level: int, log_type: str) -> Any:
        """Decide, once, what a call at ``level`` does: nothing, fast path or stdlib path."""
        for _attempt in range(3):
            with logging._lock:  # type: ignore[attr-defined]
                if self.disabled:
                    plan = None
                elif log_type == TEXT and not self.isEnabledFor(level):
                    plan = None
                    if type(key) is str:
                        self._set_noop(level, key)
                elif _strict._on:
                    plan = SLOW  # strict mode: stdlib's path, records built at the call
                else:
                    try:
                        plan = self._route(level)
                    except Exception:  # deciding must never raise into a log call
                        plan = SLOW
                if type(plan) is not _StartFirst:
                    self._cache[key] = plan
                    return plan
            # The queue's listener starts lazily; a starting thread may need
            # logging's lock, so start it with the lock released, then decide again.
            try:
                plan.handler.start(lazy=True)
            except Exception as e:  # reported again, with a traceback, by emit()
                sys.stderr.write(f"hftlogging: queue handler could not start: {e}\n")
                return SLOW
        return SLOW

    def _set_noop(self, level: int, key: str) -> None:
        name = _NOOP_NAMES.get(level)
        # Only where the method is HFTLogger's own (a subclass may have overridden it).
        if (
            name is not None
            and noops_allowed()
            and getattr(type(self), name, None) is getattr(HFTLogger, name)
        ):
            d = self.__dict__
            if name not in d:
                d[name] = make_noop(self, name, key)
                names = d.setdefault("_hft_noops", [])
                if name not in names:
                    names.append(name)

    def _route(self, level: int) -> Any:
        if self.filters:
            return SLOW
        found: list[logging.Handler] = []
        c: logging.Logger | None = self
        while c is not None:
            found.extend(c.handlers)
            if not c.propagate:
                break
            c = c.parent
        if len(found) != 1:
            return SLOW  # several handlers, or none (stdlib's lastResort)
        h = found[0]
        if not getattr(h, "hft_fast_sink", False):
            return SLOW
        if h.needs_start():  # type: ignore[attr-defined]
            return _StartFirst(h)
        if not h.accepts_fast():  # type: ignore[attr-defined]
            return SLOW
        if level < h.level:
            return None
        return h

    # -- stdlib-path record creation -------------------------------------------------------

    def findCaller(
        self, stack_info: bool = False, stacklevel: int = 1
    ) -> tuple[str, int, str, str | None]:
        """Find the user's frame, skipping stdlib logging and every hftlogging module."""
        f = find_user_frame(2, stacklevel)
        if f is None:
            return "(unknown file)", 0, "(unknown function)", None
        sinfo = None
        if stack_info:
            import io
            import traceback

            with io.StringIO() as sio:
                sio.write("Stack (most recent call last):\n")
                traceback.print_stack(f, file=sio)
                sinfo = sio.getvalue()
                if sinfo[-1] == "\n":
                    sinfo = sinfo[:-1]
        return f.f_code.co_filename, f.f_lineno, f.f_code.co_name, sinfo

    def makeRecord(
        self,
        name: str,
        level: int,
        fn: str,
        lno: int,
        msg: object,
        args: Any,
        exc_info: Any,
        func: str | None = None,
        extra: Mapping[str, object] | None = None,
        sinfo: str | None = None,
    ) -> logging.LogRecord:
        """Build a record like stdlib, but let ``extra`` never raise on a name collision.

        A colliding ``extra`` key is kept in ``record.context`` instead of overwriting a
        built-in attribute. The others are attributes, as stdlib sets them; on a
        :class:`Record` they are listed in its ``hft_extra_keys`` slot, so that
        ``record.context`` shows them without a ``context`` attribute that a formatter
        walking the record's attributes would write besides them.
        """
        factory = logging.getLogRecordFactory()
        if factory is _LogRecord:
            factory = Record
        created_ns = _time_ns()
        rv = factory(name, level, fn, lno, msg, args, exc_info, func, sinfo)
        if factory is Record:
            rv.created_ns = created_ns
            rv.created = created_ns / 1e9
            rv.msecs = (created_ns % 1_000_000_000) // 1_000_000 + 0.0
        if extra is not None:
            d = rv.__dict__
            if isinstance(rv, Record):
                keys = []
                for key, value in extra.items():
                    if key in RESERVED_ATTRS or key in d:
                        d.setdefault("context", {})[key] = value
                    else:
                        d[key] = value
                        keys.append(key)
                if keys:
                    rv.hft_extra_keys = tuple(keys)
            else:  # another factory's record: the fields in a context attribute too
                ctx = d.setdefault("context", {})
                for key, value in extra.items():
                    ctx[key] = value
                    if key not in RESERVED_ATTRS and key not in d:
                        d[key] = value
        return rv

    def _log_slow(
        self,
        level: int,
        msg: Any,
        args: tuple[Any, ...],
        kw: dict[str, Any],
        bound: dict[str, Any] | None,
        log_type: str = TEXT,
        attrs: dict[str, Any] | None = None,
        exc_info: Any = None,
        extra: Any = None,
        stack_info: Any = False,
        stacklevel: Any = 1,
    ) -> None:
        """The stdlib path: findCaller, makeRecord, attach the contract, handle."""
        try:
            if msg is _NOMSG:
                msg = kw.pop("msg", "")
            if type(stacklevel) is not int:
                stacklevel = 1
            if logging._srcfile:
                try:
                    fn, lno, func, sinfo = self.findCaller(bool(stack_info), stacklevel)
                except ValueError:  # pragma: no cover - as stdlib
                    fn, lno, func, sinfo = "(unknown file)", 0, "(unknown function)", None
            else:
                fn, lno, func, sinfo = "(unknown file)", 0, "(unknown function)", None
            if exc_info:
                if isinstance(exc_info, BaseException):
                    exc_info = (type(exc_info), exc_info, exc_info.__traceback__)
                elif not isinstance(exc_info, tuple):
                    exc_info = sys.exc_info()
                if exc_info[0] is None:
                    exc_info = None
            if extra is not None and not isinstance(extra, Mapping):
                health.bad_input("extra", f"extra must be a mapping, got {type(extra).__name__}")
                extra = None
            elif extra:
                # Copied at the call as keyword fields are: a queue writes the record
                # later, and a value kept by reference (a dict changed after the call, an
                # exception and its frames) would show or hold what it is by then.
                extra = snapshot_fields(dict(extra))
            record = self.makeRecord(
                self.name, level, fn, lno, msg, args, exc_info, func, extra, sinfo
            )
            ctx = dict(self._context)
            cv = _ctxvar.get()
            if cv:
                ctx.update(cv)
            extra_ctx = record.__dict__.get("context")
            if ctx or extra_ctx or bound or kw:
                # Not a stdlib-style call: the ``extra=`` fields join the context too.
                extra_attrs = extra_fields(record)
                if extra_attrs:
                    ctx.update(extra_attrs)
            if extra_ctx:
                ctx.update(extra_ctx)
            # Copied as on the fast path: a queue handler may write the record later.
            if bound:
                ctx.update(snapshot_fields(dict(bound)))
            if kw:
                ctx.update(snapshot_fields(kw))
            attach_contract(record, log_type, ctx, self._tags)
            if attrs:
                record.__dict__.update(attrs)
            if _otel._get_current_span is not None:
                trace = _otel.trace_ids()
                if trace is not None:
                    record.__dict__.update(zip(_otel.ATTRIBUTES, trace, strict=True))
        except Exception as e:  # building the record must never raise into the caller
            if _strict._on:
                raise
            health.bad_input("call", f"{type(e).__name__}: {e}")
            return
        self.handle(record)

    def handle(self, record: logging.LogRecord) -> None:
        """As stdlib, but a raising logger filter never propagates into the caller.

        In strict mode it does, as stdlib's.
        """
        try:
            super().handle(record)
        except Exception as e:
            if _strict._on:
                raise
            health.bad_input("filter", f"{type(e).__name__}: {e}")

    # -- text ------------------------------------------------------------------------------

    debug = _text_method(logging.DEBUG, "debug")
    info = _text_method(logging.INFO, "info")
    warning = _text_method(logging.WARNING, "warning")
    error = _text_method(logging.ERROR, "error")
    critical = _text_method(logging.CRITICAL, "critical")
    fatal = critical

    def warn(self, msg: Any = _NOMSG, /, *args: Any, **kw: Any) -> None:
        """Deprecated alias of :meth:`warning`, kept as stdlib has it."""
        self._emit_text(logging.WARNING, msg, args, kw, None)

    def exception(self, msg: Any = _NOMSG, /, *args: Any, exc_info: Any = True, **kw: Any) -> None:
        """Log at ERROR with the current exception's traceback."""
        kw["exc_info"] = exc_info
        self._emit_text(logging.ERROR, msg, args, kw, None)

    def log(self, level: Any, msg: Any = _NOMSG, /, *args: Any, **kw: Any) -> None:  # type: ignore[override]
        """Log at an explicit level; a bad level is counted, never raised."""
        if type(level) is not int:
            try:
                level = logging._checkLevel(level)  # type: ignore[attr-defined]
            except (TypeError, ValueError) as e:
                if _strict._on:  # strict mode: stdlib's Logger.log raises TypeError
                    msg = f"level must be an integer or a level name, got {level!r}"
                    raise TypeError(msg) from e
                health.bad_input("level", str(e))
                return
        self._emit_text(level, msg, args, kw, None)

    def _emit_text(
        self,
        level: int,
        msg: Any,
        args: tuple[Any, ...],
        kw: dict[str, Any],
        bound: dict[str, Any] | None,
    ) -> None:
        """Shared text path for the less common entry points and bound views."""
        key = _text_keys.get(level) or _text_key(level)
        try:
            sink = self._cache[key]
        except KeyError:
            sink = self._plan(key, level, TEXT)
        if sink is None:
            return
        if (
            sink is SLOW
            or (kw and not _RESERVED_KW.isdisjoint(kw))
            or msg is _NOMSG
            or _logging._logRecordFactory is not _LogRecord
        ):
            self._log_slow(
                level, msg, args, kw, bound, TEXT, None,
                kw.pop("exc_info", None), kw.pop("extra", None),
                kw.pop("stack_info", False), kw.pop("stacklevel", 1),
            )
            return
        if type(msg) is not str and not is_immutable(msg):
            msg = render_message(msg, args)  # rendered now, as in the level methods
            args = ()
        if args:
            for a in args:
                if not is_immutable(a):
                    if type(a) is dict and len(args) == 1:  # kept a mapping, as above
                        args = (snapshot_value(a),)
                    else:
                        msg = render_message(msg, args)
                        args = ()
                    break
        fields = {**bound, **kw} if bound else kw
        self._enqueue(sink, KIND_TEXT, level, msg, args, snapshot_fields(fields) or None)

    def _enqueue(
        self, sink: Any, kind: int, level: int, msg: Any, args: Any, fields: Any
    ) -> None:
        if sink.capture:
            caller = _caller(3) if sink.needs_caller else None
            task: Any = _task_name() if sink.needs_task else None
            if sink.needs_trace:
                trace = _otel.trace_ids()  # the span is current here, not on the listener
                if trace is not None:
                    task = (task, trace)
            # The thread's name now: by the time the listener builds the record the
            # thread may have ended (or been renamed).
            tid: Any = (_get_ident(), _current_thread().name) if sink.needs_thread_name \
                else _get_ident()
        else:
            caller = task = None
            tid = _get_ident()
        item = (kind, self, level, msg, args, fields, self._context, _cv_get(), _time_ns(),
                tid, caller, task)
        ring = sink.ring
        if len(ring) < sink.capacity:
            ring.append(item)
        else:
            sink.overflow(item)


    # -- metrics ---------------------------------------------------------------------------

    def metric(
        self, name: Any = _NOMSG, value: Any = _NOMSG, /,
        tags: Mapping[str, str] | None = None, **more_tags: Any,
    ) -> None:
        """Set a gauge: ``log.metric("active_symbols", 42, tags={"exchange": "mexc"})``."""
        self._metric("gauge", name, value, tags, more_tags, None, None)

    def counter(
        self, name: Any = _NOMSG, value: Any = 1, /,
        tags: Mapping[str, str] | None = None, **more_tags: Any,
    ) -> None:
        """Increment a counter by ``value`` (default 1): ``log.counter("orders_placed")``."""
        try:
            sink = self._cache[_KEY_METRIC]
        except KeyError:
            sink = self._plan(_KEY_METRIC, METRIC_LEVEL, METRIC)
        if sink is None:
            return
        # The common call — a known name, an int, string tags as keywords — is inlined;
        # anything else takes the general path, which validates and reports.
        if (
            sink is SLOW
            or tags is not None
            or type(name) is not str  # before the set lookup: a list name is unhashable
            or name not in _good_metric_names
            or type(value) is not int
            or "value" in more_tags
            or "name" in more_tags
            or _logging._logRecordFactory is not _LogRecord
        ):
            if value == 1 and "value" in more_tags:
                value = _NOMSG
            self._metric("counter", name, value, tags, more_tags, None, None)
            return
        for v in more_tags.values():
            if type(v) is not str:
                self._metric("counter", name, value, tags, more_tags, None, None)
                return
        if sink.capture:
            self._enqueue(sink, KIND_METRIC, METRIC_LEVEL, name,
                          ("counter", value, more_tags, None), None)
            return
        ring = sink.ring
        item = (KIND_METRIC, self, METRIC_LEVEL, name, ("counter", value, more_tags, None),
                None, self._context, _cv_get(), _time_ns(), _get_ident(), None, None)
        if len(ring) < sink.capacity:
            ring.append(item)
        else:
            sink.overflow(item)

    def histogram(
        self, name: Any = _NOMSG, value: Any = _NOMSG, /,
        tags: Mapping[str, str] | None = None, **more_tags: Any,
    ) -> None:
        """Observe a value in a histogram: ``log.histogram("spread_bps", 3.2)``."""
        self._metric("histogram", name, value, tags, more_tags, None, None)

    def latency(
        self, operation: Any = _NOMSG, duration_ms: Any = _NOMSG, /,
        tags: Mapping[str, str] | None = None, **more_tags: Any,
    ) -> None:
        """Observe a duration in milliseconds (a histogram of the operation's duration)."""
        if operation is _NOMSG:
            operation = more_tags.pop("operation", _NOMSG)
        if duration_ms is _NOMSG:
            duration_ms = more_tags.pop("duration_ms", _NOMSG)
        self._metric("histogram", operation, duration_ms, tags, more_tags, "ms", None)

    def _metric(
        self,
        mtype: str,
        name: Any,
        value: Any,
        tags: Any,  # a mapping, or anything a caller passed (reported)
        more_tags: dict[str, Any],
        unit: str | None,
        bound: dict[str, Any] | None,
    ) -> None:
        try:
            sink = self._cache[_KEY_METRIC]
        except KeyError:
            sink = self._plan(_KEY_METRIC, METRIC_LEVEL, METRIC)
        if sink is None:
            return
        if name is _NOMSG:
            name = more_tags.pop("name", None)
        if value is _NOMSG:
            value = more_tags.pop("value", None)
        if tags:
            if not isinstance(tags, Mapping):
                health.bad_input("metric_tags",
                                 f"tags must be a mapping, got {type(tags).__name__}")
                return
            all_tags = {**tags, **more_tags} if more_tags else dict(tags)
        else:
            all_tags = more_tags
        reason = _check_metric(name, value, all_tags)
        if reason is not None:
            health.bad_input(reason, _describe_metric(name, value, all_tags))
            return
        value = _metric_value(value)
        if sink is SLOW or _logging._logRecordFactory is not _LogRecord:
            attrs = {
                "metric_name": name, "metric_value": value, "metric_type": mtype,
                "metric_tags": all_tags, "metric_unit": unit,
            }
            self._log_slow(
                METRIC_LEVEL, "metric %s=%s", (name, value), {}, bound, METRIC, attrs
            )
            return
        self._enqueue(sink, KIND_METRIC, METRIC_LEVEL, name, (mtype, value, all_tags, unit),
                      dict(bound) if bound else None)

    def timer(self, name: str, /, **tags: Any) -> LoggingTimer:
        """Time a block or a function; see :class:`hftlogging.LoggingTimer`."""
        return _timer_class()(self, name, **tags)

    def _observe_ms(
        self, name: str, elapsed_ms: float, tags: dict[str, Any],
        bound: dict[str, Any] | None = None,
    ) -> None:
        """Record a duration histogram (a timer's exit): the general path, minus parsing."""
        self._metric("histogram", name, elapsed_ms, None, tags, "ms", bound)

    # -- audit -----------------------------------------------------------------------------

    def audit(
        self, event: Any = _NOMSG, data: Mapping[str, Any] | None = None, /, **fields: Any
    ) -> None:
        """Record an audit event: ``log.audit("order_placed", order_id=oid)``.

        Audit records are not verbosity: a logger's level does not stop them, and the
        queue never drops them. Their fields are copied at call time.
        """
        self._audit(event, data, fields, None)

    def _audit(
        self,
        event: Any,
        data: Any,  # a mapping, or any other value (kept under "data")
        fields: dict[str, Any],
        bound: dict[str, Any] | None,
    ) -> None:
        try:
            sink = self._cache[_KEY_AUDIT]
        except KeyError:
            sink = self._plan(_KEY_AUDIT, AUDIT_LEVEL, AUDIT)
        if sink is None:
            return
        if event is _NOMSG:
            event = fields.pop("event", "audit")
        if data is not None:
            if isinstance(data, Mapping):
                fields = {**data, **fields}
            else:
                fields = {"data": snapshot_value(data), **fields}
        if bound:
            fields = {**bound, **fields}
        snapshot_fields(fields)
        event = event if type(event) is str else str(event)
        if sink is SLOW or _logging._logRecordFactory is not _LogRecord:
            self._log_slow(
                AUDIT_LEVEL, "audit %s", (event,), {}, fields, AUDIT, {"audit_event": event}
            )
            return
        self._enqueue(sink, KIND_AUDIT, AUDIT_LEVEL, event, (), fields)

    # -- flush -----------------------------------------------------------------------------

    def flush(self, timeout: float | None = None) -> bool:
        """Return once every record this process logged before the call is written.

        See :func:`flush_all`; from asyncio, ``await asyncio.to_thread(log.flush)``.
        """
        return flush_all(timeout, self)

    # -- context ---------------------------------------------------------------------------

    def with_context(self, **fields: Any) -> BoundLogger:
        """Return a view of this logger that adds ``fields`` to every record it logs."""
        return BoundLogger(self, fields)

    def every(self, seconds: float) -> ratelimit.RateLimitedLogger:
        """A view letting each call site through at most once per ``seconds``.

        ``log.every(1.0).warning("feed stale")`` in a loop writes one line a second; the
        next line that passes carries ``suppressed=N``. Views are cached per interval.

        Raises:
            ConfigError: ``seconds`` is not a positive number.
        """
        try:
            return self.__dict__["_hft_rate_views"][seconds]  # type: ignore[no-any-return]
        except (KeyError, TypeError):
            return ratelimit.view(self, seconds)

    def once(self) -> ratelimit.RateLimitedLogger:
        """A view letting each call site through once (later calls are counted only)."""
        return ratelimit.view(self, math.inf)

    def set_context(self, **fields: Any) -> None:
        """Add ``fields`` to every record this logger logs (shared by all its users)."""
        self._own_context = {**self._own_context, **fields}
        self._merge_context()

    def clear_context(self) -> None:
        """Remove the fields set by :meth:`set_context`."""
        self._own_context = {}
        self._merge_context()

    def _merge_context(self) -> None:
        # One attribute assignment: a concurrent call captures the old or the new dict.
        own = self.__dict__.get("_own_context") or {}
        g = _global
        self._context = ({**g, **own} if own else g) if g else own

    @property
    def context(self) -> dict[str, Any]:
        """A copy of the fields set by :meth:`set_context`."""
        return dict(self._own_context)

    @property
    def tags(self) -> list[str]:
        """The logger's hierarchical tags (factory loggers); a copy."""
        return list(self._tags)


class HFTRootLogger(HFTLogger, logging.RootLogger):
    """The root logger, with HFTLogger's methods."""

    def __init__(self, level: int = logging.WARNING) -> None:
        HFTLogger.__init__(self, "root", level)

    def __reduce__(self) -> Any:
        return logging.getLogger, ()


_timer_cls: type[LoggingTimer] | None = None


def _timer_class() -> type[LoggingTimer]:
    global _timer_cls
    if _timer_cls is None:
        from hftlogging.timer import LoggingTimer

        _timer_cls = LoggingTimer
    return _timer_cls


def _describe_metric(name: object, value: object, tags: object) -> str:
    try:
        return f"name={name!r} value={value!r} tags={tags!r}"[:300]
    except Exception:
        return f"name of type {type(name).__name__}, value of type {type(value).__name__}"


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

    def debug(self, msg: Any = _NOMSG, /, *args: Any, **kw: Any) -> None:
        """As :meth:`HFTLogger.debug`, with the bound fields."""
        self._text(logging.DEBUG, msg, args, kw)

    def info(self, msg: Any = _NOMSG, /, *args: Any, **kw: Any) -> None:
        """As :meth:`HFTLogger.info`, with the bound fields."""
        self._text(logging.INFO, msg, args, kw)

    def warning(self, msg: Any = _NOMSG, /, *args: Any, **kw: Any) -> None:
        """As :meth:`HFTLogger.warning`, with the bound fields."""
        self._text(logging.WARNING, msg, args, kw)

    warn = warning

    def error(self, msg: Any = _NOMSG, /, *args: Any, **kw: Any) -> None:
        """As :meth:`HFTLogger.error`, with the bound fields."""
        self._text(logging.ERROR, msg, args, kw)

    def exception(self, msg: Any = _NOMSG, /, *args: Any, exc_info: Any = True, **kw: Any) -> None:
        """As :meth:`HFTLogger.exception`, with the bound fields."""
        kw["exc_info"] = exc_info
        self._text(logging.ERROR, msg, args, kw)

    def critical(self, msg: Any = _NOMSG, /, *args: Any, **kw: Any) -> None:
        """As :meth:`HFTLogger.critical`, with the bound fields."""
        self._text(logging.CRITICAL, msg, args, kw)

    fatal = critical

    def log(self, level: Any, msg: Any = _NOMSG, /, *args: Any, **kw: Any) -> None:  # type: ignore[override]
        """As :meth:`HFTLogger.log`, with the bound fields."""
        if type(level) is not int:
            try:
                level = logging._checkLevel(level)  # type: ignore[attr-defined]
            except (TypeError, ValueError) as e:
                if _strict._on:  # strict mode: stdlib's Logger.log raises TypeError
                    msg = f"level must be an integer or a level name, got {level!r}"
                    raise TypeError(msg) from e
                health.bad_input("level", str(e))
                return
        self._text(level, msg, args, kw)

    def metric(
        self, name: Any = _NOMSG, value: Any = _NOMSG, /,
        tags: Mapping[str, str] | None = None, **more_tags: Any,
    ) -> None:
        """As :meth:`HFTLogger.metric`; the bound fields go to the record's context."""
        self.logger._metric("gauge", name, value, tags, more_tags, None, self._fields)

    def counter(
        self, name: Any = _NOMSG, value: Any = _NOMSG, /,
        tags: Mapping[str, str] | None = None, **more_tags: Any,
    ) -> None:
        """As :meth:`HFTLogger.counter`; the bound fields go to the record's context."""
        if value is _NOMSG and "value" not in more_tags:
            value = 1
        self.logger._metric("counter", name, value, tags, more_tags, None, self._fields)

    def histogram(
        self, name: Any = _NOMSG, value: Any = _NOMSG, /,
        tags: Mapping[str, str] | None = None, **more_tags: Any,
    ) -> None:
        """As :meth:`HFTLogger.histogram`; the bound fields go to the record's context."""
        self.logger._metric("histogram", name, value, tags, more_tags, None, self._fields)

    def latency(
        self, operation: Any = _NOMSG, duration_ms: Any = _NOMSG, /,
        tags: Mapping[str, str] | None = None, **more_tags: Any,
    ) -> None:
        """As :meth:`HFTLogger.latency`; the bound fields go to the record's context."""
        if operation is _NOMSG:
            operation = more_tags.pop("operation", _NOMSG)
        if duration_ms is _NOMSG:
            duration_ms = more_tags.pop("duration_ms", _NOMSG)
        self.logger._metric("histogram", operation, duration_ms, tags, more_tags, "ms",
                            self._fields)

    def timer(self, name: str, /, **tags: Any) -> LoggingTimer:
        """As :meth:`HFTLogger.timer`, logging through this view."""
        return _timer_class()(self, name, **tags)

    def _observe_ms(self, name: str, elapsed_ms: float, tags: dict[str, Any]) -> None:
        self.logger._metric("histogram", name, elapsed_ms, None, tags, "ms", self._fields)

    def audit(
        self, event: Any = _NOMSG, data: Mapping[str, Any] | None = None, /, **fields: Any
    ) -> None:
        """As :meth:`HFTLogger.audit`, with the bound fields."""
        self.logger._audit(event, data, fields, self._fields)

    def flush(self, timeout: float | None = None) -> bool:
        """As :meth:`HFTLogger.flush`."""
        return flush_all(timeout, self.logger)

    def with_context(self, **fields: Any) -> BoundLogger:
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


# --- flush ------------------------------------------------------------------------------------


def flush_all(timeout: float | None = None, logger: logging.Logger | None = None) -> bool:
    """Wait until every record logged before the call is written, and flush the handlers.

    Every running hftlogging queue of the process writes the records queued ahead of the
    call and flushes the handlers behind it; then the handlers ``logger`` reaches directly
    (without a queue) are flushed too.

    Blocking: from asyncio, run it in a thread, ``await asyncio.to_thread(log.flush)``.
    Called on a listener thread (from inside a handler) it cannot wait for the queue that
    thread drains: it returns False at once instead of deadlocking.

    Args:
        timeout: seconds to wait at most, for all queues together; None waits as long as
            it takes.
        logger: whose direct handlers to flush as well.

    Returns:
        True when everything was written and flushed in time; False otherwise (the
        deadline passed, a handler is bypassed or failed to flush). Never raises.
    """
    from hftlogging import lifecycle

    deadline = None if timeout is None else time.monotonic() + timeout
    ok = True
    queues = lifecycle.active_queue_handlers()
    for q in queues:
        left = None if deadline is None else max(0.0, deadline - time.monotonic())
        ok = q.flush(left) and ok
    c: logging.Logger | None = logger
    while c is not None:
        for h in list(c.handlers):
            if h in queues:
                continue
            try:
                h.flush()
            except Exception:
                ok = False
        c = c.parent if c.propagate else None
    return ok


# --- install ----------------------------------------------------------------------------------

_install_lock = threading.RLock()
_installed = False
_previous_class: type[logging.Logger] | None = None


def _convert(logger: logging.Logger, cls: type[HFTLogger]) -> None:
    d = logger.__dict__
    handlers = d.pop("handlers", [])
    filters = d.pop("filters", [])
    propagate = d.pop("propagate", True)
    disabled = d.pop("disabled", False)
    logger.__class__ = cls
    d["_hft_handlers"] = _watched(handlers, logger)
    d["_hft_filters"] = _watched(filters, logger)
    d["_hft_propagate"] = propagate
    d["_hft_disabled"] = disabled
    if type(d.get("_cache")) is not dict:
        d["_cache"] = {}
    d.setdefault("_own_context", {})
    d.setdefault("_tags", [])
    logger._merge_context()  # type: ignore[attr-defined]


_warned_disable_hook = False


def _warn_disable_hook(manager: Any) -> None:
    global _warned_disable_hook
    _warned_disable_hook = True
    import warnings

    warnings.warn(
        f"hftlogging: {type(manager).__name__} has no 'disable' property to hook: "
        "logging.disable() reaches the cached plans only through stdlib clearing its "
        "level caches, and assigning manager.disable directly is not seen until the "
        "next configuration change",
        RuntimeWarning,
        stacklevel=3,
    )


def install() -> None:
    """Make every logger an :class:`HFTLogger`: the root, existing ones and future ones.

    Idempotent. Loggers of a user-defined Logger subclass are left as they are.
    ``$HFTLOGGING_STRICT``, when set, turns strict mode on or off (:mod:`hftlogging.strict`).

    Raises:
        ConfigError: ``$HFTLOGGING_STRICT`` has a value that is neither true nor false.
        hftlogging.internals.InternalsChanged: a private part of stdlib logging that
            hftlogging relies on behaves otherwise on this Python (docs/internals.md).
    """
    global _installed, _previous_class
    # The private stdlib state used below and on the caller's path: a change fails here,
    # before anything is touched (or the public path is taken, with a warning).
    internals.check()
    strict = _strict.from_environment()
    if strict is not None:
        _strict.set_strict(strict)
    with _install_lock, logging._lock:  # type: ignore[attr-defined]
        if not _installed:
            current = logging.getLoggerClass()
            _previous_class = current if not issubclass(current, HFTLogger) else logging.Logger
        logging.setLoggerClass(HFTLogger)
        manager = logging.Logger.manager
        if manager.loggerClass is not None and not issubclass(manager.loggerClass, HFTLogger):
            manager.loggerClass = None
        root = logging.root
        if type(root) is logging.RootLogger:
            _convert(root, HFTRootLogger)
        for lg in list(manager.loggerDict.values()):
            if type(lg) is logging.Logger:
                _convert(lg, HFTLogger)
        # Assigning manager.disable directly forgets the plans too (stdlib's cached
        # answers would otherwise outlive it).
        check_cache_clearing()
        if not install_disable_hook(manager) and not _warned_disable_hook:
            _warn_disable_hook(manager)
        _installed = True
    invalidate_plans()


def uninstall() -> None:
    """Restore the stdlib logger class for loggers created from now on.

    Existing loggers stay HFTLoggers (they remain ordinary ``logging.Logger`` objects).
    """
    global _installed
    with _install_lock:
        if _installed:
            logging.setLoggerClass(_previous_class or logging.Logger)
            _installed = False


def installed() -> bool:
    """Tell whether :func:`install` is in effect."""
    return _installed


LoggerLike = HFTLogger | BoundLogger
