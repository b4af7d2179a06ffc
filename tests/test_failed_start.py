"""A configuration that fails to start leaves nothing it created: no file, no lock, no
directory, no shared metrics state; what other processes created stays."""

from __future__ import annotations

import copy
import logging
import os
import socket
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import hftlogging
from hftlogging.exceptions import ConfigError


class FailingHandler(logging.Handler):
    """A handler whose construction fails, as a taken port or a bad path would."""

    def __init__(self, **_options: Any) -> None:
        super().__init__()
        msg = "refused on purpose"
        raise ConfigError(msg, key="class")


def tree(root: Path) -> dict[str, int]:
    """Every path under ``root`` (directories too) with its size; {} when it is missing."""
    if not root.exists():
        return {}
    return {str(p.relative_to(root)): (p.stat().st_size if p.is_file() else -1)
            for p in sorted(root.rglob("*"))}


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The shipped configurations' variables pointing into ``tmp_path``."""
    monkeypatch.setenv("HFTLOGGING_DIR", str(tmp_path / "logs"))
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / "run"))
    (tmp_path / "run").mkdir()
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    return tmp_path


@pytest.fixture
def foreign_port() -> Iterator[int]:
    """A port held by a listening socket that is not an hftlogging worker."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        yield int(s.getsockname()[1])


def files_config(logs: Path) -> dict[str, Any]:
    return {
        "version": 1,
        "handlers": {
            "components": {"class": "hftlogging.handlers.ComponentRotatingFileHandler",
                           "directory": str(logs / "nested" / "deeper"),
                           "filename": "{component}.log"},
            "audit": {"class": "hftlogging.handlers.JSONAuditHandler",
                      "filename": str(logs / "audit.jsonl")},
            "zz_last": {"class": f"{__name__}.FailingHandler"},
        },
        "root": {"level": "INFO", "handlers": ["components", "audit", "zz_last"]},
    }


def test_port_held_outside_the_group_names_the_variable_and_leaves_nothing(
    env: Path, foreign_port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The shipped production configuration on a port another program holds fails with
    the variable that sets the port in its message, and leaves no log directory, audit
    file, lock or shared metrics directory behind."""
    monkeypatch.setenv("HFTLOGGING_PROMETHEUS_PORT", str(foreign_port))
    before = tree(env)
    with pytest.raises(ConfigError) as caught:
        hftlogging.configure("production")
    text = str(caught.value)
    assert "HFTLOGGING_PROMETHEUS_PORT" in text
    assert f"127.0.0.1:{foreign_port}" in text
    assert caught.value.key == "handlers.prometheus.port"
    after = tree(env)
    assert not (env / "logs").exists()
    assert {k for k in after if "metrics-" in k} == set()
    # Only the worker name this process claimed (held for its life) may have appeared.
    claimed = {k for k in after if "workers" in k}
    if claimed:
        claimed.add(str(Path("run") / "hftlogging"))
    assert {k: v for k, v in after.items() if k not in claimed} == before
    assert "PROMETHEUS_MULTIPROC_DIR" not in os.environ


def test_last_handler_failing_leaves_the_directory_as_before(env: Path) -> None:
    """Files, lock files and directories made by the handlers built before the failing
    one are removed; what was in the directory before stays, byte for byte."""
    logs = env / "logs"
    logs.mkdir()
    (logs / "earlier.log").write_text("kept\n")
    before = tree(logs)
    with pytest.raises(ConfigError, match="refused on purpose"):
        hftlogging.configure(files_config(logs))
    assert tree(logs) == before


def test_failed_start_keeps_another_processs_files(env: Path) -> None:
    """A process whose start fails removes only what it created: the files a running
    worker holds in the same directory stay."""
    logs = env / "logs"
    script = env / "worker.py"
    script.write_text(textwrap.dedent(
        f"""
        import sys, hftlogging
        hftlogging.configure({files_config(logs)!r} | {{"handlers": {{
            "components": {files_config(logs)["handlers"]["components"]!r},
            "audit": {{"class": "hftlogging.handlers.JSONAuditHandler",
                       "filename": {str(logs / "audit.{worker}.jsonl")!r}}}}},
            "root": {{"level": "INFO", "handlers": ["components", "audit"]}}}})
        hftlogging.get_logger("held").warning("a line")
        hftlogging.get_logger("held").audit("event", n=1)
        hftlogging.shutdown()
        print("ready", flush=True)
        sys.stdin.readline()
        """
    ))
    environ = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    environ.pop("HFTLOGGING_WORKER", None)
    worker = subprocess.Popen([sys.executable, str(script)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True, env=environ)
    try:
        assert worker.stdout is not None
        assert worker.stdout.readline().strip() == "ready"
        before = tree(logs)
        assert any(k.endswith("held.log") for k in before)
        assert any(k.startswith("audit.") for k in before)
        config = files_config(logs)
        # The running worker's files: refused, and its lock file stays. (Without the
        # failing handler: loading builds every handler first, and that one would fail
        # before the files are opened.)
        sharing = copy.deepcopy(config)
        del sharing["handlers"]["zz_last"]
        sharing["root"]["handlers"] = ["components", "audit"]
        with pytest.raises(ConfigError, match="already written by another process"):
            hftlogging.configure(sharing)
        assert tree(logs) == before
        # Files of our own beside the worker's, then a failing handler.
        config["handlers"]["components"]["filename"] = "{component}.{pid}.log"
        config["handlers"]["audit"]["filename"] = str(logs / "audit.{pid}.jsonl")
        with pytest.raises(ConfigError, match="refused on purpose"):
            hftlogging.configure(config)
        assert tree(logs) == before
    finally:
        worker.kill()
        worker.wait(30)
