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

import logging
import math
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from hftlogging import health, internals, ratelimit
from hftlogging import otel as _otel
from hftlogging import strict as _strict
from hftlogging.bound import BoundLogger
from hftlogging.capture import (
    KIND_AUDIT,
    KIND_METRIC,
    KIND_TEXT,
    MISSING,
    ExcInfo,
    Name,
    Number,
    TagValue,
)
from hftlogging.contexts import (
    CONTEXT_VAR,
    context,
    current_context,
    global_fields,
)
from hftlogging.exceptions import ConfigTypeError, describe
from hftlogging.frames import caller as _caller
from hftlogging.frames import find_user_frame
from hftlogging.frames import task_name as _task_name
from hftlogging.lifecycle import flush_all
from hftlogging.metric_input import GOOD_METRIC_NAMES as _good_metric_names
from hftlogging.metric_input import check_metric as _check_metric
from hftlogging.metric_input import describe_metric as _describe_metric
from hftlogging.metric_input import metric_value as _metric_value
from hftlogging.plans import KEY_AUDIT as _KEY_AUDIT
from hftlogging.plans import KEY_METRIC as _KEY_METRIC
from hftlogging.plans import (
    NOOP_NAMES,
    SLOW,
    TEXT_KEYS,
    HandlerList,
    forget_subtree,
    forget_subtree_locked,
    make_noop,
    noops_allowed,
)
from hftlogging.plans import StartFirst as _StartFirst
from hftlogging.plans import text_key as _text_key
from hftlogging.plans import watched as _watched
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
from hftlogging.timer import LoggingTimer

__all__ = [
    "AUDIT_LEVEL",
    "KIND_AUDIT",
    "KIND_METRIC",
    "KIND_TEXT",
    "METRIC_LEVEL",
    "BoundLogger",
    "HFTLogger",
    "HFTRootLogger",
    "LoggerLike",
    "context",
    "current_context",
    "flush_all",
    "global_fields",
]

METRIC_LEVEL = logging.INFO
AUDIT_LEVEL = logging.INFO

_NOMSG = MISSING
# Bound by assignment, not by import: CPython compiles a method call on an imported name
# as an attribute load (made for modules), on a dict that costs a bound method per call.
_text_keys = TEXT_KEYS
_ctxvar = CONTEXT_VAR
_NOOP_NAMES = NOOP_NAMES
_cv_get = _ctxvar.get
_list_append = list.append
_list_remove = list.remove


def _use_factory_view(view: Any) -> None:
    global _logging
    _logging = view


internals.on_factory_view(_use_factory_view)
_RESERVED_KW = frozenset({"exc_info", "stack_info", "stacklevel", "extra"})
_IMMUTABLE = IMMUTABLE_FAST

