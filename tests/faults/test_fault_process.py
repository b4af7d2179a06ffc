"""Signals, exit, SIGKILL, fork and reconfiguration while threads log."""

from __future__ import annotations

import json
import os
import re
import signal
from pathlib import Path

import pytest
from faultkit import run_child, scenario

import hftlogging
from hftlogging.handlers.audit import verify

POSIX = os.name == "posix"
BURST_LINE = re.compile(r"t(\d) (\d+)\Z")

BURST_CHILD = """
path, mode, out = sys.argv[1], sys.argv[2], sys.argv[3]
# A child started from a background job inherits SIGINT ignored; make Ctrl-C what it is.
signal.signal(signal.SIGINT, signal.default_int_handler)
hftlogging.configure({
    "version": 1,
    "formatters": {"plain": {"format": "%(message)s"}},
    "handlers": {
        "file": {"class": "logging.FileHandler", "filename": path, "formatter": "plain"},
        "queue": {"class": "hftlogging.handlers.QueueHandler", "handlers": ["file"],
                  "capacity": 2000, "flush_interval_ms": 1},
    },
    "root": {"level": "INFO", "handlers": ["queue"]},
})
log = hftlogging.get_logger("burst")
stop = threading.Event()
counts = [0] * 4
warm = [threading.Event() for _ in range(4)]  # set once a thread logged 3000 records

def worker(t):
    i = 0
    while not stop.is_set():
        log.info("t%d %d", t, i)
        i += 1
        counts[t] = i
        if i == 3000:
            warm[t].set()

threads = [threading.Thread(target=worker, args=(t,), daemon=True) for t in range(4)]

def halt():
    # The application's shutdown path: stop the burst, note what was emitted and dropped.
    stop.set()
    for th in threads:
        th.join()
    s = hftlogging.stats()
    with open(out, "w") as f:
        json.dump({"emitted": sum(counts), "dropped": s["dropped"]}, f)

if mode == "sigterm":
    previous = signal.getsignal(signal.SIGTERM)  # hftlogging's: drain, then die by SIGTERM
    def on_term(signum, frame):
        halt()
        previous(signum, frame)
    signal.signal(signal.SIGTERM, on_term)
else:
    atexit.register(halt)  # registered after hftlogging's hook: runs before its drain
for th in threads:
    th.start()
for ev in warm:
    ev.wait(60)
print("ready", flush=True)
if mode == "exit":
    sys.exit(3)
# Short sleeps: the kernel may hand the signal to a burst thread, and then the handler runs
# when the main thread next runs Python, not when a long sleep ends.
for _ in range(1200):
    time.sleep(0.05)
"""


def test_a_child_imports_the_hftlogging_its_parent_imports() -> None:
    """Fault children run with the parent's import path: under tox both use the wheel."""
    out = run_child("print(hftlogging.__file__)")
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == hftlogging.__file__


