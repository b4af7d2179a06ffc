"""What one run holds: its sizes, its results per scenario, and the text helpers of its tables."""

from __future__ import annotations

import math
import os
import platform
import statistics
import sys
import time
from typing import Any

__all__ = [
    "Check", "Plan", "Results", "fmt_us", "machine", "md_table", "measured", "progress",
    "ratio_text",
]


class Plan:
    """Sizes of one run (``--quick`` or full)."""

    def __init__(self, quick: bool, rounds: int | None) -> None:
        self.quick = quick
        self.rounds = rounds or (1 if quick else 3)
        self.sat_n = 20_000 if quick else 50_000
        self.paced_n = 2_000 if quick else 10_000
        self.slow_n = 2_000 if quick else 5_000  # loguru's calls take ~100 µs
        self.throughput_n = 30_000 if quick else 100_000
        self.network_n = 20_000 if quick else 50_000
        self.slow_throughput_n = 6_000 if quick else 20_000
        self.burst_n = 1_000_000
        self.stdlib_burst_n = 100_000 if quick else 1_000_000
        self.proc_n = 50_000
        self.metrics = not quick
        self.processes = not quick
        self.shared_files = not quick
        self.loggers = True


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


class Results:
    """Raw results per scenario key, and medians over the rounds."""

    def __init__(self) -> None:
        self.raw: dict[str, list[dict[str, Any]]] = {}
        self.errors: list[str] = []
        #: per section, why a part of it did not run (a server or library missing).
        self.notes: dict[str, list[str]] = {}

    def add(self, key: str, res: dict[str, Any]) -> None:
        if "error" in res:
            self.errors.append(f"{key}: {res['error']}")
            return
        self.raw.setdefault(key, []).append(res)

    def med(self, key: str, field: str) -> float:
        return _median([float(r[field]) for r in self.raw.get(key, []) if field in r])

    def note(self, section: str, text: str) -> None:
        """Record why a part of ``section`` was skipped (printed with its table)."""
        self.notes.setdefault(section, []).append(text)

    def has(self, key: str) -> bool:
        return key in self.raw


def progress(msg: str) -> None:
    sys.stderr.write(msg + "\n")
    sys.stderr.flush()



def measured(*values: float) -> bool:
    """Whether every value was measured (not NaN)."""
    return not any(math.isnan(v) for v in values)


def fmt_us(ns: float) -> str:
    if not measured(ns):
        return "-"
    return f"{ns / 1000:.2f}"


def ratio_text(a: float, b: float) -> str:
    if not measured(a, b) or b == 0:
        return "-"
    return f"{a / b:.1f}x" if a / b >= 10 else f"{a / b:.2f}x"


def md_table(headers: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(headers) + " |",
             "|" + "|".join("---" if i == 0 else "---:" for i in range(len(headers))) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


Check = tuple[str, bool, str]



def machine() -> str:
    """One line describing the machine, interpreter and date."""
    return (f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; "
            f"{platform.python_implementation()} {platform.python_version()}; "
            f"{platform.system()} {platform.machine()}; {os.cpu_count()} CPUs{_load()}")


def _load() -> str:
    try:
        return "; load average {:.1f} {:.1f} {:.1f}".format(*os.getloadavg())
    except (AttributeError, OSError):  # pragma: no cover - not on Windows
        return ""

