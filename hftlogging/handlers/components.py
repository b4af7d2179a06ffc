"""The component of a record: which file of a :class:`ComponentRotatingFileHandler` it goes to.

A selector maps a record to its component (the logger name, a context field, a factory
tag, or ``component_map``); per-component overrides set a component's own limits.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from hftlogging.exceptions import ConfigError, Found, describe
from hftlogging.handlers.files import int_option, safe_name, when_option

__all__ = ["check_components", "component_matcher", "make_selector", "select_logger"]

_SELECTORS = ("logger", "field", "tag", "map")
_OVERRIDE_KEYS = frozenset({"max_bytes", "backup_count", "when", "compress"})


def component_matcher(mapping: object, default: str) -> Callable[[str], str]:
    """The component of a logger name under ``component_map``.

    Keys are logger names or patterns:

    - ``"app.orders"``: that logger and its children (``app.orders.db``); the longest
      matching key wins;
    - ``"*.worker_open"``: any logger whose name ends in the segment(s) after ``*.``,
      and its children: ``worker_open``, ``app.services.provider.worker_open``,
      ``app.services.provider.worker_open.db``; consulted when no name key matches, the
      longest first;
    - ``""``: every other logger.

    A name that matches nothing gets ``default``.

    Raises:
        ConfigError: not a mapping, an empty one, or a key with ``*`` anywhere but at its
            start as ``*.``.
    """
    if not isinstance(mapping, Mapping) or not mapping:
        msg = describe(None, "a mapping of logger-name prefixes to components", mapping,
                       "map prefixes to components, such as {'orders': 'oms'}")
        raise ConfigError(msg, key="component_map")
    names: list[tuple[str, str]] = []
    suffixes: list[tuple[str, str]] = []
    for key, comp in mapping.items():
        k = str(key)
        if k.startswith("*.") and "*" not in k[2:] and k[2:].strip("."):
            suffixes.append((k[2:], str(comp)))
        elif "*" in k:
            msg = describe(
                None, "a logger name, or a pattern with '*' only allowed as a leading '*.'", k,
                "write e.g. '*.worker_open' for any logger ending in .worker_open",
            )
            raise ConfigError(msg, key=f"component_map.{k}")
        else:
            names.append((k, str(comp)))
    names.sort(key=lambda kc: len(kc[0]), reverse=True)
    suffixes.sort(key=lambda kc: len(kc[0]), reverse=True)

    def match(name: str) -> str:
        catch_all = None
        for prefix, comp in names:
            if not prefix:
                catch_all = comp
            elif name == prefix or name.startswith(prefix + "."):
                return comp
        dotted = "." + name + "."
        for tail, comp in suffixes:
            if "." + tail + "." in dotted:
                return comp
        return default if catch_all is None else catch_all

    return match


def check_components(components: object) -> dict[str, dict[str, Any]]:
    """Validate per-component overrides (``components``); keys become safe file names.

    Raises:
        ConfigError: not a mapping, or an unknown or invalid override.
    """
    if components is None:
        return {}
    if not isinstance(components, Mapping):
        msg = describe(None, "a mapping of component name to options", components,
                       "map each component to its options, such as {'oms': {'backup_count': 5}}")
        raise ConfigError(msg, key="components")
    out: dict[str, dict[str, Any]] = {}
    for name, opts in components.items():
        key = f"components.{name}"
        if not isinstance(opts, Mapping):
            msg = describe(None, "a mapping of max_bytes/backup_count/when/compress", opts,
                           "give the component a mapping such as {'backup_count': 5}")
            raise ConfigError(msg, key=key)
        unknown = set(opts) - _OVERRIDE_KEYS
        if unknown:
            msg = describe(
                None, f"options among {', '.join(sorted(_OVERRIDE_KEYS))}",
                Found(f"unknown option(s) {sorted(unknown)}"), "remove or correct them",
            )
            raise ConfigError(msg, key=key)
        o: dict[str, Any] = {}
        if "max_bytes" in opts:
            o["max_bytes"] = int_option(f"{key}.max_bytes", opts["max_bytes"])
        if "backup_count" in opts:
            o["backup_count"] = int_option(f"{key}.backup_count", opts["backup_count"])
        if "when" in opts:
            o["when"] = when_option(f"{key}.when", opts["when"])
        if "compress" in opts:
            o["compress"] = bool(opts["compress"])
        out[safe_name(name)] = o
    return out


def make_selector(
    component_from: object,
    field: object,
    tag: Any,
    mapping: object,
    default: object,
) -> Callable[[logging.LogRecord], Any]:
    """The function giving a record's component key (see the handler's ``component_from``).

    Raises:
        ConfigError: an unknown ``component_from``, or an invalid field, tag, map or default.
    """
    if component_from is None:
        component_from = "map" if mapping is not None else "logger"
    if component_from not in _SELECTORS:
        msg = describe(None, f"one of {', '.join(_SELECTORS)}", component_from,
                       f"name one of: {', '.join(_SELECTORS)}")
        raise ConfigError(msg, key="component_from")
    if not isinstance(default, str) or not default:
        msg = describe(None, "a non-empty string", default,
                       "name the component used when none matches, such as 'main'")
        raise ConfigError(msg, key="default_component")
    if component_from == "logger":
        return select_logger
    if component_from == "field":
        if not isinstance(field, str) or not field:
            msg = describe(None, "a context field name", field,
                           "name the context field that holds the component, such as 'component'")
            raise ConfigError(msg, key="component_field")

        def select_field(record: logging.LogRecord) -> Any:
            d = record.__dict__
            ctx = d.get("context")
            value = ctx.get(field) if ctx else None
            if value is None:
                value = d.get(field)  # a plain record's extra= attribute
            return default if value is None else value

        return select_field
    if component_from == "tag":
        int_option("component_tag", tag)

        def select_tag(record: logging.LogRecord) -> Any:
            tags = record.__dict__.get("tags")
            return tags[tag] if tags and len(tags) > tag else default

        return select_tag
    match = component_matcher(mapping, default)
    cache: dict[str, str] = {}

    def select_map(record: logging.LogRecord) -> Any:
        name = record.name
        try:
            return cache[name]
        except KeyError:
            pass
        found = match(name)
        if len(cache) < 10_000:
            cache[name] = found
        return found

    return select_map


def select_logger(record: logging.LogRecord) -> Any:
    """The default selector: a record's component is its logger name."""
    return record.name
