"""One-time warnings of the package: one :class:`RuntimeWarning` per key and process.

Imports nothing of the package, so any module (``lifecycle``, ``internals``, the queue
handler) can warn without depending on another.
"""

from __future__ import annotations

import warnings

__all__ = ["forget_warnings", "warn_once"]

_warned: set[str] = set()


def warn_once(key: str, text: str) -> None:
    """One :class:`RuntimeWarning` per ``key`` in this process."""
    if key in _warned:
        return
    _warned.add(key)
    warnings.warn(f"hftlogging: {text}", RuntimeWarning, stacklevel=3)


def forget_warnings() -> None:
    """Warn again for every key (:func:`hftlogging.internals.reset` calls it)."""
    _warned.clear()
