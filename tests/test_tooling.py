"""The benchmarks and the demo stay out of the runtime path.

They live in :mod:`hftlogging.tools`; no runtime module imports them, the ``check`` command
loads neither, and importing them changes nothing in the process's logging.
"""

from __future__ import annotations

import ast
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

import hftlogging
from hftlogging.tools.bench import network, otel, workers

PACKAGE = Path(hftlogging.__file__).parent


def _imported_modules(source: str) -> set[str]:
    """Every module an import statement names, at module level or inside functions."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def test_no_runtime_module_imports_the_tooling() -> None:
    """Outside hftlogging/tools, only the command line names the tooling (the cli imports it
    inside the command that runs it)."""
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        rel = path.relative_to(PACKAGE)
        if rel.parts[0] == "tools" or rel.name == "cli.py":
            continue
        names = _imported_modules(path.read_text(encoding="utf-8"))
        if any(n == "hftlogging.tools" or n.startswith("hftlogging.tools.") for n in names):
            offenders.append(str(rel))
    assert offenders == []


def test_the_cli_module_loads_neither_bench_nor_demo() -> None:
    """`python -X importtime -c "import hftlogging.cli"` lists no benchmark or demo module
    (what `hftlogging check` loads before it runs)."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import hftlogging.cli"],
        capture_output=True, text=True, timeout=120, check=True,
    )
    modules = [line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines()
               if line.startswith("import time:")]
    assert "hftlogging.cli" in modules
    tooling = [m for m in modules if m.startswith("hftlogging.tools")
               or m.split(".")[-1] in ("bench", "demo")]
    assert tooling == []


def test_the_check_command_loads_neither_bench_nor_demo(tmp_path: Path) -> None:
    """A whole `hftlogging check` run leaves no tooling module in sys.modules."""
    code = ("import sys; from hftlogging.cli import main; code = main(['check', 'production']);"
            " print(sorted(m for m in sys.modules if m.startswith('hftlogging.tools')));"
            " sys.exit(code)")
    env = dict(os.environ, LOG_DIR=str(tmp_path))
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, check=False, env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.splitlines()[-1] == "[]"


def test_importing_the_benchmarks_changes_no_logging_state() -> None:
    """Importing every benchmark module (in a fresh interpreter) leaves
    ``logging._srcfile``, the logger class and the root logger's handlers as they were."""
    code = (
        "import logging, pkgutil, importlib\n"
        "before = (logging._srcfile, logging.getLoggerClass(), list(logging.root.handlers))\n"
        "import hftlogging.tools.bench as b\n"
        "for m in pkgutil.iter_modules(b.__path__):\n"
        "    if m.name != '__main__':\n"
        "        importlib.import_module('hftlogging.tools.bench.' + m.name)\n"
        "import hftlogging.tools.demo\n"
        "after = (logging._srcfile, logging.getLoggerClass(), list(logging.root.handlers))\n"
        "assert before == after, (before, after)\n"
        "assert before[0] is not None\n"
        "print('ok')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.stdout.strip() == "ok", done.stderr[-2000:]


def test_the_tuned_stdlib_setup_restores_srcfile(tmp_path: Path) -> None:
    """The one setup that turns off stdlib's caller lookup restores it when stopped."""
    from hftlogging.tools.bench.setups import StdlibTunedSetup

    saved = logging._srcfile  # type: ignore[attr-defined]
    setup = StdlibTunedSetup(str(tmp_path))
    setup.start()
    try:
        assert logging._srcfile is None  # type: ignore[attr-defined]
        setup.log.info("order %s filled", 1, extra={"exchange": "mexc", "qty": 0.5})
    finally:
        setup.stop()
    assert logging._srcfile == saved  # type: ignore[attr-defined]
    assert setup.lines() == 1


def test_a_missing_server_is_skipped_and_said(monkeypatch: pytest.MonkeyPatch) -> None:
    """A server program that is not there is reported as skipped, not started or faked."""
    monkeypatch.setenv("RSYSLOGD_BIN", "/nonexistent/rsyslogd")
    monkeypatch.setenv("ROTEL_BIN", "/nonexistent/rotel-agent")
    reasons = network.missing()
    assert set(reasons) == {"syslog", "otlp"}
    assert "rsyslogd is not installed" in reasons["syslog"]
    assert "rotel-agent is not installed" in reasons["otlp"]


def test_unknown_scenarios_raise_config_errors() -> None:
    """A bad scenario name is a ConfigError (a ValueError) in the package's grammar."""
    from hftlogging.exceptions import ConfigError

    with pytest.raises(ConfigError, match=r"expected one of none, idle, span, found 'x'"):
        otel.measure_trace({"mode": "x", "n": 1})
    with pytest.raises(ValueError, match=r"expected one of file, syslog, otlp, found 'x'"):
        network.measure_network({"target": "x", "n": 1})
    with pytest.raises(ConfigError, match=r"^bench worker task: expected one of loggers, "):
        workers.run_spec({"task": "x"})
