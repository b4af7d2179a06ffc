"""Forgetting cached fast-path plans: for one logger and its descendants, or for all.

A logger's plans (what a call at a level does: nothing, the fast path, or the stdlib path)
live in its stdlib level cache, ``Logger._cache``, so whatever clears that cache clears the
plans too. What a plan depends on is the configuration of the logger and of its ancestors
(levels, handlers, ``propagate``, ``disabled``, filters), so a change on one logger only
needs to forget the plans of that logger and of the loggers below it.

The loggers below a logger are found by name: stdlib links a logger to its parent through
dotted prefixes of its name (``a.b.c`` hangs under ``a.b``, ``a`` or the root, whichever
exists), and keeps every prefix in ``manager.loggerDict``, as a logger or a placeholder.
An index of those names, one level at a time, is kept per manager and brought up to date
from ``loggerDict`` (which only grows) when it is used.

A level that does nothing for a logger gets a no-op as an instance attribute (``debug``).
The no-op checks, on every call, that the logger's cache still holds the plan it stands
for: however the cache is cleared (``setLevel``, ``logging.disable``, stdlib's
``Manager._clear_cache``, ``logger._cache.clear()``, a future stdlib clearing it another
way), the next call finds the plan gone, drops the no-op and decides again. A stdlib that
replaced the cache dict instead of clearing it is detected at ``install()``, and no-ops
are then not used.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable, Iterable
from typing import Any

from hftlogging import lifecycle
from hftlogging import strict as _strict

__all__ = [
    "KEY_AUDIT",
    "KEY_METRIC",
    "NOOP_NAMES",
    "SLOW",
    "TEXT_KEYS",
    "HandlerList",
    "StartFirst",
    "check_cache_clearing",
    "disable_hook_installed",
    "forget",
    "forget_all",
    "forget_subtree",
    "forget_subtree_locked",
    "install_disable_hook",
    "invalidate_plans",
    "make_noop",
    "noops_allowed",
    "text_key",
    "watched",
]

_NOOPS = "_hft_noops"
# On a logger: len(manager.loggerDict) when it was found to have no logger below it.
_LEAF = "_hft_leaf"


def forget(lg: Any) -> None:
    """Forget ``lg``'s plans and stdlib level cache, and drop its no-op level methods."""
    cache = lg.__dict__.get("_cache")
    if cache is not None:
        cache.clear()
    d = lg.__dict__
    names = d.pop(_NOOPS, None)
    if names:
        for name in names:
            d.pop(name, None)


def forget_all(manager: Any) -> None:
    """Forget every logger's plans (and level cache) under ``manager``."""
    with logging._lock:  # type: ignore[attr-defined]
        for lg in list(manager.loggerDict.values()):
            if isinstance(lg, logging.Logger):
                forget(lg)
        forget(manager.root)


class _Index:
    """Names of ``manager.loggerDict`` by dotted parent name (``""`` for the top level)."""

    __slots__ = ("kids", "size")

    def __init__(self) -> None:
        self.kids: dict[str, set[str]] = {}
        self.size = 0  # len(loggerDict) when last brought up to date

    def add(self, name: str) -> None:
        kids = self.kids
        while True:
            i = name.rfind(".")
            parent = name[:i] if i > 0 else ""
            below = kids.get(parent)
            if below is None:
                kids[parent] = {name}
            elif name in below:
                return  # its ancestors are in already
            else:
                below.add(name)
            if not parent:
                return
            name = parent

    def update(self, logger_dict: dict[str, Any]) -> None:
        n = len(logger_dict)
        if n == self.size:
            return
        if n > self.size:
            # loggerDict keeps insertion order and stdlib never removes a name: the new
            # names are the last ones.
            for name in itertools.islice(reversed(logger_dict), n - self.size):
                if isinstance(name, str):
                    self.add(name)
        else:  # names were removed by hand: start again
            self.kids.clear()
            for name in logger_dict:
                if isinstance(name, str):
                    self.add(name)
        self.size = n


def _index(manager: Any) -> _Index:
    idx = manager.__dict__.get("_hft_index")
    if idx is None:
        idx = manager.__dict__["_hft_index"] = _Index()
    return idx  # type: ignore[no-any-return]


def forget_subtree(logger: Any) -> None:
    """Forget the plans of ``logger`` and of every logger whose name lies below its name."""
    lock = logging._lock  # type: ignore[attr-defined]
    lock.acquire()
    try:
        forget_subtree_locked(logger)
    finally:
        lock.release()


def forget_subtree_locked(logger: Any) -> None:
    """:func:`forget_subtree`, for a caller that holds logging's lock."""
    d = logger.__dict__
    cache = d.get("_cache")
    if cache:
        cache.clear()
    if _NOOPS in d:
        forget(logger)
    manager = logger.manager
    logger_dict = manager.loggerDict
    size = len(logger_dict)
    if d.get(_LEAF) == size:
        return  # no logger below it, and no logger created since that was found
    name = logger.name
    if logger is manager.root or type(name) is not str or not name:
        forget_all(manager)
        return
    idx = _index(manager)
    if size != idx.size:
        idx.update(logger_dict)
    kids = idx.kids
    below = kids.get(name)
    if not below:
        d[_LEAF] = size
        return
    stack = list(below)
    while stack:
        n = stack.pop()
        lg = logger_dict.get(n)
        if isinstance(lg, logging.Logger):
            forget(lg)
        more = kids.get(n)
        if more:
            stack.extend(more)


