"""Hostile configurations: a clear ConfigError, the running configuration untouched, and
nothing executed or built from the file."""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
import uuid
from pathlib import Path
from typing import Any

import pytest
from faultkit import (
    BAD_CONFIG_FILES,
    CONFIGURABLE,
    IS_ROOT,
    run_as_nobody,
    wrong_type_cases,
)

import hftlogging
from hftlogging.exceptions import ConfigError


def _entry(class_path: str, option: str, value: Any, tmp: Path) -> dict[str, Any]:
    base: dict[str, Any] = {
        "hftlogging.handlers.QueueHandler": {"handlers": ["sink"]},
        "hftlogging.handlers.ComponentRotatingFileHandler": {"directory": str(tmp / "logs")},
        "hftlogging.handlers.JSONAuditHandler": {"filename": str(tmp / "a" / "audit.jsonl")},
        "hftlogging.handlers.PrometheusHandler": {"namespace": f"cfg{uuid.uuid4().hex[:6]}"},
        "hftlogging.filters.RedactFilter": {},
    }[class_path]
    cfg: dict[str, Any] = {"version": 1, "handlers": {"sink": {"class": "logging.NullHandler"}},
                           "root": {"handlers": ["sink"]}}
    opts = {**base, option: value}
    if CONFIGURABLE[class_path] == "filter":
        cfg["filters"] = {"f": {"()": class_path, **opts}}
        cfg["handlers"]["sink"]["filters"] = ["f"]
    else:
        cfg["handlers"]["h"] = {"class": class_path, **opts}
        cfg["root"]["handlers"] = ["h"]
    return cfg


_CASES = wrong_type_cases()


@pytest.mark.parametrize(("class_path", "option", "value"), _CASES,
                         ids=[f"{c.rsplit('.', 1)[1]}.{o}" for c, o, _ in _CASES])
def test_every_option_with_a_wrong_type_is_a_clear_error(
    running: Any, tmp_path: Path, class_path: str, option: str, value: Any
) -> None:
    """Each option of each handler and filter, given a value of the wrong type: ConfigError
    naming the option and what was found; the running configuration keeps working."""
    with pytest.raises(ConfigError) as info:
        hftlogging.configure(_entry(class_path, option, value, tmp_path))
    text = str(info.value)
    assert option in text, text  # names the option...
    found = (repr(value), type(value).__name__, "string" if isinstance(value, str) else "-")
    assert any(f in text for f in found), text  # ...and what was found instead
    running()


@pytest.mark.parametrize(("text", "words"), [c[1:] for c in BAD_CONFIG_FILES],
                         ids=[c[0] for c in BAD_CONFIG_FILES])
