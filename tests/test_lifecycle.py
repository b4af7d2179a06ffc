"""Lifecycle: nothing lost at exit, sys.exit, SIGTERM, fork and multiprocessing children."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

POSIX = os.name == "posix"

# The records wait in the queue: the listener only wakes every minute and batches are
# larger than what is logged, so whatever reaches the file was drained at the end.
PRELUDE = """
import logging, os, sys, threading, time
import hftlogging
LOG_FILE = sys.argv[1]
hftlogging.configure({
    "version": 1,
    "formatters": {"plain": {"format": "%(message)s"}},
    "handlers": {
        "file": {"class": "logging.FileHandler", "filename": LOG_FILE, "formatter": "plain"},
        "queue": {"class": "hftlogging.handlers.QueueHandler", "handlers": ["file"],
                  "flush_interval_ms": 60000, "batch_size": 1000000, "capacity": 1000000,
                  "drain_on_sigterm": DRAIN_ON_SIGTERM},
    },
    "root": {"level": "INFO", "handlers": ["queue"]},
})
log = logging.getLogger("app")


def listener_asleep():
    # Return once the listener thread sleeps out its flush interval (nothing wakes it).
    # Until then it may still take records logged meanwhile: its first look at the queue
    # can come late when the machine is loaded.
    listener = logging.getLogger().handlers[0].listener
    thread = listener._thread
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        frame = sys._current_frames().get(thread.ident)
        if (frame is not None and frame.f_code.co_name == "wait"
                and frame.f_code.co_filename == threading.__file__
                and not listener._wake_event.is_set()):
            return
        time.sleep(0.001)
    sys.exit("the listener thread never slept in Event.wait")
"""


def _run(tmp_path: Path, body: str, *, drain_on_sigterm: bool = True,
         **kwargs: object) -> tuple[subprocess.Popen[str], Path]:
    log_file = tmp_path / "app.log"
    script = PRELUDE.replace("DRAIN_ON_SIGTERM", repr(drain_on_sigterm)) + textwrap.dedent(body)
    proc = subprocess.Popen(
        [sys.executable, "-c", script, str(log_file)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kwargs,  # type: ignore[call-overload]
    )
    return proc, log_file


def _lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def test_records_are_written_when_the_program_ends_normally(tmp_path: Path) -> None:
    """A program that logs and simply ends has every record in its file (atexit drains)."""
    proc, log_file = _run(tmp_path, """
        for i in range(5000):
            log.info("record %d", i)
    """)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert _lines(log_file) == [f"record {i}" for i in range(5000)]


def test_records_logged_just_before_sys_exit_are_written(tmp_path: Path) -> None:
    """sys.exit() right after a burst: the exit code is kept and every record is on disk."""
    proc, log_file = _run(tmp_path, """
        for i in range(5000):
            log.info("record %d", i)
        log.audit("shutdown", code=3)
        sys.exit(3)
    """)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 3, err
    lines = _lines(log_file)
    assert lines[:5000] == [f"record {i}" for i in range(5000)]
    assert lines[5000:] == ["audit shutdown"]


@pytest.mark.skipif(not POSIX, reason="SIGTERM semantics are POSIX")
def test_sigterm_drains_the_queue_then_ends_the_process_by_the_signal(tmp_path: Path) -> None:
    """SIGTERM with no application handler: the queue is drained, the process dies by SIGTERM."""
    proc, log_file = _run(tmp_path, """
        listener_asleep()
        for i in range(5000):
            log.info("record %d", i)
        print("ready", flush=True)
        time.sleep(60)
    """)
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "ready"
    assert _lines(log_file) == [], "records must still be queued when the signal arrives"
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGTERM
    assert _lines(log_file) == [f"record {i}" for i in range(5000)]


@pytest.mark.skipif(not POSIX, reason="SIGTERM semantics are POSIX")
def test_sigterm_drain_can_be_turned_off(tmp_path: Path) -> None:
    """drain_on_sigterm=False leaves SIGTERM's default action alone: queued records are lost."""
    proc, log_file = _run(tmp_path, """
        listener_asleep()
        for i in range(100):
            log.info("record %d", i)
        print("ready", flush=True)
        time.sleep(60)
    """, drain_on_sigterm=False)
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "ready"
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGTERM
    assert _lines(log_file) == []


