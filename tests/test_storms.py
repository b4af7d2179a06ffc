"""Log storms and errors in context: rate limits, the backtrace ring, ``discard_below``.

Real threads and real files; counts are exact (written + held back == emitted).
"""

from __future__ import annotations

import logging
import math
import re
import threading
import time
from pathlib import Path
from typing import Any

import pytest

import hftlogging
from hftlogging.exceptions import ConfigError
from hftlogging.filters import RateLimitFilter
from hftlogging.handlers.backtrace import BacktraceHandler
from hftlogging.testing import CaptureHandler


def _only(lg: logging.Logger, keep: logging.Handler) -> None:
    """Remove pytest's capture handlers, added to non-propagating loggers per phase."""
    for h in list(lg.handlers):
        if h is not keep:
            lg.removeHandler(h)


@pytest.fixture
def captured(logger_name: str) -> tuple[Any, CaptureHandler]:
    """An installed, non-propagating logger at DEBUG with a capture handler."""
    hftlogging.install()
    lg: Any = logging.getLogger(logger_name)
    cap = CaptureHandler()
    lg.addHandler(cap)
    lg.setLevel(logging.DEBUG)
    lg.propagate = False
    return lg, cap


def _configure(
    logger_name: str, out: Path, fmt: str, *, level: str = "DEBUG",
    queue: dict[str, Any] | None = None, handlers: dict[str, Any] | None = None,
    file_filters: list[str] | None = None, filters: dict[str, Any] | None = None,
) -> Any:
    """Configure ``logger_name`` -> queue -> (``handlers`` or) a FileHandler on ``out``."""
    file: dict[str, Any] = {"class": "logging.FileHandler", "filename": str(out),
                            "formatter": "fmt"}
    if file_filters:
        file["filters"] = file_filters
    extra = handlers or {}
    hftlogging.configure({
        "version": 1,
        "disable_existing_loggers": False,
        "filters": filters or {},
        "formatters": {"fmt": {"()": "hftlogging.formatters.ContextFormatter", "format": fmt}},
        "handlers": {
            "file": file,
            **extra,
            "queue": {"class": "hftlogging.handlers.QueueHandler",
                      "handlers": list(extra) or ["file"], **(queue or {})},
        },
        "loggers": {logger_name: {"level": level, "handlers": ["queue"], "propagate": False}},
    })
    return logging.getLogger(logger_name)


def _suppressed(rec: logging.LogRecord) -> int:
    return int(getattr(rec, "context", {}).get("suppressed", 0))


# -- every() / once() --------------------------------------------------------------------


