"""Secrets never reach an output; the endpoint stays on loopback; files get safe modes and
never follow a planted symlink."""

from __future__ import annotations

import logging
import os
import socket
import stat
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from faultkit import ListHandler, build_pipeline, scenario

import hftlogging
from hftlogging.exceptions import ConfigError
from hftlogging.filters import DEFAULT_REDACT_KEYS, LogTypeFilter, RedactFilter
from hftlogging.formatters import JSONFormatter
from hftlogging.handlers import ComponentRotatingFileHandler, JSONAuditHandler
from hftlogging.handlers.prometheus import PrometheusHandler


def _secret(tag: str) -> str:
    return f"S3CR3T-{tag}-{uuid.uuid4().hex}"


@pytest.fixture
def outputs(logger_name: str, tmp_path: Path) -> Iterator[tuple[Any, PrometheusHandler, Path]]:
    """Text, JSON, audit, stdlib file and Prometheus handlers, each behind a RedactFilter."""
    from prometheus_client import CollectorRegistry

    built: list[PrometheusHandler] = []

    def prom() -> PrometheusHandler:
        h = PrometheusHandler(namespace=f"sec{uuid.uuid4().hex[:6]}",
                              registry=CollectorRegistry(), port=0,
                              context_labels=["token", "desk"])
        h.addFilter(RedactFilter())
        built.append(h)
        return h

    def text() -> logging.Handler:
        h = ComponentRotatingFileHandler(tmp_path / "text")
        h.addFilter(RedactFilter())
        return h

    def js() -> logging.Handler:
        h = ComponentRotatingFileHandler(tmp_path / "json", formatter=JSONFormatter())
        h.addFilter(RedactFilter())
        return h

    def audit() -> logging.Handler:
        h = JSONAuditHandler(tmp_path / "audit" / "audit.jsonl")
        h.addFilter(LogTypeFilter(types=["audit"]))
        h.addFilter(RedactFilter())
        return h

    def plain() -> logging.Handler:
        h = logging.FileHandler(tmp_path / "plain.log")
        # A stdlib formatter reads instance attributes only: records without context
        # (those of stdlib-style calls) get its default.
        h.setFormatter(logging.Formatter("%(message)s %(context)s %(args)s",
                                         defaults={"context": {}}))
        h.addFilter(RedactFilter())
        return h

    fb = ListHandler()
    p = build_pipeline(logger_name, {"text": text, "json": js, "audit": audit, "plain": plain,
                                     "prom": prom}, fallback=fb)
    yield p, built[-1], tmp_path
    assert fb.records == [], "a handler failed: its records went to the fallback"
    hftlogging.shutdown()
    built[-1].close()


@scenario("redaction")
def test_a_secret_passed_any_way_reaches_no_output(
    outputs: tuple[Any, PrometheusHandler, Path],
) -> None:
    """Keyword fields, extra=, a bound view, contextvar context, logger context, audit
    fields, nested dicts and lists, mapping arguments and metric tags, for every default
    key: the secret is in no file, no JSON line, no audit line and no Prometheus label."""
    p, prom, root = outputs
    log = p.log
    secrets: list[str] = []

    def s(tag: str) -> str:
        secrets.append(_secret(tag))
        return secrets[-1]

    for key in DEFAULT_REDACT_KEYS:
        log.info("kw", **{key: s(key)})
        log.info("extra", extra={key: s(f"extra-{key}"), "password": s("extra-password")})
        log.with_context(**{key: s(f"bound-{key}")}).info("bound")
        with hftlogging.context(**{key: s(f"cv-{key}")}):
            log.warning("contextvar")
        log.audit("login", user="u1", **{key: s(f"audit-{key}")})
        log.info("nested", payload={"auth": {key: s(f"nested-{key}")}},
                 items=[{"x": 1, key: s(f"list-{key}")}])
        log.counter("logins", 1, tags={key: s(f"tag-{key}")})
        log.info("%(" + key + ")s and %(user)s", {key: s(f"arg-{key}"), "user": "u1"})
    log.set_context(authorization=s("logger-context"))
    log.info("logger context")
    log.counter("by_desk", 1, desk="d1", token=s("context-label"))
    log.set_context()
    log.clear_context()
    hftlogging.shutdown()
    with urllib.request.urlopen(f"http://127.0.0.1:{prom.port}/metrics", timeout=10) as r:
        scraped = r.read().decode()
    files = [f for f in root.rglob("*") if f.is_file()]
    assert len(files) >= 4
    blobs = {str(f): f.read_text(errors="replace") for f in files}
    blobs["/metrics"] = scraped
    for where, blob in blobs.items():
        leaked = [x for x in secrets if x in blob]
        assert not leaked, f"{where} leaks {leaked[:3]}"
    assert any("***" in b for w, b in blobs.items() if "/json/" in w)
    assert any("***" in b for w, b in blobs.items() if "/text/" in w)
    assert any("***" in b for w, b in blobs.items() if w.endswith("audit.jsonl"))
    assert 'token="***"' in scraped
    assert p.stats()["listener_errors"] == 0


