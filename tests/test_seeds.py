"""The logging: configuration format of in-house HFT systems: load, route, validate, convert.

The files in tests/data/seeds/ are the YAML of the documents our users come from,
exactly as printed: seed002_logging.yaml (the ``config/logging.yaml`` of the
routed-logging plan), seed003_hft_settings.yaml and seed003_backends.yaml (the two blocks
of the integration specification) and seed003_logging.yaml (both blocks under one
``logging:``, as a team keeps them in one file).
"""

from __future__ import annotations

import json
import logging
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_servers import Pushgateway, pushgateway  # noqa: F401 - fixture

import hftlogging
from hftlogging.cli import main, render_check, render_convert
from hftlogging.config import prepare, routes, seeds
from hftlogging.exceptions import ConfigError
from hftlogging.routing import RuleFilter

SEEDS = Path(__file__).parent / "data" / "seeds"
SEED_002 = SEEDS / "seed002_logging.yaml"
SEED_003 = SEEDS / "seed003_logging.yaml"


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The files' relative paths (logs/hft.log) land in the test's directory; the
    handlers behind the queue are closed (the Prometheus handler's push thread ends)."""
    monkeypatch.chdir(tmp_path)
    yield
    hftlogging.shutdown()
    _close_outputs()


def _close_outputs() -> None:
    """Close the handlers behind the queue: the Prometheus handler pushes a last time."""
    for h in list(logging._handlers.values()):  # type: ignore[attr-defined]
        h.close()


def _copy(src: Path, tmp_path: Path, *replace: tuple[str, str]) -> Path:
    """The seed file, with text replaced (a team editing its file)."""
    text = src.read_text(encoding="utf-8")
    for old, new in replace:
        assert old in text
        text = text.replace(old, new, 1)
    out = tmp_path / f"edited_{src.name}"
    out.write_text(text, encoding="utf-8")
    return out


def _error(source: Any, env: dict[str, str] | None = None) -> str:
    with pytest.raises(ConfigError) as e:
        prepare(source, env={} if env is None else env)
    return str(e.value)


def _push_to(gw: Pushgateway) -> dict[str, Any]:
    """The files' Pushgateway hosts do not exist here: push to a real local one."""
    return {"handlers": {"prometheus": {"pushgateway": gw.url}}}


def _run(tag: str) -> Any:
    """Log one record of each kind, each with ``tag`` in it, then shut down; returns the
    Prometheus handler."""
    prom = logging._handlers.get("prometheus")  # type: ignore[attr-defined]
    log = hftlogging.get_logger("arbitrage.engine")
    log.debug(f"{tag}-debug")
    log.info(f"{tag}-info")
    log.warning(f"{tag}-warning")
    log.error(f"{tag}-error")
    log.counter(f"orders_{tag}", exchange="mexc")
    log.audit("trade_executed", order_id=f"{tag}-audit")
    hftlogging.shutdown()
    _close_outputs()
    return prom


def _landed(text: str, tag: str) -> set[str]:
    kinds = ("debug", "info", "warning", "error", "audit")
    return {k for k in kinds if f"{tag}-{k}" in text}


def _counter(prom: Any, tag: str) -> float | None:
    return prom.registry.get_sample_value(  # type: ignore[no-any-return]
        f"hft_orders_{tag}_total", {"exchange": "mexc"})


def _gateway_value(gw: Pushgateway, name: str) -> float | None:
    for _labels, value in gw.samples(name):
        return value
    return None


# --- seed 002: backends, routing_rules, global_context -----------------------------------------


def test_seed002_dev_routes_as_its_rules_say(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], pushgateway: Pushgateway  # noqa: F811
) -> None:
    """environment dev, DATADOG_API_KEY unset: DEBUG..ERROR on the console, WARNING and
    ERROR in logs/hft.log, the counter in Prometheus (pushed to a real Pushgateway), the
    audit event nowhere (no rule routes AUDIT, and check says so), global_context on
    every line."""
    tag = uuid.uuid4().hex[:8]
    hftlogging.configure(SEED_002, env={}, overrides=_push_to(pushgateway))
    prom = _run(tag)
    console = capsys.readouterr().out
    hft_log = (tmp_path / "logs" / "hft.log").read_text(encoding="utf-8")
    assert _landed(console, tag) == {"debug", "info", "warning", "error"}
    assert _landed(hft_log, tag) == {"warning", "error"}
    assert f"orders_{tag}" not in console + hft_log
    assert prom.registry.get_sample_value(f"hft_orders_{tag}_total", {"exchange": "mexc"}) == 1
    assert _gateway_value(pushgateway, f"hft_orders_{tag}_total") == 1
    for line in hft_log.splitlines():
        assert "service=hft-arbitrage" in line and "version=1.0.0" in line
    checked = render_check(str(SEED_002), {})
    assert "warning: audit records reach no backend in environment development" in checked
    assert "global context (on every record): service=hft-arbitrage, version=1.0.0" in checked


