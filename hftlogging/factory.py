"""Factory loggers: by component, by exchange and component, by strategy path with tags."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import cast

from hftlogging.installation import install, installed
from hftlogging.logger import HFTLogger

__all__ = ["get_exchange_logger", "get_logger", "get_strategy_logger"]

# Positions of a strategy logger's tags, as the strategy factories use them:
# [exchange, api_type, transport, strategy_type], e.g. ["mexc", "private", "ws", "connection"].
_TAG_FIELDS = ("exchange", "api_type", "transport", "strategy_type")


def get_logger(component: str) -> HFTLogger:
    """Return the :class:`HFTLogger` named ``component`` (installing HFTLogger if needed).

    A logger that exists already costs one dictionary lookup; :func:`install` runs when it
    is not in effect, or when the logger it gets is a plain ``logging.Logger``.
    """
    lg = logging.Logger.manager.loggerDict.get(component)
    if isinstance(lg, HFTLogger):
        return lg
    if not installed():
        install()
    lg = logging.getLogger(component)
    if type(lg) is logging.Logger or type(lg) is logging.RootLogger:
        install()  # the logger class was changed back since: convert it in place
    return cast("HFTLogger", lg)


def get_exchange_logger(exchange: str, component: str) -> HFTLogger:
    """Return ``exchange.<exchange>.<component>`` with context ``exchange`` and ``component``."""
    log = get_logger(f"exchange.{exchange}.{component}")
    log.set_context(exchange=exchange, component=component)
    return log


def get_strategy_logger(path: str, tags: Sequence[str]) -> HFTLogger:
    """Return ``strategy.<path>`` whose records carry ``tags`` (``record.tags == list(tags)``).

    The tags also give the context fields ``exchange``, ``api_type``, ``transport`` and
    ``strategy_type``, in that order (missing positions are left out).
    """
    log = get_logger(f"strategy.{path}")
    log._tags = [str(t) for t in tags]
    # Asked again with other tags: fields of the previous tags must not linger.
    log._own_context = {k: v for k, v in log._own_context.items() if k not in _TAG_FIELDS}
    log.set_context(**dict(zip(_TAG_FIELDS, log._tags, strict=False)))
    return log
