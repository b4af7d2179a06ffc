"""ContextFormatter (one record, one line) and JSONFormatter/to_jsonable (never raise)."""

from __future__ import annotations

import dataclasses
import datetime
import decimal
import enum
import fractions
import importlib.util
import json
import logging
import os
import subprocess
import sys
import time
import unicodedata
import uuid
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import hftlogging
from hftlogging.formatters import (
    ContextFormatter,
    JSONFormatter,
    escape_text,
    render_context,
    rfc3339_utc,
    to_jsonable,
)
from hftlogging.record import build_record

T_NS = 1_700_000_000_123_456_789  # 2023-11-14T22:13:20.123456789Z


def make_record(msg: object = "m", context: dict[str, Any] | None = None,
                args: tuple[Any, ...] = (), **attrs: Any) -> logging.LogRecord:
    rec = build_record("svc.orders", logging.INFO, msg, args, T_NS, None, context=context)
    rec.__dict__.update(attrs)
    return rec


# --- ContextFormatter -----------------------------------------------------------------------


def test_default_format() -> None:
    """Default: asctime level name: message key=value..."""
    out = ContextFormatter(utc=True).format(make_record("filled", {"order_id": 7}))
    assert out == "2023-11-14 22:13:20,123 INFO svc.orders: filled order_id=7"


def test_no_context_no_trailing_space() -> None:
    """A record with no fields (or no context attribute at all) ends with the message."""
    f = ContextFormatter("%(levelname)s %(message)s %(context)s")
    assert f.format(make_record("plain")) == "INFO plain"
    stdlib = logging.LogRecord("n", logging.INFO, "p", 1, "stdlib record", (), None)
    assert f.format(stdlib) == "INFO stdlib record"


@pytest.mark.parametrize(
    ("value", "rendered"),
    [
        ("mexc", "mexc"),
        ("two words", '"two words"'),
        ('say "hi"', '"say \\"hi\\""'),
        ("a=b", '"a=b"'),
        ("", '""'),
        (12.5, "12.5"),
        (None, "None"),
        ([1, 2], '"[1, 2]"'),
        ("tab\there", '"tab\\there"'),
        ("new\nline", '"new\\nline"'),
        ("back\\slash and space", '"back\\\\slash and space"'),
    ],
)
def test_render_values(value: object, rendered: str) -> None:
    """Values are bare when safe, quoted (with escapes) when they have spaces, quotes, '='."""
    assert render_context({"k": value}) == f"k={rendered}"


def test_render_keys() -> None:
    """Keys that are not identifiers are made one token, never a line break."""
    assert render_context({"a b": 1, "x=y": 2, "k\n": 3, "": 4}) == 'a_b=1 x_y=2 k\\n=3 ""=4'


def test_render_context_order_and_types() -> None:
    """Pairs keep insertion order; any value type renders."""
    class Odd:
        def __str__(self) -> str:
            raise RuntimeError("no str")

    out = render_context({"b": 1, "a": True, "o": Odd()})
    assert out.startswith("b=1 a=True o=")
    assert "unprintable Odd" in out


def test_message_newlines_cannot_forge_a_line() -> None:
    """A message with CR/LF and control characters stays on one line, visibly escaped."""
    forged = "ok\n2023-11-14 22:13:20,123 INFO svc: forged\r\x1b[31m\x00"
    out = ContextFormatter("%(levelname)s %(message)s").format(make_record(forged))
    assert "\n" not in out and "\r" not in out and "\x1b" not in out and "\x00" not in out
    assert out == "INFO ok\\n2023-11-14 22:13:20,123 INFO svc: forged\\r\\x1b[31m\\x00"


def test_message_from_args_is_escaped() -> None:
    """An argument carrying a newline is escaped after %-formatting."""
    out = ContextFormatter("%(message)s").format(make_record("user=%s", args=("a\nb",)))
    assert out == "user=a\\nb"


@pytest.mark.parametrize(
    "sep", ["\u2028", "\u2029", "\x85", "\x0b", "\x0c", "\x1c", "\x7f", "\x9b", "\x80"])
