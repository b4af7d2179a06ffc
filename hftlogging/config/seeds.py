"""The ``logging:`` configuration format of the in-house systems teams migrate from.

Such a file has one top-level key, ``logging:``, holding ``environment``, ``backends``
(console, file, prometheus, audit; each with ``enabled``, ``min_level`` or ``level``,
and its options either flat or under ``config:``), ``routing_rules``, ``global_context``
and ``hft_settings``. :func:`translate` turns it into the equivalent dictConfig: one
hftlogging queue, one handler per enabled backend, the routing rules as a
:class:`~hftlogging.routing.RuleFilter` on each handler, ``global_context`` and the
``hft_settings`` in the ``hftlogging:`` section. :func:`hftlogging.configure` and
``hftlogging check`` do it on their own; ``hftlogging convert FILE`` prints the result
as commented YAML (see :func:`hftlogging.config.rendering.render_yaml`).

``${VAR}`` is expanded only in the parts that are used: a disabled backend may name a
variable that is not set.

Reading the format and converting it are one concept here and one pass: each key is
checked where it is translated, so that an error names the key of the file the user
wrote. The text of a translation (``convert``, ``check``) is in
:mod:`hftlogging.config.rendering`.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Mapping
from typing import Any

from hftlogging.config.annotation import coerce
from hftlogging.config.messages import describe_found, key_path, suggest
from hftlogging.config.source import TOP_KEYS, default_env, expand, plain
from hftlogging.exceptions import ConfigError, Found, describe
from hftlogging.filters import LOG_TYPES, to_level
from hftlogging.routing import RULE_KEYS, environment_name, log_types

__all__ = [
    "BACKEND_KINDS",
    "HFT_SETTINGS",
    "NOT_SHIPPED",
    "SEED_KEYS",
    "Translation",
    "is_seed_config",
    "translate",
]

#: The keys of the ``logging:`` section.
SEED_KEYS = ("environment", "backends", "routing_rules", "global_context", "hft_settings")
#: The backends translated, and the log types each can take.
BACKEND_KINDS: dict[str, frozenset[str]] = {
    "console": frozenset({"text"}),
    "file": frozenset({"text", "audit"}),
    "prometheus": frozenset({"metric"}),
    "audit": frozenset({"audit"}),
}
#: Backends of the in-house systems this package does not ship, and what to use instead.
NOT_SHIPPED = {
    "datadog": (
        "hftlogging.handlers.OTLPHandler (pip install 'hftlogging[otel]'; the Datadog Agent "
        "receives OTLP) or a custom logging.Handler behind the queue"
    ),
    "elasticsearch": (
        "hftlogging.handlers.OTLPHandler to an OpenTelemetry collector that exports to "
        "Elasticsearch, hftlogging.handlers.SyslogHandler to a log shipper, or a custom "
        "logging.Handler behind the queue"
    ),
    "slack": (
        "a custom logging.Handler behind the queue that posts CRITICAL records to the "
        "webhook (docs/handlers.md shows one)"
    ),
    "histogram": (
        "the prometheus backend: hftlogging's PrometheusHandler keeps histograms itself "
        "(log.histogram, log.latency, log.timer)"
    ),
}
_BACKEND_COMMON = ("enabled", "min_level", "level", "config")
# Per backend: option → what it becomes (documentation for the "did you mean" list).
_BACKEND_OPTIONS = {
    "console": ("color", "colored", "colored_output", "structured"),
    "file": ("file_path", "path", "format", "rotation", "max_size_mb", "backup_count"),
    "prometheus": ("push_gateway", "push_gateway_url", "job_name", "prefix", "batch_size",
                   "flush_interval", "push_interval", "port", "addr"),
    "audit": ("file_path", "path", "format"),
}
#: Every ``hft_settings`` key: where it goes (a key path in the dictConfig) or None
#: (ignored), and why.
HFT_SETTINGS: dict[str, tuple[tuple[str, ...] | None, str]] = {
    "ring_buffer_size": (("hftlogging", "queue", "capacity"),
                         "most records queued at once (the ring buffer's size)"),
    "batch_size": (("hftlogging", "queue", "batch_size"),
                   "most records the listener takes per batch"),
    "flush_interval_ms": (("hftlogging", "queue", "flush_interval_ms"),
                          "longest a record waits for its batch to fill"),
    "max_latency_us": (("hftlogging", "max_latency_us"),
                       "caller-side latency threshold: above it the self-monitoring "
                       "reports a breach"),
    "warning_threshold_us": (("hftlogging", "warning_threshold_us"),
                             "caller-side latency above which the self-monitoring warns"),
    "max_retry_attempts": (("hftlogging", "queue", "failure_threshold"),
                           "consecutive failures of a handler before its records go to "
                           "the fallback (stderr) while it is retried with back-off"),
    "enable_failover": (None,
                        "failover is always on: a failing handler is isolated, its records "
                        "go to the fallback (stderr) and the failure is counted in "
                        "hftlogging.stats(); the other handlers go on"),
    "max_memory_mb": (None,
                      "the queue is bounded by record count (ring_buffer_size → capacity), "
                      "not by bytes"),
    "gc_threshold": (None, "hftlogging does not tune Python's garbage collector"),
}
#: The limits of the in-house systems' configuration validation.
MAX_LATENCY_LIMIT_US = 5000
MIN_RING_BUFFER_SIZE = 1000
_MIB = 1024 * 1024
_BOOL = "write true or false"
_OTHER_BACKEND = (
    "for another destination write a logging.Handler and add it behind the queue of the "
    "translated configuration (hftlogging convert)"
)
_TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s | %(context)s"


@dataclasses.dataclass
class Translation:
    """A file in the ``logging:`` format, translated.

    Attributes:
        config: the dictConfig dict (``hftlogging:`` section included), values expanded.
        notes: a comment per key path of ``config``: what it was translated from.
        ignored: (key path in the file, reason) for what has no equivalent here.
        warnings: what the file's routing loses (a log type no backend receives).
        environment: the environment that selects the routing rules.
        origin: dotted key in ``config`` → dotted key in the file, for error messages.
        source: the file, or None.
    """

    config: dict[str, Any]
    notes: dict[tuple[str, ...], str]
    ignored: list[tuple[str, str]]
    warnings: list[str]
    environment: str
    origin: dict[str, str]
    source: str | None


def is_seed_config(cfg: object) -> bool:
    """Whether ``cfg`` is in the ``logging:`` format: a ``logging:`` mapping, no dictConfig keys."""
    return (
        isinstance(cfg, Mapping) and isinstance(cfg.get("logging"), Mapping)
        and not any(k in cfg for k in TOP_KEYS)
    )


class _Translator:
    def __init__(self, cfg: Mapping[str, Any], source: str | None,
                 env: Mapping[str, str]) -> None:
        self.cfg = cfg
        self.source = source
        self.env = env
        self.errors: list[ConfigError] = []
        self.notes: dict[tuple[str, ...], str] = {}
        self.ignored: list[tuple[str, str]] = []
        self.origin: dict[str, str] = {}
        self.warnings: list[str] = []
        self.environment_note = ""
        self.out: dict[str, Any] = {
            "version": 1,
            "disable_existing_loggers": False,
            "hftlogging": {"queue": {}},
            "formatters": {},
            "filters": {},
            "handlers": {},
            "root": {},
        }

    # -- reporting ----------------------------------------------------------------------

    def fail(self, path: list[Any], msg: str) -> None:
        self.errors.append(ConfigError(msg, path=self.source, key=key_path(path)))

    def note(self, where: tuple[str, ...], text: str, seed_path: list[Any] | None = None) -> None:
        self.notes[where] = text
        if seed_path is not None:
            self.origin[".".join(where)] = key_path(seed_path)

    def expand(self, value: Any, path: list[Any]) -> Any:
        try:
            return expand(value, self.env, self.source, path)
        except ConfigError as e:
            self.errors.append(e)
            return None

    def scalar(self, value: Any) -> Any:
        """A ``${VAR}`` value read as YAML would read it (a number, a boolean)."""
        return coerce(value, None)

    # -- the file ---------------------------------------------------------------------------

    def run(self) -> Translation:
        for key in self.cfg:
            if key != "logging":
                self.ignored.append((str(key), "not part of the logging configuration"))
        section = self.cfg["logging"]
        for key in section:
            if key not in SEED_KEYS:
                self.fail(["logging", key], describe(
                    None, f"one of the keys of the logging section ({', '.join(SEED_KEYS)})",
                    key, suggest(key, SEED_KEYS, "remove it")))
        environment = self.environment(section)
        backends = self.backends(section.get("backends"))
        rules = self.rules(section, backends, environment)
        self.hft_settings(section.get("hft_settings"))
        self.global_context(section.get("global_context"))
        if not self.errors:
            self.handlers(backends, rules, environment)
        if self.errors:
            self.raise_errors()
        return Translation(self.out, self.notes, self.ignored, self.warnings, environment,
                           self.origin, self.source)

    def raise_errors(self) -> None:
        if len(self.errors) == 1:
            raise self.errors[0]
        raise ConfigError.combined(self.errors, path=self.source)

    def environment(self, section: Mapping[str, Any]) -> str:
        """``$HFTLOGGING_ENV`` or ``$ENVIRONMENT`` when set to a name, else the file's."""
        for var in ("HFTLOGGING_ENV", "ENVIRONMENT"):
            value = self.env.get(var, "")
            if value and os.sep not in value and not value.endswith((".yaml", ".yml")):
                told = section.get("environment")
                also = f"; the file says {told!r}" if told is not None else ""
                self.environment_note = f"from ${var}{also}"
                return environment_name(value)
        value = section.get("environment", "development")
        value = self.scalar(self.expand(value, ["logging", "environment"]))
        if not isinstance(value, str) or not value.strip():
            self.fail(["logging", "environment"], describe(
                None, "an environment name such as dev or prod", Found(describe_found(value)),
                "write environment: dev or another name"))
            return "development"
        self.environment_note = "from the file's environment: (set $ENVIRONMENT to change it)" \
            if "environment" in section else "default (no environment: in the file)"
        return environment_name(value)

    # -- backends ---------------------------------------------------------------------------

    def backends(self, value: Any) -> dict[str, dict[str, Any]]:
        """The enabled backends, expanded: name → {level, options}. Disabled ones are noted."""
        out: dict[str, dict[str, Any]] = {}
        self.all_backends: list[str] = []
        if value is None:
            value = {}
        if not isinstance(value, Mapping):
            self.fail(["logging", "backends"], describe(
                None, "a mapping of backends", Found(describe_found(value)),
                "write backends: {console: {enabled: true}}"))
            return out
        for name, given in value.items():
            path: list[Any] = ["logging", "backends", name]
            entry = given
            self.all_backends.append(str(name))
            if entry is None:
                entry = {}
            if not isinstance(entry, Mapping):
                self.fail(path, describe(None, "a backend (a mapping)",
                                         Found(describe_found(entry)),
                                         "write the backend's keys under its name"))
                continue
            enabled = self.scalar(self.expand(entry.get("enabled", True), [*path, "enabled"]))
            if not isinstance(enabled, bool):
                self.fail([*path, "enabled"],
                          describe(None, "true or false", Found(describe_found(enabled)), _BOOL))
                continue
            if not enabled:
                self.ignored.append((key_path(path), "enabled: false (not translated, "
                                     "its ${VAR} references are not read)"))
                continue
            if name not in BACKEND_KINDS:
                instead = NOT_SHIPPED.get(str(name).lower())
                if instead:
                    msg = describe(None, f"a backend hftlogging ships ({', '.join(BACKEND_KINDS)})",
                                   Found(f"{name!r}, not shipped by hftlogging"),
                                   f"use {instead}, or set enabled: false")
                else:
                    msg = describe(None, f"a backend among {', '.join(BACKEND_KINDS)}", name,
                                   suggest(name, list(BACKEND_KINDS), _OTHER_BACKEND))
                self.fail(path, msg)
                continue
            expanded = self.expand(dict(entry), path)
            if expanded is None:
                continue
            spec = self.backend(str(name), expanded, path)
            if spec is not None:
                out[str(name)] = spec
        if not out and not self.errors:
            self.fail(["logging", "backends"], describe(
                None, "at least one enabled backend", Found("none"),
                f"set enabled: true on one of the backends ({', '.join(BACKEND_KINDS)})"))
        return out

    def backend(
        self, name: str, entry: Mapping[str, Any], path: list[Any]
    ) -> dict[str, Any] | None:
        nested = entry.get("config") or {}
        if not isinstance(nested, Mapping):
            self.fail([*path, "config"], describe(
                None, "the backend's options (a mapping)", Found(describe_found(nested)),
                "write the options as keys and values under config:"))
            return None
        options = {k: v for k, v in entry.items() if k not in _BACKEND_COMMON}
        origin = {k: [*path, k] for k in options}
        for k, v in nested.items():
            options[k] = v
            origin[k] = [*path, "config", k]
        known = _BACKEND_OPTIONS[name]
        ok = True
        for k in options:
            if k not in known:
                self.fail(origin[k], describe(
                    None, f"an option of the {name} backend ({', '.join(known)})", k,
                    suggest(k, known, "remove it")))
                ok = False
        if "min_level" in entry and "level" in entry:
            self.fail([*path, "level"], describe(None, "one of min_level and level",
                                                 Found("both"), "keep one"))
            ok = False
        level_key = "min_level" if "min_level" in entry else "level"
        level = None
        if entry.get(level_key) is not None:
            try:
                to_level(entry[level_key], level_key)
                level = str(entry[level_key]).upper() if isinstance(entry[level_key], str) \
                    else entry[level_key]
            except ConfigError as e:
                self.fail([*path, level_key], e.message)
                ok = False
        if not ok:
            return None
        return {"level": level, "level_path": [*path, level_key], "options": options,
                "origin": origin, "path": path}

    # -- routing rules ------------------------------------------------------------------------

    def rules(self, section: Mapping[str, Any], backends: Mapping[str, Any],
              environment: str) -> dict[str, list[dict[str, Any]]] | None:
        """Backend name → the rules that name it (None: the file has no routing_rules)."""
        value = section.get("routing_rules")
        if value is None:
            return None
        path: list[Any] = ["logging", "routing_rules"]
        value = self.expand(value, path)
        if not isinstance(value, list):
            self.fail(path, describe(None, "a list of rules", Found(describe_found(value)),
                                     "write each rule as a list item"))
            return None
        out: dict[str, list[dict[str, Any]]] = {}
        for i, rule in enumerate(value):
            rpath = [*path, i]
            if not isinstance(rule, Mapping):
                self.fail(rpath, describe(None, "a rule (a mapping)",
                                          Found(describe_found(rule)),
                                          f"write the rule with keys among {', '.join(RULE_KEYS)}"))
                continue
            bad = False
            for key in rule:
                if key not in RULE_KEYS:
                    self.fail([*rpath, key], describe(
                        None, f"one of the keys of a rule ({', '.join(RULE_KEYS)})", key,
                        suggest(key, RULE_KEYS, "remove it")))
                    bad = True
            clean: dict[str, Any] = {}
            if "name" in rule:
                clean["name"] = str(rule["name"])
            if rule.get("log_types") is not None:
                try:
                    clean["log_types"] = log_types(rule["log_types"], "log_types")
                except ConfigError as e:
                    self.fail([*rpath, "log_types"], e.message)
                    bad = True
            for key in ("min_level", "max_level"):
                if rule.get(key) is not None:
                    try:
                        to_level(rule[key], key)
                        clean[key] = rule[key].upper() if isinstance(rule[key], str) \
                            else rule[key]
                    except ConfigError as e:
                        self.fail([*rpath, key], e.message)
                        bad = True
            envs = rule.get("environments")
            if envs is not None:
                if isinstance(envs, str):
                    envs = [envs]
                if not isinstance(envs, list) or not all(isinstance(e, str) for e in envs):
                    self.fail([*rpath, "environments"], describe(
                        None, "a list of environment names", Found(describe_found(envs)),
                        "write environments: [dev, prod]"))
                    bad = True
                else:
                    clean["environments"] = list(envs)
            targets = rule.get("backends")
            if isinstance(targets, str):
                targets = [targets]
            if not isinstance(targets, list) or not targets:
                self.fail([*rpath, "backends"], describe(
                    None, "the list of backends the rule routes to",
                    Found(describe_found(targets)), "write backends: [console, file]"))
                continue
            if bad:
                continue
            for t in targets:
                if t not in self.all_backends:
                    self.fail([*rpath, "backends"], describe(
                        None, "the name of a backend under logging.backends "
                        f"({', '.join(self.all_backends) or 'none'})", t,
                        suggest(t, self.all_backends, "define it under backends: or remove it")))
                elif t in backends:
                    out.setdefault(t, []).append(clean)
        return out

    # -- hft_settings ---------------------------------------------------------------------------

    def hft_settings(self, value: Any) -> None:
        path: list[Any] = ["logging", "hft_settings"]
        if value is None:
            return
        if not isinstance(value, Mapping):
            self.fail(path, describe(None, "a mapping of settings", Found(describe_found(value)),
                                     "write the settings as keys and values"))
            return
        value = self.expand(dict(value), path) or {}
        for key, given in value.items():
            kpath = [*path, key]
            where = HFT_SETTINGS.get(key)
            if where is None:
                self.fail(kpath, describe(
                    None, f"one of the hft_settings ({', '.join(HFT_SETTINGS)})", key,
                    suggest(key, list(HFT_SETTINGS), "remove it")))
                continue
            target, why = where
            v = self.scalar(given)
            if target is None:
                self.ignored.append((key_path(kpath), why))
                continue
            integer = key in ("ring_buffer_size", "batch_size", "max_retry_attempts")
            good = isinstance(v, int) if integer else isinstance(v, (int, float))
            if isinstance(v, bool) or not good or v <= 0:
                kind = "an integer" if integer else "a number"
                self.fail(kpath, describe(None, f"{kind} > 0", Found(describe_found(v)),
                                          "write a positive number"))
                continue
            if key == "max_latency_us" and v > MAX_LATENCY_LIMIT_US:
                self.fail(kpath, f"expected at most {MAX_LATENCY_LIMIT_US} µs (the HFT limit "
                          f"of the configuration validation), found {v}; lower max_latency_us "
                          f"to {MAX_LATENCY_LIMIT_US} or less")
                continue
            if key == "ring_buffer_size" and v < MIN_RING_BUFFER_SIZE:
                self.fail(kpath, f"expected at least {MIN_RING_BUFFER_SIZE} (too small for HFT "
                          f"operations, as the configuration validation says), found {v}; "
                          f"raise ring_buffer_size to {MIN_RING_BUFFER_SIZE} or more")
                continue
            node = self.out
            for part in target[:-1]:
                node = node.setdefault(part, {})
            node[target[-1]] = v
            self.note(target, f"from hft_settings.{key}: {why}", kpath)
        warn = value.get("warning_threshold_us")
        top = value.get("max_latency_us")
        if isinstance(warn, (int, float)) and isinstance(top, (int, float)) and warn > top:
            self.fail([*path, "warning_threshold_us"],
                      f"expected at most max_latency_us ({top}), found {warn}; lower "
                      "warning_threshold_us or raise max_latency_us")

    def global_context(self, value: Any) -> None:
        path: list[Any] = ["logging", "global_context"]
        if value is None:
            return
        if not isinstance(value, Mapping):
            self.fail(path, describe(None, "a mapping of fields", Found(describe_found(value)),
                                     "write the fields as keys and values"))
            return
        fields = plain(self.expand(dict(value), path) or {})
        self.out["hftlogging"]["global_context"] = fields
        self.note(("hftlogging", "global_context"),
                  "from global_context: fields on every record, lowest precedence", path)

    # -- handlers -----------------------------------------------------------------------------

    def handlers(self, backends: Mapping[str, dict[str, Any]],
                 rules: Mapping[str, list[dict[str, Any]]] | None, environment: str) -> None:
        out = self.out
        queue_targets: list[str] = []
        received: set[str] = set()
        text_levels: list[int] = []
        out["filters"]["redact"] = {"()": "hftlogging.filters.RedactFilter"}
        self.note(("filters", "redact"), "added: secrets (api_key, token, ...) are masked")
        audit_backend = "audit" in backends
        for name, spec in backends.items():
            types = set(BACKEND_KINDS[name])
            if rules is None and name == "file" and audit_backend:
                types.discard("audit")
            own_rules = None if rules is None else rules.get(name, [])
            if own_rules is not None and not own_rules:
                self.ignored.append((key_path(spec["path"]),
                                     "no routing rule names it: it would receive nothing"))
                continue
            handler = getattr(self, f"handler_{name}")(name, spec)
            self.note(("handlers", name), f"from {key_path(spec['path'])}")
            filters = [f"{name}_types"]
            out["filters"][f"{name}_types"] = {
                "()": "hftlogging.filters.LogTypeFilter",
                "types": [t for t in LOG_TYPES if t in types],
            }
            what = ("what the backend can take" if rules is not None
                    else "default routing (no routing_rules)")
            self.note(("filters", f"{name}_types"), f"{name}: {what}")
            if own_rules is not None:
                filters.append(f"{name}_rules")
                out["filters"][f"{name}_rules"] = {
                    "()": "hftlogging.routing.RuleFilter",
                    "environment": environment,
                    "rules": own_rules,
                }
                names = ", ".join(r.get("name", "?") for r in own_rules)
                self.note(("filters", f"{name}_rules"),
                          f"routing_rules naming {name}: {names}")
                self.note(("filters", f"{name}_rules", "environment"),
                          self.environment_note)
            filters.append("redact")
            handler["filters"] = filters
            if spec["level"] is not None:
                handler["level"] = spec["level"]
                self.note(("handlers", name, "level"),
                          f"from {key_path(spec['level_path'])}", spec["level_path"])
            out["handlers"][name] = handler
            queue_targets.append(name)
            text_levels.extend(self.text_levels(spec, types, own_rules, environment))
            for t in ("metric", "audit"):
                if t in types and (own_rules is None or _routes(own_rules, t, environment)) \
                        and (spec["level"] is None
                             or to_level(spec["level"], "level") <= logging.INFO):
                    received.add(t)
        out["handlers"] = {"queue": {"class": "hftlogging.handlers.QueueHandler",
                                     "handlers": queue_targets}, **out["handlers"]}
        self.note(("handlers", "queue"), "one queue in front of every backend: callers only "
                  "enqueue, the backends run on the listener thread")
        lowest = min(text_levels) if text_levels else logging.WARNING
        out["root"] = {"level": logging.getLevelName(max(lowest, logging.DEBUG)),
                       "handlers": ["queue"]}
        self.note(("root", "level"), "the lowest level any backend takes as text: lower "
                  "levels cost one call at the call site")
        if not out["hftlogging"]["queue"]:
            del out["hftlogging"]["queue"]
        if "audit" not in received:
            self.warnings.append(
                f"audit records reach no backend in environment {environment}: add a rule "
                "with log_types: [AUDIT] routing to file (or an audit backend)")
        if "metric" not in received:
            self.warnings.append(
                f"metric records reach no backend in environment {environment}: enable the "
                "prometheus backend (and route log_types: [METRIC] to it)")

    def text_levels(self, spec: Mapping[str, Any], types: set[str],
                    own_rules: list[dict[str, Any]] | None, environment: str) -> list[int]:
        """The lowest text level the backend takes, as a one-item list (empty: no text)."""
        if "text" not in types:
            return []
        floor = to_level(spec["level"], "level") if spec["level"] is not None else logging.NOTSET
        if own_rules is None:
            return [floor]
        found = []
        for r in own_rules:
            envs = r.get("environments")
            if envs is not None and environment not in {environment_name(e) for e in envs}:
                continue
            if r.get("log_types") is not None and "text" not in r["log_types"]:
                continue
            low = to_level(r["min_level"], "min_level") if r.get("min_level") is not None else 0
            found.append(max(floor, low))
        return [min(found)] if found else []

    def opt(self, spec: Mapping[str, Any], where: tuple[str, ...], key: str, text: str) -> None:
        self.note(where, f"from {key_path(spec['origin'][key])}: {text}"
                  if key in spec["origin"] else text,
                  spec["origin"].get(key))

    def handler_console(self, name: str, spec: Mapping[str, Any]) -> dict[str, Any]:
        o = spec["options"]
        formatter: dict[str, Any] = {"()": "hftlogging.console.ConsoleFormatter",
                                     "stream": "stdout"}
        for key in ("color", "colored", "colored_output"):
            if key in o:
                v = self.scalar(o[key])
                if not isinstance(v, bool):
                    self.fail(spec["origin"][key],
                              describe(None, "true or false", Found(describe_found(v)), _BOOL))
                    continue
                formatter["color"] = v
                self.opt(spec, ("formatters", name, "color"), key, "coloured level names")
        if "structured" in o:
            v = self.scalar(o["structured"])
            if v is False:
                formatter["fmt"] = "%(asctime)s %(levelname)-8s %(name)s: %(message)s"
                self.opt(spec, ("formatters", name, "fmt"), "structured",
                         "structured: false, the context fields are not shown")
            elif v is not True:
                self.fail(spec["origin"]["structured"],
                          describe(None, "true or false", Found(describe_found(v)), _BOOL))
            else:
                self.ignored.append((key_path(spec["origin"]["structured"]),
                                     "structured: true is what the console does: the context "
                                     "fields follow the message as key=value"))
        self.out["formatters"][name] = formatter
        return {"class": "logging.StreamHandler", "stream": "ext://sys.stdout",
                "formatter": name}

    def file_path(self, spec: Mapping[str, Any], default: str) -> tuple[str, str, str]:
        o = spec["options"]
        key = "file_path" if "file_path" in o else "path"
        path = o.get(key, default)
        if not isinstance(path, str) or not path:
            self.fail(spec["origin"].get(key, spec["path"]),
                      describe(None, "a file path", Found(describe_found(path)),
                               "write a path such as logs/hft.log"))
            path = default
        return os.path.dirname(path) or ".", os.path.basename(path), key

    def handler_file(self, name: str, spec: Mapping[str, Any]) -> dict[str, Any]:
        o = spec["options"]
        directory, filename, key = self.file_path(spec, "logs/hft.log")
        h: dict[str, Any] = {"class": "hftlogging.handlers.ComponentRotatingFileHandler",
                             "directory": directory, "filename": filename}
        self.opt(spec, ("handlers", name, "directory"), key, "the file's directory")
        self.opt(spec, ("handlers", name, "filename"), key,
                 "one file (add {worker} to the name when several processes share it)")
        fmt = self.scalar(o.get("format", "text"))
        if fmt == "json":
            self.out["formatters"][name] = {"()": "hftlogging.formatters.JSONFormatter"}
        elif fmt == "text":
            self.out["formatters"][name] = {"()": "hftlogging.formatters.ContextFormatter",
                                            "fmt": _TEXT_FORMAT}
        else:
            self.fail(spec["origin"]["format"],
                      describe(None, "'text' or 'json'", Found(describe_found(fmt)),
                               "write one of those"))
        if "format" in o:
            self.opt(spec, ("formatters", name), "format", f"format: {fmt}")
        h["formatter"] = name
        rotation = self.scalar(o.get("rotation", True))
        size = self.scalar(o.get("max_size_mb", 100))
        if isinstance(size, bool) or not isinstance(size, (int, float)) or size < 0:
            self.fail(spec["origin"].get("max_size_mb", spec["path"]),
                      describe(None, "a size in MB >= 0", Found(describe_found(size)),
                               "write a number such as 100"))
            size = 100
        if rotation is False:
            h["max_bytes"] = 0
            self.opt(spec, ("handlers", name, "max_bytes"), "rotation", "rotation: false")
        elif rotation is True or rotation in ("daily", "hourly", "size"):
            h["max_bytes"] = int(size * _MIB)
            self.opt(spec, ("handlers", name, "max_bytes"), "max_size_mb",
                     f"max_size_mb {size} (100 when not given) in bytes")
            if rotation in ("daily", "hourly"):
                h["when"] = rotation
                self.opt(spec, ("handlers", name, "when"), "rotation",
                         f"rotation: {rotation}, also by time")
        else:
            self.fail(spec["origin"]["rotation"],
                      describe(None, "true, false, 'daily' or 'hourly'",
                               Found(describe_found(rotation)), "write one of those"))
        if "backup_count" in o:
            h["backup_count"] = self.scalar(o["backup_count"])
            self.opt(spec, ("handlers", name, "backup_count"), "backup_count", "rotated files kept")
        return h

    def handler_audit(self, name: str, spec: Mapping[str, Any]) -> dict[str, Any]:
        o = spec["options"]
        directory, filename, key = self.file_path(spec, "logs/audit.log")
        fmt = self.scalar(o.get("format", "json"))
        if fmt != "json":
            self.fail(spec["origin"]["format"],
                      describe(None, "'json' (the audit trail is hash-chained JSON lines)",
                               Found(describe_found(fmt)), "remove format or write json"))
        h = {"class": "hftlogging.handlers.JSONAuditHandler",
             "filename": os.path.join(directory, filename) if directory != "." else filename,
             "fsync": "batch", "hash_chain": True}
        self.opt(spec, ("handlers", name, "filename"), key,
                 "JSON lines, hash-chained: check with hftlogging audit verify")
        self.note(("handlers", name, "fsync"), "one fsync per batch of records")
        return h

    def handler_prometheus(self, name: str, spec: Mapping[str, Any]) -> dict[str, Any]:
        o = spec["options"]
        h: dict[str, Any] = {"class": "hftlogging.handlers.PrometheusHandler"}
        prefix = self.scalar(o.get("prefix", "hft_"))
        if not isinstance(prefix, str) or not prefix.strip("_"):
            self.fail(spec["origin"].get("prefix", spec["path"]),
                      describe(None, "a metric name prefix such as 'hft_'",
                               Found(describe_found(prefix)),
                               "write letters, digits and underscores"))
            prefix = "hft_"
        h["namespace"] = prefix.rstrip("_")
        self.opt(spec, ("handlers", name, "namespace"), "prefix",
                 f"series are named {prefix.rstrip('_')}_<metric>")
        for key in ("push_gateway", "push_gateway_url"):
            if o.get(key) is not None:
                h["pushgateway"] = str(o[key])
                self.opt(spec, ("handlers", name, "pushgateway"), key,
                         "pushed with pushadd on a thread of the handler")
        h["job"] = str(o.get("job_name", "hft_arbitrage"))
        self.opt(spec, ("handlers", name, "job"), "job_name", "the Pushgateway job")
        for key in ("flush_interval", "push_interval"):
            if key in o:
                v = self.scalar(o[key])
                if isinstance(v, bool) or not isinstance(v, (int, float)) or v <= 0:
                    self.fail(spec["origin"][key],
                              describe(None, "seconds > 0", Found(describe_found(v)),
                                       "write a positive number"))
                    continue
                h["push_interval_s"] = v
                self.opt(spec, ("handlers", name, "push_interval_s"), key,
                         "seconds between pushes")
        if "batch_size" in o:
            self.ignored.append((key_path(spec["origin"]["batch_size"]),
                                 "series are updated on the listener thread record by record "
                                 "and pushed every push_interval_s: there is no batch to size"))
        for key in ("port", "addr"):
            if key in o:
                h[key] = self.scalar(o[key]) if key == "port" else str(o[key])
                self.opt(spec, ("handlers", name, key), key, "the /metrics endpoint")
        if h.get("pushgateway") is None and h.get("port") is None:
            self.warnings.append(
                f"{key_path(spec['path'])} has no push_gateway and no port: the "
                "metrics stay in the process; add port: 9108 to serve /metrics for scraping")
        return h


