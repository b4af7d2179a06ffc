"""Caller information: which frame is the user's, the call-site tuple, the task name."""

from __future__ import annotations

import logging
import os
import sys
from typing import Any

__all__ = ["caller", "find_user_frame", "is_internal", "task_name"]


# --- caller information --------------------------------------------------------------------

_PKG_DIR = os.path.normcase(os.path.dirname(os.path.abspath(__file__))) + os.sep
_LOGGING_SRC = os.path.normcase(logging.__file__) if logging.__file__ else ""
_internal_files: dict[str, bool] = {}


def is_internal(filename: str) -> bool:
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
    while f is not None and is_internal(f.f_code.co_filename):
        f = _outer(f) if f.f_code.co_flags & _CO_COROUTINE else f.f_back
    while stacklevel > 1 and f is not None:
        nxt = f.f_back
        while nxt is not None and is_internal(nxt.f_code.co_filename):
            nxt = nxt.f_back
        if nxt is None:
            break
        f = nxt
        stacklevel -= 1
    return f


def caller(start: int = 2) -> tuple[str, int, str]:
    f: Any = sys._getframe(start)
    while f is not None:
        code = f.f_code
        if not is_internal(code.co_filename):
            return code.co_filename, f.f_lineno, code.co_name
        f = _outer(f) if code.co_flags & _CO_COROUTINE else f.f_back
    return "(unknown file)", 0, "(unknown function)"


def task_name() -> str | None:
    asyncio = sys.modules.get("asyncio")
    if asyncio is None:
        return None
    try:
        task = asyncio.current_task()
    except Exception:
        return None
    return task.get_name() if task is not None else None


