"""Files named twice, torn tails after a crash, and files that are not regular files or
become read-only: nothing lost silently, everything refused counted and reported."""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import signal
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest
from faultkit import (
    IS_ROOT,
    NOBODY,
    ListHandler,
    build_pipeline,
    child_path,
    run_as_nobody,
    scenario,
)

import hftlogging

needs_root = pytest.mark.skipif(not IS_ROOT, reason="needs root (mknod, setuid)")
LINES = 15_000  # per process: 30,000 in all, as in the report this reproduces


# --- two names for one file ------------------------------------------------------------------


def _name_writer(directory: str, filename: str, logger: str, tag: str, exclusive: bool,
                 go: Any, out: Any) -> None:
    hftlogging.configure({
        "version": 1,
        "formatters": {"plain": {"format": "%(message)s"}},
        "handlers": {
            "queue": {"class": "hftlogging.handlers.QueueHandler", "handlers": ["files"],
                      "overflow": "block", "block_timeout_ms": 60000},
            "files": {"class": "hftlogging.handlers.ComponentRotatingFileHandler",
                      "directory": directory, "filename": filename, "formatter": "plain",
                      "max_bytes": 200_000, "backup_count": 1000, "exclusive": exclusive},
        },
        "loggers": {logger: {"level": "INFO", "handlers": ["queue"], "propagate": False}},
    })
    log = logging.getLogger(logger)
    queue = logging._handlers["queue"]  # type: ignore[attr-defined]
    log.info("%s %05d", tag, 0)
    queue.flush()
    go.wait(120)  # both have the file open from here on
    for i in range(1, LINES):
        log.info("%s %05d", tag, i)
    queue.flush()
    go.wait(120)  # and keep it open until both are done
    hftlogging.shutdown()
    s = hftlogging.stats()
    out.put((tag, os.getpid(), s["files"], s["dropped"], s["handler_errors"]))


def _two_names(base: Path, how: str) -> tuple[tuple[str, str, str], tuple[str, str, str]]:
    """(directory, filename, logger) of two writers that reach one file ``base/orders.log``."""
    a = (str(base), "{component}.log", "orders")
    if how == "template":
        return a, (str(base), "orders.log", "other")
    if how == "symlinked_dir":
        link = base.parent / "link"
        link.symlink_to(base, target_is_directory=True)
        return a, (str(link), "orders.log", "other")
    if how == "dotdot":
        (base / "sub").mkdir()
        return a, (f"{base}/sub/..", "orders.log", "other")
    assert how == "hard_link"
    (base / "orders.log").touch()
    os.link(base / "orders.log", base / "alias.log")
    return a, (str(base), "alias.log", "other")


def _rotation_order(f: Path) -> tuple[str, int]:
    """Sort key: per file chain, the oldest backup (highest number) first, current last."""
    stem, _, n = f.name.rpartition(".")
    return (stem, -int(n)) if n.isdigit() else (f.name, 0)


def _all_lines(directory: Path) -> dict[str, list[int]]:
    """Per writer, its numbers over every file, each file chain in rotation order."""
    seqs: dict[str, list[int]] = {}
    files = [f for f in directory.iterdir() if f.is_file() and not f.name.startswith(".")]
    for f in sorted(files, key=_rotation_order):
        for line in f.read_text().splitlines():
            tag, seq = line.split()
            seqs.setdefault(tag, []).append(int(seq))
    return seqs


