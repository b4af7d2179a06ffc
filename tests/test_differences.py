"""Each deliberate difference from stdlib logging (docs/differences.md), pinned.

A test here names its section of docs/differences.md. Where the difference is stdlib's
own behaviour turned around, the test runs the same call through a plain
``logging.Logger`` too, so a change on either side shows. Strict mode, which gives a test
suite stdlib's behaviour back, is pinned at the end.
"""

from __future__ import annotations

import inspect
import io
import logging
import os
import subprocess
import sys
import textwrap
import threading
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import hftlogging
from hftlogging import strict
from hftlogging.exceptions import CallSiteError, ConfigError
from hftlogging.handlers import QueueHandler
from hftlogging.record import Record
from hftlogging.testing import CaptureHandler, strict_mode

DOC = Path(__file__).resolve().parents[1] / "docs" / "differences.md"


class _RaisingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        raise RuntimeError("filter failed")


class _ErrorRecorder(logging.StreamHandler):  # type: ignore[type-arg]
    """A stream handler that remembers each ``handleError`` call instead of printing."""

    def __init__(self) -> None:
        super().__init__(io.StringIO())
        self.errors: list[str] = []
        self.done = threading.Event()

    def handleError(self, record: logging.LogRecord) -> None:
        self.errors.append(str(sys.exc_info()[1]))
        self.done.set()

    def emit(self, record: logging.LogRecord) -> None:
        super().emit(record)
        self.done.set()


def _stdlib_logger(handler: logging.Handler) -> logging.Logger:
    """A plain stdlib Logger outside the manager (install() does not touch it)."""
    lg = logging.Logger("stdlib.side", logging.DEBUG)
    lg.addHandler(handler)
    return lg


@pytest.fixture
def hft(logger_name: str) -> Iterator[tuple[logging.Logger, CaptureHandler]]:
    """An installed, non-propagating HFTLogger with a capture handler (stdlib path)."""
    hftlogging.install()
    lg = logging.getLogger(logger_name)
    cap = CaptureHandler()
    lg.addHandler(cap)
    lg.setLevel(logging.DEBUG)
    lg.propagate = False
    yield lg, cap


def _only_the_queue(lg: logging.Logger, qh: logging.Handler) -> None:
    """Remove pytest's capture handlers (added to non-propagating loggers for each test
    phase), so that the call takes the fast path under test."""
    for h in list(lg.handlers):
        if h is not qh:
            lg.removeHandler(h)


@pytest.fixture
def queued(logger_name: str) -> Iterator[tuple[logging.Logger, CaptureHandler, QueueHandler]]:
    """An installed logger whose only handler is hftlogging's QueueHandler (fast path)."""
    hftlogging.install()
    cap = CaptureHandler()
    qh = QueueHandler(handlers=[cap])
    lg = logging.getLogger(logger_name)
    lg.addHandler(qh)
    lg.setLevel(logging.DEBUG)
    lg.propagate = False
    yield lg, cap, qh
    qh.stop()


def test_the_page_lists_every_section_pinned_here() -> None:
    """docs/differences.md has the sections these tests name, so page and tests agree."""
    text = DOC.read_text(encoding="utf-8")
    for n in range(1, 19):
        assert f"## D{n}." in text, f"section D{n} missing from {DOC.name}"
    readme = (DOC.parents[1] / "README.md").read_text(encoding="utf-8")
    assert "docs/differences.md" in readme


# -- calls -------------------------------------------------------------------------------


def test_d1_keyword_arguments_are_fields_where_stdlib_raises(hft: Any) -> None:
    """D1: stdlib rejects unknown keywords with TypeError; hftlogging keeps them as fields."""
    lg, cap = hft
    with pytest.raises(TypeError):
        _stdlib_logger(logging.NullHandler()).info("filled", exchange="mexc")  # type: ignore[call-arg]
    lg.info("filled", exchange="mexc")
    assert cap.records[-1].context == {"exchange": "mexc"}
    assert cap.records[-1].exchange == "mexc"  # type: ignore[attr-defined]


