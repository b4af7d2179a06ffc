"""Configuration: YAML or dict → validated ``logging.config.dictConfig``, and the queue wiring.

What :func:`configure` does, in order:

1. Reads the file (a shipped name such as ``"production"``, a path, or a dict), with
   ``yaml.safe_load`` only: a tag that would construct a Python object is refused, and so
   is a document that is too large or expands beyond a bound through aliases.
2. Expands ``${VAR}`` and ``${VAR:-default}`` in string values.
3. Validates everything: the sections, every key (with "did you mean" for misspelt ones),
   class names, each handler's, filter's and formatter's keyword options against its
   signature, value types, levels, references between sections, the ``hftlogging:``
   section, and that the files can be written. Filters and formatters are built once to
   check their values.
4. Only then applies it with :func:`logging.config.dictConfig`, after draining the
   running queues; an error that only building a handler can reveal (a port in use)
   restores the previous configuration.
5. Starts the queue listeners.
"""

from __future__ import annotations

import contextlib
import dataclasses
import difflib
import importlib
import importlib.util
import inspect
import logging
import logging.config
import logging.handlers
import os
import re
import sys
import threading
import time
import typing
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from hftlogging import footprint, lifecycle, monitor
from hftlogging import strict as _strict
from hftlogging.exceptions import ConfigError
from hftlogging.filters import RedactFilter, TagFilter, to_level
from hftlogging.global_context import set_configured
from hftlogging.handlers.queue import QueueHandler
from hftlogging.handlers.rotating import component_matcher
from hftlogging.installation import install
from hftlogging.logger import AUDIT_LEVEL, METRIC_LEVEL
from hftlogging.options import check_path
from hftlogging.record import build_record
from hftlogging.routing import ENVIRONMENT_ALIASES, environment_name
from hftlogging.worker import get_worker

__all__ = [
    "MAX_CONFIG_BYTES",
    "MAX_CONFIG_VALUES",
    "Plan",
    "Route",
    "available_configs",
    "configure",
    "default_env",
    "load_config",
    "logger_chain",
    "prepare",
    "routes",
    "setup_development_logging",
    "setup_production_logging",
]

#: Largest configuration file read, in bytes.
MAX_CONFIG_BYTES = 1_000_000
#: Most values a configuration may hold once YAML aliases are expanded.
MAX_CONFIG_VALUES = 100_000

_CONFIG_PACKAGE = "hftlogging.logging_configs"
_QUEUE_CLASSES = ("hftlogging.handlers.QueueHandler", "hftlogging.handlers.queue.QueueHandler")
_TOP_KEYS = (
    "version", "formatters", "filters", "handlers", "loggers", "root", "incremental",
    "disable_existing_loggers", "hftlogging",
)
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

_configure_lock = threading.RLock()


class _State:
    """What :func:`configure` applied last (restored when a later apply fails)."""

    last_applied: Plan | None = None
    #: The named handlers that apply created: tells whether it is still what runs.
    applied_handlers: dict[str, Any] = {}  # noqa: RUF012 - replaced, never mutated


# Class paths suggested when a name cannot be imported at all.
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


# --- sources --------------------------------------------------------------------------------


def _configs_dir() -> Path:
    """The shipped configurations: installed as ``hftlogging.logging_configs``, or, when
    running from a source checkout, the repository's ``logging_configs/``."""
    spec = importlib.util.find_spec(_CONFIG_PACKAGE)
    if spec is not None and spec.submodule_search_locations:
        return Path(next(iter(spec.submodule_search_locations)))
    checkout = Path(__file__).resolve().parent.parent / "logging_configs"
    if (checkout / "production.yaml").is_file():
        return checkout
    msg = "the shipped configurations are missing from the installation"
    raise ConfigError(msg)


def available_configs() -> list[str]:
    """Names of the configurations shipped with the package."""
    return sorted(p.stem for p in _configs_dir().glob("*.yaml"))


def _resolve_source(name_or_path: str | os.PathLike[str]) -> Path:
    text = os.fspath(name_or_path)
    p = Path(text)
    if p.suffix in (".yaml", ".yml") or os.sep in text or p.exists():
        if not p.is_file():
            found = "a directory" if p.is_dir() else "nothing"
            msg = f"expected a configuration file, found {found} at {text!r}"
            raise ConfigError(msg, path=text)
        return p
    shipped = _configs_dir() / f"{text}.yaml"
    if not shipped.is_file():
        names = available_configs()
        msg = (
            f"expected a shipped configuration name ({', '.join(names)}) or a path, "
            f"found {text!r}{_did_you_mean(text, names)}"
        )
        raise ConfigError(msg)
    return shipped


def _read(path: Path, source: str) -> str:
    try:
        size = path.stat().st_size
        if size > MAX_CONFIG_BYTES:
            msg = f"expected a file of at most {MAX_CONFIG_BYTES} bytes, found {size} bytes"
            raise ConfigError(msg, path=source)
        with path.open("rb") as f:
            data = f.read(MAX_CONFIG_BYTES + 1)
    except OSError as e:
        msg = f"cannot read the file: {e.strerror or e}"
        raise ConfigError(msg, path=source) from e
    if len(data) > MAX_CONFIG_BYTES:
        msg = f"expected a file of at most {MAX_CONFIG_BYTES} bytes, found more"
        raise ConfigError(msg, path=source)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        msg = f"expected UTF-8 text, found an invalid byte at offset {e.start}"
        raise ConfigError(msg, path=source) from e


def _parse_yaml(text: str, source: str | None) -> Any:
    """``yaml.safe_load``, with the document's expanded size checked before it is built.

    Building is where an alias bomb explodes: merge keys (``<<: [*a, *a]``) copy the
    merged pairs, so even ``safe_load`` takes exponential time on a small file. The node
    graph is composed first (aliases stay shared there) and measured.
    """
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _check_expansion(node, source)
        _check_duplicate_keys(node, source)
        return loader.construct_document(node)
    except yaml.constructor.ConstructorError as e:
        mark = e.problem_mark
        where = f"line {mark.line + 1}: " if mark is not None else ""
        tag = re.search(r"tag '([^']*)'", str(e.problem))
        found = f"the tag {tag.group(1)!r}" if tag else str(e.problem)
        msg = (
            f"{where}expected plain YAML data (read with yaml.safe_load), found {found}, "
            "which would construct a Python object; remove the tag"
        )
        raise ConfigError(msg, path=source) from e
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(e, "problem", None) or str(e)
        msg = f"expected valid YAML, found a syntax error{where}: {problem}"
        raise ConfigError(msg, path=source) from e
    except RecursionError as e:
        msg = "expected valid YAML, found nesting too deep to read"
        raise ConfigError(msg, path=source) from e
    finally:
        loader.dispose()