@scenario("file_two_names")
@pytest.mark.parametrize("exclusive", [True, False], ids=["exclusive", "shared"])
@pytest.mark.parametrize("how", ["template", "symlinked_dir", "dotdot", "hard_link"])
def test_two_names_for_one_file_lose_nothing(tmp_path: Path, how: str,
                                             exclusive: bool) -> None:
    """Two processes reach one file by two names (another template, a symlinked directory,
    '..', a hard link), 15,000 lines each: every line is written exactly once. Exclusive
    writers meet on the file's own lock (its inode): the second is refused the file and
    writes a per-pid file beside it, counted in stats()["files"]["file_conflicts"] and
    reported on stderr; shared writers coordinate and share the file. A file with two
    hard links is refused to everyone (its rotation could not be coordinated)."""
    base = tmp_path / "logs"
    base.mkdir()
    a, b = _two_names(base, how)
    ctx = multiprocessing.get_context("spawn")
    go, out = ctx.Barrier(2), ctx.Queue()
    procs = [ctx.Process(target=_name_writer, args=(*w, tag, exclusive, go, out))
             for w, tag in ((a, "A"), (b, "B"))]
    for p in procs:
        p.start()
    results = {}
    for _ in procs:
        tag, pid, files, dropped, errors = out.get(timeout=300)
        results[tag] = (pid, files, dropped, errors)
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    seqs = _all_lines(base)
    assert seqs == {"A": list(range(LINES)), "B": list(range(LINES))}
    assert all(r[2] == 0 and not any(r[3].values()) for r in results.values()), results
    conflicts = {tag: r[1]["file_conflicts"] for tag, r in results.items()}
    per_pid = sorted(f.name for f in base.iterdir() if f.name.startswith(("orders.", "alias."))
                     and f.name.split(".")[1].isdigit())
    if how == "hard_link":
        assert conflicts == {"A": 1, "B": 1}
        assert len(per_pid) == 2
    elif exclusive:
        assert sorted(conflicts.values()) == [0, 1]
        loser = next(t for t, c in conflicts.items() if c)
        assert per_pid == [f"orders.{results[loser][0]}.log"]
    else:
        assert conflicts == {"A": 0, "B": 0}
        assert per_pid == []


def test_a_conflict_is_reported_on_stderr(tmp_path: Path) -> None:
    """The refused writer says which file, why, and where its records go instead."""
    code = textwrap.dedent(f"""
        import logging, hftlogging
        from hftlogging.handlers import ComponentRotatingFileHandler
        h = ComponentRotatingFileHandler({str(tmp_path)!r}, filename="orders.log")
        h.emit(logging.makeLogRecord({{"msg": "mine", "name": "x"}}))
        print(hftlogging.stats()["files"]["file_conflicts"], flush=True)
        input()
    """)
    env = {**os.environ, "PYTHONPATH": child_path()}  # the parent's hftlogging
    first = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert first.stdout is not None and first.stdout.readline().strip() == "0"
        second = subprocess.run(
            [sys.executable, "-c", code.replace('"orders.log"', '"{component}.log"')
             .replace('"name": "x"', '"name": "orders"')],
            input="\n", capture_output=True, text=True, timeout=60, check=False, env=env)
    finally:
        with contextlib.suppress(Exception):
            first.communicate("\n", timeout=60)
    assert second.returncode == 0, second.stderr
    assert second.stdout.strip() == "1"
    pid_file = next(tmp_path.glob("orders.*.log"))
    assert (f"hftlogging: {tmp_path}/orders.log is already written by another process or "
            f"handler under this or another name; process ") in second.stderr
    assert f"writes {pid_file} instead" in second.stderr
    assert pid_file.read_text().endswith("mine\n")


# --- torn tails --------------------------------------------------------------------------------

_BIG = 8 << 20  # one record of 8 MiB: SIGKILL lands inside its write


def _torn_writer(directory: str) -> None:
    h = hftlogging.handlers.ComponentRotatingFileHandler(
        directory, filename="big.log", formatter=logging.Formatter("%(message)s"))
    rec = logging.makeLogRecord({"msg": "x" * _BIG, "name": "big"})
    while True:
        h.emit_batch([rec] * 4)


def _kill_mid_write(directory: Path) -> int:
    """Start a writer of huge records, SIGKILL it while its file grows; the file's size."""
    ctx = multiprocessing.get_context("fork")
    p = ctx.Process(target=_torn_writer, args=(str(directory),))
    p.start()
    path = directory / "big.log"
    deadline = time.monotonic() + 60
    size = 0
    while time.monotonic() < deadline:
        with contextlib.suppress(FileNotFoundError):
            size = path.stat().st_size
        if size > _BIG:  # past the first record: the next ones are being written
            break
    assert p.pid is not None
    os.kill(p.pid, signal.SIGKILL)
    p.join(30)
    return path.stat().st_size