_time_ns = time.time_ns
_get_ident = threading.get_ident
_current_thread = threading.current_thread
_LogRecord = logging.LogRecord
_logging: Any = logging  # typed Any: the fast path reads private stdlib state




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
            self._context = global_fields()  # the global context until fields of its own are set
            self._tags = []
            return
        super().__init__(name, level)
        if type(self.__dict__.get("_cache")) is not dict:
            # The plans live here; every change that can alter them forgets them here,
            # whether or not stdlib keeps (and clears) a level cache of its own.
            self._cache = {}
        self._own_context = {}
        self._context = global_fields()
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
                elif _strict.enabled:
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
            if _otel.get_current_span is not None:
                trace = _otel.trace_ids()
                if trace is not None:
                    record.__dict__.update(zip(_otel.ATTRIBUTES, trace, strict=True))
        except Exception as e:  # building the record must never raise into the caller
            if _strict.enabled:
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
            if _strict.enabled:
                raise
            health.bad_input("filter", f"{type(e).__name__}: {e}")

    # -- text ------------------------------------------------------------------------------

    if TYPE_CHECKING:  # what _text_method builds, as mypy and editors should see it
        def debug(self, msg: object = _NOMSG, /, *args: object, **kw: object) -> None: ...
        def info(self, msg: object = _NOMSG, /, *args: object, **kw: object) -> None: ...
        def warning(self, msg: object = _NOMSG, /, *args: object, **kw: object) -> None: ...
        def error(self, msg: object = _NOMSG, /, *args: object, **kw: object) -> None: ...
        def critical(self, msg: object = _NOMSG, /, *args: object, **kw: object) -> None: ...
    else:
        debug = _text_method(logging.DEBUG, "debug")
        info = _text_method(logging.INFO, "info")
        warning = _text_method(logging.WARNING, "warning")
        error = _text_method(logging.ERROR, "error")
        critical = _text_method(logging.CRITICAL, "critical")
    fatal = critical

    def warn(self, msg: object = _NOMSG, /, *args: object, **kw: object) -> None:
        """Deprecated alias of :meth:`warning`, kept as stdlib has it."""
        self._emit_text(logging.WARNING, msg, args, kw, None)

    def exception(
        self, msg: object = _NOMSG, /, *args: object, exc_info: ExcInfo = True, **kw: object,
    ) -> None:
        """Log at ERROR with the current exception's traceback."""
        kw["exc_info"] = exc_info
        self._emit_text(logging.ERROR, msg, args, kw, None)

    def log(self, level: int | str, msg: object = _NOMSG, /, *args: object, **kw: object) -> None:  # type: ignore[override]
        """Log at an explicit level; a bad level is counted, never raised."""
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
        self._emit_text(level, msg, args, kw, None)  # type: ignore[arg-type]

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
        # The captured call, in the order of hftlogging.capture.FIELDS.
        item = (kind, self, level, msg, args, fields, self._context, _cv_get(), _time_ns(),
                tid, caller, task)
        ring = sink.ring
        if len(ring) < sink.capacity:
            ring.append(item)
        else:
            sink.overflow(item)


    # -- metrics ---------------------------------------------------------------------------

    def metric(
        self, name: Name = _NOMSG, value: Number = _NOMSG, /,
        tags: Mapping[str, TagValue] | None = None, **more_tags: TagValue,
    ) -> None:
        """Set a gauge: ``log.metric("active_symbols", 42, tags={"exchange": "mexc"})``."""
        self._metric("gauge", name, value, tags, more_tags, None, None)

    def counter(
        self, name: Name = _NOMSG, value: float = 1, /,
        tags: Mapping[str, TagValue] | None = None, **more_tags: TagValue,
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
                value = _NOMSG  # type: ignore[assignment]
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
        self, name: Name = _NOMSG, value: Number = _NOMSG, /,
        tags: Mapping[str, TagValue] | None = None, **more_tags: TagValue,
    ) -> None:
        """Observe a value in a histogram: ``log.histogram("spread_bps", 3.2)``."""
        self._metric("histogram", name, value, tags, more_tags, None, None)

    def latency(
        self, operation: Name = _NOMSG, duration_ms: Number = _NOMSG, /,
        tags: Mapping[str, TagValue] | None = None, **more_tags: TagValue,
    ) -> None:
        """Observe a duration in milliseconds (a histogram of the operation's duration)."""
        if operation is _NOMSG:
            operation = more_tags.pop("operation", _NOMSG)  # type: ignore[assignment]
        if duration_ms is _NOMSG:
            duration_ms = more_tags.pop("duration_ms", _NOMSG)  # type: ignore[assignment]
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

    def timer(self, name: str, /, **tags: TagValue) -> LoggingTimer:
        """Time a block or a function; see :class:`hftlogging.LoggingTimer`."""
        return LoggingTimer(self, name, **tags)

    def _observe_ms(
        self, name: str, elapsed_ms: float, tags: dict[str, Any],
        bound: dict[str, Any] | None = None,
    ) -> None:
        """Record a duration histogram (a timer's exit): the general path, minus parsing."""
        self._metric("histogram", name, elapsed_ms, None, tags, "ms", bound)

    # -- audit -----------------------------------------------------------------------------

    def audit(
        self, event: Name = _NOMSG, data: Mapping[str, object] | None = None, /, **fields: object
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

    def with_context(self, **fields: object) -> BoundLogger:
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

    def set_context(self, **fields: object) -> None:
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
        g = global_fields()
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





LoggerLike = HFTLogger | BoundLogger