def _check_duplicate_keys(root: yaml.Node, source: str | None) -> None:
    """Refuse a mapping that has the same key twice: YAML would keep only the last one.

    Two blocks pasted one after the other (``logging:`` then ``logging:`` again) would
    otherwise lose the first block without a word.
    """
    seen_nodes: set[int] = set()
    stack = [root]
    while stack:
        node = stack.pop()
        if id(node) in seen_nodes:
            continue
        seen_nodes.add(id(node))
        if isinstance(node, yaml.MappingNode):
            first: dict[str, int] = {}
            for key, value in node.value:
                if isinstance(key, yaml.ScalarNode) and key.tag != "tag:yaml.org,2002:merge":
                    line = key.start_mark.line + 1
                    if key.value in first:
                        msg = (
                            f"line {line}: expected each key once in a mapping, found "
                            f"{key.value!r} again (first at line {first[key.value]}); YAML "
                            "would keep only the last one: merge the two"
                        )
                        raise ConfigError(msg, path=source)
                    first[key.value] = line
                stack.append(value)
        elif isinstance(node, yaml.SequenceNode):
            stack.extend(node.value)


def _children(obj: Any) -> list[Any] | None:
    """The children of a container: a YAML node's or a Python value's; None for a leaf."""
    if isinstance(obj, yaml.MappingNode):
        return [x for pair in obj.value for x in pair]
    if isinstance(obj, yaml.SequenceNode):
        return list(obj.value)
    if isinstance(obj, yaml.Node):
        return None
    if isinstance(obj, Mapping):
        return [*obj.keys(), *obj.values()]
    if isinstance(obj, list):
        return obj
    return None


def _check_expansion(data: Any, source: str | None) -> None:
    """Refuse alias bombs ("billion laughs") and self-referencing aliases.

    Works on a composed YAML node graph or on Python data. Aliases share one object, so
    the document is small in memory; walking or building it is what explodes. The
    expanded size is counted with memoisation, in time linear in the distinct objects.
    """
    sizes: dict[int, int] = {}
    active: set[int] = set()

    def size(obj: Any) -> int:
        children = _children(obj)
        if children is None:
            return 1
        key = id(obj)
        known = sizes.get(key)
        if known is not None:
            return known
        if key in active:
            msg = "expected a tree of values, found a YAML alias that refers to its own parent"
            raise ConfigError(msg, path=source)
        active.add(key)
        total = 1
        for child in children:
            total += size(child)
            if total > MAX_CONFIG_VALUES:
                msg = (
                    f"expected at most {MAX_CONFIG_VALUES} values once YAML aliases are "
                    "expanded, found more (an alias bomb?)"
                )
                raise ConfigError(msg, path=source)
        active.discard(key)
        sizes[key] = total
        return total

    try:
        size(data)
    except RecursionError as e:
        msg = "expected a configuration of reasonable depth, found nesting too deep"
        raise ConfigError(msg, path=source) from e


# --- ${VAR} expansion ---------------------------------------------------------------------------

_REF = re.compile(r"\$\$|\$\{([^}]*)\}")
_VAR_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


class _EnvStr(str):
    """A value that was exactly one ``${VAR}``: its type is decided by what the option expects."""

    __slots__ = ()


def _key_path(parts: Sequence[Any]) -> str:
    out = ""
    for p in parts:
        if isinstance(p, int):
            out += f"[{p}]"
            continue
        s = str(p)
        if "." in s or " " in s or not s:
            s = f"'{s}'"
        out = f"{out}.{s}" if out else s
    return out


def _expand(value: Any, env: Mapping[str, str], source: str | None, path: list[Any]) -> Any:
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if _is_dollar_format(path, k, value):
                out[k] = v
            else:
                out[k] = _expand(v, env, source, [*path, k])
        return out
    if isinstance(value, list):
        return [_expand(v, env, source, [*path, i]) for i, v in enumerate(value)]
    if not isinstance(value, str) or "$" not in value:
        return value
    whole = _REF.fullmatch(value)

    def sub(m: re.Match[str]) -> str:
        if m.group(0) == "$$":
            return "$"
        body = m.group(1)
        name, sep, default = body.partition(":-")
        if not _VAR_NAME.match(name):
            msg = (
                f"expected ${{NAME}} or ${{NAME:-default}} with NAME made of letters, digits "
                f"and underscores, found {m.group(0)!r} (write $$ for a literal $)"
            )
            raise ConfigError(msg, path=source, key=_key_path(path))
        found = env.get(name)
        if found is not None:
            return found
        if sep:
            return default
        msg = (
            f"environment variable {name} is not set and {m.group(0)} has no default; "
            f"set {name} or write ${{{name}:-default}}"
        )
        raise ConfigError(msg, path=source, key=_key_path(path))

    result = _REF.sub(sub, value)
    if whole is not None and whole.group(0) != "$$":
        return _EnvStr(result)
    return result


def _is_dollar_format(path: list[Any], key: Any, entry: Mapping[str, Any]) -> bool:
    """``$``-style format strings (``${asctime}``) are formats, not environment references."""
    return (
        len(path) == 2 and path[0] == "formatters" and key in ("format", "fmt")
        and entry.get("style") == "$"
    )


def _yaml_scalar(text: str) -> Any:
    try:
        value = yaml.safe_load(text) if text.strip() else None
    except yaml.YAMLError:
        return text
    if value is None or isinstance(value, (bool, int, float)):
        return value
    return text


def _plain(value: Any) -> Any:
    """Turn ``_EnvStr`` values back into plain strings, deep.

    Only an option's own value is given a type (see :func:`_coerce`); a value nested in a
    mapping (a label value, a worker name such as ``01``) stays the string it was.
    """
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, _EnvStr):
        return str(value)
    return value


# --- loading -----------------------------------------------------------------------------------


def default_env() -> dict[str, str]:
    """``os.environ`` with ``HFTLOGGING_WORKER`` set to :func:`hftlogging.get_worker`."""
    env = dict(os.environ)
    env["HFTLOGGING_WORKER"] = get_worker()
    return env