@scenario("file_torn_tail")
def test_a_crash_mid_record_leaves_a_tail_the_next_writer_repairs(
    tmp_path: Path, capfd: pytest.CaptureFixture[str],
) -> None:
    """SIGKILL while an 8 MiB record is being written leaves a partial last line; the next
    handler to open the file ends the fragment with a newline (counted in torn_tails,
    reported on stderr with its length), so its own first record starts on a new line.
    The kill is repeated until it lands inside a record (it nearly always does at once)."""
    for _attempt in range(20):
        size = _kill_mid_write(tmp_path)
        with open(tmp_path / "big.log", "rb") as f:
            f.seek(size - 1)
            if f.read(1) != b"\n":
                break
        (tmp_path / "big.log").unlink()
    else:
        pytest.fail("20 kills never landed inside a record")
    fragment = size % (_BIG + 1)
    capfd.readouterr()
    h = hftlogging.handlers.ComponentRotatingFileHandler(
        tmp_path, filename="big.log", formatter=logging.Formatter("%(message)s"))
    try:
        h.emit(logging.makeLogRecord({"msg": "after the crash", "name": "big"}))
    finally:
        h.close()
    err = capfd.readouterr().err
    assert h.torn_tails == 1
    length = f"{fragment} bytes" if fragment < 65536 else "over 64 KiB"
    assert f"hftlogging: {tmp_path}/big.log ended in a partial line ({length}, " in err
    with open(tmp_path / "big.log", "rb") as f:
        f.seek(size)
        assert f.read() == b"\nafter the crash\n"
    lines = (tmp_path / "big.log").read_bytes().split(b"\n")
    assert lines[-2] == b"after the crash" and lines[-1] == b""
    assert all(set(ln) == {ord("x")} for ln in lines[:-2])


@scenario("file_torn_tail")
@pytest.mark.parametrize("exclusive", [True, False], ids=["exclusive", "shared"])
def test_a_torn_tail_is_ended_once_and_reported_with_its_length(
    tmp_path: Path, exclusive: bool, capfd: pytest.CaptureFixture[str],
) -> None:
    """A file ending in 11 bytes without a newline: the first opener (exclusive, or the
    first of a shared group) appends one newline and says so; a second open changes
    nothing; an intact file is never touched."""
    (tmp_path / "a.log").write_bytes(b"whole line\npartial rec")
    (tmp_path / "b.log").write_bytes(b"whole line\n")
    capfd.readouterr()
    for _ in range(2):
        h = hftlogging.handlers.ComponentRotatingFileHandler(
            tmp_path, exclusive=exclusive, formatter=logging.Formatter("%(message)s"))
        try:
            h.emit_batch([logging.makeLogRecord({"msg": "next", "name": n}) for n in "ab"])
        finally:
            h.close()
    assert (tmp_path / "a.log").read_bytes() == b"whole line\npartial rec\nnext\nnext\n"
    assert (tmp_path / "b.log").read_bytes() == b"whole line\nnext\nnext\n"
    err = capfd.readouterr().err
    assert err.count("ended in a partial line") == 1
    assert (f"hftlogging: {tmp_path}/a.log ended in a partial line (11 bytes, left by a "
            "writer stopped mid-record); ended it with a newline so the next record starts "
            "on its own line") in err


# --- not a regular file ------------------------------------------------------------------------


def _special_file_run(tmp_path: Path, logger_name: str, make: Any, exclusive: bool) -> None:
    fb = ListHandler()
    p = build_pipeline(
        logger_name,
        {"files": {"class": "hftlogging.handlers.ComponentRotatingFileHandler",
                   "directory": str(tmp_path), "filename": "orders.log",
                   "formatter": "plain", "exclusive": exclusive}},
        formatters={"plain": {"format": "%(message)s"}},
        fallback=fb, failure_threshold=1000, flush_interval_ms=1,
    )
    make(tmp_path / "orders.log")
    for i in range(200):
        p.log.info("refused %d", i)
    p.flush()  # returns: the listener did not block on the FIFO or device
    s = p.stats()
    assert s["handler_errors"]["files"] >= 1
    assert s["handler_fallbacks"]["files"] >= 1
    assert hftlogging.stats()["files"]["file_conflicts"] >= 1
    msgs = [r.getMessage() for r in fb.records]
    assert [m for m in msgs if m.startswith("refused")] == [f"refused {i}" for i in range(200)]
    (tmp_path / "orders.log").unlink()  # a regular file takes its place
    p.log.info("resumed")
    p.flush()
    p.assert_healthy()
    assert (tmp_path / "orders.log").read_text() == "resumed\n"