@pytest.mark.parametrize("value", ["prod", "production", "PROD"])
def test_seed002_prod_drops_the_dev_only_rule(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], value: str,
    pushgateway: Pushgateway,  # noqa: F811
) -> None:
    """ENVIRONMENT=prod (the in-house systems' variable): debug_to_console_dev_only no longer
    applies, so DEBUG and INFO go nowhere and are not even captured (root at WARNING)."""
    tag = uuid.uuid4().hex[:8]
    config = hftlogging.configure(SEED_002, env={"ENVIRONMENT": value},
                                  overrides=_push_to(pushgateway))
    assert config["root"]["level"] == "WARNING"
    prom = _run(tag)
    console = capsys.readouterr().out
    assert _landed(console, tag) == {"warning", "error"}
    hft_log = (tmp_path / "logs" / "hft.log").read_text(encoding="utf-8")
    assert _landed(hft_log, tag) == {"warning", "error"}
    assert _counter(prom, tag) == 1


def test_seed002_reads_environment_from_the_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pushgateway: Pushgateway  # noqa: F811
) -> None:
    """Without env=, configure() reads $ENVIRONMENT from os.environ, as the in-house
    factory does."""
    monkeypatch.setenv("ENVIRONMENT", "prod")
    monkeypatch.delenv("HFTLOGGING_ENV", raising=False)
    config = hftlogging.configure(SEED_002, overrides=_push_to(pushgateway))
    assert config["filters"]["console_rules"]["environment"] == "production"
    monkeypatch.setenv("ENVIRONMENT", "dev")
    config = hftlogging.configure(SEED_002, overrides=_push_to(pushgateway))
    assert config["filters"]["console_rules"]["environment"] == "development"
    assert config["root"]["level"] == "DEBUG"


@pytest.mark.parametrize("env", [{}, {"DATADOG_API_KEY": "dd-key"}])
def test_seed002_disabled_datadog_needs_no_variable(env: dict[str, str]) -> None:
    """${DATADOG_API_KEY} in the disabled datadog backend is not read: the file loads with
    the variable set or unset, and the translation says datadog was left out."""
    plan = prepare(SEED_002, env=env)
    assert sorted(plan.handlers) == ["console", "file", "prometheus", "queue"]
    assert ("logging.backends.datadog",
            "enabled: false (not translated, its ${VAR} references are not read)") in \
        plan.translation.ignored
    assert plan.settings["global_context"] == {"service": "hft-arbitrage", "version": "1.0.0"}


@pytest.mark.parametrize("env", [{}, {"DATADOG_API_KEY": "dd-key"}])
def test_enabled_datadog_names_what_to_use_instead(tmp_path: Path, env: dict[str, str]) -> None:
    """A backend the package does not ship, enabled, is an error naming it, the file, the
    key and what to use instead; set or unset, the variable does not matter."""
    path = _copy(SEED_002, tmp_path, ("enabled: false", "enabled: true"))
    assert _error(path, env) == (
        f"{path}, key logging.backends.datadog: expected a backend hftlogging ships (console, "
        "file, prometheus, audit), found 'datadog', not shipped by hftlogging; use "
        "hftlogging.handlers.OTLPHandler (pip install 'hftlogging[otel]'; "
        "the Datadog Agent receives OTLP) or a custom logging.Handler behind the queue, or "
        "set enabled: false"
    )


