"""configure(): loading, ${VAR} expansion, safe YAML, validation messages, applying, rollback."""

from __future__ import annotations

import logging
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

import hftlogging
from hftlogging import config as hconfig
from hftlogging.config import MAX_CONFIG_BYTES, load_config, prepare
from hftlogging.exceptions import ConfigError
from hftlogging.testing import CaptureHandler


def _write(tmp_path: Path, text: str, name: str = "logging.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def _error(source: Any, env: dict[str, str] | None = None) -> str:
    with pytest.raises(ConfigError) as e:
        prepare(source, env=env if env is not None else {})
    return str(e.value)


def _queue_config(logger: str, cap: Any = CaptureHandler, **extra: Any) -> dict[str, Any]:
    return {
        "handlers": {
            "q": {"class": "hftlogging.handlers.QueueHandler", "handlers": ["cap"]},
            "cap": {"()": cap},
            **extra,
        },
        "loggers": {logger: {"handlers": ["q"], "level": "DEBUG", "propagate": False}},
    }


# --- ${VAR} expansion -----------------------------------------------------------------------------


def test_env_expansion_with_defaults_and_literal_dollar(tmp_path: Path) -> None:
    """${VAR} takes the variable, ${VAR:-default} its default when unset, $$ is a $."""
    path = _write(tmp_path, """
        formatters:
          f: {format: "$$ %(message)s ${SERVICE} ${REGION:-eu}"}
    """)
    cfg, source = load_config(path, env={"SERVICE": "mm"})
    assert source == str(path)
    assert cfg["formatters"]["f"]["format"] == "$ %(message)s mm eu"


def test_missing_env_var_names_variable_file_and_key(tmp_path: Path) -> None:
    """A variable without default that is not set is an error naming it, the file and
    the key path."""
    path = _write(tmp_path, """
        handlers:
          audit:
            class: hftlogging.handlers.JSONAuditHandler
            filename: ${AUDIT_DIR}/audit.jsonl
    """)
    assert _error(path) == (
        f"{path}, key handlers.audit.filename: expected environment variable AUDIT_DIR to be "
        "set (${AUDIT_DIR} has no default), found it unset; set AUDIT_DIR or write "
        "${AUDIT_DIR:-default}"
    )


def test_invalid_reference_is_reported(tmp_path: Path) -> None:
    """${1X} is not a variable name: the message shows the forms that are."""
    path = _write(tmp_path, """
        formatters: {f: {format: "${1X}"}}
    """)
    assert _error(path) == (
        f"{path}, key formatters.f.format: expected ${{NAME}} or ${{NAME:-default}} with NAME "
        "made of letters, digits and underscores, found '${1X}'; write $$ for a literal $"
    )


def test_whole_value_reference_takes_the_options_type() -> None:
    """A value that is exactly one ${VAR} becomes what the option expects: an integer
    for capacity, null from an empty default; a string option keeps its string."""
    plan = prepare({
        "hftlogging": {"redact": {"mask": "${MASK:-123}"}},
        "handlers": {"q": {"class": "hftlogging.handlers.QueueHandler",
                           "handlers": [], "capacity": "${CAP:-64}",
                           "fallback": "${FALLBACK:-}"}},
    }, env={})
    q = plan.config["handlers"]["q"]
    assert q["capacity"] == 64
    assert q["fallback"] is None
    assert plan.settings["redact"]["mask"] == "123"


def test_dollar_style_format_is_not_expanded() -> None:
    """A '$'-style format string (${asctime}) is a format, not an environment reference."""
    plan = prepare({"formatters": {"f": {"format": "${asctime} ${message}", "style": "$"}}},
                   env={})
    assert plan.config["formatters"]["f"]["format"] == "${asctime} ${message}"


# --- sources and YAML safety ----------------------------------------------------------------------


def test_default_config_follows_hftlogging_env_then_environment(tmp_path: Path) -> None:
    """No name: $HFTLOGGING_ENV, else $ENVIRONMENT, else development."""
    base = {"HFTLOGGING_DIR": str(tmp_path)}

    def source(env: dict[str, str]) -> str:
        return Path(load_config(None, env={**base, **env})[1] or "").name

    assert source({"HFTLOGGING_ENV": "production", "ENVIRONMENT": "development"}) == \
        "production.yaml"
    assert source({"ENVIRONMENT": "provider_workers"}) == "provider_workers.yaml"
    assert source({}) == "development.yaml"


def test_shipped_configs_are_available_by_name() -> None:
    """The three shipped configurations are installed with the package."""
    assert hconfig.available_configs() == ["development", "production", "provider_workers"]


def test_unknown_name_lists_shipped_configs() -> None:
    """A name that is neither shipped nor a file lists the shipped ones and suggests."""
    assert _error("producton") == (
        "expected a shipped configuration name (development, production, provider_workers) "
        "or a path, found 'producton'; did you mean 'production'?"
    )


def test_python_object_tags_are_refused(tmp_path: Path) -> None:
    """A YAML tag that would construct a Python object is refused (safe_load only),
    and nothing runs."""
    marker = tmp_path / "ran"
    path = _write(tmp_path, f"""
        version: 1
        x: !!python/object/apply:os.system ["touch {marker}"]
    """)
    assert _error(path) == (
        f"{path}: line 3: expected plain YAML data (read with yaml.safe_load), found the "
        "tag 'tag:yaml.org,2002:python/object/apply:os.system', which would construct a "
        "Python object; remove the tag"
    )
    assert not marker.exists()


def test_billion_laughs_is_refused_quickly(tmp_path: Path) -> None:
    """An alias bomb (9 levels of 9 aliases: 387 million values) is refused in well
    under a second instead of exhausting memory."""
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for i in range(1, 10):
        refs = ", ".join([f"*a{i - 1}"] * 9)
        lines.append(f"a{i}: &a{i} [{refs}]")
    path = _write(tmp_path, "\n".join(lines))
    t0 = time.monotonic()
    assert _error(path) == (
        f"{path}: expected at most 100000 values once YAML aliases are expanded, found "
        "more (an alias bomb?); use fewer aliases of large blocks"
    )
    assert time.monotonic() - t0 < 2.0


def test_merge_key_bomb_is_refused_before_yaml_builds_it(tmp_path: Path) -> None:
    """Merge keys copy the merged pairs, so even yaml.safe_load takes exponential time on
    this small file; it is measured as composed nodes and refused before being built."""
    lines = ["a0: &a0 {k0: 1, k1: 2, k2: 3, k3: 4}"]
    for i in range(1, 40):
        lines.append(f"a{i}: &a{i} {{<<: [*a{i - 1}, *a{i - 1}], x{i}: *a{i - 1}}}")
    path = _write(tmp_path, "\n".join(lines))
    t0 = time.monotonic()
    assert "found more (an alias bomb?)" in _error(path)
    assert time.monotonic() - t0 < 2.0


def test_self_referencing_alias_is_refused(tmp_path: Path) -> None:
    """An alias inside its own anchor (a recursive structure) is refused."""
    path = _write(tmp_path, "a: &a [1, *a]\n")
    assert _error(path) == (
        f"{path}: expected a tree of values, found a YAML alias that refers to its own parent; "
        "replace the alias by the values it stands for"
    )


def test_oversized_file_is_refused(tmp_path: Path) -> None:
    """A file beyond MAX_CONFIG_BYTES is not read."""
    path = tmp_path / "big.yaml"
    path.write_text("#" * (MAX_CONFIG_BYTES + 1))
    assert _error(path) == (
        f"{path}: expected a file of at most {MAX_CONFIG_BYTES} bytes, found "
        f"{MAX_CONFIG_BYTES + 1} bytes; split the file or remove what it does not need"
    )


def test_syntax_error_names_line_and_column(tmp_path: Path) -> None:
    """A YAML syntax error names the line and column."""
    path = _write(tmp_path, "handlers: [1, 2\n")
    assert _error(path) == (
        f"{path}: expected valid YAML, found a syntax error at line 2, column 1: "
        "expected ',' or ']', but got '<stream end>'; correct the syntax there"
    )


def test_top_level_must_be_a_mapping(tmp_path: Path) -> None:
    """A list at the top level is refused."""
    path = _write(tmp_path, "- a\n")
    assert _error(path) == (
        f"{path}: expected a mapping at the top level, found a list; write the configuration "
        "as keys and values (version: 1, handlers: ...)"
    )


# --- each class of validation error, with the message a user sees ------------------------------


def test_unknown_top_level_key_suggests() -> None:
    """A misspelt section name gets a did-you-mean."""
    assert _error({"handler": {}}) == (
        "key handler: expected one of the keys of a configuration (version, formatters, "
        "filters, handlers, loggers, root, incremental, disable_existing_loggers, "
        "hftlogging), found 'handler'; did you mean 'handlers'?"
    )


def test_misspelt_handler_option_is_caught_from_the_signature(tmp_path: Path) -> None:
    """Handler options are checked against the class's __init__ before anything is
    applied; a misspelt one lists the options and suggests the right one."""
    path = _write(tmp_path, """
        handlers:
          file:
            class: logging.handlers.RotatingFileHandler
            filename: app.log
            maxbytes: 1000
    """)
    assert _error(path) == (
        f"{path}, key handlers.file.maxbytes: expected an option of "
        "logging.handlers.RotatingFileHandler (backupCount, delay, encoding, errors, "
        "filename, maxBytes, mode, level, formatter, filters), found 'maxbytes'; "
        "did you mean 'maxBytes'?"
    )


def test_misspelt_class_name_suggests() -> None:
    """A class that cannot be imported gets the closest known class."""
    assert _error({"handlers": {"h": {"class": "logging.RotatingFileHandler"}}}) == (
        "key handlers.h.class: expected an importable class, found "
        "'logging.RotatingFileHandler' (logging has no 'RotatingFileHandler'); "
        "did you mean 'logging.handlers.RotatingFileHandler'?"
    )
    assert _error({"filters": {"f": {"()": "hftlogging.filters.LogTypeFiltr"}}}) == (
        "key filters.f.(): expected an importable class, found "
        "'hftlogging.filters.LogTypeFiltr' (hftlogging.filters has no 'LogTypeFiltr'); "
        "did you mean 'hftlogging.filters.LogTypeFilter'?"
    )


def test_wrong_type_names_expected_and_found_with_yaml_hint(tmp_path: Path) -> None:
    """A YAML boolean where a string is expected explains YAML's yes/no rule."""
    path = _write(tmp_path, """
        handlers:
          h: {class: logging.StreamHandler}
          f: {class: logging.FileHandler, filename: x.log, mode: yes}
    """)
    assert _error(path) == (
        f"{path}, key handlers.f.mode: expected a string, found true (a boolean); "
        "YAML reads yes/no/on/off/true/false as booleans: quote the value"
    )


def test_choice_option_lists_choices(tmp_path: Path) -> None:
    """An option with a fixed set of values (fsync) lists them."""
    path = _write(tmp_path, """
        handlers:
          audit: {class: hftlogging.handlers.JSONAuditHandler, filename: a.jsonl,
                  fsync: sometimes}
    """)
    assert _error(path) == (
        f"{path}, key handlers.audit.fsync: expected one of 'always', 'batch', 'never', "
        "found 'sometimes'; write one of those"
    )


def test_references_between_sections_are_checked() -> None:
    """Formatter, filter and handler names must be configured; misspellings are suggested."""
    msg = _error({
        "formatters": {"text": {"format": "%(message)s"}},
        "filters": {"redact": {"()": "hftlogging.filters.RedactFilter"}},
        "handlers": {"out": {"class": "logging.StreamHandler", "formatter": "txt",
                             "filters": ["redcat"]}},
        "root": {"handlers": ["otu"]},
    })
    assert msg == (
        "3 problems:\n"
        "  key handlers.out.formatter: expected the name of a configured formatter (text), "
        "found 'txt'; did you mean 'text'?\n"
        "  key handlers.out.filters[0]: expected the name of a configured filter (redact), "
        "found 'redcat'; did you mean 'redact'?\n"
        "  key root.handlers[0]: expected the name of a configured handler (out), found "
        "'otu'; did you mean 'out'?"
    )


def test_level_names_are_checked() -> None:
    """A misspelt level suggests the right one."""
    assert _error({"loggers": {"app": {"level": "WARN1NG"}}}) == (
        "key loggers.app.level: expected a level name (DEBUG, INFO, WARNING, ERROR, "
        "CRITICAL), found 'WARN1NG'; did you mean 'WARNING'?"
    )


def test_filter_given_class_instead_of_factory() -> None:
    """dictConfig ignores 'class' on a filter (it would build a pass-all Filter): refused
    with the fix."""
    assert _error({"filters": {"m": {"class": "hftlogging.filters.LogTypeFilter"}}}) == (
        "key filters.m.class: expected '()' naming the filter's class (dictConfig builds "
        "filters with '()'), found 'class'; write  (): hftlogging.filters.LogTypeFilter"
    )


def test_filter_values_are_checked_by_building_the_filter() -> None:
    """A filter's own checks run at validation, with the key path of the option."""
    assert _error({"filters": {"m": {"()": "hftlogging.filters.LogTypeFilter",
                                     "types": ["metrik"]}}}) == (
        "key filters.m.types: expected log types among text, metric, audit, found "
        "'metrik'; did you mean 'metric'?"
    )


def test_required_option_missing() -> None:
    """A handler missing a required option says which."""
    assert _error({"handlers": {"f": {"class": "logging.FileHandler"}}}) == (
        "key handlers.f: expected option 'filename' (required by logging.FileHandler), "
        "found none; add filename:"
    )


def test_unwritable_paths_are_refused_before_applying(tmp_path: Path) -> None:
    """A FileHandler in a missing directory, or a directory where a file is, is refused
    at validation (stdlib would fail half-way through dictConfig)."""
    blocker = tmp_path / "blocker"
    blocker.write_text("")
    missing = tmp_path / "missing" / "x.log"
    assert _error({"handlers": {"f": {"class": "logging.FileHandler",
                                      "filename": str(missing)}}}) == (
        f"key handlers.f.filename: expected an existing directory for '{missing}' "
        f"(FileHandler does not create directories), found none at '{missing.parent}'; "
        "create the directory first"
    )
    assert _error({"handlers": {"c": {
        "class": "hftlogging.handlers.ComponentRotatingFileHandler",
        "directory": str(blocker / "logs")}}}) == (
        f"key handlers.c.directory: expected a directory for '{blocker / 'logs'}', found a "
        f"file at '{blocker}'; move the file or choose another path"
    )


def test_hftlogging_section_is_validated() -> None:
    """The library's own section: unknown keys and invalid values are reported with
    their key path."""
    assert _error({"hftlogging": {"queue": {"capacty": 10}}}).startswith(
        "key hftlogging.queue.capacty: expected an option of hftlogging.handlers.QueueHandler "
        "(audit_wait_ms, batch_size, "
    )
    assert _error({"hftlogging": {"queue": {"overflow": "drop_all"}}}) == (
        "key hftlogging.queue.overflow: expected one of 'drop_newest', 'drop_oldest', "
        "'block', 'discard_below', found 'drop_all'; did you mean 'drop_oldest'?"
    )
    assert _error({"hftlogging": {"redact": {"extra_key": ["pin"]}}}) == (
        "key hftlogging.redact.extra_key: expected an option of the redaction settings "
        "(extra_keys, keys, mask, match, max_depth, enabled), found 'extra_key'; "
        "did you mean 'extra_keys'?"
    )
    assert _error({"hftlogging": {"qeue": {}}}) == (
        "key hftlogging.qeue: expected one of the keys of the hftlogging section (queue, "
        "redact, global_context, latency_sample_every, max_latency_us, warning_threshold_us), "
        "found 'qeue'; "
        "did you mean 'queue'?"
    )


def test_invalid_format_string() -> None:
    """A format string stdlib would reject is reported with the format."""
    assert _error({"formatters": {"f": {"format": "%(message"}}}) == (
        "key formatters.f.format: expected a valid '%'-style format, found '%(message' "
        "(Invalid format '%(message' for '%' style); write the format in the '%' style or "
        "change style"
    )


def test_non_identifier_option_is_reported() -> None:
    """dictConfig silently drops keys that are not identifiers: reported instead."""
    assert _error({"handlers": {"h": {"class": "logging.StreamHandler",
                                      "max-bytes": 1}}}) == (
        "key handlers.h.max-bytes: expected an option name made of letters, digits and "
        "underscores, found 'max-bytes' (dictConfig would silently ignore it); rename it"
    )


def test_queue_cannot_feed_a_queue() -> None:
    """A queue behind a queue is refused."""
    assert _error({"handlers": {
        "q1": {"class": "hftlogging.handlers.QueueHandler", "handlers": ["q2"]},
        "q2": {"class": "hftlogging.handlers.QueueHandler", "handlers": []},
    }}) == (
        "key handlers.q1.handlers[0]: expected output handlers behind a queue, found "
        "another queue 'q2'"
    )


# --- applying -------------------------------------------------------------------------------------


def test_invalid_config_leaves_running_configuration_untouched(logger_name: str) -> None:
    """configure(A), then an invalid B: B is rejected before anything changes, and
    records still flow through A's very handler objects."""
    hftlogging.configure(_queue_config(logger_name))
    cap = logging._handlers["cap"]  # type: ignore[attr-defined]
    queue = logging._handlers["q"]  # type: ignore[attr-defined]
    bad = _queue_config(logger_name)
    bad["handlers"]["cap"]["levle"] = "INFO"
    with pytest.raises(ConfigError, match="did you mean 'level'"):
        hftlogging.configure(bad)
    assert logging._handlers["cap"] is cap  # type: ignore[attr-defined]
    assert logging.getLogger(logger_name).handlers == [queue]
    hftlogging.get_logger(logger_name).info("still flowing")
    hftlogging.shutdown()
    assert cap.messages() == ["still flowing"]


def test_failure_while_building_restores_previous_configure(logger_name: str) -> None:
    """An error only building a handler reveals (a port taken between the check, which
    builds it too, and the build) restores the configuration configure() applied before;
    records keep flowing to it."""
    calls = []

    def port_taken(**_: Any) -> logging.Handler:
        calls.append(1)
        if len(calls) == 1:  # the check's build: the port is still free
            return logging.NullHandler()
        raise OSError("cannot bind 127.0.0.1:9: address in use")

    hftlogging.configure(_queue_config(logger_name))
    bad = _queue_config(logger_name, bad={"()": port_taken})
    with pytest.raises(ConfigError) as e:
        hftlogging.configure(bad)
    assert str(e.value) == (
        "key handlers.bad: expected what dictConfig can build, found Unable to configure "
        "handler 'bad': cannot bind 127.0.0.1:9: address in use; correct that value (the "
        "previous configuration runs again)"
    )
    hftlogging.get_logger(logger_name).info("after the failed attempt")
    hftlogging.shutdown()
    cap = logging._handlers["cap"]  # type: ignore[attr-defined]
    assert cap.messages() == ["after the failed attempt"]


def test_failure_while_building_restores_foreign_configuration(logger_name: str) -> None:
    """When logging was set up by other means, a failed apply puts the same handler
    objects back on the same loggers."""
    def boom(**_: Any) -> logging.Handler:
        raise OSError("disk on fire")

    own = CaptureHandler()
    own.set_name(f"own-{logger_name}")
    lg = logging.getLogger(logger_name)
    lg.addHandler(own)
    lg.setLevel(logging.INFO)
    with pytest.raises(ConfigError, match="disk on fire"):
        hftlogging.configure({"handlers": {"bad": {"()": boom}},
                              "root": {"handlers": ["bad"]}})
    assert lg.handlers == [own]
    lg.info("still mine")
    assert own.messages() == ["still mine"]


def test_reconfigure_drains_the_old_queue_first(logger_name: str) -> None:
    """Records queued under A are written by A's handler before B replaces it."""
    hftlogging.configure(_queue_config(logger_name))
    cap = logging._handlers["cap"]  # type: ignore[attr-defined]
    log = hftlogging.get_logger(logger_name)
    for i in range(500):
        log.info("r %d", i)
    hftlogging.configure(_queue_config(logger_name))
    assert len(cap) == 500


def test_queue_and_redact_settings_apply_to_every_entry(logger_name: str, tmp_path: Path) -> None:
    """hftlogging.queue sets defaults of every QueueHandler; hftlogging.redact those of
    every RedactFilter; an entry's own value wins."""
    out = tmp_path / "out.log"
    cfg = _queue_config(logger_name)
    cfg["hftlogging"] = {"queue": {"capacity": 77, "batch_size": 8},
                         "redact": {"extra_keys": ["pin"], "mask": "<hidden>"}}
    cfg["filters"] = {"redact": {"()": "hftlogging.filters.RedactFilter"}}
    cfg["formatters"] = {"f": {"()": "hftlogging.formatters.ContextFormatter"}}
    cfg["handlers"]["q"]["handlers"] = ["file"]
    cfg["handlers"]["q"]["batch_size"] = 16
    cfg["handlers"]["file"] = {"class": "logging.FileHandler", "filename": str(out),
                               "filters": ["redact"], "formatter": "f"}
    applied = hftlogging.configure(cfg)
    assert applied["handlers"]["q"]["capacity"] == 77
    assert applied["handlers"]["q"]["batch_size"] == 16
    assert hftlogging.stats()["capacity"] == 77
    hftlogging.get_logger(logger_name).info("card", card_pin="1234", api_key="k")
    hftlogging.shutdown()
    line = out.read_text()
    assert "1234" not in line
    assert "card_pin=<hidden> api_key=<hidden>" in line


def test_redaction_can_be_switched_off(logger_name: str) -> None:
    """hftlogging.redact.enabled: false turns every RedactFilter into a pass-through."""
    cfg = _queue_config(logger_name)
    cfg["hftlogging"] = {"redact": {"enabled": False}}
    cfg["filters"] = {"redact": {"()": "hftlogging.filters.RedactFilter"}}
    cfg["handlers"]["cap"]["filters"] = ["redact"]
    hftlogging.configure(cfg)
    hftlogging.get_logger(logger_name).info("x", token="visible")
    hftlogging.shutdown()
    cap = logging._handlers["cap"]  # type: ignore[attr-defined]
    assert cap[0].context == {"token": "visible"}


def test_existing_loggers_stay_enabled(logger_name: str) -> None:
    """Unlike bare dictConfig, configure() does not disable loggers created before it
    unless the file asks for it."""
    early = logging.getLogger(f"{logger_name}.early")
    hftlogging.configure(_queue_config(logger_name))
    assert early.disabled is False


def test_overrides_are_merged_before_validation(logger_name: str) -> None:
    """overrides= is merged deep over the loaded configuration, then validated."""
    applied = hftlogging.configure(
        _queue_config(logger_name),
        overrides={"handlers": {"q": {"capacity": 32}}},
    )
    assert applied["handlers"]["q"]["capacity"] == 32
    with pytest.raises(ConfigError, match=r"key handlers\.q\.capacity: expected an integer"):
        hftlogging.configure(_queue_config(logger_name),
                             overrides={"handlers": {"q": {"capacity": "lots"}}})


def test_yaml_file_end_to_end(tmp_path: Path, logger_name: str) -> None:
    """A YAML file with env expansion configures a working pipeline."""
    path = _write(tmp_path, f"""
        version: 1
        formatters:
          f: {{(): hftlogging.formatters.ContextFormatter, fmt: "%(levelname)s %(message)s"}}
        handlers:
          q: {{class: hftlogging.handlers.QueueHandler, handlers: [file]}}
          file: {{class: logging.FileHandler, filename: "${{LOGDIR}}/app.log", formatter: f}}
        loggers:
          {logger_name}: {{level: INFO, handlers: [q], propagate: false}}
    """)
    hftlogging.configure(path, env={"LOGDIR": str(tmp_path)})
    log = hftlogging.get_logger(logger_name)
    log.debug("hidden")
    log.info("shown")
    hftlogging.shutdown()
    assert (tmp_path / "app.log").read_text() == "INFO shown\n"


def test_stdlib_queue_handler_keys_need_python_312() -> None:
    """stdlib's QueueHandler with dictConfig's 3.12 keys: refused with the alternative on
    older Pythons, accepted (and routed through to its handlers) from 3.12."""
    import sys

    cfg = {
        "handlers": {"q": {"class": "logging.handlers.QueueHandler", "handlers": ["out"]},
                     "out": {"class": "logging.StreamHandler"}},
        "root": {"handlers": ["q"]},
    }
    if sys.version_info < (3, 12):
        assert _error(cfg) == (
            "key handlers.q.class: expected hftlogging.handlers.QueueHandler (the keys of "
            "stdlib's QueueHandler need Python 3.12+), found 'logging.handlers.QueueHandler' "
            f"on Python {sys.version_info[0]}.{sys.version_info[1]}; use "
            "hftlogging.handlers.QueueHandler"
        )
        return
    plan = prepare(cfg, env={})
    rows = [r for r in hconfig.routes(plan) if r.log_type == "text" and r.level == 30]
    assert rows[0].handlers == ["out"]