def _load_raw(
    name_or_path: str | os.PathLike[str] | Mapping[str, Any] | None,
    env: Mapping[str, str] | None,
    overrides: Mapping[str, Any] | None,
) -> tuple[dict[str, Any], str | None, Any]:
    """The configuration, expanded; its file; the translation of a file in the
    ``logging:`` format (None for dictConfig)."""
    source: str | None = None
    environ: Mapping[str, str] = default_env() if env is None else env
    if isinstance(name_or_path, Mapping):
        _check_expansion(name_or_path, None)
        cfg: Any = _copy_tree(name_or_path)
    else:
        path = (_default_source(environ) if name_or_path is None
                else _resolve_source(name_or_path))
        source = str(path)
        cfg = _parse_yaml(_read(path, source), source)
    if not isinstance(cfg, dict):
        msg = f"expected a mapping at the top level, found {_describe(cfg)}"
        raise ConfigError(msg, path=source)
    from hftlogging import seeds  # seeds imports this module

    if seeds.is_seed_config(cfg):
        # Overrides in the same format (a logging: mapping) go in before the translation,
        # others over it. Translated first: ${VAR} is expanded only in the parts used.
        if overrides and "logging" in overrides:
            cfg = _merge(cfg, _copy_tree(overrides))
            overrides = None
        translation = seeds.translate(cfg, source=source, env=environ)
        cfg = translation.config
        if overrides:
            cfg = _merge(cfg, _expand(_copy_tree(overrides), environ, source, []))
        return cfg, source, translation
    if overrides:
        cfg = _merge(cfg, _copy_tree(overrides))
    cfg = _expand(cfg, environ, source, [])
    return cfg, source, None


def _default_source(environ: Mapping[str, str]) -> Path:
    """The configuration named by ``$HFTLOGGING_ENV``, else ``$ENVIRONMENT``, else development.

    The variables take a shipped name, ``dev``/``prod`` (and other cases of those), or a
    path; an unknown name is an error naming the variable it came from.
    """
    for var in ("HFTLOGGING_ENV", "ENVIRONMENT"):
        value = environ.get(var)
        if not value:
            continue
        text = value.strip()
        if os.sep in text or text.endswith((".yaml", ".yml")) or Path(text).is_file():
            try:
                return _resolve_source(text)
            except ConfigError as e:
                raise ConfigError(f"${var}: {e.message}", path=e.path, key=e.key) from e
        name = environment_name(text)
        shipped = _configs_dir() / f"{name}.yaml"
        if shipped.is_file():
            return shipped
        names = available_configs()
        aliases = ", ".join(f"{a} ({n})" for a, n in ENVIRONMENT_ALIASES.items())
        hint = _did_you_mean(name, [*names, *ENVIRONMENT_ALIASES]).removeprefix("; ")
        msg = (
            f"expected ${var} to name a shipped configuration ({', '.join(names)}; also "
            f"{aliases}) or a configuration file, found {value!r}"
            f"{f' ({hint})' if hint else ''}; set {var} to one of those or unset it"
        )
        raise ConfigError(msg)
    return _resolve_source("development")