@pytest.mark.parametrize("backend", ["elasticsearch", "slack"])
def test_other_unshipped_backends_are_named(tmp_path: Path, backend: str) -> None:
    """elasticsearch and slack (the in-house systems' third-party backends) get their own advice."""
    path = _copy(SEED_002, tmp_path, ("    datadog:\n      enabled: false",
                                      f"    {backend}:\n      enabled: true"))
    msg = _error(path)
    assert f"key logging.backends.{backend}: expected a backend hftlogging ships" in msg
    assert f"found {backend!r}, not shipped by hftlogging; use " in msg
    assert ("SyslogHandler" in msg) if backend == "elasticsearch" else "webhook" in msg
    disabled = _copy(SEED_002, tmp_path, ("    datadog:", f"    {backend}:"))
    assert prepare(disabled, env={}).translation is not None


def test_unset_variable_in_an_enabled_backend_names_the_seed_key(tmp_path: Path) -> None:
    """${VAR} in a backend that is enabled is expanded: unset, the error names the key of
    the file as written."""
    path = _copy(SEED_002, tmp_path, ('file_path: "logs/hft.log"',
                                      'file_path: "${LOG_DIR}/hft.log"'))
    assert _error(path) == (
        f"{path}, key logging.backends.file.config.file_path: expected environment variable "
        "LOG_DIR to be set (${LOG_DIR} has no default), found it unset; set LOG_DIR or write "
        "${LOG_DIR:-default}"
    )
    plan = prepare(path, env={"LOG_DIR": str(tmp_path / "var")})
    assert plan.config["handlers"]["file"]["directory"] == str(tmp_path / "var")


def test_unwritable_file_path_names_the_seed_key(tmp_path: Path) -> None:
    """A problem found when validating the translation also names the key of the file."""
    (tmp_path / "blocker").write_text("a file, not a directory")
    path = _copy(SEED_002, tmp_path, ('file_path: "logs/hft.log"',
                                      'file_path: "blocker/logs/hft.log"'))
    msg = _error(path)
    assert msg.startswith(f"{path}, key handlers.file")
    assert msg.endswith("(translated from key logging.backends.file.config.file_path)")


def test_routing_rule_naming_an_unknown_backend(tmp_path: Path) -> None:
    """A rule routing to a backend that is not under backends: says which exist."""
    path = _copy(SEED_002, tmp_path, ('backends: ["prometheus"]', 'backends: ["promethus"]'))
    assert _error(path) == (
        f"{path}, key logging.routing_rules[0].backends: expected the name of a backend "
        "under logging.backends (console, file, prometheus, datadog), found 'promethus'; "
        "did you mean 'prometheus'?"
    )


def test_unknown_log_type_in_a_rule(tmp_path: Path) -> None:
    """log_types are TEXT, METRIC, AUDIT in any case; a misspelt one is named."""
    path = _copy(SEED_002, tmp_path, ('log_types: ["METRIC"]', 'log_types: ["METRICS"]'))
    assert _error(path) == (
        f"{path}, key logging.routing_rules[0].log_types: expected log types among TEXT, "
        "METRIC, AUDIT (any case), found 'METRICS'; did you mean 'METRIC'?"
    )


# --- seed 003: hft_settings and flat backends ---------------------------------------------------


