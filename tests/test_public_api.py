"""The public surface: hftlogging.__all__ and the documented names of the subpackages."""

from __future__ import annotations

import importlib
import importlib.util
import types
from pathlib import Path

import pytest

import hftlogging

# The names the design's public API shows (``hftlogging.<name>``).
DESIGN_NAMES = {
    "configure", "setup_development_logging", "setup_production_logging", "install",
    "shutdown", "get_logger", "get_exchange_logger", "get_strategy_logger", "LoggingTimer",
    "context", "stats", "set_global_context", "PerformanceLogger", "check_performance",
}
# Everything hftlogging exports: the design's names, the logger classes, uninstall,
# the errors and the worker name.
PUBLIC = DESIGN_NAMES | {
    "BoundLogger", "HFTLogger", "uninstall", "ConfigError", "HftLoggingError",
    "get_worker", "set_worker",
}
SUBMODULE_NAMES = {
    "hftlogging.handlers": {"QueueHandler", "QueueListener", "ComponentRotatingFileHandler",
                            "JSONAuditHandler", "PrometheusHandler"},
    "hftlogging.filters": {"LogTypeFilter", "LevelRangeFilter", "TagFilter", "RedactFilter"},
    "hftlogging.formatters": {"ContextFormatter", "JSONFormatter"},
    "hftlogging.testing": {"capture", "CaptureHandler"},
}
TESTS_DIR = Path(__file__).parent


def test_all_is_sorted_and_complete() -> None:
    """__all__ is sorted, has no duplicates and is exactly the public API."""
    names = hftlogging.__all__
    assert names == sorted(names)
    assert len(set(names)) == len(names)
    assert set(names) == PUBLIC
    assert set(names) >= DESIGN_NAMES


def test_every_exported_name_exists() -> None:
    """Every name in __all__ is an attribute; `from hftlogging import *` gives them all."""
    for name in hftlogging.__all__:
        assert getattr(hftlogging, name) is not None
    namespace: dict[str, object] = {}
    exec("from hftlogging import *", namespace)
    assert set(namespace) - {"__builtins__"} == PUBLIC


def test_package_namespace_is_the_public_api() -> None:
    """hftlogging/__init__.py re-exports the public API and nothing else."""
    public = {
        k for k, v in vars(hftlogging).items()
        if not k.startswith("_")
        and not isinstance(v, types.ModuleType)
        and k != "annotations"  # left by ``from __future__ import annotations``
    }
    assert public == PUBLIC
    assert isinstance(hftlogging.__version__, str)


@pytest.mark.parametrize("module", sorted(SUBMODULE_NAMES))
def test_submodule_all(module: str) -> None:
    """Subpackages name the documented classes in a sorted __all__, each importable."""
    mod = importlib.import_module(module)
    names = mod.__all__
    assert names == sorted(names)
    assert SUBMODULE_NAMES[module] <= set(names)
    for name in names:
        assert getattr(mod, name) is not None


def test_hftlogger_is_a_stdlib_logger() -> None:
    """HFTLogger and the bound view are the stdlib types code is written against."""
    import logging

    assert issubclass(hftlogging.HFTLogger, logging.Logger)
    assert issubclass(hftlogging.BoundLogger, logging.LoggerAdapter)
    assert issubclass(hftlogging.ConfigError, hftlogging.HftLoggingError)
    assert issubclass(hftlogging.ConfigError, ValueError)


def test_typing_examples_run() -> None:
    """The typed examples are not only well typed: they run."""
    path = TESTS_DIR / "typing_examples.py"
    spec = importlib.util.spec_from_file_location("typing_examples", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.examples()