def test_line_separators_and_controls_escaped(sep: str) -> None:
    """Line breaks str.splitlines() knows and C0/C1 controls are escaped everywhere."""
    out = ContextFormatter("%(message)s %(context)s").format(
        make_record(f"a{sep}b", {"k": f"c{sep}d"}))
    assert len(out.splitlines()) == 1
    assert sep not in out


def test_traceback_lines_are_indented() -> None:
    """A traceback follows on indented lines; its message cannot forge a record line."""
    try:
        raise ValueError("first\n2023-11-14 22:13:20,123 INFO forged")
    except ValueError:
        rec = make_record("failed", {"order_id": 1}, exc_info=sys.exc_info())
    out = ContextFormatter("%(levelname)s %(message)s %(context)s").format(rec)
    first, *rest = out.split("\n")
    assert first == "INFO failed order_id=1"
    assert rest[0] == "  | Traceback (most recent call last):"
    assert all(line.startswith("  | ") for line in rest)
    assert "  | 2023-11-14 22:13:20,123 INFO forged" in rest


def test_stack_info_is_indented() -> None:
    """stack_info lines are indented like a traceback."""
    rec = make_record("m", stack_info="Stack (most recent call last):\n  File \"x\", line 1")
    out = ContextFormatter("%(message)s").format(rec)
    assert out.split("\n") == [
        "m", "  | Stack (most recent call last):", '  |   File "x", line 1']


@pytest.mark.parametrize(
    ("fmt", "style"),
    [
        ("%(message)s %(context)s", "%"),
        ("{message} {context}", "{"),
        ("$message $context", "$"),
        ("$message ${context}", "$"),
    ],
)
def test_context_placeholder_in_every_style(fmt: str, style: str) -> None:
    """%(context)s, {context}, $context and ${context} all render key=value pairs."""
    out = ContextFormatter(fmt, style=style).format(make_record("m", {"a": 1, "b": "x y"}))
    assert out == 'm a=1 b="x y"'


@pytest.mark.parametrize(
    ("fmt", "style"),
    [
        ("%(message)s %(context)s %(context_id)s", "%"),
        ("{message} {context} {context_id}", "{"),
        ("$message $context $context_id", "$"),
    ],
)
def test_field_named_like_context_prefix(fmt: str, style: str) -> None:
    """A field such as context_id is a field of its own, not the context placeholder."""
    out = ContextFormatter(fmt, style=style).format(make_record("m", {"context_id": "c-1"}))
    assert out == "m context_id=c-1 c-1"


