"""The hftlogging command: check (routing tables), --help everywhere, exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from hftlogging.cli import EXIT_FAILED, EXIT_OK, EXIT_USAGE, main

_ENV = ["--set", "HFTLOGGING_DIR=/var/log/svc", "--set", "HFTLOGGING_WORKER=w1",
        "--set", "HFTLOGGING_PROMETHEUS_PORT=9108",
        "--set", "HFTLOGGING_PUSHGATEWAY=", "--set", "HFTLOGGING_PROMETHEUS_ADDR=127.0.0.1"]


@pytest.fixture(autouse=True)
def _no_level_override(monkeypatch: pytest.MonkeyPatch) -> None:
    """The tables below are those of the files' own defaults."""
    monkeypatch.delenv("HFTLOGGING_LEVEL", raising=False)


def _check(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["check", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_check_production_prints_handlers_and_routing(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """check production: the handlers with their files, then the routing table."""
    code, out, err = _check(capsys, "production", *_ENV)
    assert (code, err) == (EXIT_OK, "")
    body = out.split("\n", 1)[1]
    assert body == textwrap.dedent("""\

        handlers:
          queue       QueueHandler -> components, errors, audit, prometheus  (capacity 10000, overflow drop_newest, batch_size 512, flush_interval_ms 5)
          components  ComponentRotatingFileHandler /var/log/svc/{component}.{worker}.log  (level WARNING+; filters text_only, redact)
          errors      ComponentRotatingFileHandler /var/log/svc/errors.{worker}.log  (level ERROR+; filters text_only, redact)
          audit       JSONAuditHandler /var/log/svc/audit.{worker}.jsonl  (filters audit_only, redact)
          prometheus  PrometheusHandler http://127.0.0.1:9108/metrics  (filters metrics_only, redact)

        routing (log type, level: handlers that write it):
          logger root (fast path):
            text   DEBUG                 -
            text   INFO                  -
            text   WARNING               components (root.main.log)
            text   ERROR                 components (root.main.log), errors
            text   CRITICAL              components (root.main.log), errors
            metric INFO                  prometheus
            audit  INFO                  audit

        ok: the configuration is valid
    """)  # noqa: E501 - the exact output
    assert out.startswith("configuration: ") and "production.yaml" in out.splitlines()[0]


def test_check_development_shows_console_split_and_tagged_rows(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """check development: DEBUG..WARNING on the stdout console, ERROR+ on stderr, and a
    tagged row where the trading TagFilter changes the outcome."""
    code, out, _ = _check(capsys, "development", *_ENV)
    assert code == EXIT_OK
    rows = [line.strip() for line in out.splitlines() if line.startswith("    ")]
    assert "text   DEBUG                 console" in rows
    assert "text   INFO     tags=trading console, file, trading" in rows
    assert "text   ERROR                 console_errors, file" in rows
    assert "metric INFO                  prometheus" in rows
    assert "audit  INFO                  audit" in rows


def test_check_provider_workers_routes_each_component_to_its_file(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """check provider_workers: every component logger writes its own file and errors
    also go to provider_errors."""
    code, out, _ = _check(capsys, "provider_workers", *_ENV)
    assert code == EXIT_OK
    assert "  provider         ComponentRotatingFileHandler /var/log/svc/{component}.log" in out
    for component in ("dispatcher", "worker_open", "orders_calculated"):
        section = out.split(f"  logger {component} (fast path):\n", 1)[1]
        assert section.startswith(
            "    text   DEBUG                 -\n"
            f"    text   INFO                  provider ({component}.log)\n"
            f"    text   WARNING               provider ({component}.log)\n"
            f"    text   ERROR                 provider ({component}.log), provider_errors\n"
        )


def test_check_reports_config_errors_without_traceback(tmp_path: Path) -> None:
    """A configuration mistake from the command line: one message naming the file and the
    key, exit code 1, no Python traceback."""
    bad = tmp_path / "bad.yaml"
    bad.write_text("handlers:\n  out: {class: logging.StreamHandler, levle: INFO}\n")
    proc = subprocess.run(
        [sys.executable, "-m", "hftlogging.cli", "check", str(bad)],
        capture_output=True, text=True, timeout=60, check=False,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
    )
    assert proc.returncode == EXIT_FAILED
    assert proc.stdout == ""
    assert proc.stderr == (
        f"hftlogging check: {bad}, key handlers.out.levle: expected an option of "
        "logging.StreamHandler (stream, level, formatter, filters), found 'levle'; "
        "did you mean 'level'?\n"
    )


def test_check_reports_every_problem_at_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Several mistakes are listed together, one per line."""
    bad = tmp_path / "bad.yaml"
    bad.write_text("root: {level: LOUD, handlers: [nothing]}\nhandler: {}\n")
    code, out, err = _check(capsys, str(bad))
    assert (code, out) == (EXIT_FAILED, "")
    assert err == (
        f"hftlogging check: {bad}: 3 problems:\n"
        "  key handler: expected one of the keys of a configuration (version, formatters, "
        "filters, handlers, loggers, root, incremental, disable_existing_loggers, "
        "hftlogging), found 'handler'; did you mean 'handlers'?\n"
        "  key root.level: expected a level name (DEBUG, INFO, WARNING, ERROR, CRITICAL), "
        "found 'LOUD'\n"
        "  key root.handlers[0]: expected the name of a configured handler (none), found "
        "'nothing'; define it under handlers: or remove it\n"
    )


def test_check_missing_environment_variable(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--set provides variables; without it a variable with no default is reported."""
    cfg = tmp_path / "c.yaml"
    cfg.write_text("formatters: {f: {format: '${FMT}'}}\n")
    code, _, err = _check(capsys, str(cfg))
    assert code == EXIT_FAILED
    assert "expected environment variable FMT to be set" in err
    code, out, _ = _check(capsys, str(cfg), "--set", "FMT=%(message)s")
    assert code == EXIT_OK and out.endswith("ok: the configuration is valid\n")
    assert _check(capsys, str(cfg), "--set", "FMT")[0] == EXIT_USAGE


@pytest.mark.parametrize("argv", [
    ["--help"], ["check", "--help"], ["convert", "--help"], ["demo", "--help"], ["audit", "--help"],
    ["audit", "verify", "--help"], ["bench", "--help"],
])
def test_help_everywhere(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    """Every command and subcommand answers --help with its usage and exit code 0."""
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: hftlogging")
    if argv[0] != "bench":
        assert "exit codes: 0 success, 1 failure" in out


def test_bench_quick_prints_the_tables_against_stdlib(tmp_path: Path) -> None:
    """`hftlogging bench --quick` measures in fresh interpreters and prints its sections in
    their numbered order with ratios from the same run, the targets, and what each setup
    was given; a server that is not installed is named and skipped; every record is
    accounted for (exit 0)."""
    raw = tmp_path / "bench.json"
    done = subprocess.run(
        [sys.executable, "-m", "hftlogging", "bench", "--quick",
         "--setups", "hftlogging,stdlib", "--json", str(raw)],
        capture_output=True, text=True, timeout=600, check=False,
        env=dict(os.environ, RSYSLOGD_BIN=str(tmp_path / "no-rsyslogd"),
                 ROTEL_BIN=str(tmp_path / "no-rotel-agent")),
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    out = done.stdout
    headings = ["### 1. Caller side, enabled info", "### 2. Disabled debug",
                "### 4. Storms: rate-limited and disabled calls", "### 5. Trace context",
                "### 6. Self-monitoring", "### 7. End-to-end throughput",
                "### 8. Network handlers beside the file", "### 9. Audit trail",
                "### 10. Burst", "### 13. Many loggers", "### Targets",
                "### What each setup was given"]
    assert [out.index(h) for h in headings] == sorted(out.index(h) for h in headings)
    # Without the servers the network section runs the file handler alone and says why.
    assert "- syslog: rsyslogd is not installed" in out
    assert "- otlp: rotel-agent is not installed" in out
    assert "| setup | sat p50 | sat p99 | sat p99.9 | paced p50 |" in out
    rows = [ln for ln in out.splitlines() if ln.startswith("| hftlogging QueueHandler |")]
    assert len(rows) == 3 and all(ln.rstrip(" |").endswith("x") for ln in rows), rows
    assert "| stdlib QueueHandler |" in out and "1.00x" in out
    assert "| hftlogging, capacity 10,000 | 1,001,000 |" in out and "| exact |" in out
    assert "[met] burst accounting written + dropped == emitted" in out
    results = json.loads(raw.read_text())
    assert results["errors"] == []
    assert {"calls/hftlogging/info/sat", "calls/stdlib/info/sat", "batch/hftlogging/debug",
            "throughput/hftlogging/text", "throughput/hftlogging/json",
            "burst/hftlogging", "loggers/info/10000", "loggers/create/hftlogging",
            "loggers/add_handler/stdlib", "otel/none", "network/file", "audit/json",
            "audit/audit"} <= set(results["raw"])
    for key in ("throughput/hftlogging/text", "throughput/hftlogging/json",
                "backtrace/file", "backtrace/ring"):
        assert all(r["lines"] == r["expected"] for r in results["raw"][key]), key
    assert "| `every(...)` call held back |" in out


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    """Unknown commands and bad option values are usage errors: exit 2."""
    for argv in (["frobnicate"], ["demo", "--seconds", "0"], ["demo", "--port", "70000"],
                 ["check"]):
        with pytest.raises(SystemExit) as e:
            main(argv)
        assert e.value.code == EXIT_USAGE, argv
    assert "expected a number > 0, found '0'" in capsys.readouterr().err


def test_audit_verify_is_routed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """audit verify reaches the audit module: an unreadable file is reported, not raised."""
    code = main(["audit", "verify", str(tmp_path / "missing.jsonl")])
    assert code == 2
    assert "cannot read" in capsys.readouterr().err


def test_check_says_why_a_logger_leaves_the_fast_path(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A filter on the queue handler, or a second handler on the way up, takes calls off
    the fast path: check says so for the logger concerned."""
    cfg = tmp_path / "c.yaml"
    cfg.write_text(textwrap.dedent("""
        filters:
          redact: {(): hftlogging.filters.RedactFilter}
        handlers:
          q: {class: hftlogging.handlers.QueueHandler, handlers: [out], filters: [redact]}
          q2: {class: hftlogging.handlers.QueueHandler, handlers: [out]}
          out: {class: logging.StreamHandler}
        loggers:
          a: {handlers: [q], propagate: false}
          b: {handlers: [q2]}
        root: {handlers: [q2]}
    """))
    code, out, _ = _check(capsys, str(cfg))
    assert code == EXIT_OK
    assert "  logger root (fast path):" in out
    assert "  logger a (stdlib path: the queue handler has filters):" in out
    assert "  logger b (stdlib path: 2 handlers on the way up):" in out
