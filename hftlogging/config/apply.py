"""Applying a configuration: dictConfig after draining the running queues, and the
restore of the previous configuration when applying fails.

The running configuration and the lock that serialises :func:`configure` live here,
and only here.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import logging.config
import os
import re
import sys
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from hftlogging import footprint, lifecycle, monitor
from hftlogging import strict as _strict
from hftlogging.config.loading import prepare
from hftlogging.config.messages import key_path
from hftlogging.config.plan import Plan
from hftlogging.config.source import ENV_REFERENCE, copy_tree, merge, parse_yaml, read_text
from hftlogging.exceptions import ConfigError, Found, describe
from hftlogging.global_context import set_configured
from hftlogging.installation import install

__all__ = [
    "AppliedState",
    "configure",
    "setup_development_logging",
    "setup_production_logging",
]

_configure_lock = threading.RLock()


class AppliedState:
    """What :func:`configure` applied last (restored when a later apply fails)."""

    last_applied: Plan | None = None
    #: The named handlers that apply created: tells whether it is still what runs.
    applied_handlers: dict[str, Any] = {}  # noqa: RUF012 - replaced, never mutated



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
            translated (:mod:`hftlogging.config.seeds`). Default: ``$HFTLOGGING_ENV``, else
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
            raise e.restated(after=hint) from e
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
            err = ConfigError(
                describe(None, "what dictConfig can build", Found(message),
                         "correct that value (the previous configuration runs again)"),
                path=plan.source, key=key)
            # The failed attempt's handlers still hold what they created: find it now,
            # remove it once they are closed.
            created = footprint.ours(before)
            _restore(saved, old_queues)
            footprint.remove(created, before)
            raise err from e
        AppliedState.last_applied = plan
        monitor.get_monitor().configure(**plan.settings.get("monitor", {}))
        AppliedState.applied_handlers = dict(logging._handlers)  # type: ignore[attr-defined]
        set_configured(plan.settings.get("global_context") or {})
    return plan.config


def _apply(plan: Plan) -> None:
    # dictConfig consumes its input. The configurator is kept until the queues have
    # resolved their targets: logging holds handlers only weakly, and a handler that no
    # logger uses directly (one behind a queue) is otherwise kept by nothing but a
    # reference cycle inside the finished configurator, gone at the next garbage collection.
    configurator = logging.config.dictConfigClass(copy_tree(plan.config))
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
            node: Any = copy_tree(name_or_path)
        elif source:
            node = parse_yaml(read_text(Path(source), source), source)
        else:
            return None
        if overrides and isinstance(node, dict):
            node = merge(node, copy_tree(overrides))
        for part in re.findall(r"'[^']*'|[^.]+", key):
            node = node.get(part.strip("'")) if isinstance(node, Mapping) else None
    except Exception:  # only a better message was at stake
        return None
    m = ENV_REFERENCE.fullmatch(node) if isinstance(node, str) else None
    if m is None or m.group(1) is None:
        return None
    return m.group(1).partition(":-")[0] or None


def _failed_key(e: BaseException) -> str | None:
    m = re.match(r"Unable to configure (handler|filter|formatter|logger) '([^']*)'", str(e))
    if not m:
        return None
    section = {"handler": "handlers", "filter": "filters", "formatter": "formatters",
               "logger": "loggers"}[m.group(1)]
    key = key_path([section, m.group(2)])
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
    previous = AppliedState.last_applied
    if previous is not None and saved.handlers != AppliedState.applied_handlers:
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


def setup_development_logging(
    *,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
    strict: bool | None = None,
) -> dict[str, Any]:
    """``configure("development")``, with the keyword arguments of :func:`configure`."""
    return configure("development", env=env, overrides=overrides, strict=strict)


def setup_production_logging(
    *,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
    strict: bool | None = None,
) -> dict[str, Any]:
    """``configure("production")``, with the keyword arguments of :func:`configure`."""
    return configure("production", env=env, overrides=overrides, strict=strict)