def test_a_storm_from_four_threads_writes_a_handful_of_lines_with_exact_counts(
    logger_name: str, tmp_path: Path
) -> None:
    """1,000,000 identical warnings from 4 threads through ``every(1.0)``: one line per
    second at most, and lines + held back == 1,000,000 exactly, through a real file."""
    out = tmp_path / "storm.log"
    lg = _configure(logger_name, out, "%(message)s %(context)s", level="INFO")
    per_thread = 250_000
    barrier = threading.Barrier(4)

    def storm() -> None:
        limited = lg.every(1.0)
        barrier.wait()
        for _ in range(per_thread):
            limited.warning("feed stale")

    t0 = time.monotonic()
    threads = [threading.Thread(target=storm) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - t0
    view = lg.every(1.0)
    pending = view.pending()
    held = hftlogging.stats()["suppressed"][logger_name]
    hftlogging.shutdown()
    lines = out.read_text(encoding="utf-8").splitlines()
    assert 1 <= len(lines) <= math.ceil(elapsed) + 1
    assert len(lines) + held == 4 * per_thread
    counts = [int(m.group(1)) if (m := re.search(r"suppressed=(\d+)", ln)) else 0
              for ln in lines]
    assert counts[0] == 0  # the first line has nothing held back before it
    assert sum(counts) + pending == held


def test_two_call_sites_are_limited_separately(captured: Any) -> None:
    """Each call site has its own interval; the message text does not matter."""
    lg, cap = captured
    for i in range(100):
        lg.every(60).info("site A %d", i)
        lg.every(60).info("site B %d", i)
    assert cap.messages() == ["site A 0", "site B 0"]
    assert hftlogging.stats()["suppressed"][lg.name] == 198


def test_the_next_record_that_passes_carries_the_held_back_count(captured: Any) -> None:
    """After the interval, the next record carries ``suppressed=N``, then counting restarts."""
    lg, cap = captured
    view = lg.every(0.05)

    def hit() -> None:  # one call site
        view.error("burst")

    for _ in range(10):
        hit()
    deadline = time.monotonic() + 0.05
    while time.monotonic() < deadline:  # wait out the interval on the clock the view reads
        time.sleep(0.01)
    hit()
    hit()
    recs = cap.records
    assert [_suppressed(r) for r in recs] == [0, 9]
    assert view.pending() == 1


def test_once_lets_each_call_site_through_once(captured: Any) -> None:
    """``once()`` writes a call site's first record only; the rest are counted."""
    lg, cap = captured
    for _ in range(5):
        lg.once().warning("deprecated option")  # one call site
    assert cap.messages() == ["deprecated option"]
    assert lg.once().pending() == 4


def test_a_disabled_level_is_not_counted_as_suppressed(captured: Any) -> None:
    """Calls below the logger's level are disabled calls, not held-back ones."""
    lg, cap = captured
    lg.setLevel(logging.WARNING)
    for _ in range(5):
        lg.every(60).debug("noise")
    assert len(cap) == 0
    assert lg.every(60).pending() == 0
    assert hftlogging.stats()["suppressed"].get(lg.name, 0) == 0


def test_bound_views_keep_their_fields(captured: Any) -> None:
    """``with_context(...).every(...)`` keeps the bound fields on the records that pass."""
    lg, cap = captured
    bound = lg.with_context(exchange="mexc")
    for _ in range(3):
        bound.every(60).warning("reconnect")
    assert len(cap) == 1
    assert cap.records[0].context == {"exchange": "mexc"}


@pytest.mark.parametrize("bad", [0, -1, float("nan"), "1s", True])
def test_a_bad_interval_is_a_config_error(captured: Any, bad: Any) -> None:
    """``every()`` refuses an interval that is not a positive number, naming it."""
    lg, _ = captured
    with pytest.raises(ConfigError, match="every"):
        lg.every(bad)


# -- RateLimitFilter ---------------------------------------------------------------------


def test_rate_limit_filter_by_message_template_with_a_burst(captured: Any) -> None:
    """Per message template: ``burst`` records per window, the rest counted; other
    templates and records at or above ``levels_below`` are untouched."""
    lg, cap = captured
    flt = RateLimitFilter(every_s=60, burst=2, key="message", levels_below="ERROR")
    cap.addFilter(flt)
    for i in range(50):
        lg.info("tick %d", i)
        lg.info("tock %d", i)
    for _ in range(3):
        lg.error("fatal feed")
    assert cap.messages() == ["tick 0", "tock 0", "tick 1", "tock 1"] + ["fatal feed"] * 3
    assert flt.counts() == {lg.name: 96}
    assert hftlogging.stats()["suppressed"][lg.name] == 96


def test_rate_limit_filter_in_a_configuration(logger_name: str, tmp_path: Path) -> None:
    """A ``RateLimitFilter`` configured per call site behind the queue writes one line per
    call site and window; the next window's first line says how many were held back."""
    out = tmp_path / "limited.log"
    lg = _configure(
        logger_name, out, "%(lineno)d %(message)s %(context)s", level="INFO",
        filters={"limit": {"()": "hftlogging.filters.RateLimitFilter", "every_s": 0.5}},
        file_filters=["limit"],
    )

    def site_a() -> None:
        lg.info("a")

    for _ in range(20):
        site_a()
        lg.info("b")
    lg.handlers[0].flush()  # the filter runs on the listener: let it see the first window
    deadline = time.monotonic() + 0.5
    while time.monotonic() < deadline:
        time.sleep(0.01)
    site_a()
    hftlogging.shutdown()
    lines = out.read_text(encoding="utf-8").splitlines()
    assert [ln.split(" ")[1] for ln in lines] == ["a", "b", "a"]
    assert "suppressed=19" in lines[2]


# -- BacktraceHandler --------------------------------------------------------------------


def test_backtrace_ring_writes_the_records_before_each_error_and_nothing_else(
    logger_name: str, tmp_path: Path
) -> None:
    """A ring of 500 under 100,000 DEBUG records and 3 ERRORs writes exactly the 500
    records before each ERROR (fewer when fewer happened since the last), in order, each
    marked as backtrace, and nothing else below ERROR."""
    out = tmp_path / "errors.log"
    lg = _configure(
        logger_name, out, "%(levelname)s %(message)s %(context)s",
        handlers={"ring": {"class": "hftlogging.handlers.BacktraceHandler", "capacity": 500,
                           "flush_level": "ERROR", "target": "file"}},
        queue={"overflow": "block", "block_timeout_ms": 10_000},
    )
    errors_at = {300, 50_000, 50_100}
    for i in range(100_000):
        if i in errors_at:
            lg.error("error at %d", i)
        else:
            lg.debug("step %d", i)
    hftlogging.shutdown()
    lines = out.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 300 + 1 + 500 + 1 + 99 + 1

    def steps(block: list[str]) -> list[int]:
        assert all(ln.startswith("DEBUG step ") and "backtrace=True" in ln for ln in block)
        return [int(ln.split()[2]) for ln in block]

    assert steps(lines[:300]) == list(range(300))
    assert lines[300].startswith("ERROR error at 300")
    assert steps(lines[301:801]) == list(range(49_500, 50_000))
    assert lines[801].startswith("ERROR error at 50000")
    assert steps(lines[802:901]) == list(range(50_001, 50_100))
    assert lines[901].startswith("ERROR error at 50100")


def test_backtrace_ring_holds_no_reference_to_the_callers_objects(captured: Any) -> None:
    """A record kept in the ring has its message rendered and its arguments released."""
    lg, _ = captured
    target = CaptureHandler()
    ring = BacktraceHandler(capacity=3, target=target)
    lg.addHandler(ring)

    class Payload:
        def __str__(self) -> str:
            return "payload"

    import weakref

    p = Payload()
    ref = weakref.ref(p)
    lg.debug("got %s", p)
    del p
    assert ref() is None
    assert ring.ring[-1].getMessage() == "got payload"
    for i in range(5):
        lg.debug("more %d", i)
    assert ring.pushed_out == 3
    assert len(target) == 0
    lg.critical("boom")
    assert target.messages() == ["more 2", "more 3", "more 4", "boom"]
    assert ring.backtraces == 1


def test_backtrace_target_must_name_a_handler(logger_name: str) -> None:
    """A ``target`` that names no configured handler fails at configuration, naming it."""
    with pytest.raises(ConfigError, match="nowhere"):
        hftlogging.configure({
            "version": 1,
            "disable_existing_loggers": False,
            "handlers": {"ring": {"class": "hftlogging.handlers.BacktraceHandler",
                                  "target": "nowhere"}},
            "loggers": {logger_name: {"handlers": ["ring"]}},
        })


# -- overflow: discard_below -------------------------------------------------------------


def test_discard_below_keeps_every_warning_under_a_64_thread_burst(
    logger_name: str, tmp_path: Path
) -> None:
    """64 threads burst into a small queue: every WARNING+ record is written, only
    DEBUG/INFO are dropped, and written + dropped == emitted exactly."""
    out = tmp_path / "burst.log"
    gate = threading.Event()

    class GatedFile(logging.FileHandler):
        """Holds the listener in its first write until the queue has overflowed."""

        def emit(self, record: logging.LogRecord) -> None:
            gate.wait(30)
            super().emit(record)

    lg = _configure(
        logger_name, out, "%(levelname)s %(message)s",
        handlers={"gated": {"()": GatedFile, "filename": str(out), "formatter": "fmt"}},
        queue={"capacity": 200, "overflow": "discard_below", "discard_threshold": "WARNING",
               "block_timeout_ms": 10_000, "hang_timeout_s": 0},
    )
    threads_n, per_thread = 64, 1_000
    barrier = threading.Barrier(threads_n)

    def burst(t: int) -> None:
        barrier.wait()
        for i in range(per_thread):
            if i % 10 == 0:
                lg.warning("w %d %d", t, i)
            else:
                lg.info("i %d %d", t, i)

    threads = [threading.Thread(target=burst, args=(t,)) for t in range(threads_n)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 30
    while hftlogging.stats()["dropped"] == 0 and time.monotonic() < deadline:
        time.sleep(0.001)  # an outside counter: nothing to wait on but the count itself
    gate.set()
    for t in threads:
        t.join()
    stats = hftlogging.stats()
    hftlogging.shutdown()
    lines = [ln for ln in out.read_text(encoding="utf-8").splitlines()
             if ln.startswith(("WARNING w ", "INFO i "))]
    warnings_written = sum(1 for ln in lines if ln.startswith("WARNING w "))
    assert warnings_written == threads_n * per_thread // 10
    assert set(stats["dropped_by_level"]) <= {"INFO"}
    assert len(lines) + stats["dropped"] == threads_n * per_thread
    assert stats["dropped"] > 0  # the burst did overflow the queue


def test_discard_threshold_is_validated(logger_name: str) -> None:
    """An unknown ``discard_threshold`` fails at configuration, naming the key."""
    with pytest.raises(ConfigError, match="discard_threshold"):
        hftlogging.configure({
            "version": 1,
            "disable_existing_loggers": False,
            "handlers": {"queue": {"class": "hftlogging.handlers.QueueHandler",
                                   "overflow": "discard_below",
                                   "discard_threshold": "LOUD"}},
            "loggers": {logger_name: {"handlers": ["queue"]}},
        })


def test_the_production_configurations_backtrace_example_works_as_written(
    logger_name: str, tmp_path: Path
) -> None:
    """The commented BacktraceHandler example in production.yaml, uncommented as its
    comment says, writes the DEBUG records before an ERROR into the errors file, marked."""
    shipped = Path(__file__).resolve().parents[1] / "logging_configs" / "production.yaml"
    text = shipped.read_text(encoding="utf-8")
    lines = text.splitlines()
    start = lines.index("  # backtrace:")
    end = next(i for i, ln in enumerate(lines) if ln.startswith("#     level: DEBUG"))
    block = [re.sub(r"^(\s*)# ?", r"\1", ln) if ln.strip() else ln
             for ln in lines[start:end + 1]]
    block = [ln.replace("exchange.mexc:", f"{logger_name}:") for ln in block]
    config = tmp_path / "production-with-backtrace.yaml"
    config.write_text("\n".join(lines[:start] + block + lines[end + 1:]) + "\n",
                      encoding="utf-8")
    logs = tmp_path / "logs"
    env = {"HFTLOGGING_DIR": str(logs), "HFTLOGGING_PROMETHEUS_PORT": "0",
           "HFTLOGGING_PUSHGATEWAY": "", "HFTLOGGING_WORKER": "w1"}
    hftlogging.configure(
        str(config), env=env,
        overrides={"handlers": {"queue": {"handlers": ["components", "backtrace", "audit",
                                                       "prometheus"]}}},
    )
    lg: Any = logging.getLogger(logger_name)
    try:
        for i in range(5):
            lg.debug("step %d", i)
        lg.error("order rejected")
        hftlogging.shutdown()
    finally:
        for ref in list(logging._handlerList):  # type: ignore[attr-defined]
            h = ref()
            if h is not None and type(h).__name__ == "PrometheusHandler":
                h.close()  # its endpoint thread
    errors = [p for p in logs.iterdir() if p.name.startswith("errors.")]
    assert len(errors) == 1
    written = errors[0].read_text(encoding="utf-8").splitlines()
    assert [ln.split(": ", 1)[1] for ln in written] == [
        *(f"step {i} backtrace=True" for i in range(5)), "order rejected"]