def test_utc_and_cached_asctime() -> None:
    """asctime: UTC when asked; the per-second cache never mixes seconds or formats."""
    f = ContextFormatter("%(asctime)s", utc=True)
    assert f.format(make_record()) == "2023-11-14 22:13:20,123"
    later = build_record("n", logging.INFO, "m", (), T_NS + 1_500_000_000, None)
    assert f.format(later) == "2023-11-14 22:13:21,623"
    assert f.format(make_record()) == "2023-11-14 22:13:20,123"
    custom = ContextFormatter("%(asctime)s", datefmt="%H:%M:%S", utc=True)
    assert custom.format(make_record()) == "22:13:20"
    local = ContextFormatter("%(asctime)s")
    expected = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(T_NS // 10**9)) + ",123"
    assert local.format(make_record()) == expected


def test_unrenderable_message_never_raises() -> None:
    """A message whose __str__ raises, or a bad %-format, is rendered with a note."""
    class Odd:
        def __str__(self) -> str:
            raise RuntimeError("no")

    f = ContextFormatter("%(message)s")
    assert "unprintable Odd" in f.format(make_record(Odd()))
    assert "format error" in f.format(make_record("%d", args=("x",)))


text_without_surrogates = st.text(st.characters(blacklist_categories=("Cs",)))


@settings(max_examples=200, deadline=None)
@given(
    msg=text_without_surrogates,
    context=st.dictionaries(
        text_without_surrogates,
        st.one_of(text_without_surrogates, st.integers(), st.floats(), st.none(),
                  st.lists(text_without_surrogates, max_size=3)),
        max_size=5,
    ),
)
def test_one_record_is_always_one_line(msg: str, context: dict[str, Any]) -> None:
    """Whatever the message and context text, a record without traceback is one line."""
    out = ContextFormatter().format(make_record(msg, context))
    assert len(out.splitlines()) == 1
    assert not any(unicodedata.category(ch) == "Cc" for ch in out)


@settings(max_examples=200, deadline=None)
@given(st.text())
def test_escape_text_is_printable(text: str) -> None:
    """escape_text output has no line break or control character and keeps printable text."""
    out = escape_text(text)
    assert len(out.splitlines()) <= 1
    assert not any(unicodedata.category(ch) == "Cc" for ch in out)
    if text.isprintable():
        assert out == text


# --- JSON -------------------------------------------------------------------------------------


def test_json_layout() -> None:
    """timestamp (RFC 3339 UTC from created_ns), level, logger, message, log_type, fields."""
    out = json.loads(JSONFormatter().format(make_record("filled %s", {"order_id": 7}, ("o-1",))))
    assert out == {
        "timestamp": "2023-11-14T22:13:20.123456Z", "level": "INFO", "logger": "svc.orders",
        "message": "filled o-1", "log_type": "text", "order_id": 7,
    }


def test_json_metric_audit_tags() -> None:
    """Metric records carry the metric fields, audit records event, factory loggers tags."""
    metric = make_record("metric %s=%s", {}, ("g", 1), log_type="metric", metric_name="g",
                         metric_value=1, metric_type="gauge", metric_tags={"a": "b"},
                         metric_unit=None, tags=["mexc", "ws"])
    out = json.loads(JSONFormatter().format(metric))
    assert out["metric_name"] == "g" and out["metric_value"] == 1
    assert out["metric_type"] == "gauge" and out["metric_tags"] == {"a": "b"}
    assert out["tags"] == ["mexc", "ws"]
    audit = make_record("audit %s", {"order_id": 1}, ("placed",), log_type="audit",
                        audit_event="placed")
    out = json.loads(JSONFormatter().format(audit))
    assert out["event"] == "placed" and out["order_id"] == 1 and out["log_type"] == "audit"


def test_json_fixed_keys_win_over_fields() -> None:
    """A field named timestamp/level/logger/event never replaces the fixed key."""
    rec = make_record("audit %s", {"timestamp": "user", "level": "user", "logger": "user",
                                   "event": "user"}, ("placed",),
                      log_type="audit", audit_event="placed",
                      timestamp="user", level="user", logger="user", event="user")
    out = json.loads(JSONFormatter().format(rec))
    assert out["timestamp"] == "2023-11-14T22:13:20.123456Z"
    assert (out["level"], out["logger"], out["event"]) == ("INFO", "svc.orders", "placed")


def test_json_exception() -> None:
    """Exceptions give exc_info (the traceback text) and exc_type."""
    try:
        raise KeyError("k")
    except KeyError:
        rec = make_record("failed", exc_info=sys.exc_info())
    out = json.loads(JSONFormatter().format(rec))
    assert out["exc_type"] == "KeyError"
    assert "Traceback" in out["exc_info"] and "KeyError" in out["exc_info"]


def test_json_one_line_for_hostile_text() -> None:
    """Newlines in message and values are escaped by JSON: one object per line."""
    out = JSONFormatter().format(make_record("a\nb\u2028", {"k": "c\r\nd"}))
    assert "\n" not in out and "\r" not in out
    assert json.loads(out)["k"] == "c\r\nd"


def test_json_static_fields_and_fmt() -> None:
    """static_fields are added; fmt adds stdlib attributes such as funcName."""
    rec = make_record("m", func="place_order")
    rec.funcName = "place_order"
    out = json.loads(JSONFormatter("%(funcName)s", static_fields={"service": "mm"}).format(rec))
    assert out["service"] == "mm"
    assert out["funcName"] == "place_order"


class Side(enum.Enum):
    BUY = "buy"


@dataclasses.dataclass
class Fill:
    qty: int
    px: decimal.Decimal


class Unprintable:
    def __str__(self) -> str:
        raise RuntimeError("no")

    def __repr__(self) -> str:
        return "Unprintable()"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc),
         "2026-01-02T03:04:05Z"),
        (datetime.date(2026, 1, 2), "2026-01-02"),
        (datetime.timedelta(milliseconds=1500), 1.5),
        (decimal.Decimal("1.10"), "1.10"),
        (Side.BUY, "buy"),
        ({3, 1, 2}, [1, 2, 3]),
        (b"caf\xc3\xa9\xff", "café\\xff"),
        (uuid.UUID(int=1), "00000000-0000-0000-0000-000000000001"),
        (Fill(2, decimal.Decimal("3.5")), {"qty": 2, "px": "3.5"}),
        (float("nan"), "nan"),
        (float("inf"), "inf"),
        ({1: "a", None: "b"}, {"1": "a", "None": "b"}),
        ((1, "x"), [1, "x"]),
        (ValueError("bad"), "ValueError: bad"),
        (fractions.Fraction(1, 3), "1/3"),
    ],
)
def test_to_jsonable_conversions(value: object, expected: object) -> None:
    """Common non-JSON values convert to readable JSON values."""
    assert to_jsonable(value) == expected