def test_d2_extra_keys_colliding_with_record_attributes_do_not_raise(hft: Any) -> None:
    """D2: ``extra={"message": ...}`` raises KeyError in stdlib; here it lands in context."""
    lg, cap = hft
    with pytest.raises(KeyError):
        _stdlib_logger(logging.NullHandler()).info("m", extra={"message": 1})
    lg.info("m", extra={"message": 1, "name": "other"})
    rec = cap.records[-1]
    assert rec.name == lg.name  # the built-in attribute is untouched
    assert rec.context == {"message": 1, "name": "other"}


def test_d3_a_raising_logger_filter_is_counted_not_raised(hft: Any) -> None:
    """D3: stdlib lets a logger filter's exception reach the caller; hftlogging counts it."""
    lg, cap = hft
    plain = _stdlib_logger(logging.NullHandler())
    plain.addFilter(_RaisingFilter())
    with pytest.raises(RuntimeError):
        plain.info("x")
    before = hftlogging.stats()["bad_input"].get("filter", 0)
    lg.addFilter(_RaisingFilter())
    lg.info("x")
    assert hftlogging.stats()["bad_input"].get("filter", 0) == before + 1
    assert len(cap) == 0


def test_d4_a_raising_handler_filter_is_counted_not_raised(hft: Any) -> None:
    """D4: a handler's filter raising reaches the caller in stdlib; here it is counted."""
    lg, cap = hft
    bad = logging.StreamHandler(io.StringIO())
    bad.addFilter(_RaisingFilter())
    with pytest.raises(RuntimeError):
        _stdlib_logger(bad).info("x")
    before = hftlogging.stats()["bad_input"].get("filter", 0)
    lg.addHandler(bad)
    lg.info("x")
    assert hftlogging.stats()["bad_input"].get("filter", 0) == before + 1


def test_d5_a_format_error_is_written_not_sent_to_handle_error() -> None:
    """D5: stdlib's handler calls handleError; hftlogging writes the message and the error."""
    plain_handler = _ErrorRecorder()
    _stdlib_logger(plain_handler).warning("oops", "first", 2)
    assert plain_handler.errors and "not all arguments converted" in plain_handler.errors[0]

    fmt, args = "oops", ("first", 2)
    try:
        fmt % args  # the same error, in this Python's words (3.15 adds the counts)
    except TypeError as e:
        error = f"TypeError: {e}"
    rec = Record("n", logging.WARNING, "p", 1, "oops", ("first", 2), None)
    assert rec.getMessage() == f"oops ('first', 2) [format error: {error}]"
    assert error.startswith("TypeError: not all arguments converted")
    handler = _ErrorRecorder()
    handler.handle(rec)
    assert handler.errors == []
    assert "[format error" in handler.stream.getvalue()  # type: ignore[attr-defined]


def test_d6_a_bad_level_is_counted_not_raised(hft: Any) -> None:
    """D6: ``log("NOPE", ...)`` raises TypeError in stdlib; hftlogging counts it."""
    lg, cap = hft
    with pytest.raises(TypeError):
        _stdlib_logger(logging.NullHandler()).log("NOPE", "x")  # type: ignore[arg-type]
    before = hftlogging.stats()["bad_input"].get("level", 0)
    lg.log("NOPE", "x")
    assert hftlogging.stats()["bad_input"].get("level", 0) == before + 1
    assert len(cap) == 0


def test_d7_warn_gives_no_deprecation_warning(hft: Any) -> None:
    """D7: stdlib's ``Logger.warn`` warns DeprecationWarning; hftlogging's does not."""
    lg, cap = hft
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        _stdlib_logger(logging.NullHandler()).warn("x")
    assert any(issubclass(w.category, DeprecationWarning) for w in seen)
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        lg.warn("x")
    assert seen == []
    assert cap.records[-1].levelno == logging.WARNING


def test_d8_level_methods_do_not_go_through_log(hft: Any) -> None:
    """D8: a patched ``Logger._log`` is bypassed by the level methods; ``handle`` is not."""
    lg, cap = hft
    seen: list[Any] = []
    lg._log = lambda *a, **k: seen.append(a)  # type: ignore[method-assign]
    try:
        lg.info("direct")
    finally:
        del lg._log
    assert seen == []
    assert cap.messages()[-1] == "direct"

    handled: list[str] = []

    class Wrapped(hftlogging.HFTLogger):
        def handle(self, record: logging.LogRecord) -> None:
            handled.append(record.getMessage())
            super().handle(record)

    lg.__class__ = Wrapped
    try:
        lg.info("through handle")
    finally:
        lg.__class__ = hftlogging.HFTLogger
    assert handled == ["through handle"]