@pytest.mark.parametrize("env", [{}, {"ENVIRONMENT": "prod"}])
def test_seed003_routes_by_backend_kind(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], env: dict[str, str],
    pushgateway: Pushgateway,  # noqa: F811
) -> None:
    """No routing_rules: console takes text from DEBUG, logs/hft.log JSON text from INFO,
    logs/audit.log the audit events as hash-chained JSON lines, Prometheus the metrics;
    with ENVIRONMENT set or unset alike."""
    tag = uuid.uuid4().hex[:8]
    hftlogging.configure(SEED_003, env=env, overrides=_push_to(pushgateway))
    _run(tag)
    console = capsys.readouterr().out
    assert _landed(console, tag) == {"debug", "info", "warning", "error"}
    hft_lines = [json.loads(x) for x in
                 (tmp_path / "logs" / "hft.log").read_text(encoding="utf-8").splitlines()]
    # Only this test's records: the seed's max_latency_us also turns on the self-monitoring
    # warnings, which a slow sampled call on a loaded machine writes here too.
    ours = [x["message"] for x in hft_lines if x["message"].startswith(tag)]
    assert ours == [f"{tag}-info", f"{tag}-warning", f"{tag}-error"]
    assert all(x["message"].startswith(("sampled log calls were slow", tag))
               for x in hft_lines)
    audit = [json.loads(x) for x in
             (tmp_path / "logs" / "audit.log").read_text(encoding="utf-8").splitlines()]
    assert [(x["event"], x["order_id"]) for x in audit] == [("trade_executed", f"{tag}-audit")]
    assert "hash" in audit[0]
    assert main(["audit", "verify", str(tmp_path / "logs" / "audit.log")]) == 0
    assert _gateway_value(pushgateway, f"hft_orders_{tag}_total") == 1


def test_seed003_hft_settings_map_to_options() -> None:
    """Every hft_settings key maps to an option or is reported as ignored with its reason."""
    plan = prepare(SEED_003, env={})
    queue = plan.handlers["queue"].options
    assert (queue["capacity"], queue["batch_size"], queue["flush_interval_ms"],
            queue["failure_threshold"]) == (10000, 50, 10, 3)
    assert plan.settings["max_latency_us"] == 1000
    assert plan.settings["warning_threshold_us"] == 500
    ignored = dict(plan.translation.ignored)
    for key in ("max_memory_mb", "gc_threshold", "enable_failover"):
        assert ignored[f"logging.hft_settings.{key}"] == seeds.HFT_SETTINGS[key][1]
    mapped = {k for k, (target, _) in seeds.HFT_SETTINGS.items() if target is not None}
    assert mapped | {"max_memory_mb", "gc_threshold", "enable_failover"} == \
        set(seeds.HFT_SETTINGS)
    file = plan.handlers["file"].options
    assert (file["when"], file["max_bytes"]) == ("daily", 100 * 1024 * 1024)
    text = render_check(str(SEED_003), {})
    assert "not translated: logging.hft_settings.max_memory_mb: the queue is bounded by " \
        "record count" in text


def test_overrides_in_the_logging_format(tmp_path: Path) -> None:
    """Overrides written as the in-house production setup writes them (a logging:
    mapping) apply before the translation: console off, file at WARNING, a larger ring."""
    plan = prepare(SEED_003, env={}, overrides={"logging": {
        "backends": {"console": {"enabled": False}, "file": {"level": "WARNING"}},
        "hft_settings": {"ring_buffer_size": 20000, "flush_interval_ms": 5},
    }})
    assert sorted(plan.handlers) == ["audit", "file", "prometheus", "queue"]
    assert plan.handlers["file"].level == logging.WARNING
    assert plan.handlers["queue"].options["capacity"] == 20000
    assert plan.handlers["queue"].options["flush_interval_ms"] == 5
    assert plan.config["root"]["level"] == "WARNING"


def test_backend_dicts_of_the_factory_functions() -> None:
    """The development backends dict of the factory functions (path, colored, no enabled
    keys, a pull-only Prometheus), wrapped in logging:, loads; the metrics' missing
    destination is reported."""
    plan = prepare({"logging": {
        "environment": "development",
        "backends": {
            "console": {"level": "DEBUG", "colored": True, "structured": True},
            "file": {"level": "INFO", "path": "logs/dev.log", "format": "text"},
            "prometheus": {"enabled": True, "push_gateway": None},
        },
        "hft_settings": {"ring_buffer_size": 5000, "batch_size": 100, "flush_interval_ms": 100},
    }}, env={})
    assert plan.config["formatters"]["console"]["color"] is True
    assert plan.config["handlers"]["file"]["filename"] == "dev.log"
    assert plan.translation.warnings == [
        "logging.backends.prometheus has no push_gateway and no port: the metrics stay in "
        "the process; add port: 9108 to serve /metrics for scraping"
    ]


