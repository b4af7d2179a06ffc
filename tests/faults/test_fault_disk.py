"""Disk full, file size limits, and a log directory removed, replaced or made unwritable."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import stat
from pathlib import Path
from typing import Any

import pytest
from faultkit import (
    IS_ROOT,
    NOBODY,
    ListHandler,
    build_pipeline,
    run_as_nobody,
    run_child,
    scenario,
)

import hftlogging
from hftlogging.filters import LogTypeFilter
from hftlogging.handlers.audit import verify

needs_root = pytest.mark.skipif(not IS_ROOT, reason="needs root (mknod, setuid)")
DEV_FULL = "/dev/full"


def _full_node(path: Path) -> None:
    """Make ``path`` a character device that behaves as /dev/full (ENOSPC on write)."""
    st = os.stat(DEV_FULL)
    os.mknod(path, stat.S_IFCHR | 0o666, st.st_rdev)


def _fast_retry() -> dict[str, Any]:
    return {"failure_threshold": 2, "retry_initial_s": 0.01, "retry_max_s": 0.02,
            "flush_interval_ms": 1}


@scenario("disk_full_dev_full")
@pytest.mark.skipif(not os.path.exists(DEV_FULL), reason="no /dev/full")
def test_stdlib_file_handler_on_dev_full_is_counted_reported_and_resumes(
    logger_name: str, tmp_path: Path
) -> None:
    """ENOSPC on every write: calls return, errors counted, records on the fallback, and the
    handler writes again once its target has room."""
    full = logging.FileHandler(DEV_FULL)
    full.setFormatter(logging.Formatter("%(message)s"))
    fb = ListHandler()
    p = build_pipeline(logger_name, {"full": full}, fallback=fb, **_fast_retry())
    for i in range(50):
        p.log.info("lost-space %d", i)
    p.flush()
    s = p.stats()
    assert s["handler_errors"]["full"] >= 2
    fb_msgs = [r.getMessage() for r in fb.records]
    # Every record the handler could not write is on the fallback (plus the notice).
    assert [f"lost-space {i}" for i in range(50)] == [m for m in fb_msgs if m.startswith("lost")]
    assert any("failed" in m and "full" in m for m in fb_msgs)
    p.assert_healthy()
    # Space returns: point the handler at a real file (its stream is reopened lazily).
    ok = tmp_path / "ok.log"
    full.acquire()
    try:
        with contextlib.suppress(OSError):
            full.stream.close()
        full.stream = None  # type: ignore[assignment]
        full.baseFilename = str(ok)
    finally:
        full.release()
    import time

    deadline = time.monotonic() + 10
    while "space-back 0" not in (ok.read_text() if ok.exists() else ""):
        assert time.monotonic() < deadline, "the handler never resumed"
        p.log.info("space-back %d", 0)
        p.flush()
        time.sleep(0.02)  # pacing the retries of a back-off, not synchronisation
    for i in range(1, 20):
        p.log.info("space-back %d", i)
    hftlogging.shutdown()
    lines = ok.read_text().splitlines()
    assert [f"space-back {i}" for i in range(1, 20)] == lines[-19:]
    assert any("recovered" in m for m in (r.getMessage() for r in fb.records))


@scenario("disk_full_project_handlers")
@needs_root
def test_component_and_audit_files_on_a_full_device_resume_when_replaced(
    logger_name: str, tmp_path: Path
) -> None:
    """The project's handlers on a /dev/full node: counted, on the fallback, then resumed
    (the node replaced by a regular file is reopened; the audit chain verifies)."""
    from hftlogging.handlers import ComponentRotatingFileHandler, JSONAuditHandler

    d = tmp_path / "logs"
    d.mkdir()
    _full_node(d / "app.log")
    _full_node(d / "audit.jsonl")
    files = ComponentRotatingFileHandler(d, component_map={"": "app"},
                                         formatter=logging.Formatter("%(message)s"))
    audit = JSONAuditHandler(d / "audit.jsonl")
    fb = ListHandler()
    p = build_pipeline(logger_name, {"files": files, "audit": audit}, fallback=fb,
                       **_fast_retry())
    for i in range(20):
        p.log.info("text %d", i)
        p.log.audit("order", n=i)
    p.flush()
    errors = p.stats()["handler_errors"]
    assert errors["files"] >= 1 and errors["audit"] >= 1
    fb_msgs = [r.getMessage() for r in fb.records]
    assert all(f"text {i}" in fb_msgs for i in range(20))
    assert fb_msgs.count("audit order") >= 20  # both handlers see the audit records
    p.assert_healthy()
    # Space returns: the full devices are replaced by regular files.
    for name in ("app.log", "audit.jsonl"):
        (d / name).unlink()
        (d / name).touch()
    import time

    deadline = time.monotonic() + 10
    while "again" not in (d / "app.log").read_text() or not (d / "audit.jsonl").stat().st_size:
        assert time.monotonic() < deadline, "the handlers never resumed"
        p.log.info("again")
        p.log.audit("again")
        p.flush()
        time.sleep(0.02)  # pacing the back-off's retries
    for i in range(10):
        p.log.audit("after", n=i)
    hftlogging.shutdown()
    res = verify([str(d / "audit.jsonl")])
    assert res.ok, res
    events = [json.loads(x)["event"] for x in (d / "audit.jsonl").read_text().splitlines()]
    assert events[-10:] == ["after"] * 10


FSIZE_CHILD = """
import resource, signal
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
d = sys.argv[1]
hftlogging.configure({
    "version": 1,
    "formatters": {"plain": {"format": "%(message)s"}},
    "handlers": {
        "files": {"class": "hftlogging.handlers.ComponentRotatingFileHandler",
                  "directory": d, "component_map": {"": "app"}, "formatter": "plain"},
        "audit": {"class": "hftlogging.handlers.JSONAuditHandler",
                  "filename": d + "/audit.jsonl", "filters": ["only_audit"]},
        "queue": {"class": "hftlogging.handlers.QueueHandler", "handlers": ["files", "audit"],
                  "failure_threshold": 1000, "flush_interval_ms": 1},
    },
    "filters": {"only_audit": {"()": "hftlogging.filters.LogTypeFilter", "types": ["audit"]}},
    "root": {"level": "INFO", "handlers": ["queue"]},
})
log = hftlogging.get_logger("app")
qh = logging._handlers["queue"]
soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
resource.setrlimit(resource.RLIMIT_FSIZE, (4096, hard))
t0 = time.monotonic()
for i in range(400):
    log.info("limited %05d %s", i, "p" * 40)
    if i % 50 == 0:
        log.audit("limited", n=i)
    if i % 40 == 0:
        qh.flush()