def _copy_tree(value: Any) -> Any:
    """Copy the mappings and lists of a configuration; objects in it (a handler given
    directly in a dict configuration) are shared, not copied."""
    if isinstance(value, Mapping):
        return {k: _copy_tree(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy_tree(v) for v in value]
    return value


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in over.items():
        if isinstance(v, Mapping) and isinstance(out.get(k), Mapping):
            out[k] = _merge(dict(out[k]), dict(v))
        else:
            out[k] = v
    return out


def load_config(
    name_or_path: str | os.PathLike[str] | Mapping[str, Any] | None = None,
    *,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> tuple[dict[str, Any], str | None]:
    """Load and validate a configuration without applying it.

    Args:
        name_or_path: as :func:`configure`.
        env: environment for ``${VAR}`` expansion (default ``os.environ``).
        overrides: a dict merged over the loaded configuration.

    Returns:
        (the expanded configuration, ``hftlogging:`` section included; the file it came
        from or None).

    Raises:
        ConfigError: naming the file, the key path, what was expected and what was found.
    """
    plan = prepare(name_or_path, env=env, overrides=overrides)
    return plan.expanded, plan.source


# --- the validated plan ------------------------------------------------------------------------


@dataclasses.dataclass
class HandlerSpec:
    """What validation learnt about one handler, for routing and for ``check``."""

    name: str
    cls: Any
    class_path: str
    level: int
    filters: list[str]
    options: dict[str, Any]
    targets: list[str] = dataclasses.field(default_factory=list)

    @property
    def is_queue(self) -> bool:
        """Whether this handler is an hftlogging queue (records go on to its targets)."""
        return bool(getattr(self.cls, "hft_fast_sink", False))

    def file_for(self, logger: str) -> str | None:
        """The file name a record of ``logger`` goes to, when it depends on the logger.

        Follows the component selection of
        :class:`~hftlogging.handlers.ComponentRotatingFileHandler`: the logger name, or
        what ``component_map`` gives it; None for other selections.
        """
        o = self.options
        template = o.get("filename", "{component}.log")
        if "directory" not in o or not isinstance(template, str) or "{component}" not in template:
            return None
        mapping = o.get("component_map")
        how = o.get("component_from") or ("map" if mapping is not None else "logger")
        if how == "logger":
            component = logger
        elif how == "map" and isinstance(mapping, Mapping):
            try:
                component = component_matcher(mapping, str(o.get("default_component", "main")))(
                    logger)
            except ConfigError:
                return None
        else:
            return None
        try:
            return template.format(component=component, worker=get_worker(), pid="{pid}",
                                   host="{host}")
        except (KeyError, IndexError, ValueError):
            return None

    def destination(self) -> str:
        """Where this handler's records end up, for humans."""
        o = self.options
        short = self.class_path.rsplit(".", 1)[-1]
        if "directory" in o:
            template = o.get("filename", "{component}.log")
            return f"{short} {os.path.join(str(o['directory']), str(template))}"
        if "filename" in o:
            return f"{short} {o['filename']}"
        if "port" in o or "pushgateway" in o:
            parts = []
            if o.get("port") is not None:
                parts.append(f"http://{o.get('addr') or '127.0.0.1'}:{o['port']}/metrics")
            if o.get("pushgateway"):
                parts.append(f"push {o['pushgateway']}")
            return f"{short} {', '.join(parts) or '(registry only)'}"
        if "stream" in o:
            return f"{short} {str(o['stream']).replace('ext://', '')}"
        if isinstance(self.cls, type) and issubclass(self.cls, logging.StreamHandler):
            return f"{short} sys.stderr"
        return short


@dataclasses.dataclass
class Plan:
    """A validated configuration, ready to apply.

    Attributes:
        config: the dict given to dictConfig (queue handlers as ``()`` factories).
        expanded: the configuration as loaded and expanded, ``hftlogging:`` included.
        source: the file it came from, or None.
        settings: the ``hftlogging:`` section.
        queue_names: the queue handlers to start once dictConfig has run.
        handlers: what validation learnt about each handler.
        filters: the filters, built once during validation (used by :func:`routes`).
        translation: for a file in the ``logging:`` format, its
            :class:`hftlogging.seeds.Translation`; else None.
    """

    config: dict[str, Any]
    expanded: dict[str, Any]
    source: str | None
    settings: dict[str, Any]
    queue_names: list[str]
    handlers: dict[str, HandlerSpec]
    filters: dict[str, Any]
    #: the :class:`hftlogging.seeds.Translation` of a file in the ``logging:`` format.
    translation: Any = None


def prepare(
    name_or_path: str | os.PathLike[str] | Mapping[str, Any] | None = None,
    *,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Plan:
    """Load, expand and validate a configuration; apply nothing.

    Raises:
        ConfigError: every problem found, each with its key path.
    """
    raw, source, translation = _load_raw(name_or_path, env, overrides)
    if translation is None:
        return _Validator(raw, source).run()
    try:
        plan = _Validator(raw, source).run()
    except ConfigError as e:
        # Name the key of the file the user wrote, beside the translated one.
        seed_key = translation.origin.get(e.key or "")
        if seed_key is None and e.key:
            seed_key = next((v for k, v in translation.origin.items()
                             if e.key.startswith(k + ".")), None)
        if seed_key is None:
            raise
        raise ConfigError(f"{e.message} (translated from key {seed_key})", path=e.path,
                          key=e.key) from e
    plan.translation = translation
    return plan


# --- validation --------------------------------------------------------------------------------


def _did_you_mean(word: object, candidates: Sequence[str] | Any) -> str:
    if not isinstance(word, str):
        return ""
    close = difflib.get_close_matches(word, [str(c) for c in candidates], n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def _describe(value: Any) -> str:
    """A found value as a message shows it: ``'text'``, ``3 (a number)``, ``a mapping``."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"{str(value).lower()} (a boolean)"
    if isinstance(value, str):
        return repr(str(value))
    kinds = {int: "a number", float: "a number", dict: "a mapping", list: "a list"}
    kind = kinds.get(type(value))
    if kind is not None:
        return f"{value!r} ({kind})" if kind == "a number" else kind
    return f"{type(value).__name__} {value!r}"


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


_ANNOTATION_TYPES = {
    "int": int, "float": float, "str": str, "bool": bool, "None": type(None),
    "NoneType": type(None),
}


def _split_top(text: str, sep: str) -> list[str]:
    parts, depth, cur = [], 0, ""
    for ch in text:
        if ch == "[":
            depth += 1
        elif ch == "]":
            depth -= 1
        if ch == sep and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    parts.append(cur)
    return parts


def _expected_types(param: inspect.Parameter) -> tuple[type, ...] | None:
    """The plain types a parameter accepts, from its annotation or default; None if unknown."""
    ann = param.annotation
    if ann is inspect.Parameter.empty:
        d = param.default
        if d is inspect.Parameter.empty or d is None or type(d) not in (int, float, str, bool):
            return None
        return (type(d),)
    if isinstance(ann, str):
        return _types_from_text(ann.replace(" ", ""))
    plain = (int, float, str, bool, type(None))
    if ann in plain:
        return (ann,)
    args = getattr(ann, "__args__", None)
    if getattr(ann, "__origin__", None) is typing.Union and args and all(a in plain for a in args):
        return tuple(args)
    return None


def _types_from_text(text: str) -> tuple[type, ...] | None:
    """``"int | None"``, ``"Optional[str]"``, ``"Union[bool, str]"`` → types; else None."""
    m = re.fullmatch(r"(?:typing\.)?(Optional|Union)\[(.*)\]", text)
    if m:
        inner = _split_top(m.group(2), ",")
        text = "|".join([*inner, "None"] if m.group(1) == "Optional" else inner)
    out = []
    for token in _split_top(text, "|"):
        t = _ANNOTATION_TYPES.get(token)
        if t is None:
            return None
        out.append(t)
    return tuple(out)


def _accepts(factory: Any, wanted: str, unwanted: str) -> bool:
    try:
        params = inspect.signature(factory).parameters
    except (TypeError, ValueError):
        return False
    return wanted in params and unwanted not in params


def _matches(value: Any, types: tuple[type, ...]) -> bool:
    for t in types:
        if t is bool and isinstance(value, bool):
            return True
        if t is int and isinstance(value, int) and not isinstance(value, bool):
            return True
        if t is float and isinstance(value, (int, float)) and not isinstance(value, bool):
            return True
        if t is str and isinstance(value, str):
            return True
        if t is type(None) and value is None:
            return True
    return False


def _type_names(types: tuple[type, ...]) -> str:
    names = {
        int: "an integer", float: "a number", str: "a string", bool: "true or false",
        type(None): "null",
    }
    return " or ".join(names[t] for t in types)


def _coerce(value: Any, types: tuple[type, ...] | None) -> Any:
    """Give a ``${VAR}`` value the type the option expects (a port, a flag, null)."""
    if not isinstance(value, _EnvStr):
        return value
    parsed = _yaml_scalar(str(value))
    if types is None:
        return parsed
    if not isinstance(parsed, str) and _matches(parsed, tuple(t for t in types if t is not str)):
        return parsed
    if str in types:
        return str(value)
    return parsed


class _Validator:
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
        self.errors.append(ConfigError(msg, path=self.source, key=_key_path(path) or None))

    @contextlib.contextmanager
    def guard(self, path: Sequence[Any]) -> Iterator[None]:
        """Turn an exception raised while checking ``path`` into a collected error."""
        try:
            yield
        except ConfigError as e:
            sub = [*path, e.key] if e.key else list(path)
            self.fail(sub, e.message)
        except Exception as e:
            self.fail(path, f"{type(e).__name__}: {e}")

    def mapping(self, value: Any, path: Sequence[Any], what: str) -> dict[str, Any] | None:
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.fail(path, f"expected {what} (a mapping), found {_describe(value)}")
            return None
        return value

    def unknown_keys(
        self, entry: Mapping[str, Any], allowed: Sequence[str], path: Sequence[Any], what: str
    ) -> None:
        for key in entry:
            if key not in allowed:
                self.fail(
                    [*path, key],
                    f"expected one of the keys of {what} ({', '.join(allowed)}), found "
                    f"{key!r}{_did_you_mean(key, allowed)}",
                )

    def resolve(self, name: Any, path: Sequence[Any], base: type | None) -> Any:
        """Import a class or factory named in the configuration; None after an error."""
        if callable(name):
            return name
        if not isinstance(name, str) or not name.strip():
            self.fail(path, f"expected a dotted class name, found {_describe(name)}")
            return None
        try:
            found = _import_dotted(name)
        except Exception as e:
            module_path = name.rpartition(".")[0]
            candidates = [*_KNOWN_CLASSES, *_public_names(module_path)] if module_path \
                else list(_KNOWN_CLASSES)
            hint = _did_you_mean(name, candidates)
            if not hint:
                last = name.rpartition(".")[2]
                same = [c for c in candidates if c.rpartition(".")[2] == last]
                if same:
                    hint = f"; did you mean {same[0]!r}?"
            reason = str(e)
            if module_path:
                try:
                    importlib.import_module(module_path)
                    reason = f"{module_path} has no {name.rpartition('.')[2]!r}"
                except Exception:
                    reason = str(e)
            self.fail(path, f"expected an importable class, found {name!r} ({reason}){hint}")
            return None
        if base is not None and isinstance(found, type) and not issubclass(found, base):
            self.fail(
                path,
                f"expected a subclass of {base.__module__}.{base.__qualname__}, found {name!r}",
            )
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
            self.fail(path, f"expected a list of {what} names, found {_describe(value)}")
            return []
        out = []
        for i, name in enumerate(value):
            if not isinstance(name, str):
                if what == "filter" and (callable(name) or isinstance(name, logging.Filter)):
                    continue
                if what == "handler" and isinstance(name, logging.Handler):
                    continue
                self.fail([*path, i], f"expected a {what} name, found {_describe(name)}")
                continue
            if name not in defined:
                known = ", ".join(defined) or "none"
                self.fail(
                    [*path, i],
                    f"expected the name of a configured {what} ({known}), found "
                    f"{name!r}{_did_you_mean(name, list(defined))}",
                )
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
            return {k: _plain(_coerce(v, None)) for k, v in options.items()}
        params = {
            n: p for n, p in sig.parameters.items()
            if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and n not in skip
        }
        open_ended = any(p.kind is p.VAR_KEYWORD for p in sig.parameters.values())
        out: dict[str, Any] = {}
        for key, given in options.items():
            if not isinstance(key, str) or not key.isidentifier():
                self.fail(
                    [*path, key],
                    "expected an option name made of letters, digits and underscores, "
                    f"found {key!r} (dictConfig would silently ignore it)",
                )
                continue
            param = params.get(key)
            if param is None:
                if not open_ended:
                    known = [*sorted(params), *(a for a in also if a not in params)]
                    self.fail(
                        [*path, key],
                        f"expected an option of {what} ({', '.join(known) or 'none'}), "
                        f"found {key!r}{_did_you_mean(key, known)}",
                    )
                out[key] = _plain(_coerce(given, None))
                continue
            types = _expected_types(param)
            value = _coerce(given, types)
            out[key] = _plain(value)
            if isinstance(value, str) and value.startswith(("ext://", "cfg://")):
                continue
            if types is not None and not _matches(value, types):
                hint = ""
                if isinstance(value, bool) and str in types:
                    hint = " (YAML reads yes/no/on/off/true/false as booleans: quote the value)"
                self.fail(
                    [*path, key],
                    f"expected {_type_names(types)}, found {_describe(value)}{hint}",
                )
                continue
            choices = _CHOICES.get((getattr(factory, "__name__", ""), key))
            if choices and value not in choices:
                self.fail(
                    [*path, key],
                    f"expected one of {', '.join(repr(c) for c in choices)}, found "
                    f"{_describe(value)}{_did_you_mean(value, choices)}",
                )
        for name, p in params.items():
            if p.default is p.empty and name not in options:
                self.fail(path, f"expected option {name!r} (required by {what}), found none")
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
        self.unknown_keys({k: v for k, v in cfg.items() if k != "logging"}, _TOP_KEYS, [],
                          "a configuration")
        version = cfg.get("version", 1)
        if version != 1:
            self.fail(["version"], f"expected 1, found {_describe(version)}")
        if cfg.get("incremental"):
            self.fail(
                ["incremental"],
                "expected false (hftlogging.configure applies whole configurations; use "
                "logging.config.dictConfig for incremental level changes), found true",
            )
        dis = _coerce(cfg.get("disable_existing_loggers", False), (bool,))
        if not isinstance(dis, bool):
            self.fail(["disable_existing_loggers"],
                      f"expected true or false, found {_describe(dis)}")
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
        expanded = _plain(cfg)
        queue_names = [n for n, s in self.handler_specs.items() if s.is_queue]
        return Plan(
            config=config, expanded=expanded, source=self.source, settings=settings,
            queue_names=queue_names, handlers=self.handler_specs, filters=self.filter_objects,
        )

    def raise_errors(self) -> None:
        if len(self.errors) == 1:
            raise self.errors[0]
        lines = []
        for e in self.errors:
            lines.append(f"  key {e.key}: {e.message}" if e.key else f"  {e.message}")
        err = ConfigError(f"{len(self.errors)} problems:\n" + "\n".join(lines), path=self.source)
        err.errors = list(self.errors)  # type: ignore[attr-defined]
        raise err

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
                      f"expected true or false, found {_describe(enabled)}")
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
                          f"expected a field name (a string), found {_describe(k)}")
        out["global_context"] = _plain(fields)
        for key in _THRESHOLD_KEYS:
            if section.get(key) is None:
                continue
            v = _coerce(section[key], (float,))
            if not _matches(v, (float,)) or v <= 0:
                self.fail(["hftlogging", key],
                          f"expected a number of microseconds > 0, found {_describe(v)}")
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
            if "format" in rest and "fmt" not in rest and _accepts(factory, "fmt", "format"):
                rest["fmt"] = rest.pop("format")  # dictConfig does the same on a TypeError
            before = len(self.errors)
            opts = self.options(factory, rest, path, str(entry["()"]))
            out = {"()": entry["()"], **opts}
            if "." in entry:
                out["."] = _plain(entry["."])
            if len(self.errors) == before:
                with self.guard(path):
                    factory(**opts)
            return out
        self.unknown_keys(entry, _FORMATTER_KEYS, path, "a formatter")
        entry = _plain(entry)
        cls = self.resolve(entry.get("class", "logging.Formatter"), [*path, "class"],
                           logging.Formatter)
        for key in ("format", "datefmt"):
            v = entry.get(key)
            if v is not None and not isinstance(v, str):
                self.fail([*path, key], f"expected a string, found {_describe(v)}")
        style = entry.get("style", "%")
        if style not in ("%", "{", "$"):
            self.fail([*path, "style"], f"expected '%', '{{' or '$', found {_describe(style)}")
        elif cls is not None:
            args: list[Any] = [entry.get("format"), entry.get("datefmt"), style]
            if "validate" in entry:
                args.append(entry["validate"])
            with self.guard([*path, "format"]):
                try:
                    cls(*args)
                except ValueError as e:
                    msg = (
                        f"expected a valid {style!r}-style format, found "
                        f"{entry.get('format')!r} ({e})"
                    )
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
                self.fail([*path, "name"], f"expected a logger name, found {_describe(nm)}")
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
            out["."] = _plain(entry["."])
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
            self.fail(path, "expected 'class' naming the handler's class, found none")
            return dict(entry)
        key = "()" if "()" in entry else "class"
        class_path = entry[key]
        cls = self.resolve(class_path, [*path, key], logging.Handler if key == "class" else None)
        out, level, flt = self.handler_refs(path, entry)
        rest = {k: v for k, v in entry.items() if k not in _HANDLER_COMMON}
        if cls is None:
            return {**out, key: class_path, **_plain(rest)}
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
                self.fail([*path, key], (
                    f"expected hftlogging.handlers.QueueHandler (the keys of stdlib's "
                    f"QueueHandler need Python 3.12+), found {class_path!r} on Python "
                    f"{sys.version_info[0]}.{sys.version_info[1]}"
                ))
        before = len(self.errors)
        opts = self.options(cls, rest, path, str(class_path),
                            skip=("queue", "level") if is_queue or stdlib_queue else ("level",),
                            also=("level", "formatter", "filters"))
        opts.update(_plain(stdlib_queue))
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
                self.fail(
                    [*path, "formatter"],
                    f"expected the name of a configured formatter ({known}), found "
                    f"{_describe(fmt)}{_did_you_mean(fmt, list(formatters))}",
                )
            out["formatter"] = fmt
        flt = self.names(entry.get("filters"), [*path, "filters"],
                         self.sections["filters"], "filter")
        if entry.get("filters") is not None:
            out["filters"] = entry["filters"]
        if "." in entry:
            out["."] = _plain(entry["."])
        return out, level, flt

    def queue_targets(self, name: str, path: list[Any], rest: dict[str, Any]) -> list[str]:
        """Apply the ``hftlogging.queue`` defaults; check the handlers behind the queue."""
        for k, v in self.settings_section.get("queue", {}).items():
            rest.setdefault(k, v)
        handlers = self.sections["handlers"]
        targets = self.names(rest.get("handlers"), [*path, "handlers"], handlers, "handler")
        if name in targets:
            self.fail([*path, "handlers"], "expected other handlers' names, found the "
                      "queue's own name (a queue cannot feed itself)")
        fb = _coerce(rest.get("fallback"), (str, type(None)))
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
            self.fail(path, f"expected a logging.Handler subclass or a factory returning a "
                            f"handler, found the class {_dotted(factory)}; name a handler "
                            "class under 'class' or a factory under '()'")
            return
        kwargs = dict(opts)
        if _accepts(factory, "delay", "\x00"):
            kwargs["delay"] = True
        before = set(logging._handlers)  # type: ignore[attr-defined]
        with self.guard(path):
            built = factory(**kwargs)
            try:
                if not isinstance(built, logging.Handler):
                    msg = (f"expected {_dotted(factory)} to build a logging.Handler, found "
                           f"{_describe(built)}; name a handler class or factory")
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
                problem = (
                    f"expected an existing directory for {str(p)!r} ({cls.__name__} does "
                    f"not create directories), found none at {str(p.parent)!r}"
                )
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
        out = {k: _plain(v) for k, v in entry.items()}
        if "propagate" in entry:
            out["propagate"] = prop = _coerce(entry["propagate"], (bool,))
            if not isinstance(prop, bool):
                self.fail([*path, "propagate"],
                          f"expected true or false, found {_describe(prop)}")
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
            return f"expected a file path, found a directory at {str(path)!r}"
        if not os.access(path, os.W_OK):
            return f"expected a writable file, found {str(path)!r} not writable"
    probe = target if str(target) else Path(".")
    while not probe.exists():
        if probe.parent == probe:
            break
        probe = probe.parent
    if probe.exists() and not probe.is_dir():
        return (
            f"expected a directory for {str(target)!r}, found a file at {str(probe)!r}"
        )
    if probe.exists() and not os.access(probe, os.W_OK | os.X_OK):
        return f"expected a writable directory, found {str(probe)!r} not writable"
    return None


# --- routing -------------------------------------------------------------------------------------

_ROUTE_LEVELS = (logging.DEBUG, logging.INFO, logging.WARNING, logging.ERROR, logging.CRITICAL)


@dataclasses.dataclass
class Route:
    """Where one kind of record goes, for one logger.

    Attributes:
        logger: the logger name (``"root"`` for the root logger).
        log_type: ``"text"``, ``"metric"`` or ``"audit"``.
        level: the record's level.
        tags: the record's tags for this row (empty: untagged records).
        handlers: the names of the handlers that write it.
        destinations: for each of those, what it writes to.
    """

    logger: str
    log_type: str
    level: int
    tags: tuple[str, ...]
    handlers: list[str]
    destinations: list[str]


def logger_chain(plan: Plan, name: str) -> list[tuple[str, dict[str, Any]]]:
    """The configured loggers a record of ``name`` visits, stopping where propagation ends."""
    loggers = plan.config.get("loggers", {})
    chain = []
    if name != "root":
        cur = name
        while cur:
            if cur in loggers:
                chain.append((cur, loggers[cur]))
                if loggers[cur].get("propagate", True) is False:
                    return chain
            cur = cur.rpartition(".")[0]
    chain.append(("root", plan.config.get("root") or {}))
    return chain


def _effective_level(plan: Plan, name: str) -> int:
    """The level a logger ends up with: its own, else its nearest configured ancestor's.

    Levels are inherited whatever ``propagate`` says; a root without a configured level
    keeps stdlib's default, WARNING.
    """
    loggers = plan.config.get("loggers", {})
    cur = "" if name == "root" else name
    while cur:
        level = (loggers.get(cur) or {}).get("level")
        if level is not None and to_level(level, "level"):
            return to_level(level, "level")
        cur = cur.rpartition(".")[0]
    level = (plan.config.get("root") or {}).get("level")
    return logging.WARNING if level is None else to_level(level, "level")


def _probe_record(name: str, log_type: str, level: int, tags: tuple[str, ...]) -> Any:
    rec = build_record(name, level, "routing probe", (), time.time_ns(), None,
                       log_type=log_type, context={}, tags=list(tags))
    if log_type == "metric":
        rec.__dict__.update(metric_name="probe", metric_value=1, metric_type="counter",
                            metric_tags={}, metric_unit=None)
    elif log_type == "audit":
        rec.__dict__["audit_event"] = "probe"
    return rec


def _passes(plan: Plan, filter_names: Sequence[str], record: Any) -> bool:
    for fname in filter_names:
        flt = plan.filters.get(fname)
        if flt is None:
            continue
        try:
            ok = flt.filter(record) if hasattr(flt, "filter") else flt(record)
        except Exception:
            ok = True  # a filter that cannot judge a probe is shown as passing
        if not ok:
            return False
    return True


def _deliver(plan: Plan, hname: str, record: Any, out: list[str], seen: set[str]) -> None:
    spec = plan.handlers.get(hname)
    if spec is None or hname in seen:
        return
    seen.add(hname)
    if record.levelno < spec.level or not _passes(plan, spec.filters, record):
        return
    if spec.is_queue or spec.targets:  # hftlogging's queue, or stdlib's (3.12+ keys)
        for t in spec.targets:
            _deliver(plan, t, record, out, seen)
        return
    out.append(hname)


def routes(plan: Plan) -> list[Route]:
    """For each configured logger, log type and level: the handlers that receive it.

    Metric and audit records are logged at INFO and, as in :class:`HFTLogger`, are not
    stopped by a logger's level. Filters are run on a probe record; when a
    :class:`~hftlogging.filters.TagFilter` is configured, tagged rows are added where the
    tags change the outcome.
    """
    names = ["root", *plan.config.get("loggers", {})]
    tag_sets: list[tuple[str, ...]] = [()]
    for flt in plan.filters.values():
        if isinstance(flt, TagFilter):
            for t in sorted(flt.tags):
                if (t,) not in tag_sets:
                    tag_sets.append((t,))
    rows = [("text", lv) for lv in _ROUTE_LEVELS] + [("metric", METRIC_LEVEL),
                                                     ("audit", AUDIT_LEVEL)]
    out: list[Route] = []
    for name in names:
        chain = logger_chain(plan, name)
        effective = _effective_level(plan, name)
        for log_type, level in rows:
            seen_result: list[str] | None = None
            for tags in tag_sets:
                got = _route_one(plan, name=name, chain=chain, effective=effective,
                                 log_type=log_type, level=level, tags=tags)
                if tags and got == seen_result:
                    continue
                if not tags:
                    seen_result = got
                dests = [plan.handlers[h].file_for(name) or plan.handlers[h].destination()
                         for h in got]
                out.append(Route(name, log_type, level, tags, got, dests))
    return out


def _route_one(
    plan: Plan,
    *,
    name: str,
    chain: list[tuple[str, dict[str, Any]]],
    effective: int,
    log_type: str,
    level: int,
    tags: tuple[str, ...],
) -> list[str]:
    if log_type == "text" and level < effective:
        return []
    record = _probe_record(name, log_type, level, tags)
    if not _passes(plan, chain[0][1].get("filters") or [], record):
        return []
    got: list[str] = []
    for _, entry in chain:
        for h in entry.get("handlers") or []:
            # A handler attached at two levels of the chain receives the record twice,
            # as stdlib does it: the table shows it twice.
            _deliver(plan, h, record, got, set())
    return got


# --- applying ------------------------------------------------------------------------------------


def configure(
    name_or_path: str | os.PathLike[str] | Mapping[str, Any] | None = None,
    *,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
    strict: bool | None = None,
) -> dict[str, Any]:
    """Load, validate and apply a configuration; start its queue listeners.

    Args:
        name_or_path: a shipped configuration name (``"production"``), a YAML path, or a
            dictConfig dict; a file or dict in the ``logging:`` format is
            translated (:mod:`hftlogging.seeds`). Default: ``$HFTLOGGING_ENV``, else
            ``$ENVIRONMENT`` (a shipped name, ``dev``, ``prod`` or a path), else
            ``"development"``.
        env: environment for ``${VAR}`` expansion (default ``os.environ``, with
            ``HFTLOGGING_WORKER`` set to :func:`hftlogging.get_worker`).
        overrides: a dict merged over the loaded configuration (before expansion). For a
            file in the ``logging:`` format, overrides with a ``logging:`` key
            are merged into the file before it is translated, others over the translation.
        strict: turn strict mode on or off (:mod:`hftlogging.strict`: broken log calls
            raise as under stdlib, for test suites). Default: ``$HFTLOGGING_STRICT`` when
            it is set, else unchanged.

    Returns:
        The dictConfig dict that was applied.

    Raises:
        ConfigError: the configuration is invalid; the running configuration is untouched.
    """
    if strict is None:
        strict = _strict.from_environment(env)
    try:
        plan = prepare(name_or_path, env=env, overrides=overrides)
    except ConfigError as e:
        # Loading builds the handlers (as check does): a port or path taken from
        # ${VAR} fails here, and the message names the variable that sets it.
        var = _env_var_at(name_or_path, overrides, e.path, e.key)
        if var and var not in e.message:
            hint = f" (the value of ${{{var}}}: set {var} to change it)"
            raise ConfigError(e.message + hint, path=e.path, key=e.key) from e
        raise
    if strict is not None:
        _strict.set_strict(strict)
    with _configure_lock:
        install()
        old_queues = lifecycle.active_queue_handlers()
        # Drain the running queues into their handlers before dictConfig closes those.
        lifecycle.stop_handlers(old_queues)
        saved = _save_logging_state()
        before = footprint.snapshot(
            footprint.directories(h.options for h in plan.handlers.values())
        )
        # dictConfig closes them next, with no deadline: close them first, abandoning (and
        # counting) one whose close() never returns.
        lifecycle.close_queue_targets(old_queues)
        try:
            _apply(plan)
        except Exception as e:
            key = _failed_key(e)
            message = _explain(e)
            var = _env_var_at(name_or_path, overrides, plan.source, key)
            if var:
                message += f" (the value of ${{{var}}}: set {var} to change it)"
            err = ConfigError(message, path=plan.source, key=key)
            # The failed attempt's handlers still hold what they created: find it now,
            # remove it once they are closed.
            created = footprint.ours(before)
            _restore(saved, old_queues)
            footprint.remove(created, before)
            raise err from e
        _State.last_applied = plan
        monitor.get_monitor().configure(**plan.settings.get("monitor", {}))
        _State.applied_handlers = dict(logging._handlers)  # type: ignore[attr-defined]
        set_configured(plan.settings.get("global_context") or {})
    return plan.config


def _apply(plan: Plan) -> None:
    # dictConfig consumes its input. The configurator is kept until the queues have
    # resolved their targets: logging holds handlers only weakly, and a handler that no
    # logger uses directly (one behind a queue) is otherwise kept by nothing but a
    # reference cycle inside the finished configurator, gone at the next garbage collection.
    configurator = logging.config.dictConfigClass(_copy_tree(plan.config))
    configurator.configure()
    for name in plan.queue_names:
        h = logging._handlers.get(name)  # type: ignore[attr-defined]
        if h is not None:
            h.start()
    del configurator


def _env_var_at(
    name_or_path: Any, overrides: Mapping[str, Any] | None, source: str | None,
    key: str | None,
) -> str | None:
    """The variable ``key`` was taken from (a whole ``${VAR}`` value), or None."""
    if not key:
        return None
    try:
        if isinstance(name_or_path, Mapping):
            node: Any = _copy_tree(name_or_path)
        elif source:
            node = _parse_yaml(_read(Path(source), source), source)
        else:
            return None
        if overrides and isinstance(node, dict):
            node = _merge(node, _copy_tree(overrides))
        for part in re.findall(r"'[^']*'|[^.]+", key):
            node = node.get(part.strip("'")) if isinstance(node, Mapping) else None
    except Exception:  # only a better message was at stake
        return None
    m = _REF.fullmatch(node) if isinstance(node, str) else None
    if m is None or m.group(1) is None:
        return None
    return m.group(1).partition(":-")[0] or None


def _failed_key(e: BaseException) -> str | None:
    m = re.match(r"Unable to configure (handler|filter|formatter|logger) '([^']*)'", str(e))
    if not m:
        return None
    section = {"handler": "handlers", "filter": "filters", "formatter": "formatters",
               "logger": "loggers"}[m.group(1)]
    key = _key_path([section, m.group(2)])
    cause = e.__cause__
    if isinstance(cause, ConfigError) and cause.key:
        key = f"{key}.{cause.key}"
    return key


@dataclasses.dataclass
class _Saved:
    handlers: dict[str, logging.Handler]
    handler_list: list[Any]
    loggers: dict[str, tuple[Any, ...]]


def _logger_state(lg: logging.Logger) -> tuple[Any, ...]:
    return (lg.level, list(lg.handlers), lg.propagate, lg.disabled, list(lg.filters))


def _save_logging_state() -> _Saved:
    manager = logging.Logger.manager
    loggers = {"": _logger_state(logging.getLogger())}
    for name, lg in list(manager.loggerDict.items()):
        if isinstance(lg, logging.Logger):
            loggers[name] = _logger_state(lg)
    return _Saved(
        handlers=dict(logging._handlers),  # type: ignore[attr-defined]
        handler_list=list(logging._handlerList),  # type: ignore[attr-defined]
        loggers=loggers,
    )


def _restore(saved: _Saved, old_queues: list[Any]) -> None:
    """Bring back the configuration that was running before a failed dictConfig.

    When what ran was the last configuration :func:`configure` applied, it is rebuilt
    from its plan (dictConfig closed its handlers). Otherwise the previous handler
    objects and logger states are put back (stdlib file handlers reopen on their next
    record) and the old queues restarted.
    """
    previous = _State.last_applied
    if previous is not None and saved.handlers != _State.applied_handlers:
        previous = None  # logging was changed since: put back exactly what ran
    # Close what the failed attempt built, so its files and ports are released.
    for ref in list(logging._handlerList):  # type: ignore[attr-defined]
        h = ref() if callable(ref) else None
        if h is not None and ref not in saved.handler_list:
            with contextlib.suppress(Exception):
                h.close()
    if previous is not None:
        try:
            _apply(previous)
            return
        except Exception as e:
            sys.stderr.write(f"hftlogging: could not restore the previous configuration: {e}\n")
    logging._handlers.clear()  # type: ignore[attr-defined]
    logging._handlers.update(saved.handlers)  # type: ignore[attr-defined]
    logging._handlerList[:] = [  # type: ignore[attr-defined]
        r for r in saved.handler_list if not lifecycle.abandoned(r())
    ]
    manager = logging.Logger.manager
    for name, (level, handlers, propagate, disabled, filters) in saved.loggers.items():
        lg = logging.getLogger() if name == "" else manager.loggerDict.get(name)
        if not isinstance(lg, logging.Logger):
            continue
        lg.setLevel(level)
        lg.handlers = handlers
        lg.propagate = propagate
        lg.disabled = disabled
        lg.filters = filters
    for q in old_queues:
        with contextlib.suppress(Exception):
            q.start()


def _explain(e: BaseException) -> str:
    parts = [str(e)]
    cause = e.__cause__
    while cause is not None:
        parts.append(str(cause))
        cause = cause.__cause__
    return ": ".join(p for p in parts if p)


def setup_development_logging(**kwargs: Any) -> dict[str, Any]:
    """``configure("development")``."""
    return configure("development", **kwargs)


def setup_production_logging(**kwargs: Any) -> dict[str, Any]:
    """``configure("production")``."""
    return configure("production", **kwargs)