@pytest.mark.skipif(not POSIX, reason="POSIX signals")
@pytest.mark.parametrize("mode", [
    pytest.param("sigterm", marks=scenario("sigterm_burst")),
    pytest.param("sigint", marks=scenario("sigint_burst")),
    pytest.param("exit", marks=scenario("sys_exit_burst")),
])
def test_everything_accepted_reaches_disk_when_the_process_ends(tmp_path: Path, mode: str) -> None:
    """Four threads log as fast as they can into a small queue; the process ends by SIGTERM,
    SIGINT or sys.exit: the file holds exactly the records not counted as dropped."""
    log_file = tmp_path / "burst.log"
    out = tmp_path / "out.json"
    proc = run_child(BURST_CHILD, str(log_file), mode, str(out), popen=True)
    try:
        assert proc.stdout.readline().strip() == "ready"
        if mode != "exit":
            proc.send_signal(signal.SIGTERM if mode == "sigterm" else signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    expected_rc = {"sigterm": (-signal.SIGTERM,), "sigint": (-signal.SIGINT, 1),
                   "exit": (3,)}[mode]
    assert proc.returncode in expected_rc, err[-2000:]
    figures = json.loads(out.read_text())
    lines = [ln for ln in log_file.read_text().splitlines() if BURST_LINE.match(ln)]
    assert len(lines) == len(set(lines)), "a record was written twice"
    assert figures["emitted"] > 12_000
    assert len(lines) == figures["emitted"] - figures["dropped"], figures


SIGKILL_CHILD = """
path = sys.argv[1]
hftlogging.configure({
    "version": 1,
    "handlers": {
        "audit": {"class": "hftlogging.handlers.JSONAuditHandler", "filename": path,
                  "fsync": "never"},
        "queue": {"class": "hftlogging.handlers.QueueHandler", "handlers": ["audit"],
                  "flush_interval_ms": 1},
    },
    "root": {"level": "INFO", "handlers": ["queue"]},
})
log = hftlogging.get_logger("orders")
if sys.argv[2] == "restart":
    for i in range(10):
        log.audit("after_restart", n=i)
    sys.exit(0)

def worker(t):
    i = 0
    while True:
        log.audit("order", t=t, n=i, note="x" * (i % 300))
        i += 1
        if i % 100 == 0:
            time.sleep(0.002)  # keeps the trail small enough to verify quickly

for t in range(3):
    threading.Thread(target=worker, args=(t,), daemon=True).start()
time.sleep(0.2)
print("ready", flush=True)
time.sleep(60)
"""


@scenario("sigkill_audit")
@pytest.mark.skipif(not POSIX, reason="POSIX signals")
def test_sigkill_leaves_an_audit_file_that_verifies(tmp_path: Path) -> None:
    """Killed while writing: the trail verifies up to its last complete line; a restart
    marks any torn line and the whole trail verifies again."""
    path = tmp_path / "audit.jsonl"
    for _ in range(3):
        proc = run_child(SIGKILL_CHILD, str(path), "burst", popen=True)
        try:
            assert proc.stdout.readline().strip() == "ready"
            proc.send_signal(signal.SIGKILL)
            proc.communicate(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
        assert proc.returncode == -signal.SIGKILL
        res = verify([str(path)])
        assert res.ok, res
        assert path.stat().st_size > 0
    restarted = run_child(SIGKILL_CHILD, str(path), "restart")
    assert restarted.returncode == 0, restarted.stderr[-2000:]
    res = verify([str(path)])
    assert res.ok, res
    last = [json.loads(x) for x in path.read_text().splitlines()[-10:]]
    assert [o["event"] for o in last] == ["after_restart"] * 10


FORK_CHILD = """
d = sys.argv[1]
hftlogging.configure({
    "version": 1,
    "formatters": {"plain": {"format": "%(message)s"}},
    "handlers": {
        "files": {"class": "hftlogging.handlers.ComponentRotatingFileHandler",
                  "directory": d, "component_map": {"": "app"}, "formatter": "plain"},
        "queue": {"class": "hftlogging.handlers.QueueHandler", "handlers": ["files"],
                  "capacity": 1000000, "flush_interval_ms": 1},
    },
    "root": {"level": "INFO", "handlers": ["queue"]},
})
log = hftlogging.get_logger("app")
stop = threading.Event()
counts = [0] * 3

def worker(t):
    i = 0
    while not stop.is_set():
        for _ in range(200):
            log.info("p t%d %d", t, i)
            i += 1
            counts[t] = i
        time.sleep(0.001)  # heavy, not saturating: leaves the forks some of the GIL

threads = [threading.Thread(target=worker, args=(t,)) for t in range(3)]
for th in threads:
    th.start()
children = []
hung = 0
for k in range(8):
    pid = os.fork()
    if pid == 0:
        for i in range(200):
            log.info("c%d %d", k, i)
        hftlogging.shutdown()
        os._exit(0)
    children.append(pid)
    time.sleep(0.005)
for pid in children:
    deadline = time.monotonic() + 20
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            assert os.waitstatus_to_exitcode(status) == 0, status
            break
        if time.monotonic() > deadline:
            hung += 1
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            break
        time.sleep(0.01)
stop.set()
for th in threads:
    th.join()
hftlogging.shutdown()
print(json.dumps({"emitted": sum(counts), "dropped": hftlogging.stats()["dropped"],
                  "hung": hung, "children": children}))
"""


@scenario("fork_under_load")
@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork()")
def test_fork_while_threads_log_heavily(tmp_path: Path) -> None:
    """Eight forks while three threads log: no child hangs, no line is written twice, each
    child's records are in its per-pid file, and the parent's are all in its file."""
    d = tmp_path / "logs"
    proc = run_child(FORK_CHILD, str(d), timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["hung"] == 0
    parent = (d / "app.log").read_text().splitlines()
    assert len(parent) == len(set(parent)), "a parent line was written twice"
    assert all(ln.startswith("p ") for ln in parent), "a child wrote into the parent's file"
    assert len(parent) == out["emitted"] - out["dropped"]
    for k, pid in enumerate(out["children"]):
        mine = (d / f"app.{pid}.log").read_text().splitlines()
        assert mine == [f"c{k} {i}" for i in range(200)], f"child {k}"


RECONFIGURE_CHILD = """
import faulthandler
faulthandler.dump_traceback_later(8, exit=True)  # a hang fails the test with the stacks
path = sys.argv[1]

def config(n):
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"plain": {"format": "%(message)s"}},
        "handlers": {
            "file": {"class": "logging.FileHandler", "filename": path, "formatter": "plain"},
            "queue": {"class": "hftlogging.handlers.QueueHandler", "handlers": ["file"],
                      "capacity": 5000 + n, "flush_interval_ms": 1},
        },
        "loggers": {"app": {"level": "INFO", "handlers": ["queue"], "propagate": False}},
    }

hftlogging.configure(config(0))
queues = [logging._handlers["queue"]]
log = hftlogging.get_logger("app")
stop = threading.Event()
counts = [0] * 4

def worker(t):
    i = 0
    while not stop.is_set():
        log.info("t%d %d", t, i)
        i += 1
        counts[t] = i

threads = [threading.Thread(target=worker, args=(t,)) for t in range(4)]
for th in threads:
    th.start()
try:
    for n in range(1, 21):
        while sum(counts) < n * 2000:
            time.sleep(0.001)  # pacing: let records flow between reconfigurations
        hftlogging.configure(config(n))
        queues.append(logging._handlers["queue"])
finally:
    stop.set()
    for th in threads:
        th.join()
hftlogging.shutdown()
print(json.dumps({
    "emitted": sum(counts),
    "dropped": sum(q.stats()["dropped"] for q in queues),
    "listener_errors": sum(q.stats()["listener_errors"] for q in queues),
    "threads": [t.name for t in threading.enumerate() if t.name.startswith("hftlogging-listener")],
}))
"""


@scenario("reconfigure_under_load")
def test_reconfigure_under_load_loses_nothing_and_leaks_no_thread(tmp_path: Path) -> None:
    """configure() twenty times while four threads log: configure returns, every record is
    in the file or counted dropped by the queue that refused it, and no listener leaks."""
    path = tmp_path / "app.log"
    proc = run_child(RECONFIGURE_CHILD, str(path), timeout=60)
    assert proc.returncode == 0, proc.stderr[-4000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    lines = [ln for ln in path.read_text().splitlines() if BURST_LINE.match(ln)]
    assert len(lines) == len(set(lines)), "a record was written twice"
    assert len(lines) == out["emitted"] - out["dropped"], (len(lines), out)
    assert out["listener_errors"] == 0
    assert out["threads"] == [], "listener threads leaked"
    assert "error while draining" not in proc.stderr, proc.stderr[-2000:]