def test_d9_disabled_levels_become_instance_no_ops_and_attributes_are_properties(
    hft: Any,
) -> None:
    """D9: a disabled level method is a no-op in the logger's ``__dict__`` until a change
    clears it; ``handlers``, ``propagate`` and ``disabled`` are properties."""
    lg, cap = hft
    lg.setLevel(logging.INFO)
    lg.debug("dropped")
    assert "debug" in vars(lg)
    lg.setLevel(logging.DEBUG)
    assert "debug" not in vars(lg)
    lg.debug("kept")
    assert cap.messages() == ["kept"]
    for name in ("handlers", "propagate", "disabled"):
        assert name not in vars(lg)
        assert isinstance(getattr(type(lg), name), property)


def test_d10_install_changes_the_class_of_existing_loggers_but_not_subclasses(
    logger_name: str,
) -> None:
    """D10: install() converts existing plain loggers in place; user subclasses keep theirs."""

    class Mine(logging.Logger):
        pass

    plain = logging.getLogger(logger_name + ".plain")
    assert type(plain) is logging.Logger or isinstance(plain, hftlogging.HFTLogger)
    logging.setLoggerClass(Mine)
    try:
        mine = logging.getLogger(logger_name + ".mine")
    finally:
        logging.setLoggerClass(logging.Logger)
    hftlogging.install()
    assert isinstance(plain, hftlogging.HFTLogger)
    assert type(mine) is Mine
    assert issubclass(logging.getLoggerClass(), hftlogging.HFTLogger)


# -- records -----------------------------------------------------------------------------


def test_d11_records_are_a_logrecord_subclass_with_the_contract_attributes(hft: Any) -> None:
    """D11: records are ``Record``s carrying log_type, context, tags and created_ns."""
    lg, cap = hft
    lg.info("plain")
    rec = cap.records[-1]
    assert type(rec) is Record and isinstance(rec, logging.LogRecord)
    plain = logging.LogRecord("a", logging.INFO, "p", 1, "m", (), None)
    extra = set(vars(rec)) - set(vars(plain))
    assert {"log_type", "context", "tags", "created_ns"} <= extra | set(dir(type(rec)))
    assert rec.log_type == "text" and rec.context == {} and rec.tags == []  # type: ignore[attr-defined]
    assert abs(rec.created_ns / 1e9 - rec.created) < 1e-6  # type: ignore[attr-defined]


def test_d12_caller_details_behind_the_queue_unless_a_formatter_reads_them(queued: Any) -> None:
    """D12: on the fast path, caller info is not captured unless asked for; the thread id
    and process are the caller's, and an ended thread is named from its id."""
    lg, cap, qh = queued
    _only_the_queue(lg, qh)

    def worker() -> None:
        lg.info("from a thread")

    t = threading.Thread(target=worker, name="caller-thread")
    t.start()
    t.join()
    ident = t.ident
    qh.flush()
    assert cap.wait_for(1)
    rec = cap.records[0]
    assert rec.thread == ident
    assert rec.process == os.getpid()
    assert rec.funcName == "(unknown function)" and rec.lineno == 0
    assert rec.threadName in ("caller-thread", f"Thread-{ident}")


def test_d13_message_arguments_are_rendered_at_the_call_only_when_mutable(queued: Any) -> None:
    """D13: immutable arguments stay in ``args`` until written; mutable ones are rendered
    at the call (``args`` empty), so the line shows the values as they were."""
    lg, cap, qh = queued
    _only_the_queue(lg, qh)
    values = [1]
    lg.info("imm %s", 5)
    lg.info("mut %s", values)
    values.append(2)
    qh.flush()
    assert cap.wait_for(2)
    imm, mut = cap.records[:2]
    assert imm.args == (5,) and imm.msg == "imm %s"
    assert not mut.args and mut.msg == "mut [1]"


def test_d14_tracebacks_are_rendered_at_the_call_and_frames_released(queued: Any) -> None:
    """D14: ``exc_text`` is filled at the call and the traceback object is dropped."""
    lg, cap, qh = queued
    _only_the_queue(lg, qh)
    try:
        raise ValueError("bad")
    except ValueError:
        lg.exception("failed")
    qh.flush()
    assert cap.wait_for(1)
    rec = cap.records[0]
    assert rec.exc_text and "ValueError: bad" in rec.exc_text
    assert rec.exc_info is not None and rec.exc_info[2] is None