def test_seed003_blocks_alone(tmp_path: Path) -> None:
    """The backends block loads on its own; the hft_settings block alone has no backend,
    which the in-house validation refuses."""
    assert prepare(SEEDS / "seed003_backends.yaml", env={}).translation is not None
    path = SEEDS / "seed003_hft_settings.yaml"
    assert _error(path) == (
        f"{path}, key logging.backends: expected at least one enabled backend, found none; "
        "set enabled: true on one of the backends (console, file, prometheus, audit)"
    )


def test_two_blocks_pasted_one_after_the_other(tmp_path: Path) -> None:
    """The two blocks of the specification pasted into one file give logging: twice:
    refused (YAML would silently keep only the second), naming both lines."""
    path = tmp_path / "pasted.yaml"
    first = (SEEDS / "seed003_hft_settings.yaml").read_text(encoding="utf-8")
    path.write_text(first + "\n" + (SEEDS / "seed003_backends.yaml").read_text(encoding="utf-8"),
                    encoding="utf-8")
    second = len(first.splitlines()) + 2
    assert _error(path) == (
        f"{path}: line {second}: expected each key once in a mapping, found 'logging' again "
        "(first at line 1); YAML would keep only the last one: merge the two"
    )


def test_logging_section_beside_dictconfig_keys() -> None:
    """A logging: section next to dictConfig keys is neither format: the message says how
    to resolve it instead of suggesting 'hftlogging'."""
    assert _error({"version": 1, "logging": {"backends": {}}}) == (
        "key logging: expected either dictConfig keys or a logging: section (the logging: "
        "format: backends, routing_rules, global_context, hft_settings), found both; keep "
        "logging: alone in its file, or run hftlogging convert on it and merge the output "
        "into this one"
    )


def test_seed003_validation_rules(tmp_path: Path) -> None:
    """max_latency_us <= 5000 and ring_buffer_size >= 1000, each with file, key and fix;
    all backends disabled is refused."""
    path = _copy(SEED_003, tmp_path, ("max_latency_us: 1000", "max_latency_us: 8000"))
    assert _error(path) == (
        f"{path}, key logging.hft_settings.max_latency_us: expected at most 5000 µs (the HFT "
        "limit of the configuration validation), found 8000; lower max_latency_us to 5000 "
        "or less"
    )
    path = _copy(SEED_003, tmp_path, ("ring_buffer_size: 10000", "ring_buffer_size: 500"))
    assert _error(path) == (
        f"{path}, key logging.hft_settings.ring_buffer_size: expected at least 1000 (too small "
        "for HFT operations, as the configuration validation says), found 500; raise "
        "ring_buffer_size to 1000 or more"
    )
    text = SEED_003.read_text(encoding="utf-8").replace("enabled: true", "enabled: false")
    path = tmp_path / "all_disabled.yaml"
    path.write_text(text, encoding="utf-8")
    assert "key logging.backends: expected at least one enabled backend, found none" in \
        _error(path)


def test_unknown_hft_setting_is_refused(tmp_path: Path) -> None:
    """A key the format does not have is a mistake: named, with the closest one."""
    path = _copy(SEED_003, tmp_path, ("batch_size: 50", "batch_sise: 50"))
    msg = _error(path)
    assert msg.startswith(f"{path}, key logging.hft_settings.batch_sise: expected one of the "
                          "hft_settings (ring_buffer_size, batch_size, ")
    assert msg.endswith("found 'batch_sise'; did you mean 'batch_size'?")


def test_logging_section_keys_are_checked(tmp_path: Path) -> None:
    """A misspelt key of the logging: section is named with the keys it may have."""
    path = _copy(SEED_002, tmp_path, ("global_context:", "global_contxt:"))
    assert _error(path) == (
        f"{path}, key logging.global_contxt: expected one of the keys of the logging section "
        "(environment, backends, routing_rules, global_context, hft_settings), found "
        "'global_contxt'; did you mean 'global_context'?"
    )