def test_hostile_yaml_is_refused_cleanly(
    running: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str, words: str
) -> None:
    """Alias bombs, Python tags, syntax errors, unknown classes, missing variables: one
    ConfigError naming the problem, quickly, and nothing was executed."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("HFT_FAULT_SURELY_UNSET", raising=False)
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        hftlogging.configure(path)
    assert words.lower() in str(info.value).lower(), str(info.value)
    assert not (tmp_path / "PWNED").exists()
    running()


def test_config_sources_that_cannot_be_read(running: Any, tmp_path: Path) -> None:
    """Not UTF-8, over the size limit, a directory, a missing file: ConfigError each."""
    from hftlogging.config import MAX_CONFIG_BYTES

    cases = {
        "non_utf8": (tmp_path / "latin.yaml", b"version: 1\n# caf\xe9\n", "UTF-8"),
        "too_large": (tmp_path / "big.yaml", b"#" * (MAX_CONFIG_BYTES + 1), "bytes"),
    }
    for path, data, _ in cases.values():
        path.write_bytes(data)
    (tmp_path / "dir.yaml").mkdir()
    paths = [(p, w) for p, _, w in cases.values()]
    paths += [(tmp_path / "dir.yaml", "directory"), (tmp_path / "missing.yaml", "nothing")]
    for path, words in paths:
        with pytest.raises(ConfigError) as info:
            hftlogging.configure(path)
        assert words.lower() in str(info.value).lower(), (path, str(info.value))
    running()


def _configure_error(cfg: Path) -> dict[str, Any]:
    try:
        hftlogging.configure(cfg)
    except ConfigError as e:
        return {"error": str(e)}
    return {"error": None}


@pytest.mark.skipif(not IS_ROOT, reason="root reads any file: the check runs as nobody")
def test_unreadable_config_file_as_an_unprivileged_user(tmp_path: Path) -> None:
    """chmod 000: an unprivileged process gets a ConfigError saying it cannot read it."""
    top = Path(tempfile.mkdtemp(prefix="hftlogging-unreadable-"))
    try:
        top.chmod(0o755)
        cfg = top / "secret.yaml"
        cfg.write_text("version: 1\n")
        cfg.chmod(0)
        out = run_as_nobody(_configure_error, cfg)
        assert out["error"] and "cannot read" in out["error"], out
        assert "Permission denied" in out["error"]
    finally:
        shutil.rmtree(top, ignore_errors=True)


def test_a_failed_configure_leaves_no_handler_thread_or_port(
    running: Any, tmp_path: Path
) -> None:
    """A configuration that fails while building (after an endpoint started) releases what
    it built: no leaked thread, the running configuration restored."""
    import socket

    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen(1)
    try:
        cfg = {
            "version": 1,
            "handlers": {
                "ok": {"class": "hftlogging.handlers.PrometheusHandler",
                       "namespace": f"ok{uuid.uuid4().hex[:6]}", "port": 0},
                "taken": {"class": "hftlogging.handlers.PrometheusHandler",
                          "namespace": f"tk{uuid.uuid4().hex[:6]}",
                          "port": holder.getsockname()[1]},
            },
            "root": {"handlers": ["ok", "taken"]},
        }
        with pytest.raises(ConfigError):
            hftlogging.configure(cfg)
    finally:
        holder.close()
    import threading

    assert not [t for t in threading.enumerate() if t.name == "hftlogging-prometheus-http"]
    running()
    logging.getLogger().handlers.clear()


HALF_BUILT_CHILD = """
from hftlogging.handlers import ComponentRotatingFileHandler, JSONAuditHandler
from hftlogging.handlers.prometheus import PrometheusHandler
d = sys.argv[1]
refused = []  # kept, as an application keeping the error would: its traceback holds the handler
for build in (lambda: ComponentRotatingFileHandler(d, max_bytes="lots"),
              lambda: ComponentRotatingFileHandler(12345),
              lambda: JSONAuditHandler(d + "/audit.jsonl", fsync="sometimes"),
              lambda: PrometheusHandler(namespace="bad name")):
    try:
        build()
    except hftlogging.ConfigError as e:
        refused.append(e)
print(len(refused))
"""


def test_handlers_refused_at_construction_exit_cleanly(tmp_path: Path) -> None:
    """A handler whose options were refused is already in logging's handler list; the
    process still exits cleanly (logging.shutdown() can close it)."""
    from faultkit import run_child

    proc = run_child(HALF_BUILT_CHILD, str(tmp_path / "logs"))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["4"]
    assert "Exception ignored" not in proc.stderr and "Traceback" not in proc.stderr, proc.stderr


GC_CHILD = """
import gc
from hftlogging.handlers.queue import QueueHandler
_start = QueueHandler.start

def start(self):
    gc.collect()  # a collection can run at any allocation: here, at the worst moment
    _start(self)

QueueHandler.start = start
d = sys.argv[1]
hftlogging.configure({
    "version": 1,
    "handlers": {
        "audit": {"class": "hftlogging.handlers.JSONAuditHandler",
                  "filename": d + "/audit.jsonl"},
        "files": {"class": "hftlogging.handlers.ComponentRotatingFileHandler", "directory": d},
        "queue": {"class": "hftlogging.handlers.QueueHandler", "handlers": ["audit", "files"]},
    },
    "root": {"level": "INFO", "handlers": ["queue"]},
})
hftlogging.get_logger("app").audit("configured")
"""


def test_handlers_behind_a_queue_survive_a_garbage_collection_during_configure(
    tmp_path: Path,
) -> None:
    """Handlers only a queue refers to (by name) are still there when the queue starts,
    whenever the garbage collector runs."""
    from faultkit import run_child

    proc = run_child(GC_CHILD, str(tmp_path))
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = (tmp_path / "audit.jsonl").read_text().splitlines()
    assert any(json.loads(line)["event"] == "configured" for line in lines)
