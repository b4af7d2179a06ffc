"""The shipped alert rules and dashboard: promtool checks and unit tests, and every
expression read against the series the Prometheus handler exports."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import yaml
from prometheus_servers import require_binary

from hftlogging.handlers.prometheus import PipelineCollector

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"
RULES = DEPLOY / "prometheus" / "hftlogging.rules.yml"
RULE_TESTS = DEPLOY / "prometheus" / "hftlogging.test.yml"
DASHBOARD = DEPLOY / "grafana" / "hftlogging.json"

_SERIES = re.compile(r"\bhft_logging_[a-z_]+\b")


def _promtool(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [require_binary("promtool"), *args], cwd=cwd, capture_output=True, text=True,
        timeout=120, check=False,
    )


def _exported() -> set[str]:
    """Series names the pipeline collector exposes (counters with their ``_total``)."""
    names = set()
    for fam in PipelineCollector("hft").describe():
        names.add(fam.name + "_total" if fam.type == "counter" else fam.name)
    return names


def _rule_exprs() -> list[str]:
    doc = yaml.safe_load(RULES.read_text(encoding="utf-8"))
    return [r["expr"] for g in doc["groups"] for r in g["rules"]]


def _dashboard_exprs() -> list[str]:
    dash = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    return [t["expr"] for p in dash["panels"] for t in p.get("targets", [])]


def test_promtool_checks_and_unit_tests_the_alert_rules() -> None:
    """``promtool check rules`` accepts the rules and ``promtool test rules`` passes."""
    checked = _promtool("check", "rules", RULES.name, cwd=RULES.parent)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    tested = _promtool("test", "rules", RULE_TESTS.name, cwd=RULES.parent)
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "SUCCESS" in tested.stdout


def test_the_rule_unit_tests_can_fail(tmp_path: Path) -> None:
    """A rule changed by one threshold makes its unit test fail (the tests pin behaviour)."""
    changed = RULES.read_text(encoding="utf-8").replace(
        "increase(hft_logging_handler_errors_total[5m]) > 0",
        "increase(hft_logging_handler_errors_total[5m]) > 5")
    (tmp_path / RULES.name).write_text(changed, encoding="utf-8")
    (tmp_path / RULE_TESTS.name).write_text(RULE_TESTS.read_text(encoding="utf-8"),
                                            encoding="utf-8")
    tested = _promtool("test", "rules", RULE_TESTS.name, cwd=tmp_path)
    assert tested.returncode != 0
    assert "HftLoggingHandlerErrors" in tested.stdout + tested.stderr


def test_every_rule_has_a_unit_test() -> None:
    """Each alert of the rules file is evaluated by at least one unit test."""
    doc = yaml.safe_load(RULES.read_text(encoding="utf-8"))
    alerts = {r["alert"] for g in doc["groups"] for r in g["rules"]}
    tests = yaml.safe_load(RULE_TESTS.read_text(encoding="utf-8"))
    tested = {t["alertname"] for case in tests["tests"] for t in case["alert_rule_test"]}
    assert alerts == tested


def test_the_dashboards_expressions_parse(tmp_path: Path) -> None:
    """Every dashboard expression is valid PromQL (checked by promtool as recording rules)."""
    exprs = _dashboard_exprs()
    assert len(exprs) >= 8
    rules = {"groups": [{"name": "dashboard", "rules": [
        {"record": f"dashboard:panel{i}", "expr": e} for i, e in enumerate(exprs)]}]}
    path = tmp_path / "dashboard.rules.yml"
    path.write_text(yaml.safe_dump(rules), encoding="utf-8")
    checked = _promtool("check", "rules", path.name, cwd=tmp_path)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_rules_and_dashboard_name_only_series_the_handler_exports() -> None:
    """No expression names a series the Prometheus handler does not export (a rename in
    the handler breaks this test, not a dashboard in production)."""
    exported = _exported()
    for expr in _rule_exprs() + _dashboard_exprs():
        for name in _SERIES.findall(expr):
            assert name in exported, f"{name} (in {expr!r}) is not exported"
