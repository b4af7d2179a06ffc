"""docs/reliability.md states what the suite checks: every scenario, and the counts."""

from __future__ import annotations

import re
from pathlib import Path

from faultkit import SCENARIOS, bad_input_count, bad_input_counts, scenario_count

DOC = Path(__file__).resolve().parents[2] / "docs" / "reliability.md"


def test_every_scenario_is_listed_with_its_guarantee() -> None:
    """Each scenario of the suite is a row of the document, with the guarantee it tests."""
    text = DOC.read_text()
    rows = re.findall(r"^\| `([a-z0-9_]+)` \| (.*) \| (.*) \|$", text, flags=re.M)
    assert {name: (what, guarantee) for name, what, guarantee in rows} == SCENARIOS


def test_the_counts_in_the_document_are_the_suites() -> None:
    """The number of scenarios and of bad inputs, in all and per class, match the suite."""
    text = DOC.read_text()
    assert f"**{scenario_count()} scenarios** and **{bad_input_count()} bad inputs**" in text
    for name, count in bad_input_counts().items():
        assert re.search(rf"^\| {re.escape(name)}: .* \| {count} \| ", text, flags=re.M), name
    print(f"\nfault suite: {scenario_count()} scenarios, {bad_input_count()} bad inputs "
          f"{bad_input_counts()}")


def test_every_scenario_has_a_test() -> None:
    """Each scenario id is the marker of at least one test in this directory."""
    here = Path(__file__).resolve().parent
    source = "\n".join(p.read_text() for p in here.glob("test_*.py"))
    used = set(re.findall(r"scenario\(\"([a-z0-9_]+)\"\)", source))
    assert used == set(SCENARIOS)