# --- convert ------------------------------------------------------------------------------------


def _route_table(plan: Any) -> list[tuple[str, str, int, list[str]]]:
    return [(r.logger, r.log_type, r.level, r.handlers) for r in routes(plan)]


@pytest.mark.parametrize(("seed", "env"), [
    (SEED_002, {}), (SEED_002, {"ENVIRONMENT": "prod"}), (SEED_003, {}),
    (SEEDS / "seed003_backends.yaml", {}),
])
def test_convert_output_loads_and_routes_identically(
    tmp_path: Path, seed: Path, env: dict[str, str]
) -> None:
    """hftlogging convert prints YAML that configure() loads into the same dictConfig,
    the same hftlogging section and the same routing table."""
    text = render_convert(str(seed), env)
    converted = tmp_path / "converted.yaml"
    converted.write_text(text, encoding="utf-8")
    original = prepare(seed, env=env)
    again = prepare(converted, env=env)
    assert again.translation is None
    assert again.config == original.config
    assert again.settings == original.settings
    assert _route_table(again) == _route_table(original)


def test_convert_keeps_dollar_signs(tmp_path: Path) -> None:
    """A $ in a value (from the file or from a variable) is written $$ and reads back as $."""
    path = _copy(SEED_002, tmp_path, ('global_context:\n    service: "hft-arbitrage"',
                                      'global_context:\n    service: "${SVC}"'),
                 ('name: "metrics_to_prometheus"', 'name: "m$${X}"'))
    converted = tmp_path / "converted.yaml"
    converted.write_text(render_convert(str(path), {"SVC": "a${b}"}), encoding="utf-8")
    plan = prepare(converted, env={})
    assert plan.settings["global_context"]["service"] == "a${b}"
    assert plan.config["filters"]["prometheus_rules"]["rules"][0]["name"] == "m${X}"


def test_convert_comments_each_translated_key(capsys: pytest.CaptureFixture[str]) -> None:
    """The printed YAML says where keys came from and what was left out, and why."""
    assert main(["convert", str(SEED_003)]) == 0
    out = capsys.readouterr().out
    assert "capacity: 10000  # from hft_settings.ring_buffer_size: most records queued" in out
    assert "failure_threshold: 3  # from hft_settings.max_retry_attempts" in out
    assert "directory: logs  # from logging.backends.file.file_path" in out
    assert "#   logging.hft_settings.gc_threshold: hftlogging does not tune" in out
    assert main(["convert", str(SEED_002), "--set", "ENVIRONMENT=prod"]) == 0
    out = capsys.readouterr().out
    assert "environment: production  # from $ENVIRONMENT; the file says 'dev'" in out
    assert "- {name: debug_to_console_dev_only, max_level: INFO, environments: [dev]}" in out


def test_converted_file_routes_records_as_the_original(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], pushgateway: Pushgateway  # noqa: F811
) -> None:
    """Records through the converted seed 002 land where they land through the original."""
    converted = tmp_path / "converted.yaml"
    converted.write_text(render_convert(str(SEED_002), {}), encoding="utf-8")
    landed = []
    for source in (SEED_002, converted):
        tag = uuid.uuid4().hex[:8]
        hftlogging.configure(source, env={}, overrides=_push_to(pushgateway))
        prom = _run(tag)
        console = capsys.readouterr().out
        hft_log = (tmp_path / "logs" / "hft.log").read_text(encoding="utf-8")
        landed.append((_landed(console, tag), _landed(hft_log, tag), _counter(prom, tag)))
    assert landed[0] == landed[1] == ({"debug", "info", "warning", "error"},
                                      {"warning", "error"}, 1)


def test_convert_refuses_a_dictconfig_file(capsys: pytest.CaptureFixture[str]) -> None:
    """convert of a file that is already dictConfig says so and exits 1."""
    assert main(["convert", "production"]) == 1
    assert "expected a configuration in the logging: format" in capsys.readouterr().err


# --- environment names ----------------------------------------------------------------------------