@scenario("file_is_fifo")
@pytest.mark.parametrize("reader", [False, True], ids=["no-reader", "reader"])
def test_a_fifo_as_the_file_is_refused_without_blocking(
    tmp_path: Path, logger_name: str, reader: bool,
) -> None:
    """The component file is a FIFO, with or without a reader: the listener never blocks on
    it, nothing is written into it; the records go to the fallback, counted
    (handler_errors, handler_fallbacks, file_conflicts); a regular file in its place is
    written again."""
    fds: list[int] = []

    def make(path: Path) -> None:
        os.mkfifo(path)
        if reader:
            fds.append(os.open(path, os.O_RDONLY | os.O_NONBLOCK))

    try:
        _special_file_run(tmp_path, logger_name, make, exclusive=True)
        if reader:
            assert os.read(fds[0], 4096) == b""  # nothing was ever written into the FIFO
    finally:
        for fd in fds:
            os.close(fd)


@scenario("file_is_device")
@needs_root
@pytest.mark.parametrize("exclusive", [True, False], ids=["exclusive", "shared"])
def test_a_device_as_the_file_is_refused(tmp_path: Path, logger_name: str,
                                         exclusive: bool) -> None:
    """The component file is a character device (a node like /dev/null): refused as not a
    regular file, counted, records on the fallback (not swallowed by the device); a
    regular file in its place is written again."""

    def make(path: Path) -> None:
        os.mknod(path, stat.S_IFCHR | 0o666, os.stat("/dev/null").st_rdev)

    _special_file_run(tmp_path, logger_name, make, exclusive=exclusive)


# --- made read-only mid-run ----------------------------------------------------------------------


def _read_only_child(d: Path, exclusive: bool) -> dict[str, Any]:
    """Runs in a forked child as ``nobody``; returns its findings."""
    fb = ListHandler()
    hftlogging.configure({
        "version": 1,
        "formatters": {"plain": {"format": "%(message)s"}},
        "handlers": {
            "files": {"class": "hftlogging.handlers.ComponentRotatingFileHandler",
                      "directory": str(d), "formatter": "plain", "exclusive": exclusive},
            "queue": {"class": "hftlogging.handlers.QueueHandler", "handlers": ["files"],
                      "failure_threshold": 1000, "flush_interval_ms": 1, "fallback": fb},
        },
        "loggers": {"orders": {"level": "INFO", "handlers": ["queue"], "propagate": False}},
    })
    qh = logging._handlers["queue"]  # type: ignore[attr-defined]
    log = hftlogging.get_logger("orders")
    path = d / "orders.log"
    log.info("one")
    qh.flush()
    path.chmod(0o444)  # made read-only: the open descriptor keeps writing
    log.info("two")
    qh.flush()
    # Replaced by a read-only file (as logrotate's "create 0444" would): reopening fails.
    path.rename(d / "orders.log.moved")
    os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o444))
    for i in range(100):
        log.info("refused %d", i)
    qh.flush()
    errors = dict(qh.stats()["handler_errors"])
    path.chmod(0o644)  # writable again
    log.info("four")
    qh.flush()
    result = {
        "uid": os.getuid(), "errors": errors,
        "fallback": [r.getMessage() for r in fb.records],
        "listener_errors": qh.stats()["listener_errors"],
        "alive": bool(qh.listener and qh.listener.running),
    }
    hftlogging.shutdown()
    return result


@scenario("file_read_only")
@needs_root
@pytest.mark.parametrize("exclusive", [True, False], ids=["exclusive", "shared"])
def test_a_file_made_read_only_mid_run(exclusive: bool) -> None:
    """An unprivileged writer whose file is made read-only keeps writing through its open
    descriptor; once the file is replaced by a read-only one, the records go to the
    fallback (counted) instead of being lost; writable again, the file takes the next."""
    import shutil
    import tempfile

    top = Path(tempfile.mkdtemp(prefix="hftlogging-readonly-"))  # tmp_path is root's only
    try:
        top.chmod(0o755)
        d = top / "logs"
        d.mkdir()
        os.chown(d, NOBODY, NOBODY)
        out = run_as_nobody(_read_only_child, d, exclusive)
        assert out["uid"] == NOBODY
        assert out["errors"]["files"] >= 1
        assert out["listener_errors"] == 0 and out["alive"]
        assert [m for m in out["fallback"] if m.startswith("refused")] == [
            f"refused {i}" for i in range(100)]
        assert (d / "orders.log.moved").read_text() == "one\ntwo\n"
        assert (d / "orders.log").read_text() == "four\n"
    finally:
        shutil.rmtree(top, ignore_errors=True)