qh.flush()
calls_s = time.monotonic() - t0
errors = dict(hftlogging.stats()["handler_errors"])
resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
for i in range(100):
    log.info("resumed %05d", i)
    log.audit("resumed", n=i)
hftlogging.shutdown()
s = hftlogging.stats()
print(json.dumps({"errors": errors, "calls_s": calls_s,
                  "listener_errors": [q["listener_errors"] for q in s["queues"]]}))
"""


@scenario("disk_full_rlimit")
@pytest.mark.skipif(not hasattr(os, "fork"), reason="POSIX resource limits")
def test_file_size_limit_is_counted_reported_and_writing_resumes(tmp_path: Path) -> None:
    """EFBIG past RLIMIT_FSIZE: calls return, failures counted and on stderr, no half line
    left in the text file, and the same files take records once the limit is raised."""
    d = tmp_path / "logs"
    proc = run_child(FSIZE_CHILD, str(d))
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["errors"]["files"] >= 1, out
    assert out["listener_errors"] == [0]
    assert out["calls_s"] < 30
    assert "limited 00399" in proc.stderr  # the fallback has what the file could not take
    text = [x for x in (d / "app.log").read_text().splitlines() if x != "audit resumed"]
    text = [x for x in text if x != "audit limited"]
    assert text[-100:] == [f"resumed {i:05d}" for i in range(100)]
    for line in text:  # every line whole: no record continued another's half line
        assert line.startswith(("limited ", "resumed ")), line
        assert line.startswith("resumed") or len(line) == len("limited 00000 ") + 40, line
    res = verify([str(d / "audit.jsonl")])
    assert res.ok, res
    events = [json.loads(x)["event"] for x in (d / "audit.jsonl").read_text().splitlines()]
    assert events[-100:] == ["resumed"] * 100


def _dir_pipeline(logger_name: str, d: Path, fb: ListHandler) -> Any:
    from hftlogging.handlers import ComponentRotatingFileHandler, JSONAuditHandler

    files = ComponentRotatingFileHandler(d, component_map={"": "app"},
                                         formatter=logging.Formatter("%(message)s"))
    files.addFilter(LogTypeFilter(types=["text"]))
    audit = JSONAuditHandler(d / "audit.jsonl")
    audit.addFilter(LogTypeFilter(types=["audit"]))
    return build_pipeline(logger_name, {"files": files, "audit": audit}, fallback=fb,
                          **_fast_retry())


def _audit_events(path: Path) -> list[str]:
    return [json.loads(x)["event"] for x in path.read_text().splitlines()]


@scenario("dir_removed")
def test_removed_directory_is_recreated_and_no_record_goes_to_a_deleted_file(
    logger_name: str, tmp_path: Path
) -> None:
    """rm -r of the log directory while files are open: the next batch writes a new file."""
    d = tmp_path / "logs"
    fb = ListHandler()
    p = _dir_pipeline(logger_name, d, fb)
    p.log.info("before")
    p.log.audit("before")
    p.flush()
    shutil.rmtree(d)
    p.log.info("after")
    p.log.audit("after")
    p.flush()
    assert (d / "app.log").read_text() == "after\n"
    assert _audit_events(d / "audit.jsonl") == ["after"]
    assert verify([str(d / "audit.jsonl")]).ok
    assert fb.records == []
    p.assert_healthy()


@scenario("dir_replaced_by_file")
def test_directory_replaced_by_a_file_is_counted_then_resumes(
    logger_name: str, tmp_path: Path
) -> None:
    """The directory becomes a regular file: errors counted, records on the fallback;
    once the directory is back, records are written there again."""
    d = tmp_path / "logs"
    fb = ListHandler()
    p = _dir_pipeline(logger_name, d, fb)
    p.log.info("before")
    p.flush()
    shutil.rmtree(d)
    d.write_text("not a directory\n")
    for i in range(5):
        p.log.info("blocked %d", i)
        p.log.audit("blocked", n=i)
    p.flush()
    s = p.stats()
    assert s["handler_errors"]["files"] >= 1 and s["handler_errors"]["audit"] >= 1
    msgs = [r.getMessage() for r in fb.records]
    assert all(f"blocked {i}" in msgs for i in range(5))
    p.assert_healthy()
    d.unlink()
    import time

    deadline = time.monotonic() + 10
    while not (d / "app.log").exists() or "back" not in (d / "app.log").read_text():
        assert time.monotonic() < deadline, "never resumed"
        p.log.info("back")
        p.log.audit("back")
        p.flush()
        time.sleep(0.02)  # pacing the back-off's retries
    hftlogging.shutdown()
    assert "back" in _audit_events(d / "audit.jsonl")
    assert verify([str(d / "audit.jsonl")]).ok


def _unwritable_child(d: Path) -> dict[str, Any]:
    """Runs in a forked child as ``nobody``; returns its findings."""
    fb = ListHandler()
    hftlogging.configure({
        "version": 1,
        "formatters": {"plain": {"format": "%(message)s"}},
        "handlers": {
            "files": {"class": "hftlogging.handlers.ComponentRotatingFileHandler",
                      "directory": str(d), "formatter": "plain"},
            "queue": {"class": "hftlogging.handlers.QueueHandler", "handlers": ["files"],
                      "failure_threshold": 1000, "flush_interval_ms": 1, "fallback": fb},
        },
        "loggers": {"alpha": {"level": "INFO", "handlers": ["queue"], "propagate": False},
                    "beta": {"level": "INFO", "handlers": ["queue"], "propagate": False}},
    })
    qh = logging._handlers["queue"]  # type: ignore[attr-defined]
    a = hftlogging.get_logger("alpha")
    b = hftlogging.get_logger("beta")
    a.info("alpha first")
    qh.flush()
    os.chmod(d, 0o500)  # the writer's own directory becomes read-only
    try:
        (d / "probe").touch()
        privileged = True  # would make the test void
    except PermissionError:
        privileged = False
    a.info("alpha still open")  # an open file keeps working
    b.info("beta refused")  # a new file cannot be created
    qh.flush()
    errors = dict(qh.stats()["handler_errors"])
    os.chmod(d, 0o700)
    b.info("beta resumed")
    qh.flush()
    result = {
        "privileged": privileged, "uid": os.getuid(), "errors": errors,
        "fallback": [r.getMessage() for r in fb.records],
        "listener_errors": qh.stats()["listener_errors"],
        "alive": bool(qh.listener and qh.listener.running),
    }
    hftlogging.shutdown()
    return result


@scenario("dir_unwritable")
@needs_root
def test_unwritable_directory_as_an_unprivileged_writer(tmp_path: Path) -> None:
    """A writer without root: a read-only directory makes opening fail (counted, reported),
    an already open file keeps working, and writing resumes when permission returns."""
    import tempfile

    # Outside tmp_path: pytest's base directory is private to root.
    top = Path(tempfile.mkdtemp(prefix="hftlogging-unwritable-"))
    try:
        top.chmod(0o755)
        d = top / "logs"
        d.mkdir()
        os.chown(d, NOBODY, NOBODY)
        _run_unwritable(d)
    finally:
        shutil.rmtree(top, ignore_errors=True)


def _run_unwritable(d: Path) -> None:
    out = run_as_nobody(_unwritable_child, d)
    assert out["uid"] == NOBODY and not out["privileged"]
    assert out["errors"]["files"] >= 1
    assert out["listener_errors"] == 0 and out["alive"]
    assert "beta refused" in out["fallback"]
    assert (d / "alpha.log").read_text().splitlines() == ["alpha first", "alpha still open"]
    assert (d / "beta.log").read_text().splitlines() == ["beta resumed"]
