"""Benchmark fixtures: logging state restored after each benchmark; a ratio table at the end."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from scenarios import RESULTS

import hftlogging
from hftlogging import installation as hft_installation
from hftlogging.tools import bench


@pytest.fixture(autouse=True)
def _logging_state() -> Iterator[None]:
    """Leave stdlib logging as it was: drain hftlogging, restore the logger class."""
    logger_class = logging.getLoggerClass()
    was_installed = hft_installation.installed()
    srcfile = logging._srcfile
    yield
    hftlogging.shutdown()
    logging._srcfile = srcfile
    if not was_installed and hft_installation.installed():
        hftlogging.uninstall()
    logging.setLoggerClass(logger_class)


def _lines(figure: str, values: dict[str, float]) -> list[str]:
    base = values.get("stdlib")
    out = [f"{figure}:"]
    for key, v in values.items():
        ratio = f"  (this / stdlib = {v / base:.2f})" if base else ""
        out.append(f"    {key:<14} {v:>14,.1f}{ratio}")
    return out


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Print every figure the benchmarks collected, with its ratio to stdlib."""
    if not RESULTS:
        return
    tr = terminalreporter
    tr.section(f"hftlogging benchmark figures ({bench.machine()})")
    for figure in sorted(RESULTS):
        for line in _lines(figure, RESULTS[figure]):
            tr.write_line(line)
