"""Options that would break the pipeline later are refused at load, by check and by
configure() alike, naming the file, the key and the fix."""

from __future__ import annotations

import inspect
import logging
import os
import socket
import threading
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml
from faultkit import scenario

import hftlogging
from hftlogging.cli import main as cli_main
from hftlogging.exceptions import ConfigError
from hftlogging.handlers import (
    ComponentRotatingFileHandler,
    JSONAuditHandler,
    PrometheusHandler,
    QueueHandler,
)

# Every option that is a duration, per handler class (found from the signatures, so a
# new duration option is tried without editing this list).
_DURATION_SUFFIXES = ("_ms", "_s")
_BASE: dict[type, dict[str, Any]] = {
    QueueHandler: {"handlers": ["sink"]},
    ComponentRotatingFileHandler: {"directory": "{tmp}/logs"},
    JSONAuditHandler: {"filename": "{tmp}/audit.jsonl"},
    PrometheusHandler: {"port": 0},
}
BAD_DURATIONS = [("nan", float("nan")), ("inf", float("inf")), ("minus_inf", float("-inf")),
                 ("beyond_a_day", 1e300)]


def _duration_options() -> list[tuple[type, str]]:
    out = []
    for cls in _BASE:
        for name in inspect.signature(cls).parameters:
            if name.endswith(_DURATION_SUFFIXES):
                out.append((cls, name))
    return out


def _write(tmp: Path, handlers: dict[str, Any]) -> Path:
    cfg = {"version": 1, "disable_existing_loggers": False,
           "handlers": {"sink": {"class": "logging.NullHandler"}, **handlers},
           "loggers": {"fault.options": {"handlers": list(handlers), "propagate": False}}}
    path = tmp / f"cfg-{uuid.uuid4().hex[:6]}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def _both_refuse(path: Path, key: str, capsys: Any, *words: str) -> str:
    """check and configure() both refuse ``path``, naming the file and ``key``."""
    assert cli_main(["check", str(path)]) != 0
    checked = capsys.readouterr().err
    with pytest.raises(ConfigError) as e:
        hftlogging.configure(path)
    msg = str(e.value)
    for text in (checked, msg):
        assert str(path) in text and f"key {key}" in text, text
        for w in words:
            assert w in text, text
    return msg


@scenario("option_breaks_pipeline")
@pytest.mark.parametrize(("bad_id", "value"), BAD_DURATIONS, ids=[b for b, _ in BAD_DURATIONS])
@pytest.mark.parametrize(("cls", "option"), _duration_options(),
                         ids=[f"{c.__name__}.{o}" for c, o in _duration_options()])
def test_a_duration_that_is_not_finite_is_refused(
    tmp_path: Path, capsys: Any, running: Any, cls: type, option: str, bad_id: str, value: float,
) -> None:
    """NaN, ±inf and 1e300 for every duration option (a NaN flush interval made an idle
    listener spin; an infinite stop timeout made shutdown() raise OverflowError): refused
    by check and configure() with the file, the key and the fix; nothing changes."""
    base = {k: (v.format(tmp=tmp_path) if isinstance(v, str) else v)
            for k, v in _BASE[cls].items()}
    path = _write(tmp_path, {"h": {"class": f"hftlogging.handlers.{cls.__name__}",
                                   **base, option: value}})
    msg = _both_refuse(path, f"handlers.h.{option}", capsys, option)
    assert repr(value) in msg, msg  # what was found, beside what is expected
    running()


_LONG = "n" * 300