@scenario("endpoint_loopback")
def test_the_metrics_endpoint_binds_loopback_by_default() -> None:
    """Default options: the endpoint listens on 127.0.0.1 only."""
    h = PrometheusHandler(namespace=f"lo{uuid.uuid4().hex[:6]}", port=0)
    try:
        assert h.addr == "127.0.0.1"
        assert h._server.server_address[0] == "127.0.0.1"
        with urllib.request.urlopen(f"http://127.0.0.1:{h.port}/metrics", timeout=10) as r:
            assert r.status == 200
        other = _non_loopback_address()
        if other is not None:
            with pytest.raises(OSError):
                socket.create_connection((other, h.port), timeout=2).close()
    finally:
        h.close()


def _non_loopback_address() -> str | None:
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect(("192.0.2.1", 9))  # no packet is sent: this only picks a route
            addr = s.getsockname()[0]
    except OSError:
        return None
    return None if addr.startswith("127.") else str(addr)


@pytest.fixture
def umask_022() -> Iterator[None]:
    """A common umask, so the modes checked are the handlers' own."""
    old = os.umask(0o022)
    yield
    os.umask(old)


@scenario("file_modes")
@pytest.mark.parametrize("mode", [None, 0o600, "0600"])
def test_log_and_audit_files_get_their_mode(
    tmp_path: Path, umask_022: None, mode: Any, logger_name: str
) -> None:
    """Files are created 0o640 by default, or with the configured file_mode."""
    opts = {} if mode is None else {"file_mode": mode}
    files = ComponentRotatingFileHandler(tmp_path / "logs", component_map={"": "app"}, **opts)
    audit = JSONAuditHandler(tmp_path / "logs" / "audit.jsonl", **opts)
    p = build_pipeline(logger_name, {"files": files, "audit": audit})
    p.log.info("one")
    p.log.audit("two")
    hftlogging.shutdown()
    expected = 0o640 if mode is None else 0o600
    for name in ("app.log", "audit.jsonl"):
        got = stat.S_IMODE((tmp_path / "logs" / name).stat().st_mode)
        assert got == expected, (name, oct(got))


@scenario("symlink_planted")
def test_a_planted_symlink_is_never_followed(tmp_path: Path, logger_name: str) -> None:
    """A symlink planted where a log file will be opened, or swapped in for an open one:
    the write is refused (counted, reported on the fallback) and the victim is untouched."""
    victim = tmp_path / "victim.txt"
    victim.write_text("VICTIM\n")
    d = tmp_path / "logs"
    d.mkdir()
    (d / "app.log").symlink_to(victim)
    files = ComponentRotatingFileHandler(d, component_map={"": "app"})
    audit = JSONAuditHandler(d / "audit.jsonl")
    audit.addFilter(LogTypeFilter(types=["audit"]))
    fb = ListHandler()
    p = build_pipeline(logger_name, {"files": files, "audit": audit}, fallback=fb)
    p.log.info("refused")
    p.log.audit("written")
    p.flush()
    assert p.stats()["handler_errors"]["files"] >= 1
    assert "refused" in [r.getMessage() for r in fb.records]
    # Swapped in for the open audit file: the next batch notices and refuses it too.
    (d / "audit.jsonl").unlink()
    (d / "audit.jsonl").symlink_to(victim)
    p.log.audit("after swap")
    p.flush()
    assert p.stats()["handler_errors"]["audit"] >= 1
    p.assert_healthy()
    hftlogging.shutdown()
    assert victim.read_text() == "VICTIM\n"


def test_an_audit_file_planted_as_a_symlink_is_a_configuration_error(tmp_path: Path) -> None:
    """The audit file opens at configuration time: a planted symlink is a ConfigError."""
    victim = tmp_path / "victim.txt"
    victim.write_text("VICTIM\n")
    (tmp_path / "audit.jsonl").symlink_to(victim)
    with pytest.raises(ConfigError):
        JSONAuditHandler(tmp_path / "audit.jsonl")
    assert victim.read_text() == "VICTIM\n"
