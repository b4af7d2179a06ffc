"""The plain types an option accepts, read from its annotation, and ``${VAR}`` coercion.

A value that was exactly one ``${VAR}`` is a string until the option it fills says
what it should be (a port, a flag, null); this module reads that from the signature.
"""

from __future__ import annotations

import inspect
import re
import typing
from collections.abc import Callable
from typing import Any

from hftlogging.config.source import EnvStr, yaml_scalar

__all__ = ["accepts", "coerce", "expected_types", "matches", "type_names"]

_ANNOTATION_TYPES = {
    "int": int, "float": float, "str": str, "bool": bool, "None": type(None),
    "NoneType": type(None),
}


def _split_top(text: str, sep: str) -> list[str]:
    parts, depth, cur = [], 0, ""
    for ch in text:
        if ch == "[":
            depth += 1
        elif ch == "]":
            depth -= 1
        if ch == sep and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    parts.append(cur)
    return parts


def expected_types(param: inspect.Parameter) -> tuple[type, ...] | None:
    """The plain types a parameter accepts, from its annotation or default; None if unknown."""
    ann = param.annotation
    if ann is inspect.Parameter.empty:
        d = param.default
        if d is inspect.Parameter.empty or d is None or type(d) not in (int, float, str, bool):
            return None
        return (type(d),)
    if isinstance(ann, str):
        return _types_from_text(ann.replace(" ", ""))
    plain = (int, float, str, bool, type(None))
    if ann in plain:
        return (ann,)
    args = getattr(ann, "__args__", None)
    if getattr(ann, "__origin__", None) is typing.Union and args and all(a in plain for a in args):
        return tuple(args)
    return None


def _types_from_text(text: str) -> tuple[type, ...] | None:
    """``"int | None"``, ``"Optional[str]"``, ``"Union[bool, str]"`` → types; else None."""
    m = re.fullmatch(r"(?:typing\.)?(Optional|Union)\[(.*)\]", text)
    if m:
        inner = _split_top(m.group(2), ",")
        text = "|".join([*inner, "None"] if m.group(1) == "Optional" else inner)
    out = []
    for token in _split_top(text, "|"):
        t = _ANNOTATION_TYPES.get(token)
        if t is None:
            return None
        out.append(t)
    return tuple(out)


def accepts(factory: Callable[..., object], wanted: str, unwanted: str) -> bool:
    try:
        params = inspect.signature(factory).parameters
    except (TypeError, ValueError):
        return False
    return wanted in params and unwanted not in params


def matches(value: object, types: tuple[type, ...]) -> bool:
    for t in types:
        if t is bool and isinstance(value, bool):
            return True
        if t is int and isinstance(value, int) and not isinstance(value, bool):
            return True
        if t is float and isinstance(value, (int, float)) and not isinstance(value, bool):
            return True
        if t is str and isinstance(value, str):
            return True
        if t is type(None) and value is None:
            return True
    return False


def type_names(types: tuple[type, ...]) -> str:
    names = {
        int: "an integer", float: "a number", str: "a string", bool: "true or false",
        type(None): "null",
    }
    return " or ".join(names[t] for t in types)


def coerce(value: Any, types: tuple[type, ...] | None) -> Any:
    """Give a ``${VAR}`` value the type the option expects (a port, a flag, null)."""
    if not isinstance(value, EnvStr):
        return value
    parsed = yaml_scalar(str(value))
    if types is None:
        return parsed
    if not isinstance(parsed, str) and matches(parsed, tuple(t for t in types if t is not str)):
        return parsed
    if str in types:
        return str(value)
    return parsed

