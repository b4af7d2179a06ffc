"""How configuration errors name things: key paths, found values, "did you mean".

Shared by validation, the ``${VAR}`` expansion and the translation of the ``logging:``
format, so every message shows a key and a value the same way.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence

__all__ = ["describe_found", "did_you_mean", "key_path", "suggest"]


def key_path(parts: Sequence[object]) -> str:
    """A key path as messages show it: ``handlers.audit.filters[0]``, ``'a.b'`` quoted."""
    out = ""
    for p in parts:
        if isinstance(p, int):
            out += f"[{p}]"
            continue
        s = str(p)
        if "." in s or " " in s or not s:
            s = f"'{s}'"
        out = f"{out}.{s}" if out else s
    return out


def did_you_mean(word: object, candidates: Iterable[object]) -> str:
    """``"; did you mean 'x'?"`` for the candidate closest to ``word``, or ``""``."""
    if not isinstance(word, str):
        return ""
    close = difflib.get_close_matches(word, [str(c) for c in candidates], n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def suggest(word: object, candidates: Iterable[object], otherwise: str) -> str:
    """What to do about ``word``: ``"did you mean 'x'?"`` when one candidate is close,
    else ``otherwise`` (the fix part of :func:`hftlogging.exceptions.describe`)."""
    return did_you_mean(word, candidates).removeprefix("; ") or otherwise


def describe_found(value: object) -> str:
    """A found value as a message shows it: ``'text'``, ``3 (a number)``, ``a mapping``."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"{str(value).lower()} (a boolean)"
    if isinstance(value, str):
        return repr(str(value))
    kinds = {int: "a number", float: "a number", dict: "a mapping", list: "a list"}
    kind = kinds.get(type(value))
    if kind is not None:
        return f"{value!r} ({kind})" if kind == "a number" else kind
    return f"{type(value).__name__} {value!r}"