@scenario("option_breaks_pipeline")
@pytest.mark.parametrize(("case", "handler", "key"), [
    ("nul_stdlib_file", {"class": "logging.FileHandler", "filename": "{tmp}/a\x00b.log"},
     "filename"),
    ("long_name_stdlib_file", {"class": "logging.FileHandler", "filename": "{tmp}/" + _LONG},
     "filename"),
    ("nul_component_file", {"class": "hftlogging.handlers.ComponentRotatingFileHandler",
                            "directory": "{tmp}/logs", "filename": "x\x00{component}.log"},
     "filename"),
    ("long_component_file", {"class": "hftlogging.handlers.ComponentRotatingFileHandler",
                             "directory": "{tmp}/logs", "filename": _LONG + ".log"}, "filename"),
    ("long_directory", {"class": "hftlogging.handlers.ComponentRotatingFileHandler",
                        "directory": "{tmp}/" + _LONG}, "directory"),
    ("path_too_long", {"class": "hftlogging.handlers.ComponentRotatingFileHandler",
                       "directory": "{tmp}/" + "/".join(["d" * 200] * 25)}, "directory"),
    ("nul_audit_file", {"class": "hftlogging.handlers.JSONAuditHandler",
                        "filename": "{tmp}/au\x00dit.jsonl"}, "filename"),
    ("long_audit_file", {"class": "hftlogging.handlers.JSONAuditHandler",
                         "filename": "{tmp}/" + _LONG + ".jsonl"}, "filename"),
])
def test_a_path_the_kernel_refuses_is_refused_at_load(
    tmp_path: Path, capsys: Any, running: Any, case: str, handler: dict[str, Any], key: str,
) -> None:
    """A NUL byte, a name over NAME_MAX (255) or a path over PATH_MAX in a file or
    directory option (every record went to the fallback): refused by check and
    configure() naming the file, the key and the fix; no file or directory is created."""
    entry = {k: (v.format(tmp=tmp_path) if isinstance(v, str) and "{tmp}" in v else v)
             for k, v in handler.items()}
    before = sorted(p.name for p in tmp_path.iterdir())
    path = _write(tmp_path, {"h": entry})
    _both_refuse(path, f"handlers.h.{key}", capsys, "expected")
    assert sorted(p.name for p in tmp_path.iterdir() if p != path) == before
    running()


def not_a_handler(**_: Any) -> object:
    """A factory that returns something that is not a handler."""
    return {"looks": "like config"}


def raises_when_built(**_: Any) -> logging.Handler:
    """A factory that fails only when called (as a broken import-time dependency)."""
    raise RuntimeError("backend unavailable")


@scenario("check_builds_handlers")
@pytest.mark.parametrize(("case", "entry", "words"), [
    ("builtins_dict", {"()": "builtins.dict"}, ("logging.Handler", "builtins.dict")),
    ("factory_returns_dict", {"()": f"{__name__}.not_a_handler"}, ("logging.Handler",)),
    ("factory_raises", {"()": f"{__name__}.raises_when_built"}, ("backend unavailable",)),
    ("bad_option_value", {"class": "logging.StreamHandler", "stream": 42},
     ("stream",)),
])
def test_check_and_configure_agree_on_handlers(
    tmp_path: Path, capsys: Any, running: Any, case: str, entry: dict[str, Any],
    words: tuple[str, ...],
) -> None:
    """A handler entry that only building it reveals as broken (`(): builtins.dict` used to
    pass check and fail in configure()): check builds what configure() builds, so both
    refuse it with the same key."""
    path = _write(tmp_path, {"h": entry})
    if case == "bad_option_value":
        # StreamHandler accepts any object as its stream and fails only when writing: both
        # accept it (they agree); what matters is that neither disagrees with the other.
        assert cli_main(["check", str(path)]) == 0
        capsys.readouterr()
        hftlogging.configure(path)
        running()
        return
    _both_refuse(path, "handlers.h", capsys, *words)
    running()


@scenario("check_builds_handlers")
def test_check_leaves_nothing_behind(tmp_path: Path, capsys: Any) -> None:
    """check builds every handler but leaves no file, no thread and no bound port: the
    log file does not exist afterwards, no hftlogging thread is running, and the
    Prometheus port can be bound at once."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    threads_before = {t.ident for t in threading.enumerate()}
    handlers_before = set(logging._handlers)  # type: ignore[attr-defined]
    path = _write(tmp_path, {
        "file": {"class": "logging.FileHandler", "filename": str(tmp_path / "app.log")},
        "rot": {"class": "logging.handlers.RotatingFileHandler",
                "filename": str(tmp_path / "rot.log"), "maxBytes": 1000},
        "prom": {"class": "hftlogging.handlers.PrometheusHandler", "port": port,
                 "namespace": f"chk{uuid.uuid4().hex[:6]}"},
    })
    assert cli_main(["check", str(path)]) == 0, capsys.readouterr().err
    assert not (tmp_path / "app.log").exists() and not (tmp_path / "rot.log").exists()
    assert set(logging._handlers) == handlers_before  # type: ignore[attr-defined]
    left = [t for t in threading.enumerate() if t.ident not in threads_before and t.is_alive()]
    assert left == [], left
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind(("127.0.0.1", port))
    assert os.listdir(tmp_path) == [path.name]
