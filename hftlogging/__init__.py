"""hftlogging: the standard library's logging, fit for latency-sensitive services.

Nothing happens at import: no handler, no logger class change, no thread, no atexit.
Call :func:`configure` (or :func:`install`) to start.
"""

from __future__ import annotations

from hftlogging.config import configure, setup_development_logging, setup_production_logging
from hftlogging.exceptions import ConfigError, HftLoggingError
from hftlogging.factory import get_exchange_logger, get_logger, get_strategy_logger
from hftlogging.global_context import set_global_context
from hftlogging.health import stats
from hftlogging.installation import install, uninstall
from hftlogging.lifecycle import shutdown
from hftlogging.logger import BoundLogger, HFTLogger, context
from hftlogging.monitor import check_performance
from hftlogging.perf import PerformanceLogger
from hftlogging.timer import LoggingTimer
from hftlogging.worker import get_worker, set_worker

__version__ = "0.1.0"

__all__ = [
    "BoundLogger",
    "ConfigError",
    "HFTLogger",
    "HftLoggingError",
    "LoggingTimer",
    "PerformanceLogger",
    "check_performance",
    "configure",
    "context",
    "get_exchange_logger",
    "get_logger",
    "get_strategy_logger",
    "get_worker",
    "install",
    "set_global_context",
    "set_worker",
    "setup_development_logging",
    "setup_production_logging",
    "shutdown",
    "stats",
    "uninstall",
]
