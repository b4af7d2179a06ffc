"""``import hftlogging`` has no side effects (checked in a fresh interpreter)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

PROBE = """
import atexit, json, logging, signal, sys, threading

def state():
    manager = logging.Logger.manager
    return {
        "atexit": atexit._ncallbacks(),
        "threads": sorted(t.name for t in threading.enumerate()),
        "logger_class": logging.getLoggerClass().__qualname__,
        "manager_class": repr(manager.loggerClass),
        "root_type": type(logging.root).__qualname__,
        "root_handlers": len(logging.root.handlers),
        "handlers": sorted(logging._handlers),
        "handler_list": len(logging._handlerList),
        "record_factory": logging.getLogRecordFactory().__qualname__,
        "loggers_with_handlers": sorted(
            name for name, lg in manager.loggerDict.items()
            if isinstance(lg, logging.Logger) and lg.handlers),
        "logger_types": sorted({type(lg).__qualname__ for lg in manager.loggerDict.values()}),
        "sigterm": repr(signal.getsignal(signal.SIGTERM)),
        "disable": manager.disable,
    }

before = state()
import IMPORTED_MODULES
after = state()
print(json.dumps({
    "before": before,
    "after": after,
    "prometheus_client": "prometheus_client" in sys.modules,
}))
"""


def probe(modules: str) -> dict[str, object]:
    code = textwrap.dedent(PROBE).replace("IMPORTED_MODULES", modules)
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
        env=dict(os.environ), check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    "modules",
    [
        "hftlogging",
        "hftlogging, hftlogging.handlers, hftlogging.formatters, hftlogging.filters, "
        "hftlogging.testing, hftlogging.timer, hftlogging.factory, hftlogging.config",
    ],
    ids=["package", "submodules"],
)
def test_import_has_no_side_effects(modules: str) -> None:
    """No handler, no logger class change, no thread, no atexit, no prometheus_client."""
    result = probe(modules)
    before, after = result["before"], result["after"]
    assert isinstance(before, dict) and isinstance(after, dict)
    for key in before:
        assert after[key] == before[key], key
    assert after["atexit"] == before["atexit"]
    assert after["threads"] == ["MainThread"]
    assert after["logger_class"] == "Logger"
    assert after["root_type"] == "RootLogger"
    assert result["prometheus_client"] is False


def test_probe_detects_side_effects() -> None:
    """The probe itself notices install() and a started queue (so the test above can fail)."""
    result = probe(
        "hftlogging\n"
        "hftlogging.install()\n"
        "hftlogging.configure({'version': 1, 'handlers': {'q': {"
        "'class': 'hftlogging.handlers.QueueHandler', 'handlers': []}}, "
        "'root': {'handlers': ['q']}})"
    )
    before, after = result["before"], result["after"]
    assert isinstance(before, dict) and isinstance(after, dict)
    assert after["logger_class"] == "HFTLogger"
    assert after["root_type"] == "HFTRootLogger"
    assert after["atexit"] > before["atexit"]
    assert "hftlogging-listener" in after["threads"]
    assert after["handlers"] == ["q"]