# -- the queue ---------------------------------------------------------------------------


def test_d15_a_full_queue_drops_and_counts_where_stdlib_calls_handle_error(
    logger_name: str,
) -> None:
    """D15: stdlib's QueueHandler on a full queue calls handleError; hftlogging's queue
    argument is ignored, overflow drops by policy and counts."""
    import queue

    errors: list[BaseException | None] = []

    class Recording(logging.handlers.QueueHandler):
        def handleError(self, record: logging.LogRecord) -> None:
            errors.append(sys.exc_info()[1])

    plain = _stdlib_logger(Recording(queue.Queue(maxsize=1)))
    plain.info("a")
    plain.info("b")
    assert len(errors) == 1 and isinstance(errors[0], queue.Full)

    hftlogging.install()
    gate = threading.Event()

    class Gated(CaptureHandler):
        def emit_batch(self, records: list[logging.LogRecord]) -> None:
            gate.wait(10)
            super().emit_batch(records)

    cap = Gated()
    qh = QueueHandler(queue.Queue(), handlers=[cap], capacity=2, batch_size=1)
    lg = logging.getLogger(logger_name)
    lg.addHandler(qh)
    lg.propagate = False
    lg.setLevel(logging.INFO)
    before = hftlogging.stats()["dropped"]
    try:
        for i in range(50):
            lg.info("r%d", i)
        dropped = hftlogging.stats()["dropped"] - before
    finally:
        gate.set()
        qh.stop()
    written = [m for m in cap.messages() if m.startswith("r")]
    assert dropped > 0
    assert len(written) + dropped == 50
    assert inspect.signature(QueueHandler).parameters["respect_handler_level"].default is True
    assert logging.handlers.QueueListener(queue.Queue()).respect_handler_level is False


def test_d16_the_queue_keeps_the_record_whole(queued: Any) -> None:
    """D16: stdlib's ``QueueHandler.prepare`` replaces msg by the formatted line and clears
    args and exc_info; hftlogging's keeps them for the handlers behind the queue."""
    import queue

    plain_q: queue.Queue[logging.LogRecord] = queue.Queue()
    _stdlib_logger(logging.handlers.QueueHandler(plain_q)).info("n=%d", 3)
    plain_rec = plain_q.get_nowait()
    assert plain_rec.msg == "n=3" and plain_rec.args is None

    lg, cap, qh = queued
    _only_the_queue(lg, qh)
    lg.info("n=%d", 3, exchange="mexc")
    qh.flush()
    assert cap.wait_for(1)
    rec = cap.records[0]
    assert rec.msg == "n=%d" and rec.args == (3,)
    assert rec.context == {"exchange": "mexc"}