def test_to_jsonable_recursion_depth_and_unprintable() -> None:
    """Self-referencing and very deep structures and raising __str__ never raise."""
    loop: list[Any] = []
    loop.append(loop)
    assert to_jsonable(loop) == ["<recursion>"]
    deep: list[Any] = []
    cur = deep
    for _ in range(200):
        nxt: list[Any] = []
        cur.append(nxt)
        cur = nxt
    json.dumps(to_jsonable(deep))
    assert "unprintable Unprintable" in to_jsonable(Unprintable())


json_leaves = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(), st.text(), st.binary(),
    st.datetimes(), st.dates(), st.times(), st.timedeltas(), st.decimals(), st.uuids(),
    st.fractions(), st.complex_numbers(), st.just(Side.BUY), st.just(Unprintable()),
)
json_values = st.recursive(
    json_leaves,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.tuples(inner, inner),
        st.dictionaries(st.one_of(st.text(), st.integers(), st.none()), inner, max_size=4),
        st.frozensets(st.one_of(st.integers(), st.text(), st.none()), max_size=4),
        st.builds(Fill, st.integers(), st.decimals()),
    ),
    max_leaves=20,
)


@settings(max_examples=200, deadline=None)
@given(json_values)
def test_to_jsonable_never_raises(value: object) -> None:
    """to_jsonable returns strict JSON (no NaN) for any mix of values."""
    json.dumps(to_jsonable(value), allow_nan=False)


@settings(max_examples=100, deadline=None)
@given(st.dictionaries(st.text(min_size=1), json_values, max_size=4))
def test_json_formatter_never_raises(fields: dict[str, Any]) -> None:
    """JSONFormatter writes one parseable line for any field values, with either serialiser."""
    objects = []
    for serializer in SERIALIZERS:
        out = JSONFormatter(serializer=serializer).format(make_record("m", fields))
        assert "\n" not in out
        objects.append(json.loads(out))
    assert all(o == objects[0] for o in objects)


# --- JSONFormatter: the direct object and its serialisers --------------------------------------

SERIALIZERS = ["json"] + (["orjson"] if importlib.util.find_spec("orjson") else [])


def test_orjson_present_in_ci() -> None:
    """CI installs the test extra, orjson included: the orjson serialiser is exercised there."""
    if os.environ.get("CI") and "orjson" not in SERIALIZERS:
        pytest.fail("orjson is part of the test extra; CI must install it")


