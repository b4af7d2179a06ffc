"""Every shipped YAML configuration: loaded, its routing checked, and run end to end."""

from __future__ import annotations

import logging
import os
import re
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

import hftlogging
from hftlogging.config import Plan, available_configs, prepare, routes
from hftlogging.filters import RedactFilter

SHIPPED = ["development", "production", "provider_workers"]
# Configurations whose files are "production files": DEBUG must never reach them.
PRODUCTION_LIKE = ["production", "provider_workers"]


@pytest.fixture(autouse=True)
def _close_new_handlers() -> Iterator[None]:
    """Close the handlers a test configured (endpoint threads, file locks) after it."""
    before = {id(r) for r in logging._handlerList}  # type: ignore[attr-defined]
    yield
    hftlogging.shutdown()
    for ref in list(logging._handlerList):  # type: ignore[attr-defined]
        h = ref()
        if h is not None and id(ref) not in before:
            h.close()


def _env(tmp_path: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update({
        "HFTLOGGING_DIR": str(tmp_path / "logs"),
        "HFTLOGGING_PROMETHEUS_PORT": "0",
        "HFTLOGGING_PUSHGATEWAY": "",
    })
    for name in ("HFTLOGGING_LEVEL", "PROMETHEUS_MULTIPROC_DIR", "prometheus_multiproc_dir"):
        env.pop(name, None)
    return env


def _text_handlers(plan: Plan) -> set[str]:
    """Handlers that write text lines (files or console)."""
    out = set()
    for name, spec in plan.handlers.items():
        cls = spec.cls
        if isinstance(cls, type) and (
            issubclass(cls, logging.StreamHandler) or cls.__name__ == "ComponentRotatingFileHandler"
        ):
            out.add(name)
    return out


def _audit_handlers(plan: Plan) -> set[str]:
    return {n for n, s in plan.handlers.items() if s.class_path.endswith("JSONAuditHandler")}


def test_every_shipped_config_is_tested() -> None:
    """The list this module tests is the list the package ships."""
    assert available_configs() == SHIPPED


@pytest.mark.parametrize("name", SHIPPED)
def test_routing_metric_never_reaches_text_and_audit_reaches_audit(
    name: str, tmp_path: Path
) -> None:
    """For every logger of the configuration: metric records reach no text handler, audit
    records reach the audit file, and text reaches no metric or audit handler."""
    plan = prepare(name, env=_env(tmp_path))
    text = _text_handlers(plan)
    audit = _audit_handlers(plan)
    assert text
    assert audit
    table = routes(plan)
    loggers = {r.logger for r in table}
    assert "root" in loggers
    for r in table:
        got = set(r.handlers)
        if r.log_type == "metric":
            assert not got & text, r
            assert got, r
        elif r.log_type == "audit":
            assert got & audit, r
            assert not got & text, r
        else:
            assert not got & audit, r


@pytest.mark.parametrize("name", PRODUCTION_LIKE)
def test_routing_debug_never_reaches_production_files(name: str, tmp_path: Path) -> None:
    """In the production-style configurations no handler receives DEBUG text."""
    plan = prepare(name, env=_env(tmp_path))
    rows = [r for r in routes(plan) if r.log_type == "text" and r.level == logging.DEBUG]
    assert rows
    assert all(r.handlers == [] for r in rows)


@pytest.mark.parametrize("name", SHIPPED)
def test_redaction_is_on_every_output(name: str, tmp_path: Path) -> None:
    """Every handler behind the queue has a RedactFilter, and the queue itself has no
    filter (which would turn off the fast path)."""
    plan = prepare(name, env=_env(tmp_path))
    for hname, spec in plan.handlers.items():
        if spec.is_queue:
            assert spec.filters == []
            continue
        assert any(isinstance(plan.filters[f], RedactFilter) for f in spec.filters), hname


def test_provider_workers_sizes_are_the_documented_ones(tmp_path: Path) -> None:
    """provider_workers: the sizes and backup counts of the per-worker layout."""
    mb = 1024 * 1024
    plan = prepare("provider_workers", env=_env(tmp_path))
    files = plan.handlers["provider"].options
    assert (files["max_bytes"], files["backup_count"]) == (50 * mb, 10)
    assert files["components"] == {
        "dispatcher": {"max_bytes": 100 * mb, "backup_count": 15},
        "worker_open": {"max_bytes": 75 * mb, "backup_count": 12},
        "worker_close": {"max_bytes": 75 * mb, "backup_count": 12},
        "orders_calculated": {"max_bytes": 200 * mb, "backup_count": 20},
    }
    errors = plan.handlers["provider_errors"]
    assert errors.level == logging.ERROR
    assert errors.options["filename"] == "provider_errors.log"
    assert (errors.options["max_bytes"], errors.options["backup_count"]) == (100 * mb, 15)
    routed = {r.logger: r for r in routes(plan) if r.log_type == "text" and r.level == 20}
    for component in ("dispatcher", "worker_open", "worker_close", "worker_pending",
                      "worker_cancel", "worker_reject", "worker_stoploss",
                      "worker_takeprofit", "orders_calculated"):
        assert plan.handlers["provider"].file_for(component) == f"{component}.log"
        assert routed[component].handlers == ["provider"]
    assert plan.handlers["provider"].file_for("worker_open.db") == "worker_open.log"


def _log_everything(names: list[str]) -> None:
    for lname in names:
        log = hftlogging.get_logger(lname)
        log.debug("debug-line %s", lname, api_key="SECRET-A")
        log.info("info-line %s", lname, password="SECRET-B")
        log.warning("warning-line %s", lname, token="SECRET-C")
        log.error("error-line %s", lname, secret="SECRET-D")
        log.counter("e2e_orders_placed", exchange="mexc")
        log.audit("order_placed", order_id=7, symbol="BTCUSDT", api_key="SECRET-E")


def _files(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): p.read_text(encoding="utf-8")
        for p in root.rglob("*") if p.is_file() and not p.name.startswith(".")
    }