def _routes(rules: list[dict[str, Any]], log_type: str, environment: str) -> bool:
    """Whether one of ``rules`` sends ``log_type`` records (logged at INFO) in ``environment``."""
    for r in rules:
        envs = r.get("environments")
        if envs is not None and environment not in {environment_name(e) for e in envs}:
            continue
        if r.get("log_types") is not None and log_type not in r["log_types"]:
            continue
        low = to_level(r["min_level"], "min_level") if r.get("min_level") is not None else 0
        high = to_level(r["max_level"], "max_level") if r.get("max_level") is not None \
            else logging.CRITICAL
        if low <= logging.INFO <= high:
            return True
    return False


def translate(
    cfg: Mapping[str, Any], *, source: str | None = None, env: Mapping[str, str] | None = None
) -> Translation:
    """Translate a configuration in the ``logging:`` format into dictConfig.

    Args:
        cfg: the parsed file (a mapping with ``logging:``), not yet expanded.
        source: the file, for messages.
        env: environment for ``${VAR}`` (default: :func:`hftlogging.config.default_env`).

    Returns:
        The translation; its ``config`` goes to :func:`hftlogging.configure` as is.

    Raises:
        ConfigError: every problem, naming the file and the key in it.
    """
    environ = default_env() if env is None else env
    return _Translator(cfg, source, environ).run()