@pytest.mark.parametrize("serializer", SERIALIZERS)
def test_json_serialisers_write_the_same_line(serializer: str) -> None:
    """orjson and json produce the same compact line, key order included."""
    try:
        raise ValueError("bad px")
    except ValueError:
        rec = make_record("filled %s", {"order_id": 7, "px": decimal.Decimal("1.10"),
                                        "side": Side.BUY, "when": datetime.date(2026, 1, 2),
                                        "nan": float("nan"), "big": 2**70, "ids": {3, 1}},
                          ("o-1",), exc_info=sys.exc_info(), tags=["mexc"])
    line = JSONFormatter(serializer=serializer).format(rec)
    assert line == JSONFormatter(serializer="json").format(rec)
    assert line.startswith('{"timestamp":"2023-11-14T22:13:20.123456Z","level":"INFO",')
    out = json.loads(line)
    assert list(out) == ["timestamp", "level", "logger", "message", "log_type", "tags",
                         "order_id", "px", "side", "when", "nan", "big", "ids", "exc_info",
                         "exc_type"]
    assert (out["px"], out["side"], out["when"], out["nan"], out["big"], out["ids"]) == (
        "1.10", "buy", "2026-01-02", "nan", 2**70, [1, 3])


@pytest.mark.parametrize("serializer", SERIALIZERS)
def test_json_non_ascii_and_lone_surrogate(serializer: str) -> None:
    """Non-ASCII text stays readable; a lone surrogate (which orjson refuses) still writes."""
    f = JSONFormatter(serializer=serializer)
    assert json.loads(f.format(make_record("prix €", {"k": "ü"})))["k"] == "ü"
    assert '"prix €"' in f.format(make_record("prix €"))
    out = json.loads(f.format(make_record("m", {"k": "a\udc80b"})))
    assert out["k"] == "a\udc80b"
    assert JSONFormatter(json_ensure_ascii=True).format(make_record("€")).isascii()


def test_json_extra_attributes_and_filter_changes() -> None:
    """extra= attributes are written; an attribute a filter replaced wins over the field."""
    rec = make_record("m", {"account": "acc-1", "qty": 1}, venue="mexc", _private=1)
    rec.__dict__["account"] = "acc-1"
    rec.__dict__["qty"] = 1
    out = json.loads(JSONFormatter().format(rec))
    assert out["venue"] == "mexc" and "_private" not in out
    assert list(out)[-3:] == ["account", "qty", "venue"]
    rec.__dict__["account"] = "***"  # a filter masked the attribute, not the context
    assert json.loads(JSONFormatter().format(rec))["account"] == "***"


def test_json_stack_info_and_required_asctime() -> None:
    """stack_info is rendered; %(asctime)s in fmt adds the formatted time."""
    rec = make_record("m", stack_info="Stack (most recent call last):\n  File x")
    out = json.loads(JSONFormatter("%(asctime)s %(lineno)d").format(rec))
    assert out["stack_info"].startswith("Stack") and out["asctime"] and "lineno" in out


@pytest.mark.parametrize("serializer", SERIALIZERS)
def test_json_dict_message_and_subclass_hooks_use_the_pipeline(serializer: str) -> None:
    """A dict message and a subclass overriding add_fields keep python-json-logger's way,
    written by the same serialiser as every other line."""
    rec = make_record({"event": "x", "n": 1, "bad": float("nan")})
    line = JSONFormatter(serializer=serializer).format(rec)
    assert line == JSONFormatter(serializer="json").format(rec)
    assert line.startswith('{"timestamp":') and line.endswith(',"event":"x","n":1,"bad":"nan"}')
    out = json.loads(line)
    assert out["n"] == 1 and out["message"] == ""

    class Tagged(JSONFormatter):
        def add_fields(self, log_data: dict[str, Any], record: logging.LogRecord,
                       message_dict: dict[str, Any]) -> None:
            super().add_fields(log_data, record, message_dict)
            log_data["desk"] = "fx"

    out = json.loads(Tagged().format(make_record("m", {"order_id": 7})))
    assert out["desk"] == "fx" and out["order_id"] == 7 and out["level"] == "INFO"