@pytest.mark.parametrize(("env", "expected"), [
    ({"HFTLOGGING_ENV": "dev"}, "development.yaml"),
    ({"HFTLOGGING_ENV": "development"}, "development.yaml"),
    ({"ENVIRONMENT": "prod"}, "production.yaml"),
    ({"ENVIRONMENT": "production"}, "production.yaml"),
    ({"ENVIRONMENT": "Prod"}, "production.yaml"),
    ({"HFTLOGGING_ENV": "provider_workers"}, "provider_workers.yaml"),
    ({"HFTLOGGING_ENV": "prod", "ENVIRONMENT": "dev"}, "production.yaml"),
    ({}, "development.yaml"),
])
def test_environment_names(tmp_path: Path, env: dict[str, str], expected: str) -> None:
    """configure() without a name takes $HFTLOGGING_ENV, else $ENVIRONMENT: dev/prod and
    the shipped names."""
    plan = prepare(None, env={"HFTLOGGING_DIR": str(tmp_path), **env})
    assert Path(plan.source or "").name == expected


@pytest.mark.parametrize("var", ["HFTLOGGING_ENV", "ENVIRONMENT"])
def test_unknown_environment_names_its_variable(var: str) -> None:
    """An unknown name says which variable it came from and what it may be."""
    assert _error(None, {var: "staging"}) == (
        f"expected ${var} to name a shipped configuration (development, production, "
        "provider_workers; also dev (development), prod (production)) or a configuration "
        f"file, found 'staging'; set {var} to one of those or unset it"
    )
    assert "found 'prodution' (did you mean 'production'?)" in _error(None, {var: "prodution"})


def test_environment_variable_may_name_a_seed_file(tmp_path: Path) -> None:
    """$HFTLOGGING_ENV may be a path, a file in the logging: format included."""
    plan = prepare(None, env={"HFTLOGGING_ENV": str(SEED_002), "ENVIRONMENT": "prod"})
    assert plan.translation is not None
    assert plan.translation.environment == "production"


# --- the rule filter ------------------------------------------------------------------------------


def _record(level: int, log_type: str) -> logging.LogRecord:
    rec = logging.LogRecord("x", level, __file__, 1, "m", (), None)
    rec.log_type = log_type  # type: ignore[attr-defined]
    return rec


def test_rule_filter_matches_any_rule_in_its_environment() -> None:
    """A record passes when one active rule matches its type and level range; dev and
    development are one environment; no active rule passes nothing."""
    rules = [
        {"name": "metrics", "log_types": ["METRIC"]},
        {"name": "errors", "min_level": "WARNING"},
        {"name": "debug_dev", "max_level": "INFO", "environments": ["dev"]},
    ]
    dev = RuleFilter(rules, environment="development")
    prod = RuleFilter(rules, environment="prod")
    assert dev.filter(_record(logging.DEBUG, "text"))
    assert not prod.filter(_record(logging.DEBUG, "text"))
    assert prod.filter(_record(logging.ERROR, "text"))
    assert prod.filter(_record(logging.INFO, "metric"))
    assert not prod.filter(_record(logging.INFO, "audit"))
    assert not RuleFilter([], environment="dev").filter(_record(logging.ERROR, "text"))
    with pytest.raises(ConfigError) as e:
        RuleFilter([{"min_level": "ERROR", "max_level": "INFO"}])
    assert e.value.key == "rules[0].min_level"


# --- the migration guide ------------------------------------------------------------------------


def test_migration_guide_examples_run(tmp_path: Path) -> None:
    """Each Python block of docs/migration.md runs as printed and prints its line."""
    guide = Path(__file__).parent.parent / "docs" / "migration.md"
    blocks = re.findall(r"```python\n(.*?)```", guide.read_text(encoding="utf-8"), re.S)
    assert blocks
    for block in blocks:
        done = subprocess.run([sys.executable, "-c", block], capture_output=True, text=True,
                              cwd=tmp_path, timeout=120, check=False)
        assert done.returncode == 0, done.stderr
        assert "service=hft-arbitrage version=1.0.0" in done.stdout
