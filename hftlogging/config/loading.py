"""Loading: a source read, translated from the ``logging:`` format when it is in it,
merged with the overrides, expanded and validated into a :class:`Plan`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from hftlogging.config.messages import describe_found
from hftlogging.config.plan import Plan
from hftlogging.config.seeds import Translation, is_seed_config, translate
from hftlogging.config.source import (
    check_expansion,
    copy_tree,
    default_env,
    default_source,
    expand,
    merge,
    parse_yaml,
    read_text,
    resolve_source,
)
from hftlogging.config.validate import Validator
from hftlogging.exceptions import ConfigError, Found, describe

__all__ = ["load_config", "load_raw", "prepare"]


def load_raw(
    name_or_path: str | os.PathLike[str] | Mapping[str, Any] | None,
    env: Mapping[str, str] | None,
    overrides: Mapping[str, Any] | None,
) -> tuple[dict[str, Any], str | None, Translation | None]:
    """The configuration, expanded; its file; the translation of a file in the
    ``logging:`` format (None for dictConfig)."""
    source: str | None = None
    environ: Mapping[str, str] = default_env() if env is None else env
    if isinstance(name_or_path, Mapping):
        check_expansion(name_or_path, None)
        cfg: Any = copy_tree(name_or_path)
    else:
        path = (default_source(environ) if name_or_path is None
                else resolve_source(name_or_path))
        source = str(path)
        cfg = parse_yaml(read_text(path, source), source)
    if not isinstance(cfg, dict):
        msg = describe(None, "a mapping at the top level", Found(describe_found(cfg)),
                       "write the configuration as keys and values (version: 1, handlers: ...)")
        raise ConfigError(msg, path=source)
    if is_seed_config(cfg):
        # Overrides in the same format (a logging: mapping) go in before the translation,
        # others over it. Translated first: ${VAR} is expanded only in the parts used.
        if overrides and "logging" in overrides:
            cfg = merge(cfg, copy_tree(overrides))
            overrides = None
        translation = translate(cfg, source=source, env=environ)
        cfg = translation.config
        if overrides:
            cfg = merge(cfg, expand(copy_tree(overrides), environ, source, []))
        return cfg, source, translation
    if overrides:
        cfg = merge(cfg, copy_tree(overrides))
    cfg = expand(cfg, environ, source, [])
    return cfg, source, None


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
    raw, source, translation = load_raw(name_or_path, env, overrides)
    if translation is None:
        return Validator(raw, source).run()
    try:
        plan = Validator(raw, source).run()
    except ConfigError as e:
        # Name the key of the file the user wrote, beside the translated one.
        seed_key = translation.origin.get(e.key or "")
        if seed_key is None and e.key:
            seed_key = next((v for k, v in translation.origin.items()
                             if e.key.startswith(k + ".")), None)
        if seed_key is None:
            raise
        raise e.restated(after=f" (translated from key {seed_key})") from e
    plan.translation = translation
    return plan
