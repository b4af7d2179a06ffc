"""Fault suite: the ``scenario`` marker, and the counts printed at the end of a run."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from faultkit import SCENARIOS, bad_input_count, build_pipeline, scenario_count

import hftlogging
from hftlogging.testing import CaptureHandler

_seen: set[str] = set()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "scenario(name): the fault scenario of docs/reliability.md a test covers"
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        for mark in item.iter_markers("scenario"):
            name = mark.args[0]
            if name not in SCENARIOS:
                msg = f"{item.nodeid}: unknown scenario {name!r}"
                raise pytest.UsageError(msg)
            _seen.add(name)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not _seen:
        return
    terminalreporter.write_line(
        f"fault suite: {len(_seen)}/{scenario_count()} scenarios collected, "
        f"{bad_input_count()} bad inputs in the catalogues"
    )


@pytest.fixture
def running(logger_name: str) -> Iterator[Any]:
    """A working configuration; yields a check that it still delivers records."""
    cap = CaptureHandler()
    p = build_pipeline(logger_name, {"cap": cap})

    def still_running() -> None:
        n = uuid.uuid4().hex
        p.log.info("alive %s", n)
        hftlogging.shutdown()  # drains whichever queue the logger has now
        assert [r.getMessage() for r in cap.records][-1] == f"alive {n}"

    yield still_running
