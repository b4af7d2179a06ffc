"""Configuration: YAML or dict → validated ``logging.config.dictConfig``, and the queue wiring."""

from __future__ import annotations

import copy
import logging
import logging.config
import os
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from hftlogging import lifecycle
from hftlogging.exceptions import ConfigError
from hftlogging.logger import install

__all__ = [
    "configure",
    "load_config",
    "setup_development_logging",
    "setup_production_logging",
]

_CONFIG_PACKAGE = "hftlogging.logging_configs"
_QUEUE_CLASSES = ("hftlogging.handlers.QueueHandler", "hftlogging.handlers.queue.QueueHandler")
_configure_lock = threading.RLock()


def _configs_dir() -> Path:
    import importlib.util

    spec = importlib.util.find_spec(_CONFIG_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        msg = "the shipped configurations are missing from the installation"
        raise ConfigError(msg)
    return Path(next(iter(spec.submodule_search_locations)))


def available_configs() -> list[str]:
    """Names of the configurations shipped with the package."""
    return sorted(p.stem for p in _configs_dir().glob("*.yaml"))


def _resolve_source(name_or_path: str | os.PathLike[str]) -> Path:
    text = os.fspath(name_or_path)
    p = Path(text)
    if p.suffix in (".yaml", ".yml") or os.sep in text or p.exists():
        if not p.is_file():
            msg = f"configuration file {text!r} does not exist"
            raise ConfigError(msg, path=text)
        return p
    shipped = _configs_dir() / f"{text}.yaml"
    if not shipped.is_file():
        names = ", ".join(available_configs())
        msg = f"no configuration named {text!r}; shipped configurations: {names}, or give a path"
        raise ConfigError(msg)
    return shipped


def load_config(
    name_or_path: str | os.PathLike[str] | Mapping[str, Any] | None = None,
    *,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> tuple[dict[str, Any], str | None]:
    """Load and validate a configuration without applying it.

    Returns:
        (the dictConfig dict, the file it came from or None).

    Raises:
        ConfigError: naming the file, the key and the fix.
    """
    import yaml

    source: str | None = None
    if isinstance(name_or_path, Mapping):
        cfg = copy.deepcopy(dict(name_or_path))
    else:
        if name_or_path is None:
            environ = os.environ if env is None else env
            name_or_path = environ.get("HFTLOGGING_ENV") or environ.get("ENVIRONMENT") \
                or "development"
        path = _resolve_source(name_or_path)
        source = str(path)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as e:
            raise ConfigError(f"cannot read the file: {e.strerror}", path=source) from e
        try:
            cfg = yaml.safe_load(text)
        except yaml.YAMLError as e:
            raise ConfigError(f"not valid YAML: {e}", path=source) from e
    if not isinstance(cfg, dict):
        msg = f"expected a mapping at the top level, found {type(cfg).__name__}"
        raise ConfigError(msg, path=source)
    if overrides:
        cfg = _merge(cfg, dict(overrides))
    cfg.setdefault("version", 1)
    if cfg.get("version") != 1:
        raise ConfigError(f"version must be 1, found {cfg.get('version')!r}", path=source,
                          key="version")
    return cfg, source


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in over.items():
        if isinstance(v, Mapping) and isinstance(out.get(k), Mapping):
            out[k] = _merge(dict(out[k]), dict(v))
        else:
            out[k] = v
    return out


def _queue_handler_names(cfg: Mapping[str, Any]) -> list[str]:
    names = []
    for name, h in (cfg.get("handlers") or {}).items():
        if isinstance(h, Mapping) and (h.get("class") in _QUEUE_CLASSES or
                                       h.get("()") in _QUEUE_CLASSES):
            names.append(name)
    return names


def _as_factory_entries(cfg: dict[str, Any], settings: Mapping[str, Any]) -> None:
    """Give queue handlers to dictConfig as ``()`` factories, the same on every Python.

    Python 3.12+ treats ``class: <QueueHandler subclass>`` specially (and 3.12.0-3.12.x
    drop the extra keys); as a factory, every key reaches our constructor unchanged.
    """
    for name in _queue_handler_names(cfg):
        entry = dict(cfg["handlers"][name])
        cls = entry.pop("class", None) or entry.pop("()")
        for key, value in settings.items():
            entry.setdefault(key, value)
        entry["()"] = cls
        cfg["handlers"][name] = entry


def configure(
    name_or_path: str | os.PathLike[str] | Mapping[str, Any] | None = None,
    *,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Load, validate and apply a configuration; start its queue listeners.

    Args:
        name_or_path: a shipped configuration name (``"production"``), a YAML path, or a
            dictConfig dict. Default: ``$HFTLOGGING_ENV`` (or ``$ENVIRONMENT``), else
            ``"development"``.
        env: environment for ``${VAR}`` expansion (default ``os.environ``).
        overrides: a dict merged over the loaded configuration.

    Returns:
        The dictConfig dict that was applied.

    Raises:
        ConfigError: the configuration is invalid; the running configuration is untouched.
    """
    cfg, source = load_config(name_or_path, env=env, overrides=overrides)
    settings = cfg.pop("hftlogging", None) or {}
    if not isinstance(settings, Mapping):
        raise ConfigError("the hftlogging section must be a mapping", path=source,
                          key="hftlogging")
    queue_settings = dict(settings.get("queue") or {})
    _as_factory_entries(cfg, queue_settings)
    queue_names = _queue_handler_names(cfg)
    with _configure_lock:
        install()
        # Drain the running queues into their handlers before dictConfig closes those.
        lifecycle.stop_handlers(lifecycle.active_queue_handlers())
        try:
            logging.config.dictConfig(copy.deepcopy(cfg))  # dictConfig consumes its input
        except (ValueError, TypeError, AttributeError, ImportError) as e:
            raise ConfigError(_explain(e), path=source) from e
        for name in queue_names:
            h = logging._handlers.get(name)  # type: ignore[attr-defined]
            if h is not None:
                h.start()
    return cfg


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