def test_d17_a_failing_handler_is_isolated_and_counted(queued: Any) -> None:
    """D17: a handler raising behind the queue does not print per record as stdlib's
    handleError does: it is counted, its records go to the fallback, the others go on."""
    lg, cap, qh = queued
    _only_the_queue(lg, qh)

    class Broken(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            raise OSError("disk gone")

    qh.stop()
    fallback = CaptureHandler()
    broken = Broken()
    broken.set_name("broken")
    q2 = QueueHandler(handlers=[broken, cap], fallback=fallback)
    lg.removeHandler(qh)
    lg.addHandler(q2)
    try:
        lg.info("kept")
        q2.flush()
        assert cap.wait_for(1) and fallback.wait_for(1)
        assert hftlogging.stats()["handler_errors"].get("broken", 0) >= 1
    finally:
        q2.stop()
    assert cap.messages() == ["kept"]
    assert "kept" in fallback.messages()


def test_d18_process_lifecycle_is_pinned_by_the_lifecycle_tests() -> None:
    """D18: exit drain, SIGTERM drain and fork are pinned in tests/test_lifecycle.py."""
    source = (Path(__file__).parent / "test_lifecycle.py").read_text(encoding="utf-8")
    for name in (
        "test_records_logged_just_before_sys_exit_are_written",
        "test_sigterm_drains_the_queue_then_ends_the_process_by_the_signal",
        "test_an_application_sigterm_handler_is_left_in_place",
        "test_forked_child_writes_its_records_once_and_not_the_parents",
    ):
        assert f"def {name}(" in source, name


# -- strict mode -------------------------------------------------------------------------


def test_strict_mode_makes_a_raising_logger_filter_propagate(hft: Any) -> None:
    """Strict mode: a logger filter's exception reaches the caller, as in stdlib."""
    lg, cap = hft
    lg.addFilter(_RaisingFilter())
    with strict_mode(), pytest.raises(RuntimeError, match="filter failed"):
        lg.info("x")
    lg.info("x")  # strict mode off again: counted, not raised


def test_strict_mode_sends_format_errors_to_handle_error_behind_the_queue(
    logger_name: str,
) -> None:
    """Strict mode: a bad format reaches the formatting handler's handleError, as stdlib."""
    hftlogging.install()
    handler = _ErrorRecorder()
    qh = QueueHandler(handlers=[handler])
    lg = logging.getLogger(logger_name)
    lg.addHandler(qh)
    lg.propagate = False
    _only_the_queue(lg, qh)
    try:
        with strict_mode():
            lg.warning("oops", "first", 2)
            qh.flush()
            assert handler.done.wait(10)
    finally:
        qh.stop()
    assert handler.errors and "not all arguments converted" in handler.errors[0]
    assert "[format error" not in handler.stream.getvalue()  # type: ignore[attr-defined]


def test_strict_mode_raises_on_bad_call_site_input(hft: Any) -> None:
    """Strict mode: bad metric input and bad levels raise instead of being counted."""
    lg, cap = hft
    before = hftlogging.stats()["bad_input_total"]
    with strict_mode():
        with pytest.raises(CallSiteError) as info:
            lg.metric("spread", float("nan"))  # type: ignore[attr-defined]
        assert info.value.reason == "metric_value"
        assert isinstance(info.value, ValueError)
        with pytest.raises(TypeError):
            lg.log("NOPE", "x")
    assert hftlogging.stats()["bad_input_total"] == before


_MINIMAL: dict[str, Any] = {"version": 1, "disable_existing_loggers": False}


def test_configure_strict_and_the_environment_variable(
    monkeypatch: pytest.MonkeyPatch, hft: Any
) -> None:
    """``configure(strict=True)`` and ``HFTLOGGING_STRICT`` turn strict mode on; a bad
    value of the variable is a ConfigError naming it."""
    hftlogging.configure(_MINIMAL, strict=True)
    assert strict.is_strict()
    hftlogging.configure(_MINIMAL, strict=False)
    assert not strict.is_strict()
    monkeypatch.setenv("HFTLOGGING_STRICT", "1")
    hftlogging.install()
    assert strict.is_strict()
    monkeypatch.setenv("HFTLOGGING_STRICT", "0")
    hftlogging.configure(_MINIMAL)
    assert not strict.is_strict()
    monkeypatch.setenv("HFTLOGGING_STRICT", "maybe")
    with pytest.raises(ConfigError, match=r"HFTLOGGING_STRICT.*'maybe'"):
        hftlogging.install()


_BROKEN_CALL_TEST = textwrap.dedent(
    """
    import logging

    import hftlogging


    def test_a_broken_log_call():
        hftlogging.install()
        logging.getLogger("app").warning("oops", "first", 2)
    """
)


@pytest.mark.parametrize(("strict_env", "outcome"), [("1", "1 failed"), ("0", "1 passed")])
def test_pytest_fails_a_broken_log_call_only_in_strict_mode(
    tmp_path: Path, strict_env: str, outcome: str
) -> None:
    """A pytest run of a test with a bad format call fails with HFTLOGGING_STRICT=1 and
    passes without it (pytest's logging plugin raises from handleError)."""
    (tmp_path / "test_app.py").write_text(_BROKEN_CALL_TEST, encoding="utf-8")
    env = {**os.environ, "HFTLOGGING_STRICT": strict_env}
    env.pop("PYTEST_ADDOPTS", None)
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_app.py"],
        check=False, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )
    assert outcome in proc.stdout, proc.stdout + proc.stderr
    if strict_env == "1":
        assert "not all arguments converted" in proc.stdout