def test_json_static_fields_give_way_to_the_call() -> None:
    """A field of the call, or an extra= attribute, wins over a static field of the same
    name; static fields changed after construction are used."""
    f = JSONFormatter(static_fields={"service": "mm", "env": "dev"})
    out = json.loads(f.format(make_record("m", {"service": "hedger"}, service="hedger")))
    assert (out["service"], out["env"]) == ("hedger", "dev")
    stdlib = logging.makeLogRecord({"msg": "m", "service": "extra"})
    assert json.loads(f.format(stdlib))["service"] == "extra"
    f.static_fields["env"] = "prod"
    assert json.loads(f.format(make_record("m")))["env"] == "prod"


def test_json_exception_text_is_not_cached_on_the_record() -> None:
    """The JSON formatter renders the traceback for its own line only: a handler after it
    with its own formatException still renders its own way."""

    class OneLine(logging.Formatter):
        def formatException(self, ei: Any) -> str:
            return f"{ei[0].__name__}: {ei[1]}"

    try:
        raise ValueError("x")
    except ValueError:
        rec = make_record("m", exc_info=sys.exc_info())
    assert "Traceback" in json.loads(JSONFormatter().format(rec))["exc_info"]
    assert rec.exc_text is None
    assert OneLine("%(message)s").format(rec) == "m\nValueError: x"


def test_json_exc_info_in_fmt_without_an_exception() -> None:
    """%(exc_info)s in fmt adds the traceback when there is one, and no key otherwise."""
    f = JSONFormatter("%(exc_info)s %(lineno)d")
    out = json.loads(f.format(make_record("m")))
    assert "exc_info" not in out and "lineno" in out
    try:
        raise KeyError("k")
    except KeyError:
        rec = make_record("m", exc_info=sys.exc_info())
    assert "KeyError" in json.loads(f.format(rec))["exc_info"]


def test_json_serializer_option_checked() -> None:
    """An unknown serialiser is refused when the formatter is built."""
    with pytest.raises(ValueError, match="key serializer: expected 'auto', 'orjson' or 'json'"):
        JSONFormatter(serializer="ujson")


def test_json_without_orjson_installed(tmp_path: Any) -> None:
    """With orjson not importable, the formatter falls back to json and writes the same line."""
    script = tmp_path / "no_orjson.py"
    script.write_text(
        "import sys, logging\n"
        "sys.modules['orjson'] = None  # import fails as if not installed\n"
        "from hftlogging.formatters import JSONFormatter\n"
        "from hftlogging.record import build_record\n"
        "rec = build_record('svc', logging.INFO, 'm %s', (1,), 1_700_000_000_000_000_000,\n"
        "                   None, context={'a': [1, 2]})\n"
        "print(JSONFormatter().format(rec))\n"
        "try:\n"
        "    JSONFormatter(serializer='orjson')\n"
        "except ValueError as e:\n"
        "    print(e)\n"
    )
    env = {**os.environ, "PYTHONPATH": os.path.dirname(os.path.dirname(hftlogging.__file__))}
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          timeout=60, check=True, env=env)
    line, error = done.stdout.splitlines()
    assert line == ('{"timestamp":"2023-11-14T22:13:20.000000Z","level":"INFO","logger":"svc",'
                    '"message":"m 1","log_type":"text","a":[1,2]}')
    assert "pip install hftlogging[orjson]" in error


def test_rfc3339_utc() -> None:
    """Nanoseconds truncate to microseconds, always UTC with Z."""
    assert rfc3339_utc(T_NS) == "2023-11-14T22:13:20.123456Z"
    assert rfc3339_utc(0) == "1970-01-01T00:00:00.000000Z"


@pytest.mark.parametrize("value", ["a b", ["x"], 5])
def test_foreign_context_attribute(value: object) -> None:
    """A record whose ``context`` is not a dict (set by other code) still formats."""
    rec = logging.LogRecord("n", logging.INFO, "p", 1, "m", (), None)
    rec.context = value  # type: ignore[attr-defined]
    line = ContextFormatter("%(message)s %(context)s").format(rec)
    assert line.startswith("m ") and "\n" not in line
    assert json.loads(JSONFormatter().format(rec))["context"] == to_jsonable(value)
