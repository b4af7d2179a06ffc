"""The validated plan: what validation learnt about a configuration, ready to apply."""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Mapping
from typing import Any

from hftlogging.config.seeds import Translation
from hftlogging.exceptions import ConfigError
from hftlogging.handlers.rotating import component_matcher
from hftlogging.worker import get_worker

__all__ = ["HandlerSpec", "Plan"]


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
            :class:`hftlogging.config.seeds.Translation`; else None.
    """

    config: dict[str, Any]
    expanded: dict[str, Any]
    source: str | None
    settings: dict[str, Any]
    queue_names: list[str]
    handlers: dict[str, HandlerSpec]
    filters: dict[str, Any]
    #: the :class:`hftlogging.config.seeds.Translation` of a file in the ``logging:`` format.
    translation: Translation | None = None

