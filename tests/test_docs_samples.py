"""The sample lines the docs show for the shipped configurations are what they write."""

from __future__ import annotations

import json
import re
from pathlib import Path

import hftlogging

DOCS = Path(__file__).resolve().parent.parent / "docs"

# What changes from run to run: times, process ids, the host, the hash of a line.
_VARIABLE = [
    (re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} "), "<time> "),
    (re.compile(r"\[\d+\]"), "[<pid>]"),
    (re.compile(r'"timestamp":"[^"]+"'), '"timestamp":"<time>"'),
    (re.compile(r'"pid":\d+'), '"pid":<pid>'),
    (re.compile(r'"host":"[^"]+"'), '"host":"<host>"'),
    (re.compile(r'"hash":"[0-9a-f]{64}"'), '"hash":"<hash>"'),
]


def _normalise(line: str) -> str:
    for pattern, replacement in _VARIABLE:
        line = pattern.sub(replacement, line)
    return line


def _sample(doc: str, marker: str) -> list[str]:
    text = (DOCS / doc).read_text()
    block = text.split(f"<!-- {marker} -->\n```\n", 1)[1].split("```", 1)[0]
    return block.strip("\n").splitlines()


def test_production_sample_lines_are_what_it_writes(tmp_path: Path) -> None:
    """docs/configuration.md's production sample lines (text file, audit trail) equal
    what the shipped configuration writes for the calls it names, up to times, pids,
    host and hash; every documented key is there, in order, and nothing else."""
    env = {"HFTLOGGING_DIR": str(tmp_path), "HFTLOGGING_PROMETHEUS_PORT": "",
           "HFTLOGGING_PUSHGATEWAY": ""}
    hftlogging.set_worker("worker_open")
    try:
        hftlogging.configure("production", env=env)
        log = hftlogging.get_logger("orders")
        log.warning("order %s rejected", "o-7", exchange="mexc", api_key="k-1")
        log.audit("order_placed", order_id="o-7", qty="0.5", correlation_id="c-1")
        hftlogging.shutdown()
    finally:
        hftlogging.set_worker(None)
    written = [
        *(tmp_path / "orders.worker_open.log").read_text().splitlines(),
        *(tmp_path / "audit.worker_open.jsonl").read_text().splitlines(),
    ]
    documented = _sample("configuration.md", "production-sample")
    assert [_normalise(x) for x in written] == [_normalise(x) for x in documented]
    assert list(json.loads(written[1])) == list(json.loads(documented[1]))