@pytest.mark.skipif(not POSIX, reason="SIGTERM semantics are POSIX")
def test_an_application_sigterm_handler_is_left_in_place(tmp_path: Path) -> None:
    """If the application handles SIGTERM itself, hftlogging does not replace its handler."""
    log_file = tmp_path / "app.log"
    script = """
import signal, sys
def mine(signum, frame):
    raise SystemExit(7)
signal.signal(signal.SIGTERM, mine)
""" + PRELUDE.replace("DRAIN_ON_SIGTERM", "True") + """
log.info("configured")
print(signal.getsignal(signal.SIGTERM) is mine, flush=True)
"""
    out = subprocess.run(
        [sys.executable, "-c", script, str(log_file)], capture_output=True, text=True,
        timeout=60, check=True,
    ).stdout
    assert out.strip() == "True"
    assert _lines(log_file) == ["configured"]


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_forked_child_writes_its_records_once_and_not_the_parents(tmp_path: Path) -> None:
    """Records queued in the parent at fork are written once (by the parent); the child's too."""
    proc, log_file = _run(tmp_path, """
        for i in range(1000):
            log.info("parent-before %d", i)
        pid = os.fork()
        if pid == 0:
            for i in range(1000):
                log.info("child %d", i)
            hftlogging.shutdown()
            os._exit(0)
        _, status = os.waitpid(pid, 0)
        assert os.WEXITSTATUS(status) == 0
        for i in range(1000):
            log.info("parent-after %d", i)
    """)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    lines = _lines(log_file)
    for kind in ("parent-before", "child", "parent-after"):
        mine = [line for line in lines if line.startswith(kind + " ")]
        assert sorted(mine) == sorted(f"{kind} {i}" for i in range(1000)), kind
    assert len(lines) == 3000


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_multiprocessing_fork_child_is_drained_at_its_exit(tmp_path: Path) -> None:
    """A multiprocessing child ends with os._exit; its queued records are still written."""
    proc, log_file = _run(tmp_path, """
        import multiprocessing
        def work(n):
            for i in range(n):
                log.info("worker %d", i)
        log.info("parent starts")
        ctx = multiprocessing.get_context("fork")
        p = ctx.Process(target=work, args=(2000,))
        p.start()
        p.join()
        assert p.exitcode == 0
        log.info("parent ends")
    """)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    lines = _lines(log_file)
    assert sorted(line for line in lines if line.startswith("worker ")) == sorted(
        f"worker {i}" for i in range(2000))
    assert lines.count("parent starts") == 1
    assert lines.count("parent ends") == 1


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_fork_during_heavy_logging_from_other_threads(tmp_path: Path) -> None:
    """fork() while four threads log: no deadlock in the child, no line written twice."""
    proc, log_file = _run(tmp_path, """
        import threading
        stop = threading.Event()
        def spam(t):
            i = 0
            while not stop.is_set() and i < 20000:
                log.info("t%d-%d", t, i)
                i += 1
        threads = [threading.Thread(target=spam, args=(t,)) for t in range(4)]
        for t in threads:
            t.start()
        children = []
        for k in range(5):
            time.sleep(0.01)
            pid = os.fork()
            if pid == 0:
                log.info("child %d", k)
                hftlogging.shutdown()
                os._exit(0)
            children.append(pid)
        for pid in children:
            _, status = os.waitpid(pid, 0)
            assert os.WEXITSTATUS(status) == 0
        stop.set()
        for t in threads:
            t.join()
    """)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    lines = _lines(log_file)
    assert len(lines) == len(set(lines)), "a line was written twice"
    assert sorted(line for line in lines if line.startswith("child")) == [
        f"child {k}" for k in range(5)]


def _blocked_signals(native_id: int) -> set[int]:
    """The signals blocked on one thread of this process, read from /proc."""
    status = Path(f"/proc/self/task/{native_id}/status").read_text()
    mask = int(next(ln.split()[1] for ln in status.splitlines() if ln.startswith("SigBlk:")), 16)
    return {n for n in range(1, 65) if mask & (1 << (n - 1))}


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="reads thread masks in /proc")
def test_hftlogging_threads_never_take_a_process_signal() -> None:
    """The listener, the watchdog and the Prometheus threads start with SIGINT, SIGTERM and
    the other control signals blocked, so the kernel delivers them to the application's
    threads: a main thread blocked in sleep() is woken by its own Ctrl-C. The thread that
    started them keeps its mask."""
    import logging
    import threading

    import hftlogging
    from hftlogging.lifecycle import CONTROL_SIGNALS

    before = _blocked_signals(threading.get_native_id())
    hftlogging.configure({
        "version": 1,
        "handlers": {
            "metrics": {"class": "hftlogging.handlers.PrometheusHandler", "port": 0,
                        "pushgateway": "http://127.0.0.1:9", "push_interval_s": 60},
            "queue": {"class": "hftlogging.handlers.QueueHandler", "handlers": ["metrics"]},
        },
        "loggers": {"signals.test": {"level": "INFO", "handlers": ["queue"],
                                     "propagate": False}},
    })
    handlers = logging._handlers  # type: ignore[attr-defined]
    try:
        logging.getLogger("signals.test").counter("orders_filled")  # type: ignore[attr-defined]
        handlers["queue"].flush()
        ours = [t for t in threading.enumerate() if t.name.startswith("hftlogging")]
        names = {t.name for t in ours}
        assert {"hftlogging-listener", "hftlogging-watchdog", "hftlogging-prometheus-http",
                "hftlogging-prometheus-push"} <= names, names
        for t in ours:
            assert t.native_id is not None
            blocked = _blocked_signals(t.native_id)
            assert blocked >= CONTROL_SIGNALS, (t.name, sorted(CONTROL_SIGNALS - blocked))
        assert _blocked_signals(threading.get_native_id()) == before
    finally:
        hftlogging.shutdown()
        handlers["metrics"].close()