def _scrape() -> tuple[str, str]:
    """(the exposition of the configured endpoint, or "" without one; the namespace).

    Called after hftlogging.shutdown(): every record has been handled, and the endpoint
    stays up until the handler is closed.
    """
    handler = logging._handlers.get("prometheus")  # type: ignore[attr-defined]
    port = getattr(handler, "port", None)
    namespace = str(getattr(handler, "namespace", ""))
    if not port:
        return "", namespace
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
        return r.read().decode(), namespace


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_config_end_to_end(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Configure the shipped file for real and log every kind of record: metrics reach
    Prometheus and no text file, DEBUG reaches no production file, audit events reach a
    verifiable audit file, and no secret reaches any output."""
    from hftlogging.handlers.audit import verify

    hftlogging.configure(name, env=_env(tmp_path))
    _log_everything(["app", "worker_open"])
    hftlogging.shutdown()
    exposition, namespace = _scrape()
    out, err = capsys.readouterr()
    files = _files(tmp_path / "logs")
    text_files = {k: v for k, v in files.items() if not k.endswith(".jsonl")}
    audit_files = [k for k in files if k.endswith(".jsonl")]
    assert text_files and audit_files

    everything = "".join(files.values()) + out + err + exposition
    assert "SECRET" not in everything
    for content in [*text_files.values(), out, err]:
        assert "e2e_orders_placed" not in content
        assert "order_placed" not in content
    if name in PRODUCTION_LIKE:
        assert "debug-line" not in everything
        assert "warning-line worker_open" in "".join(text_files.values())
    else:
        assert "debug-line app" in out
        assert "error-line app" in err and "error-line app" not in out
        assert "info-line app" in "".join(text_files.values())
    for content in text_files.values():
        assert "=***" in content
    assert exposition, "every shipped config serves /metrics when given a port"
    # Two counter calls here; counters of a namespace live on across configurations in
    # one process (the Prometheus handler's reconfiguration rule), so at least two.
    found = re.search(
        rf'^{namespace}_e2e_orders_placed_total{{(?:[^}}]*,)?exchange="mexc"[^}}]*}} (\S+)$',
        exposition, re.MULTILINE)
    assert found and float(found.group(1)) >= 2.0, exposition
    for a in audit_files:
        assert files[a].count('"order_placed"') == 2
        res = verify([str(tmp_path / "logs" / a)])
        assert res.ok and res.records == 2, res


def test_setup_shorthands_apply_the_shipped_files(tmp_path: Path) -> None:
    """setup_production_logging() and setup_development_logging() are configure() of the
    shipped files, with configure()'s keywords."""
    prod = hftlogging.setup_production_logging(env=_env(tmp_path))
    assert set(prod["handlers"]) == {"queue", "components", "errors", "audit", "prometheus"}
    hftlogging.shutdown()
    dev = hftlogging.setup_development_logging(env=_env(tmp_path / "dev"))
    assert "console" in dev["handlers"]


# --- the development console's formatter -------------------------------------------------------


def test_console_formatter_colours_the_line_by_level() -> None:
    """With colour on, the record's line is wrapped in the level's colour; the traceback
    lines that follow are not."""
    from hftlogging.console import ConsoleFormatter
    from hftlogging.record import build_record

    fmt = ConsoleFormatter("%(levelname)s %(message)s", color=True)
    warn = build_record("x", logging.WARNING, "careful", (), 0, None)
    assert fmt.format(warn) == "\x1b[33mWARNING careful\x1b[0m"
    err = build_record("x", logging.ERROR, "failed", (), 0, None, exc_text="Traceback\n  boom")
    assert fmt.format(err) == "\x1b[31mERROR failed\x1b[0m\n  | Traceback\n  |   boom"
    plain = ConsoleFormatter("%(levelname)s %(message)s", color=False)
    assert plain.format(warn) == "WARNING careful"


def test_console_formatter_auto_colour_follows_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """color=auto: NO_COLOR turns colour off, FORCE_COLOR on; otherwise a terminal decides
    (pytest's captured stdout is not one)."""
    from hftlogging.console import ConsoleFormatter

    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.delenv("FORCE_COLOR", raising=False)
    assert ConsoleFormatter().color is False
    monkeypatch.setenv("FORCE_COLOR", "1")
    assert ConsoleFormatter().color is True
    monkeypatch.setenv("NO_COLOR", "1")
    assert ConsoleFormatter().color is False


def test_console_formatter_rejects_bad_options() -> None:
    """Invalid color and stream values are ConfigErrors naming the option."""
    from hftlogging.console import ConsoleFormatter
    from hftlogging.exceptions import ConfigError

    with pytest.raises(ConfigError, match="key color: expected 'auto', true or false"):
        ConsoleFormatter(color="sometimes")
    with pytest.raises(ConfigError, match="key stream: expected 'stdout' or 'stderr'"):
        ConsoleFormatter(stream="tty")
