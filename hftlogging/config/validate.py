"""Validation: every section, key, class, option, level, reference and path of a
configuration, checked before anything is applied; problems are collected and raised
together, each with its file and key.
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
import logging
import logging.handlers
import os
import sys
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from hftlogging import lifecycle, monitor
from hftlogging.config.annotation import accepts, coerce, expected_types, matches, type_names
from hftlogging.config.messages import describe_found, key_path, suggest
from hftlogging.config.plan import HandlerSpec, Plan
from hftlogging.config.source import TOP_KEYS, plain
from hftlogging.exceptions import ConfigError, Found, describe, show
from hftlogging.filters import RedactFilter, to_level
from hftlogging.handlers.queue import QueueHandler
from hftlogging.options import check_path

__all__ = ["CHECK_CLOSE_TIMEOUT_S", "Validator"]

_QUEUE_CLASSES = ("hftlogging.handlers.QueueHandler", "hftlogging.handlers.queue.QueueHandler")
_SETTINGS_KEYS = ("queue", "redact", "global_context", "max_latency_us", "warning_threshold_us")
# Caller-side latency thresholds of the hftlogging: section (microseconds).
_THRESHOLD_KEYS = ("max_latency_us", "warning_threshold_us")
_FORMATTER_KEYS = ("class", "format", "datefmt", "style", "validate", "defaults")
_HANDLER_COMMON = ("class", "()", "level", "formatter", "filters", ".")
_LOGGER_KEYS = ("level", "handlers", "filters", "propagate")
_STDLIB_QUEUE_KEYS = ("queue", "listener", "handlers", "respect_handler_level")
_ROOT_KEYS = ("level", "handlers", "filters")
# Every key of the hftlogging: section: its own, and the self-monitoring ones.
_ALL_SETTINGS_KEYS = ("queue", "redact", "global_context", *monitor.SETTINGS_KEYS)
# QueueHandler options that describe one handler and cannot be defaults for every queue.
_QUEUE_OWN = ("queue", "handlers", "level")
# Option values known only from the handler's documentation (the classes check them too,
# but only when they are built, which is after the running configuration is gone).
_CHOICES: dict[tuple[str, str], tuple[str, ...]] = {
    ("JSONAuditHandler", "fsync"): ("always", "batch", "never"),
    ("QueueHandler", "overflow"): ("drop_newest", "drop_oldest", "block", "discard_below"),
}
_REDACT_CLASSES = ("hftlogging.filters.RedactFilter",)

# Class paths suggested when a name cannot be imported at all.
_BOOL = "write true or false"
_PERMISSIONS = "change its permissions or choose another path"

_KNOWN_CLASSES = (
    "logging.StreamHandler", "logging.FileHandler", "logging.NullHandler", "logging.Filter",
    "logging.Formatter", "logging.handlers.RotatingFileHandler",
    "logging.handlers.TimedRotatingFileHandler", "logging.handlers.WatchedFileHandler",
    "logging.handlers.SysLogHandler", "logging.handlers.MemoryHandler",
    "logging.handlers.SocketHandler", "logging.handlers.HTTPHandler",
    "hftlogging.handlers.QueueHandler", "hftlogging.handlers.ComponentRotatingFileHandler",
    "hftlogging.handlers.JSONAuditHandler", "hftlogging.handlers.PrometheusHandler",
    "hftlogging.filters.LogTypeFilter", "hftlogging.filters.LevelRangeFilter",
    "hftlogging.filters.TagFilter", "hftlogging.filters.RedactFilter",
    "hftlogging.formatters.ContextFormatter", "hftlogging.formatters.JSONFormatter",
    "hftlogging.console.ConsoleFormatter", "hftlogging.testing.CaptureHandler",
)


def _import_dotted(name: str) -> Any:
    """Import ``pkg.module.Attr`` as dictConfig does; raise ImportError/AttributeError."""
    parts = name.split(".")
    used = parts.pop(0)
    found = importlib.import_module(used)
    for frag in parts:
        used += "." + frag
        try:
            found = getattr(found, frag)
        except AttributeError:
            importlib.import_module(used)
            found = getattr(found, frag)
    return found


def _public_names(module_path: str) -> list[str]:
    try:
        mod = importlib.import_module(module_path)
    except Exception:
        return []
    names = list(getattr(mod, "__all__", None) or [n for n in dir(mod) if not n.startswith("_")])
    return [f"{module_path}.{n}" for n in names]


class Validator:
    """Collects every problem of a configuration, then raises them together."""

    def __init__(self, cfg: dict[str, Any], source: str | None) -> None:
        self.cfg = cfg
        self.source = source
        self.errors: list[ConfigError] = []
        self.handler_specs: dict[str, HandlerSpec] = {}
        self.filter_objects: dict[str, Any] = {}
        self.settings_section: dict[str, Any] = {}
        self.sections: dict[str, dict[str, Any]] = {}

    # -- reporting --------------------------------------------------------------------------

    def fail(self, path: Sequence[Any], msg: str) -> None:
        self.errors.append(ConfigError(msg, path=self.source, key=key_path(path) or None))

    @contextlib.contextmanager
    def guard(self, path: Sequence[Any]) -> Iterator[None]:
        """Turn an exception raised while checking ``path`` into a collected error."""
        try:
            yield
        except ConfigError as e:
            sub = [*path, e.key] if e.key else list(path)
            self.fail(sub, e.message)
        except Exception as e:
            self.fail(path, describe(None, "options it can be built with",
                                     Found(f"{type(e).__name__}: {e}"),
                                     "correct the options the error names"))

    def mapping(self, value: Any, path: Sequence[Any], what: str) -> dict[str, Any] | None:
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.fail(path, describe(None, f"{what} (a mapping)", Found(describe_found(value)),
                                     "write it as keys and values, or leave it out"))
            return None
        return value

    def unknown_keys(
        self, entry: Mapping[str, Any], allowed: Sequence[str], path: Sequence[Any], what: str
    ) -> None:
        for key in entry:
            if key not in allowed:
                self.fail([*path, key], describe(
                    None, f"one of the keys of {what} ({', '.join(allowed)})", key,
                    suggest(key, allowed, "remove it")))

    def resolve(self, name: Any, path: Sequence[Any], base: type | None) -> Any:
        """Import a class or factory named in the configuration; None after an error."""
        if callable(name):
            return name
        if not isinstance(name, str) or not name.strip():
            self.fail(path, describe(None, "a dotted class name", Found(describe_found(name)),
                                     "name a class such as logging.StreamHandler"))
            return None
        try:
            found = _import_dotted(name)
        except Exception as e:
            module_path = name.rpartition(".")[0]
            candidates = [*_KNOWN_CLASSES, *_public_names(module_path)] if module_path \
                else list(_KNOWN_CLASSES)
            hint = suggest(name, candidates, "")
            if not hint:
                last = name.rpartition(".")[2]
                same = [c for c in candidates if c.rpartition(".")[2] == last]
                hint = f"did you mean {same[0]!r}?" if same else \
                    "correct the name or install the module that defines it"
            reason = str(e)
            if module_path:
                try:
                    importlib.import_module(module_path)
                    reason = f"{module_path} has no {name.rpartition('.')[2]!r}"
                except Exception:
                    reason = str(e)
            self.fail(path, describe(None, "an importable class", Found(f"{name!r} ({reason})"),
                                     hint))
            return None
        if base is not None and isinstance(found, type) and not issubclass(found, base):
            self.fail(path, describe(None, f"a subclass of {base.__module__}.{base.__qualname__}",
                                     name, "name such a class"))
            return None
        return found

    def level(self, value: Any, path: Sequence[Any]) -> int:
        try:
            return to_level(value, "")
        except ConfigError as e:
            self.fail(path, e.message)
            return logging.NOTSET

    def names(
        self, value: Any, path: Sequence[Any], defined: Mapping[str, Any], what: str
    ) -> list[str]:
        """A list of names that must be defined in another section."""
        if value is None:
            return []
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list):
            self.fail(path, describe(None, f"a list of {what} names", Found(describe_found(value)),
                                     f"write [{what}1, {what}2]"))
            return []
        out = []
        for i, name in enumerate(value):
            if not isinstance(name, str):
                if what == "filter" and (callable(name) or isinstance(name, logging.Filter)):
                    continue
                if what == "handler" and isinstance(name, logging.Handler):
                    continue
                self.fail([*path, i], describe(None, f"a {what} name",
                                               Found(describe_found(name)),
                                               f"name a {what} of the {what}s: section"))
                continue
            if name not in defined:
                known = ", ".join(defined) or "none"
                self.fail([*path, i], describe(
                    None, f"the name of a configured {what} ({known})", name,
                    suggest(name, list(defined), f"define it under {what}s: or remove it")))
                continue
            out.append(name)
        return out

    def options(
        self,
        factory: Any,
        options: dict[str, Any],
        path: Sequence[Any],
        what: str,
        *,
        skip: Sequence[str] = (),
        also: Sequence[str] = (),
    ) -> dict[str, Any]:
        """Check keyword options against ``factory``'s signature; coerce ``${VAR}`` values.

        ``also`` are the keys dictConfig itself takes beside the options (``level``...):
        named in the message and offered as "did you mean".
        """
        try:
            sig = inspect.signature(factory)
        except (TypeError, ValueError):
            return {k: plain(coerce(v, None)) for k, v in options.items()}
        params = {
            n: p for n, p in sig.parameters.items()
            if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and n not in skip
        }
        open_ended = any(p.kind is p.VAR_KEYWORD for p in sig.parameters.values())
        out: dict[str, Any] = {}
        for key, given in options.items():
            if not isinstance(key, str) or not key.isidentifier():
                self.fail([*path, key], describe(
                    None, "an option name made of letters, digits and underscores",
                    Found(f"{show(key)} (dictConfig would silently ignore it)"), "rename it"))
                continue
            param = params.get(key)
            if param is None:
                if not open_ended:
                    known = [*sorted(params), *(a for a in also if a not in params)]
                    self.fail([*path, key], describe(
                        None, f"an option of {what} ({', '.join(known) or 'none'})", key,
                        suggest(key, known, "remove it")))
                out[key] = plain(coerce(given, None))
                continue
            types = expected_types(param)
            value = coerce(given, types)
            out[key] = plain(value)
            if isinstance(value, str) and value.startswith(("ext://", "cfg://")):
                continue
            if types is not None and not matches(value, types):
                fix = f"write {type_names(types)}"
                if isinstance(value, bool) and str in types:
                    fix = "YAML reads yes/no/on/off/true/false as booleans: quote the value"
                self.fail([*path, key], describe(None, type_names(types),
                                                 Found(describe_found(value)), fix))
                continue
            choices = _CHOICES.get((getattr(factory, "__name__", ""), key))
            if choices and value not in choices:
                self.fail([*path, key], describe(
                    None, f"one of {', '.join(repr(c) for c in choices)}",
                    Found(describe_found(value)), suggest(value, choices, "write one of those")))
        for name, p in params.items():
            if p.default is p.empty and name not in options:
                self.fail(path, describe(None, f"option {name!r} (required by {what})",
                                         Found("none"), f"add {name}:"))
        return out

    # -- sections ---------------------------------------------------------------------------

    def run(self) -> Plan:
        cfg = self.cfg
        if "logging" in cfg:
            # The logging: format is translated only when it stands alone.
            self.fail(["logging"], (
                "expected either dictConfig keys or a logging: section (the logging: format: "
                "backends, routing_rules, global_context, hft_settings), found both; keep "
                "logging: alone in its file, or run hftlogging convert on it and merge the "
                "output into this one"
            ))
        self.unknown_keys({k: v for k, v in cfg.items() if k != "logging"}, TOP_KEYS, [],
                          "a configuration")
        version = cfg.get("version", 1)
        if version != 1:
            self.fail(["version"], describe(None, "1", Found(describe_found(version)),
                                            "write version: 1"))
        if cfg.get("incremental"):
            self.fail(["incremental"], describe(
                None, "false (hftlogging.configure applies whole configurations)",
                Found("true"), "use logging.config.dictConfig for incremental level changes"))
        dis = coerce(cfg.get("disable_existing_loggers", False), (bool,))
        if not isinstance(dis, bool):
            self.fail(["disable_existing_loggers"], describe(None, "true or false",
                                                             Found(describe_found(dis)), _BOOL))
        settings = self.settings(cfg.get("hftlogging"))
        self.settings_section = settings
        formatters = self.mapping(cfg.get("formatters"), ["formatters"], "formatters") or {}
        filters = self.mapping(cfg.get("filters"), ["filters"], "filters") or {}
        handlers = self.mapping(cfg.get("handlers"), ["handlers"], "handlers") or {}
        self.sections = {"formatters": formatters, "filters": filters, "handlers": handlers}
        out_formatters = {n: self.formatter(n, e) for n, e in formatters.items()}
        out_filters = {n: self.filter(n, e, settings) for n, e in filters.items()}
        out_handlers = {n: self.handler(n, e) for n, e in handlers.items()}
        loggers = self.mapping(cfg.get("loggers"), ["loggers"], "loggers") or {}
        out_loggers = {
            n: self.logger(["loggers", n], e, handlers, filters, _LOGGER_KEYS)
            for n, e in loggers.items()
        }
        out_root = None
        if "root" in cfg:
            out_root = self.logger(["root"], cfg.get("root"), handlers, filters, _ROOT_KEYS)
        self.check_queues(out_handlers)
        if self.errors:
            self.raise_errors()
        config: dict[str, Any] = {
            "version": 1,
            "disable_existing_loggers": dis,
            "formatters": out_formatters,
            "filters": out_filters,
            "handlers": out_handlers,
            "loggers": out_loggers,
        }
        if out_root is not None:
            config["root"] = out_root
        expanded = plain(cfg)
        queue_names = [n for n, s in self.handler_specs.items() if s.is_queue]
        return Plan(
            config=config, expanded=expanded, source=self.source, settings=settings,
            queue_names=queue_names, handlers=self.handler_specs, filters=self.filter_objects,
        )

    def raise_errors(self) -> None:
        if len(self.errors) == 1:
            raise self.errors[0]
        raise ConfigError.combined(self.errors, path=self.source)

    def settings(self, value: Any) -> dict[str, Any]:
        section = self.mapping(value, ["hftlogging"], "the hftlogging settings")
        if not section:
            return {"queue": {}, "redact": {}, "global_context": {}}
        self.unknown_keys(section, _ALL_SETTINGS_KEYS, ["hftlogging"], "the hftlogging section")
        n_errors = len(self.errors)
        extra = self.settings_extra(section)
        queue = self.mapping(section.get("queue"), ["hftlogging", "queue"], "queue settings") or {}
        before = len(self.errors)
        queue = self.options(QueueHandler, queue, ["hftlogging", "queue"],
                             "hftlogging.handlers.QueueHandler", skip=_QUEUE_OWN)
        if len(self.errors) == before:
            with self.guard(["hftlogging", "queue"]):
                QueueHandler(handlers=[], **{k: v for k, v in queue.items()
                                             if k != "fallback"}).close()
        if len(self.errors) > before:
            queue = {}  # reported here once, not again at every queue handler
        redact = self.mapping(section.get("redact"), ["hftlogging", "redact"],
                              "redaction settings") or {}
        enabled = redact.get("enabled", True)
        if not isinstance(enabled, bool):
            self.fail(["hftlogging", "redact", "enabled"],
                      describe(None, "true or false", Found(describe_found(enabled)), _BOOL))
        redact = {k: v for k, v in redact.items() if k != "enabled"}
        before = len(self.errors)
        redact = self.options(RedactFilter, redact, ["hftlogging", "redact"],
                              "the redaction settings", also=("enabled",))
        if len(self.errors) == before:
            with self.guard(["hftlogging", "redact"]):
                RedactFilter(**redact)
        if len(self.errors) > before:
            redact = {}
        monitor_settings: dict[str, Any] = {}
        if len(self.errors) == n_errors:  # the thresholds were reported once already
            with self.guard(["hftlogging"]):
                monitor_settings = monitor.check_settings(section)
        return {"queue": queue, "redact": redact, "redact_enabled": enabled is not False,
                **extra, "monitor": monitor_settings}

    def settings_extra(self, section: Mapping[str, Any]) -> dict[str, Any]:
        """``global_context`` and the latency thresholds of the ``hftlogging:`` section."""
        out: dict[str, Any] = {}
        fields = self.mapping(section.get("global_context"), ["hftlogging", "global_context"],
                              "the global context fields") or {}
        for k in fields:
            if not isinstance(k, str) or not k:
                self.fail(["hftlogging", "global_context", k],
                          describe(None, "a field name (a string)", Found(describe_found(k)),
                                   "quote the name"))
        out["global_context"] = plain(fields)
        for key in _THRESHOLD_KEYS:
            if section.get(key) is None:
                continue
            v = coerce(section[key], (float,))
            if not matches(v, (float,)) or v <= 0:
                self.fail(["hftlogging", key],
                          describe(None, "a number of microseconds > 0", Found(describe_found(v)),
                                   "write a positive number or leave it out"))
                continue
            out[key] = v
        warn, top = out.get("warning_threshold_us"), out.get("max_latency_us")
        if warn is not None and top is not None and warn > top:
            self.fail(["hftlogging", "warning_threshold_us"],
                      f"expected at most max_latency_us ({top}), found {warn}; lower "
                      "warning_threshold_us or raise max_latency_us")
        return out

    def formatter(self, name: str, entry: Any) -> dict[str, Any]:
        path = ["formatters", name]
        entry = self.mapping(entry, path, "a formatter")
        if entry is None:
            return {}
        if "()" in entry:
            factory = self.resolve(entry["()"], [*path, "()"], None)
            rest = {k: v for k, v in entry.items() if k not in ("()", ".")}
            if factory is None:
                return dict(entry)
            if "format" in rest and "fmt" not in rest and accepts(factory, "fmt", "format"):
                rest["fmt"] = rest.pop("format")  # dictConfig does the same on a TypeError
            before = len(self.errors)
            opts = self.options(factory, rest, path, str(entry["()"]))
            out = {"()": entry["()"], **opts}
            if "." in entry:
                out["."] = plain(entry["."])
            if len(self.errors) == before:
                with self.guard(path):
                    factory(**opts)
            return out
        self.unknown_keys(entry, _FORMATTER_KEYS, path, "a formatter")
        entry = plain(entry)
        cls = self.resolve(entry.get("class", "logging.Formatter"), [*path, "class"],
                           logging.Formatter)
        for key in ("format", "datefmt"):
            v = entry.get(key)
            if v is not None and not isinstance(v, str):
                self.fail([*path, key], describe(None, "a string", Found(describe_found(v)),
                                                 "quote the value"))
        style = entry.get("style", "%")
        if style not in ("%", "{", "$"):
            self.fail([*path, "style"], describe(None, "'%', '{' or '$'",
                                                 Found(describe_found(style)),
                                                 "write one of those"))
        elif cls is not None:
            args: list[Any] = [entry.get("format"), entry.get("datefmt"), style]
            if "validate" in entry:
                args.append(entry["validate"])
            with self.guard([*path, "format"]):
                try:
                    cls(*args)
                except ValueError as e:
                    msg = describe(None, f"a valid {style!r}-style format",
                                   Found(f"{entry.get('format')!r} ({e})"),
                                   f"write the format in the {style!r} style or change style")
                    raise ConfigError(msg) from e
        return dict(entry)

    def filter(self, name: str, entry: Any, settings: Mapping[str, Any]) -> dict[str, Any]:
        path = ["filters", name]
        entry = self.mapping(entry, path, "a filter")
        if entry is None:
            return {}
        if "class" in entry and "()" not in entry:
            self.fail(
                [*path, "class"],
                f"expected '()' naming the filter's class (dictConfig builds filters with "
                f"'()'), found 'class'; write  (): {entry['class']}",
            )
            return {}
        if "()" not in entry:
            self.unknown_keys(entry, ("()", "name"), path, "a filter")
            nm = entry.get("name", "")
            if not isinstance(nm, str):
                self.fail([*path, "name"], describe(None, "a logger name",
                                                    Found(describe_found(nm)), "quote the name"))
            self.filter_objects[name] = logging.Filter(nm if isinstance(nm, str) else "")
            return dict(entry)
        factory = self.resolve(entry["()"], [*path, "()"], None)
        rest = {k: v for k, v in entry.items() if k not in ("()", ".")}
        if factory is None:
            return dict(entry)
        target = entry["()"]
        if isinstance(factory, type) and issubclass(factory, RedactFilter):
            if not settings.get("redact_enabled", True):
                self.filter_objects[name] = logging.Filter()
                return {"()": "logging.Filter"}
            for k, v in settings.get("redact", {}).items():
                rest.setdefault(k, v)
        before = len(self.errors)
        opts = self.options(factory, rest, path, str(target))
        out = {"()": target, **opts}
        if "." in entry:
            out["."] = plain(entry["."])
        if len(self.errors) == before:
            with self.guard(path):
                self.filter_objects[name] = factory(**opts)
        return out

    def handler(self, name: str, entry: Any) -> dict[str, Any]:
        path = ["handlers", name]
        entry = self.mapping(entry, path, "a handler")
        if entry is None:
            return {}
        if "class" not in entry and "()" not in entry:
            self.fail(path, describe(None, "'class' naming the handler's class", Found("none"),
                                     "add class: logging.StreamHandler or another handler"))
            return dict(entry)
        key = "()" if "()" in entry else "class"
        class_path = entry[key]
        cls = self.resolve(class_path, [*path, key], logging.Handler if key == "class" else None)
        out, level, flt = self.handler_refs(path, entry)
        rest = {k: v for k, v in entry.items() if k not in _HANDLER_COMMON}
        if cls is None:
            return {**out, key: class_path, **plain(rest)}
        is_queue = bool(getattr(cls, "hft_fast_sink", False))
        targets = self.queue_targets(name, path, rest) if is_queue else []
        # Python 3.12+ dictConfig gives stdlib's QueueHandler keys of its own.
        stdlib_queue = {}
        if not is_queue and isinstance(cls, type) and \
                issubclass(cls, logging.handlers.QueueHandler):
            stdlib_queue = {k: rest.pop(k) for k in _STDLIB_QUEUE_KEYS if k in rest}
            targets = self.names(stdlib_queue.get("handlers"), [*path, "handlers"],
                                 self.sections["handlers"], "handler")
            if sys.version_info < (3, 12):
                self.fail([*path, key], describe(
                    None, "hftlogging.handlers.QueueHandler (the keys of stdlib's QueueHandler "
                    "need Python 3.12+)",
                    Found(f"{class_path!r} on Python {sys.version_info[0]}."
                          f"{sys.version_info[1]}"),
                    "use hftlogging.handlers.QueueHandler"))
        before = len(self.errors)
        opts = self.options(cls, rest, path, str(class_path),
                            skip=("queue", "level") if is_queue or stdlib_queue else ("level",),
                            also=("level", "formatter", "filters"))
        opts.update(plain(stdlib_queue))
        # Built (or probed) only when the options passed, so one problem is reported once.
        if len(self.errors) == before:
            self.probe_handler(cls, opts, path, is_queue=is_queue)
        self.handler_specs[name] = HandlerSpec(
            name=name, cls=cls, class_path=str(class_path), level=level, filters=flt,
            options=opts, targets=targets,
        )
        # Queue handlers go to dictConfig as factories: the same on every Python (3.12+
        # treats ``class: <QueueHandler subclass>`` specially and 3.12.0-3.12.x drop keys).
        return {**out, "()" if is_queue else key: class_path, **opts}

    def handler_refs(
        self, path: list[Any], entry: dict[str, Any]
    ) -> tuple[dict[str, Any], int, list[str]]:
        """The keys dictConfig handles itself: level, formatter, filters and ``.``."""
        out: dict[str, Any] = {}
        level = logging.NOTSET
        if entry.get("level") is not None:
            level = self.level(entry["level"], [*path, "level"])
            out["level"] = entry["level"]
        fmt = entry.get("formatter")
        formatters = self.sections["formatters"]
        if fmt is not None:
            if not isinstance(fmt, str) or fmt not in formatters:
                known = ", ".join(formatters) or "none"
                self.fail([*path, "formatter"], describe(
                    None, f"the name of a configured formatter ({known})",
                    Found(describe_found(fmt)),
                    suggest(fmt, list(formatters), "define it under formatters: or remove it")))
            out["formatter"] = fmt
        flt = self.names(entry.get("filters"), [*path, "filters"],
                         self.sections["filters"], "filter")
        if entry.get("filters") is not None:
            out["filters"] = entry["filters"]
        if "." in entry:
            out["."] = plain(entry["."])
        return out, level, flt

    def queue_targets(self, name: str, path: list[Any], rest: dict[str, Any]) -> list[str]:
        """Apply the ``hftlogging.queue`` defaults; check the handlers behind the queue."""
        for k, v in self.settings_section.get("queue", {}).items():
            rest.setdefault(k, v)
        handlers = self.sections["handlers"]
        targets = self.names(rest.get("handlers"), [*path, "handlers"], handlers, "handler")
        if name in targets:
            self.fail([*path, "handlers"], describe(
                None, "other handlers' names", Found("the queue's own name"),
                "remove it: a queue cannot feed itself"))
        fb = coerce(rest.get("fallback"), (str, type(None)))
        if isinstance(fb, str):
            self.names([fb], [*path, "fallback"], handlers, "handler")
        return targets

    def probe_handler(
        self, cls: Any, opts: dict[str, Any], path: list[Any], *, is_queue: bool
    ) -> None:
        """Check what can be checked without side effects: a queue is built and closed."""
        if is_queue:
            with self.guard(path):
                probe = dict(opts)
                probe["handlers"] = []
                probe.pop("fallback", None)
                cls(**probe).close()
            return
        before = len(self.errors)
        self.check_paths(cls, opts, path)
        checker = getattr(cls, "check_config", None)
        if callable(checker):
            with self.guard(path):
                checker(dict(opts))
        elif len(self.errors) == before and not (
            isinstance(cls, type) and issubclass(cls, logging.handlers.QueueHandler)
        ):  # stdlib's queue handler is built by dictConfig's own rules (3.12+)
            self.build_and_discard(cls, opts, path)

    def build_and_discard(self, factory: Any, opts: dict[str, Any], path: list[Any]) -> None:
        """Build a handler the way dictConfig will, check it is one, and undo the build.

        For classes and factories without a side-effect-free ``check_config``: what
        ``configure()`` would fail on, ``check`` fails on too. A file handler is built with
        ``delay=True`` (no file is created); the result is closed and forgotten.
        """
        if isinstance(factory, type) and not issubclass(factory, logging.Handler):
            self.fail(path, describe(
                None, "a logging.Handler subclass or a factory returning a handler",
                Found(f"the class {_dotted(factory)}"),
                "name a handler class under 'class' or a factory under '()'"))
            return
        kwargs = dict(opts)
        if accepts(factory, "delay", "\x00"):
            kwargs["delay"] = True
        before = set(logging._handlers)  # type: ignore[attr-defined]
        with self.guard(path):
            built = factory(**kwargs)
            try:
                if not isinstance(built, logging.Handler):
                    msg = describe(None, f"{_dotted(factory)} to build a logging.Handler",
                                   Found(describe_found(built)),
                                   "name a handler class or factory")
                    raise ConfigError(msg)
            finally:
                _discard(built, before)

    def check_paths(self, cls: Any, opts: Mapping[str, Any], path: Sequence[Any]) -> None:
        """Refuse files and directories that cannot be written, before anything changes."""
        for key in ("filename", "directory"):
            value = opts.get(key)
            if not isinstance(value, (str, os.PathLike)):
                continue
            text = os.fspath(value)
            before = len(self.errors)
            with self.guard(path):
                check_path(key, text)
                if key == "filename" and isinstance(opts.get("directory"), (str, os.PathLike)):
                    check_path(key, os.path.join(os.fspath(opts["directory"]), text))
            if len(self.errors) > before:
                continue
            if key == "filename" and ("{" in text or "directory" in opts):
                continue  # a template, resolved by the handler
            p = Path(text)
            problem = _unwritable(p, directory=key == "directory")
            if problem is None and isinstance(cls, type) and issubclass(cls, logging.FileHandler) \
                    and not p.parent.is_dir():
                problem = describe(
                    None, f"an existing directory for {str(p)!r} ({cls.__name__} does not "
                    "create directories)", Found(f"none at {str(p.parent)!r}"),
                    "create the directory first")
            if problem:
                self.fail([*path, key], problem)

    def logger(
        self,
        path: list[Any],
        entry: Any,
        handlers: Mapping[str, Any],
        filters: Mapping[str, Any],
        allowed: Sequence[str],
    ) -> dict[str, Any]:
        entry = self.mapping(entry, path, "a logger")
        if entry is None:
            return {}
        self.unknown_keys(entry, allowed, path, "a logger")
        if entry.get("level") is not None:
            self.level(entry["level"], [*path, "level"])
        self.names(entry.get("handlers"), [*path, "handlers"], handlers, "handler")
        self.names(entry.get("filters"), [*path, "filters"], filters, "filter")
        out = {k: plain(v) for k, v in entry.items()}
        if "propagate" in entry:
            out["propagate"] = prop = coerce(entry["propagate"], (bool,))
            if not isinstance(prop, bool):
                self.fail([*path, "propagate"],
                          describe(None, "true or false", Found(describe_found(prop)), _BOOL))
        return out

    def check_queues(self, out_handlers: Mapping[str, Any]) -> None:
        """A queue behind a queue would hand records to a second listener: refuse it."""
        for name, spec in self.handler_specs.items():
            for t in spec.targets:
                target = self.handler_specs.get(t)
                if target is not None and target.is_queue:
                    idx = spec.targets.index(t)
                    self.fail(
                        ["handlers", name, "handlers", idx],
                        f"expected output handlers behind a queue, found another queue {t!r}",
                    )


#: How long check waits for a handler it built (only to check it) to close.
CHECK_CLOSE_TIMEOUT_S = 5.0


def _dotted(obj: Any) -> str:
    return f"{getattr(obj, '__module__', '?')}.{getattr(obj, '__qualname__', repr(obj))}"


def _discard(built: Any, names_before: set[str]) -> None:
    """Close a handler built only to check it; leave logging as it was."""
    if isinstance(built, logging.Handler):
        # Bounded: a handler whose close() never returns must not hang check or configure.
        lifecycle.close_handlers([built], CHECK_CLOSE_TIMEOUT_S)
    with logging._lock:  # type: ignore[attr-defined]
        for name in set(logging._handlers) - names_before:  # type: ignore[attr-defined]
            if logging._handlers.get(name) is built:  # type: ignore[attr-defined]
                del logging._handlers[name]  # type: ignore[attr-defined]
        refs = logging._handlerList  # type: ignore[attr-defined]
        refs[:] = [r for r in refs if r() is not built]


def _unwritable(path: Path, *, directory: bool) -> str | None:
    """Why ``path`` cannot be written (created if missing), or None."""
    target = path if directory else path.parent
    if not directory and path.exists():
        if path.is_dir():
            return describe(None, "a file path", Found(f"a directory at {str(path)!r}"),
                            "name a file in that directory")
        if not os.access(path, os.W_OK):
            return describe(None, "a writable file", Found(f"{str(path)!r} not writable"),
                            _PERMISSIONS)
    probe = target if str(target) else Path(".")
    while not probe.exists():
        if probe.parent == probe:
            break
        probe = probe.parent
    if probe.exists() and not probe.is_dir():
        return describe(None, f"a directory for {str(target)!r}",
                        Found(f"a file at {str(probe)!r}"), "move the file or choose another path")
    if probe.exists() and not os.access(probe, os.W_OK | os.X_OK):
        return describe(None, "a writable directory", Found(f"{str(probe)!r} not writable"),
                        _PERMISSIONS)
    return None


