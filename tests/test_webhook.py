"""WebhookHandler against a real HTTP server on 127.0.0.1: posts, failures, isolation."""

from __future__ import annotations

import http.server
import json
import logging
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import hftlogging
from hftlogging.exceptions import ConfigError
from hftlogging.handlers.webhook import WebhookHandler
from hftlogging.testing import CaptureHandler


class Endpoint:
    """An HTTP server in a thread that keeps every JSON body POSTed to it."""

    def __init__(self, status: int = 200) -> None:
        self.bodies: list[Any] = []
        self.status = status
        endpoint = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers["Content-Length"])
                endpoint.bodies.append(json.loads(self.rfile.read(length)))
                self.send_response(endpoint.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:  # keep the test output clean
                pass

        self.server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/alerts"
        self.thread = threading.Thread(target=self.server.serve_forever, name="test-http")
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


@pytest.fixture
def endpoint() -> Iterator[Endpoint]:
    """A running endpoint answering 200."""
    e = Endpoint()
    yield e
    e.stop()


def _configure(logger_name: str, url: str, path: Path, fallback: logging.Handler) -> None:
    hftlogging.configure({
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"plain": {"format": "%(levelname)s %(message)s"}},
        "handlers": {
            "webhook": {"class": "hftlogging.handlers.webhook.WebhookHandler", "url": url,
                        "timeout_s": 5},
            "file": {"class": "logging.FileHandler", "filename": str(path),
                     "formatter": "plain"},
            "fallback": {"()": lambda: fallback},
            "queue": {"class": "hftlogging.handlers.QueueHandler",
                      "handlers": ["webhook", "file"], "fallback": "fallback",
                      "failure_threshold": 100},
        },
        "loggers": {logger_name: {"level": "DEBUG", "handlers": ["queue"], "propagate": False}},
    })


def test_critical_records_are_posted_as_json_and_others_are_not(
    endpoint: Endpoint, tmp_path: Path, logger_name: str
) -> None:
    """Only CRITICAL records reach the endpoint, with their message and context."""
    _configure(logger_name, endpoint.url, tmp_path / "all.log", CaptureHandler())
    log = hftlogging.get_logger(logger_name)
    log.info("order filled")
    log.error("venue slow")
    log.critical("kill switch engaged", exchange="mexc", loss_usd=1250.5)
    assert log.flush()
    posted = [item for body in endpoint.bodies for item in body]
    assert [(p["level"], p["message"], p["context"]) for p in posted] == [
        ("CRITICAL", "kill switch engaged", {"exchange": "mexc", "loss_usd": 1250.5}),
    ]
    assert posted[0]["logger"] == logger_name
    assert (tmp_path / "all.log").read_text().splitlines() == [
        "INFO order filled", "ERROR venue slow", "CRITICAL kill switch engaged",
    ]


def test_each_batch_is_one_request_in_order(
    endpoint: Endpoint, tmp_path: Path, logger_name: str
) -> None:
    """Records arrive in order, at most one POST per listener batch."""
    _configure(logger_name, endpoint.url, tmp_path / "all.log", CaptureHandler())
    log = hftlogging.get_logger(logger_name)
    for i in range(50):
        log.critical("alert %d", i)
    assert log.flush()
    assert [p["message"] for b in endpoint.bodies for p in b] == [f"alert {i}" for i in range(50)]
    queue = logging._handlers["queue"]  # type: ignore[attr-defined]
    assert len(endpoint.bodies) <= queue.stats()["batches"]


@pytest.mark.parametrize("failure", ["down", "http_500"])
def test_endpoint_failures_are_counted_and_other_handlers_go_on(
    tmp_path: Path, logger_name: str, failure: str
) -> None:
    """A refused or failed POST is a counted handler error; its records go to the fallback;
    the file beside it gets every record."""
    server = Endpoint(status=500)
    url = server.url
    if failure == "down":
        server.stop()
    fallback = CaptureHandler()
    _configure(logger_name, url, tmp_path / "all.log", fallback)
    log = hftlogging.get_logger(logger_name)
    try:
        log.critical("first alert")
        log.flush()
        log.info("after")
        log.critical("second alert")
        log.flush()
        stats = hftlogging.stats()
    finally:
        if failure != "down":
            server.stop()
    assert stats["handler_errors"]["webhook"] == 2
    assert stats["handler_fallbacks"]["webhook"] == 2
    assert stats["handler_errors"]["file"] == 0
    assert fallback.messages() == ["first alert", "second alert"]
    assert (tmp_path / "all.log").read_text().splitlines() == [
        "CRITICAL first alert", "INFO after", "CRITICAL second alert",
    ]
    if failure == "http_500":
        assert len(server.bodies) == 2  # the server saw both, and refused them


def test_outside_a_queue_a_failure_goes_to_handle_error(tmp_path: Path) -> None:
    """Used directly (stdlib emit), a refused POST calls handleError and never raises."""
    server = Endpoint()
    url = server.url
    server.stop()
    handler = WebhookHandler(url, timeout_s=5)
    errors: list[logging.LogRecord] = []
    handler.handleError = errors.append  # type: ignore[method-assign]
    record = logging.LogRecord("x", logging.CRITICAL, __file__, 1, "down", None, None)
    handler.handle(record)
    assert errors == [record]
    assert handler.sent == 0


@pytest.mark.parametrize("url", ["ftp://example", "", None, "127.0.0.1:8080"])
def test_a_url_that_is_not_http_fails_at_configuration(url: Any) -> None:
    """An invalid url is a ConfigError naming the key."""
    with pytest.raises(ConfigError, match="url"):
        WebhookHandler(url)
