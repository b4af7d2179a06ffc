"""Version-dependent fast paths: each states its condition, and where the condition does
not hold (on this Python, or simulated) the general path is taken."""

from __future__ import annotations

import logging
import sys
import time
from typing import Any

import pytest
from fast_paths import record_reuse_condition, task_name_condition

from hftlogging.handlers import records as hq
from hftlogging.record import Record, build_record


def test_record_reuse_is_decided_by_its_stated_condition() -> None:
    """The listener reuses records exactly where reference counts are exact (CPython
    3.10-3.13 with the GIL): on this Python the decision matches the condition."""
    assert (hq._FREE_COUNTS is not None) == record_reuse_condition()


@pytest.mark.parametrize(
    "change",
    ["version_3_14", "free_threaded", "other_implementation", "counts_miss_a_reference"],
)
def test_record_reuse_is_off_where_its_condition_does_not_hold(
    monkeypatch: pytest.MonkeyPatch, change: str
) -> None:
    """Calibration refuses reuse on 3.14+, without the GIL, off CPython, and where an
    extra reference leaves the counts unchanged."""
    if change == "version_3_14":
        monkeypatch.setattr(sys, "version_info", (3, 14, 0, "final", 0))
    elif change == "free_threaded":
        monkeypatch.setattr(sys, "_is_gil_enabled", lambda: False, raising=False)
    elif change == "other_implementation":
        monkeypatch.setattr(sys, "implementation", type("impl", (), {"name": "pypy"})())
    else:
        monkeypatch.setattr(hq, "_reference_counts", lambda records: (1, 1, 1))
    assert hq._calibrate() is None


def _records(n: int) -> list[Any]:
    return [build_record("x", logging.INFO, "m %s", (i,), time.time_ns(), None) for i in range(n)]


def test_without_reuse_written_records_stay_whole_and_the_pool_empty(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With reuse off, freeing a written batch keeps nothing and empties no record."""
    monkeypatch.setattr(hq, "_FREE_COUNTS", None)
    records = _records(3)
    pool: list[Any] = []
    hq.free_records(records, pool, 10)
    assert pool == []
    assert [r.getMessage() for r in records] == ["m 0", "m 1", "m 2"]


def test_with_reuse_only_records_nothing_else_holds_are_pooled() -> None:
    """Where reuse is on, a record something else keeps is never pooled nor emptied;
    where it is off (this Python), nothing is."""
    records = _records(3)
    kept = records[1]
    pool: list[Any] = []
    hq.free_records(records, pool, 10)
    assert kept.getMessage() == "m 1"
    assert all(r is not kept for r in pool)
    if record_reuse_condition():
        assert len(pool) == 2 and all(type(r) is Record and not r.__dict__ for r in pool)
    else:
        assert pool == []


def test_records_carry_task_name_exactly_where_stdlib_records_do() -> None:
    """``taskName`` is set from 3.12 on, as by ``LogRecord``; before, neither has it."""
    ours = build_record("x", logging.INFO, "m", (), time.time_ns(), None, task_name="t")
    theirs = logging.LogRecord("x", logging.INFO, __file__, 1, "m", (), None)
    assert ("taskName" in ours.__dict__) == ("taskName" in theirs.__dict__) == task_name_condition()
