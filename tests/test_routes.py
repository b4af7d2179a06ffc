"""Routes for real logger names: component_map by name, by ``*.`` suffix, and a default file."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

import hftlogging
from hftlogging.cli import EXIT_OK, main
from hftlogging.exceptions import ConfigError
from hftlogging.handlers.rotating import ComponentRotatingFileHandler, component_matcher


def test_matcher_names_suffixes_children_and_default() -> None:
    """A name key takes the logger and its children (longest first); a ``*.`` key takes
    any name ending in those segments and its children; then ``""``; else the default."""
    match = component_matcher({
        "app": "app", "app.orders": "orders", "*.worker_open": "open",
        "*.provider.worker_close": "close",
    }, "other")
    assert match("app.orders.db") == "orders"
    assert match("app.misc") == "app"
    assert match("app.services.provider.worker_open") == "app"  # a name key comes first
    assert match("svc.provider.worker_open") == "open"
    assert match("worker_open") == "open"
    assert match("svc.provider.worker_open.db") == "open"
    assert match("svc.provider.worker_open_x") == "other"  # whole segments only
    assert match("x.provider.worker_close") == "close"
    assert match("x.worker_close") == "other"
    assert component_matcher({"": "all", "*.a": "a"}, "d")("b") == "all"
    assert component_matcher({"": "all", "*.a": "a"}, "d")("x.a") == "a"


@pytest.mark.parametrize("key", ["app.*", "*worker", "*.", "a.*.b"])
def test_matcher_refuses_other_wildcards(key: str) -> None:
    """A '*' anywhere but a leading '*.' is a configuration error naming the key."""
    with pytest.raises(ConfigError, match=r"only allowed as a leading '\*\.'"):
        ComponentRotatingFileHandler.check_config({"component_map": {key: "c"}})


def _configure_provider(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HFTLOGGING_DIR", str(tmp_path))
    monkeypatch.setenv("HFTLOGGING_WORKER", "w1")
    monkeypatch.setenv("HFTLOGGING_PROMETHEUS_PORT", "")
    monkeypatch.setenv("HFTLOGGING_PUSHGATEWAY", "")
    hftlogging.configure("provider_workers")


def test_provider_workers_routes_module_names_and_keeps_the_rest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Under the shipped provider_workers, getLogger(__name__) names reach their worker's
    file at INFO, their children too, and a logger no component claims writes other.log:
    no INFO line is lost for lack of a route."""
    _configure_provider(tmp_path, monkeypatch)
    logging.getLogger("app.services.provider.worker_open").info("opened 1")
    logging.getLogger("app.services.provider.worker_open.db").info("db query")
    logging.getLogger("app.services.provider.dispatcher").warning("slow route")
    logging.getLogger("worker_close").info("closed 2")
    logging.getLogger("thirdparty.client").info("connected")
    logging.getLogger("app.services.provider.worker_pending").error("pending failed")
    hftlogging.shutdown()

    def messages(name: str) -> list[str]:
        return [ln.split("]: ", 1)[1].strip() for ln in
                (tmp_path / name).read_text().splitlines()]

    assert messages("worker_open.log") == ["opened 1", "db query"]
    assert messages("dispatcher.log") == ["slow route"]
    assert messages("worker_close.log") == ["closed 2"]
    assert messages("other.log") == ["connected"]
    assert messages("worker_pending.log") == ["pending failed"]
    assert messages("provider_errors.log") == ["pending failed"]


def test_check_shows_the_shared_errors_file_and_the_default_route(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """hftlogging check provider_workers marks the shared files, lists the component
    routes with the file for any other name, and routes root's INFO to other.log."""
    code = main(["check", "provider_workers", "--set", "HFTLOGGING_DIR=/var/log/svc",
                 "--set", "HFTLOGGING_PROMETHEUS_PORT=", "--set", "HFTLOGGING_PUSHGATEWAY="])
    out = capsys.readouterr().out
    assert code == EXIT_OK
    assert ("  provider_errors  ComponentRotatingFileHandler /var/log/svc/provider_errors.log"
            "  (level ERROR+; filters text_only, redact; shared: every process appends, "
            "rotation coordinated)") in out
    routes = out.split("component routes of provider", 1)[1].split("\n\n", 1)[0]
    assert "  *.worker_open        worker_open.log\n" in routes
    assert routes.rstrip().endswith("(any other name)     other.log")
    root = out.split("  logger root (fast path):\n", 1)[1]
    assert root.startswith(
        "    text   DEBUG                 -\n"
        "    text   INFO                  provider (other.log)\n"
    )


def test_check_without_a_catch_all_shows_the_default_component(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    """A map with a "" key shows it as the route of any other name; the default is then
    not listed a second time."""
    cfg = tmp_path / "c.yaml"
    cfg.write_text(
        "version: 1\nhandlers:\n  f:\n    class: hftlogging.handlers.ComponentRotatingFileHandler\n"
        f"    directory: {tmp_path}\n    component_map: {{'': rest, 'app.a': a}}\n"
        "root: {level: INFO, handlers: [f]}\n"
    )
    assert main(["check", os.fspath(cfg)]) == EXIT_OK
    routes = capsys.readouterr().out.split("component routes of f", 1)[1]
    assert "  (any other name)  rest.log\n  app.a             a.log\n" in routes
    assert routes.count("(any other name)") == 1