def make_noop(logger: Any, name: str, key: str) -> Callable[..., None]:
    """Return the no-op for ``logger.<name>`` standing for the plan cached under ``key``.

    While ``key`` is in the logger's cache the call does nothing. Once the cache lost it
    (cleared in any way), the no-op removes itself and makes the call the logger's class
    would have made, which decides again.
    """
    # The dict itself, not logger._cache: one lookup less on every disabled call. stdlib
    # clears the dict in place (checked by check_cache_clearing); were it to replace it,
    # no-ops are not used at all.
    cache = logger._cache
    ctx: list[Any] = [logger, name]  # few free variables: each one is copied per call

    def noop(*args: Any, **kwargs: Any) -> None:
        if key in cache:
            return
        _revert(ctx, args, kwargs)

    ctx.append(noop)
    noop.__name__ = noop.__qualname__ = name
    noop.__doc__ = f"``{name}`` at a level this logger does not log (does nothing)."
    return noop


def _revert(ctx: list[Any], args: Any, kwargs: Any) -> None:
    """Drop a no-op whose plan is gone and make the call the logger's class would make."""
    logger, name, noop = ctx
    d = logger.__dict__
    if d.get(name) is noop:
        del d[name]
        names = d.get(_NOOPS)
        if names and name in names:
            names.remove(name)
    getattr(type(logger), name)(logger, *args, **kwargs)


# --- how stdlib clears the level cache -------------------------------------------------------

_noops_allowed = True


def check_cache_clearing() -> bool:
    """Check, on a private manager, that stdlib clears a logger's level cache in place.

    The no-op level methods hold the cache dict they watch; a stdlib that replaced the
    dict instead of clearing it would leave them watching a dict nobody clears. Where
    that is so, no-ops are not used (a disabled call then takes the plan lookup, which
    reads the logger's current dict). Run by ``install()``.

    Returns:
        Whether no-ops are used.
    """
    global _noops_allowed
    try:
        manager = logging.Manager(logging.RootLogger(logging.WARNING))
        manager.loggerClass = logging.Logger
        probe = manager.getLogger("hftlogging.probe")
        cache = probe.__dict__.get("_cache")
        probe.isEnabledFor(logging.DEBUG)
        logging.Logger.setLevel(probe, logging.DEBUG)
        _noops_allowed = type(cache) is dict and probe.__dict__.get("_cache") is cache
    except Exception:  # pragma: no cover - a stdlib we do not know
        _noops_allowed = False
    return _noops_allowed


def noops_allowed() -> bool:
    """Whether a disabled level may become a no-op (see :func:`check_cache_clearing`)."""
    return _noops_allowed


# --- manager.disable -----------------------------------------------------------------------

_disable_prop = logging.Manager.__dict__.get("disable")


class _PlanManager(logging.Manager):
    """A manager whose ``disable`` setter forgets the plans (stdlib's clears no cache).

    ``logging.disable()`` assigns ``manager.disable`` then clears the level caches; code
    that assigns ``manager.disable`` alone would leave stdlib's cached answers (and the
    plans) as they were. Here the assignment forgets them.
    """

    @property
    def disable(self) -> int:
        return _disable_prop.fget(self)  # type: ignore[union-attr, no-any-return]

    @disable.setter
    def disable(self, value: int) -> None:
        _disable_prop.fset(self, value)  # type: ignore[union-attr]
        if "root" in self.__dict__:  # Manager.__init__ assigns disable before root exists
            forget_all(self)


def install_disable_hook(manager: Any) -> bool:
    """Give ``manager`` the ``disable`` setter above; False where that is not possible.

    Only a plain :class:`logging.Manager` whose ``disable`` is a property (as on every
    supported Python) is changed; any other manager is left as it is.
    """
    if type(manager) is _PlanManager:
        return True
    if type(manager) is not logging.Manager or not isinstance(_disable_prop, property):
        return False
    manager.__class__ = _PlanManager
    return True


def disable_hook_installed(manager: Any) -> bool:
    """Tell whether ``manager.disable = level`` forgets the plans."""
    return type(manager) is _PlanManager


# Keys of the per-logger plan, stored in Logger._cache beside stdlib's level entries so
# that stdlib's own cache clearing (setLevel, logging.disable) invalidates them too.
# All plan keys are strings: stdlib's keys are levels, and any int, negative ones too, may
# be a level (isEnabledFor(-21) must not overwrite the plan of INFO).
KEY_METRIC = "hftlogging:metric"
KEY_AUDIT = "hftlogging:audit"
TEXT_KEYS: dict[int, str] = {}


def text_key(level: int) -> str:
    """Return the cache key of the text plan at ``level``."""
    key = TEXT_KEYS.get(level)
    if key is None:
        key = TEXT_KEYS[level] = f"hftlogging:text:{level}"
    return key

class _Slow:
    """Plan marker: take the stdlib path (makeRecord + handle)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "<slow path>"


SLOW: Any = _Slow()


class StartFirst:
    """Plan marker: the queue handler's listener must be started before deciding."""

    __slots__ = ("handler",)

    def __init__(self, handler: Any) -> None:
        self.handler = handler



def invalidate_plans() -> None:
    """Forget every logger's cached plan (and stdlib's level cache with it)."""
    forget_all(logging.Logger.manager)



# A level that does nothing for a logger gets a no-op as an instance attribute
# (``log.debug = <no-op>``), so a disabled call costs one plain call: cheaper than stdlib's
# ``isEnabledFor``. The no-op checks that its plan is still cached (see hftlogging.plans).
NOOP_NAMES = {
    logging.DEBUG: "debug", logging.INFO: "info", logging.WARNING: "warning",
    logging.ERROR: "error", logging.CRITICAL: "critical",
}




def watched(items: Iterable[Any], owner: Any) -> HandlerList:
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


_strict.on_change(invalidate_plans)
# A forked child decides its plans afresh, once its queue handlers are reset.
lifecycle.add_after_fork_child(invalidate_plans, after_handlers=True)
