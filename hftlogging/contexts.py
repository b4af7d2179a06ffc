"""Context fields: the ``context()`` block (contextvars), the global fields.

(Named ``contexts`` because ``hftlogging.context`` is the public class.)
"""

from __future__ import annotations

import contextvars
from typing import Any

__all__ = ["CONTEXT_VAR", "context", "current_context", "global_fields", "replace_global_fields"]


# --- contextvars context -----------------------------------------------------------------

CONTEXT_VAR: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar(
    "hftlogging_context", default=None
)
_cv_get = CONTEXT_VAR.get


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

    def __init__(self, **fields: object) -> None:
        self._fields = fields

    def __enter__(self) -> dict[str, Any]:
        cur = CONTEXT_VAR.get()
        new = {**cur, **self._fields} if cur else dict(self._fields)
        token = CONTEXT_VAR.set(new)
        entries = _entries.get() or {}
        _entries.set({**entries, self: (*entries.get(self, ()), token)})
        return new

    def __exit__(self, *exc: object) -> None:
        entries = _entries.get() or {}
        stack = entries.get(self)
        if not stack:
            # Left in another thread or task than the one that entered (a generator
            # resumed elsewhere): take back only this block's own fields.
            cur = CONTEXT_VAR.get()
            if cur:
                CONTEXT_VAR.set({k: v for k, v in cur.items()
                             if k not in self._fields or v is not self._fields[k]} or None)
            return
        token = stack[-1]
        rest = {k: v for k, v in entries.items() if k is not self}
        if len(stack) > 1:
            rest[self] = stack[:-1]
        _entries.set(rest or None)
        try:
            CONTEXT_VAR.reset(token)
        except ValueError:  # the token is of an outer context copy (asyncio callbacks)
            CONTEXT_VAR.set(token.old_value if token.old_value is not token.MISSING else None)

    async def __aenter__(self) -> dict[str, Any]:
        return self.__enter__()

    async def __aexit__(self, *exc: object) -> None:
        self.__exit__(*exc)


# --- global context ------------------------------------------------------------------------

# The global fields in effect: replaced (never mutated) by replace_global_fields, which
# hftlogging.global_context.set_global_fields calls before re-merging every logger.
_global: dict[str, Any] = {}


def global_fields() -> dict[str, Any]:
    """Return the global fields in effect (the shared dict: do not mutate it)."""
    return _global


def replace_global_fields(fields: dict[str, Any]) -> None:
    """Make a copy of ``fields`` the global fields (the caller re-merges the loggers)."""
    global _global
    _global = dict(fields)


def current_context() -> dict[str, Any]:
    """Return a copy of the fields set by :class:`context` in this thread or task."""
    cur = CONTEXT_VAR.get()
    return dict(cur) if cur else {}


