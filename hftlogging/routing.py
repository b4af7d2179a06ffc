"""Routing rules as a filter: a record passes when any rule matches it.

Rules are the ones of the ``routing_rules:`` list teams know from their own YAML
configurations (``log_types``, ``min_level``, ``max_level``, ``environments``): put a
:class:`RuleFilter` on each handler with the rules that name it::

    filters:
      console_rules:
        (): hftlogging.routing.RuleFilter
        environment: development
        rules:
          - {name: errors_to_file_and_console, min_level: WARNING}
          - {name: debug_to_console_dev_only, max_level: INFO, environments: [dev]}
    handlers:
      console:
        class: logging.StreamHandler
        filters: [console_rules]

Environment names are compared after :func:`environment_name`: ``dev`` is
``development`` and ``prod`` is ``production``.
"""

from __future__ import annotations

import difflib
import logging
from collections.abc import Iterable, Mapping
from typing import Any

from hftlogging.exceptions import ConfigError, Found, describe, show
from hftlogging.filters import LOG_TYPES, to_level

__all__ = ["ENVIRONMENT_ALIASES", "RULE_KEYS", "RuleFilter", "environment_name", "log_types"]

#: Short environment names and the names they stand for.
ENVIRONMENT_ALIASES = {"dev": "development", "prod": "production"}
#: The keys a rule may have (``backends`` is accepted and not used by the filter).
RULE_KEYS = ("name", "log_types", "min_level", "max_level", "environments", "backends")


def environment_name(value: str) -> str:
    """The canonical form of an environment name: ``"dev"``/``"DEV"`` → ``"development"``."""
    text = value.strip().lower()
    return ENVIRONMENT_ALIASES.get(text, text)


class RuleFilter(logging.Filter):
    """Pass a record when at least one of ``rules`` matches it (no rule: pass nothing).

    A rule matches a record whose ``log_type`` is one of its ``log_types`` (any type when
    absent; written in any case: ``METRIC`` is ``metric``) and whose level is within
    ``min_level``..``max_level``. A rule with ``environments`` applies only when
    ``environment`` is one of them.

    Args:
        rules: the rules, mappings with the keys of :data:`RULE_KEYS`.
        environment: the environment in effect (default ``"development"``).

    Raises:
        ConfigError: an unknown key, log type or level, naming the rule.
    """

    uses_caller_info = False

    def __init__(
        self, rules: Iterable[Mapping[str, Any]] = (), environment: str = "development"
    ) -> None:
        super().__init__()
        if not isinstance(environment, str) or not environment.strip():
            msg = describe(None, "an environment name", environment,
                           "give a name such as development or production")
            raise ConfigError(msg, key="environment")
        self.environment = environment_name(environment)
        if isinstance(rules, (str, bytes, Mapping)) or not isinstance(rules, Iterable):
            msg = describe(None, "a list of rules (mappings)", Found(type(rules).__name__),
                           "write rules as a list of mappings")
            raise ConfigError(msg, key="rules")
        self.rules = [self._compile(i, r) for i, r in enumerate(rules)]
        #: The rules that apply in this environment: (name, log types or None, min, max).
        self.active = [r for r in self.rules if r[4]]

    def _compile(
        self, index: int, rule: Any
    ) -> tuple[str, frozenset[str] | None, int, int, bool]:
        where = f"rules[{index}]"
        if not isinstance(rule, Mapping):
            msg = describe(None, "a rule (a mapping)", Found(f"{type(rule).__name__} {show(rule)}"),
                           f"write the rule as a mapping with keys among {', '.join(RULE_KEYS)}")
            raise ConfigError(msg, key=where)
        for key in rule:
            if key not in RULE_KEYS:
                close = difflib.get_close_matches(str(key), RULE_KEYS, n=1)
                fix = f"did you mean {close[0]!r}?" if close else "remove it"
                msg = describe(None, f"one of the keys of a rule ({', '.join(RULE_KEYS)})",
                               key, fix)
                raise ConfigError(msg, key=f"{where}.{key}")
        name = str(rule.get("name", where))
        types = rule.get("log_types")
        wanted: frozenset[str] | None = None
        if types is not None:
            wanted = frozenset(log_types(types, f"{where}.log_types"))
        low = to_level(rule["min_level"], f"{where}.min_level") if rule.get("min_level") \
            is not None else logging.NOTSET
        high = to_level(rule["max_level"], f"{where}.max_level") if rule.get("max_level") \
            is not None else 10**9
        if low > high:
            msg = describe(None, "min_level <= max_level",
                           Found(f"{rule['min_level']!r} above {rule['max_level']!r}"),
                           "swap them")
            raise ConfigError(msg, key=f"{where}.min_level")
        envs = rule.get("environments")
        active = True
        if envs is not None:
            if isinstance(envs, str):
                envs = [envs]
            if not isinstance(envs, Iterable) or not all(isinstance(e, str) for e in envs):
                msg = describe(None, "a list of environment names", envs,
                               "write environments: [development, production]")
                raise ConfigError(msg, key=f"{where}.environments")
            active = self.environment in {environment_name(e) for e in envs}
        return name, wanted, low, high, active

    def filter(self, record: logging.LogRecord) -> bool:
        """Tell whether any active rule matches ``record``."""
        log_type = record.__dict__.get("log_type", "text")
        level = record.levelno
        for _name, types, low, high, _active in self.active:
            if low <= level <= high and (types is None or log_type in types):
                return True
        return False


def log_types(value: object, key: str) -> list[str]:
    """Read a ``log_types`` list, in any case (``METRIC`` or ``metric``).

    Raises:
        ConfigError: not a list of strings, or an unknown type (with "did you mean").
    """
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, Iterable) or isinstance(value, Mapping):
        msg = describe(None, f"a list of log types ({', '.join(LOG_TYPES)})", value,
                       "write log_types: [TEXT, METRIC] or leave it out for every type")
        raise ConfigError(msg, key=key)
    out = []
    for t in value:
        name = t.lower() if isinstance(t, str) else t
        if name not in LOG_TYPES:
            close = difflib.get_close_matches(str(name), LOG_TYPES, n=1)
            fix = f"did you mean {close[0].upper()!r}?" if close else "remove it"
            msg = describe(None, f"log types among {', '.join(x.upper() for x in LOG_TYPES)} "
                           "(any case)", t, fix)
            raise ConfigError(msg, key=key)
        out.append(name)
    return out
