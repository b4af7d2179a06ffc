"""Hostile messages and fields: never an exception, never a crashed listener, never a lost
or forged line, in text files, JSON lines and the audit trail."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from faultkit import (
    BAD_FIELDS,
    BAD_MESSAGES,
    HYPOTHESIS_EXAMPLES,
    ListHandler,
    Pipeline,
    build_pipeline,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import hftlogging
from hftlogging.filters import LogTypeFilter
from hftlogging.formatters import JSONFormatter
from hftlogging.handlers import ComponentRotatingFileHandler, JSONAuditHandler
from hftlogging.handlers.audit import verify

PROPERTY = settings(max_examples=HYPOTHESIS_EXAMPLES, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.function_scoped_fixture,
                                           HealthCheck.too_slow])


class Files:
    """A pipeline writing a text file, a JSON Lines file and an audit trail."""

    def __init__(self, p: Pipeline, root: Path, fb: ListHandler) -> None:
        self.p = p
        self.text = root / "text" / "app.log"
        self.json = root / "json" / "app.log"
        self.audit = root / "audit" / "audit.jsonl"
        self.fb = fb

    def text_lines(self) -> list[str]:
        return self.text.read_text(errors="strict").splitlines() if self.text.exists() else []

    def json_lines(self) -> list[str]:
        # JSON Lines are separated by "\n" only: U+0085 or U+2028 inside a string is valid.
        if not self.json.exists():
            return []
        return self.json.read_text(errors="strict").split("\n")[:-1]

    def audit_lines(self) -> list[str]:
        # JSON Lines: "\n" only separates lines (U+0085 inside a string is valid JSON).
        return self.audit.read_text().split("\n")[:-1] if self.audit.exists() else []


@pytest.fixture
def files(logger_name: str, tmp_path: Path) -> Iterator[Files]:
    """Text (ContextFormatter), JSON (JSONFormatter) and audit handlers behind one queue."""
    text = ComponentRotatingFileHandler(tmp_path / "text", component_map={"": "app"})
    text.addFilter(LogTypeFilter(types=["text"]))
    js = ComponentRotatingFileHandler(tmp_path / "json", component_map={"": "app"},
                                      formatter=JSONFormatter())
    js.addFilter(LogTypeFilter(types=["text"]))
    audit = JSONAuditHandler(tmp_path / "audit" / "audit.jsonl")
    audit.addFilter(LogTypeFilter(types=["audit"]))
    fb = ListHandler()
    p = build_pipeline(logger_name, {"text": text, "json": js, "audit": audit},
                       fallback=fb, capacity=100_000)
    yield Files(p, tmp_path, fb)


def _check_one_record(f: Files, before: tuple[int, int]) -> dict[str, Any]:
    """Exactly one new text line and one new JSON object; returns the object."""
    f.p.flush()
    text, js = f.text_lines(), f.json_lines()
    assert len(text) == before[0] + 1, text[before[0]:]
    assert len(js) == before[1] + 1, js[before[1]:]
    obj = json.loads(js[-1])
    assert isinstance(obj, dict)
    return obj


def _sizes(f: Files) -> tuple[int, int]:
    f.p.flush()
    return len(f.text_lines()), len(f.json_lines())


def _healthy(f: Files) -> None:
    f.p.assert_healthy()
    s = f.p.stats()
    assert s["dropped"] == 0 and not any(s["handler_errors"].values()), s
    assert f.fb.records == [], [r.getMessage()[:200] for r in f.fb.records]


@pytest.mark.parametrize(("msg", "args"), [c[1:] for c in BAD_MESSAGES],
                         ids=[c[0] for c in BAD_MESSAGES])
def test_bad_message_is_one_line_in_text_and_one_json_object(
    files: Files, msg: Any, args: tuple[Any, ...]
) -> None:
    """Huge, empty, undecodable, control characters, forged lines, broken formats, raising
    objects: the call returns, the record is one line of text and one JSON object."""
    before = _sizes(files)
    files.p.log.info(msg, *args)
    obj = _check_one_record(files, before)
    assert "message" in obj
    line = files.text_lines()[-1]
    assert "CRITICAL root: forged" not in line.split(": ", 1)[0]
    _healthy(files)


@pytest.mark.parametrize("fields", [c[1] for c in BAD_FIELDS], ids=[c[0] for c in BAD_FIELDS])
def test_bad_fields_in_text_json_and_audit(files: Files, fields: dict[str, Any]) -> None:
    """Non-serialisable, recursive, huge or colliding fields: the text record is one line,
    the JSON line one object, the audit line one object that verifies."""
    before = _sizes(files)
    files.p.log.info("with fields", **fields)
    obj = _check_one_record(files, before)
    assert obj.get("message") == "with fields"
    n_audit = len(files.audit_lines())
    files.p.log.audit("odd_fields", **fields)
    files.p.log.info("with extra", extra=fields)
    files.p.flush()
    audit = files.audit_lines()
    assert len(audit) == n_audit + 1
    assert json.loads(audit[-1])["event"] == "odd_fields"
    assert verify([str(files.audit)]).ok
    assert len(files.text_lines()) == before[0] + 2
    _healthy(files)


_any_text = st.text(st.characters(blacklist_categories=()), max_size=200)


@PROPERTY
@given(text=_any_text)
def test_text_never_forges_a_line(files: Files, text: str) -> None:
    """Any text, surrogates and line breaks included, as message and as argument: two
    records, two lines, and no line starts with what the attacker wrote."""
    before = _sizes(files)
    files.p.log.warning(text)
    files.p.log.warning("arg=%s", text)
    files.p.flush()
    lines = files.text_lines()
    assert len(lines) == before[0] + 2
    for line in lines[before[0]:]:
        assert " WARNING test." in line.split(": ", 1)[0]


@PROPERTY
@given(text=_any_text)
def test_json_lines_stay_one_object(files: Files, text: str) -> None:
    """Any text gives exactly one JSON object per record, whose message is the text."""
    before = _sizes(files)
    files.p.log.info(text)
    obj = _check_one_record(files, before)
    if not any(0xD800 <= ord(c) <= 0xDFFF for c in text):  # a lone surrogate is escaped
        assert obj["message"] == text


_leaf = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), _any_text,
                  st.binary(max_size=20), st.builds(object))
_values = st.recursive(_leaf, lambda c: st.lists(c, max_size=4)
                       | st.dictionaries(_any_text, c, max_size=4), max_leaves=20)


@PROPERTY
@given(fields=st.dictionaries(_any_text, _values, max_size=6))
def test_fields_never_raise(files: Files, fields: dict[str, Any]) -> None:
    """Arbitrary field names and values (keyword fields and audit fields): one text line,
    one JSON object, one audit line, and the trail verifies."""
    before = _sizes(files)
    n_audit = len(files.audit_lines())
    files.p.log.info("f", **fields)
    files.p.log.audit("a", **fields)
    _check_one_record(files, before)
    assert len(files.audit_lines()) == n_audit + 1


def test_stdlib_logger_and_bound_logger_take_bad_input_too(files: Files) -> None:
    """The stdlib entry points (log(), exception(), a bound view) with hostile input."""
    log = files.p.log
    before = _sizes(files)
    bad_levels = hftlogging.stats()["bad_input"].get("level", 0)
    bound = log.with_context(loop=BAD_FIELDS[4][1]["loop"])
    bound.info("%s %s", "only one")
    log.log("NOT A LEVEL", "dropped and counted")
    try:
        raise ValueError("boom\nforged line")
    except ValueError:
        log.exception("failed %s", BAD_MESSAGES[14][1])
    files.p.flush()
    new = files.text_lines()[before[0]:]
    heads = [ln for ln in new if not ln.startswith("  | ")]
    assert len(heads) == 2, new  # the traceback's lines are continuations of its record
    assert "  | forged line" in new
    # The counter is process-wide: this call's bad level adds exactly one.
    assert hftlogging.stats()["bad_input"].get("level", 0) == bad_levels + 1
    _healthy(files)


def test_a_record_factory_that_raises_never_reaches_the_caller(
    files: Files,
) -> None:
    """A broken custom LogRecord factory: the call returns and the failure is counted."""
    old = logging.getLogRecordFactory()

    def broken(*args: Any, **kwargs: Any) -> logging.LogRecord:
        raise RuntimeError("factory bug")

    logging.setLogRecordFactory(broken)
    try:
        before = hftlogging.stats()["bad_input_total"]
        files.p.log.info("through a broken factory")
        assert hftlogging.stats()["bad_input_total"] == before + 1
    finally:
        logging.setLogRecordFactory(old)
    files.p.assert_healthy()
