"""Checks of a metric call's input: name, value, tags, and their description in a report."""

from __future__ import annotations

import decimal
import math
import numbers
import re
from typing import Any

__all__ = ["GOOD_METRIC_NAMES", "check_metric", "describe_metric", "metric_value"]


# --- metric validation ---------------------------------------------------------------------

_METRIC_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*\Z")
# Names already found valid (bounded): the counter's inlined path skips the regex for them.
GOOD_METRIC_NAMES: set[str] = set()
_INF = (math.inf, -math.inf)


def check_metric(name: object, value: object, tags: dict[str, Any]) -> str | None:
    """Return why a metric call is invalid, or None; a None tag value becomes ``""``."""
    if type(name) is not str or name not in GOOD_METRIC_NAMES:  # a list name: unhashable
        if type(name) is not str or not _METRIC_NAME.match(name):
            return "metric_name"
        if len(GOOD_METRIC_NAMES) < 100_000:
            GOOD_METRIC_NAMES.add(name)
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


def metric_value(value: Any) -> float | int:
    t = type(value)
    if t is int or t is float:
        return value  # type: ignore[no-any-return]
    return float(value)


# --- handler list that invalidates plans --------------------------------------------------

def describe_metric(name: object, value: object, tags: object) -> str:
    try:
        return f"name={name!r} value={value!r} tags={tags!r}"[:300]
    except Exception:
        return f"name of type {type(name).__name__}, value of type {type(value).__name__}"
