"""One ``/metrics`` endpoint for every worker process of a host (prometheus-client's
multiprocess mode, with the directory and the serving process chosen by hftlogging).

Every process configured with ``multiprocess: true`` and the same ``addr:port`` joins the
same directory, by default ``<runtime dir>/metrics-<addr>-<port>`` (see
:func:`hftlogging.worker.runtime_dir`: private to the user, on tmpfs where
``$XDG_RUNTIME_DIR`` exists). The directory is keyed by the endpoint because the endpoint
is what the processes share: processes that would compete for one port agree on one
directory without any per-process setting, and two services on two ports never mix
their series. It is not under the log directory: the memory-mapped files are rewritten
on every update and belong on tmpfs, not on the disk holding the logs.

In the directory:

- ``live_<pid>.lock``: held (``flock``) by each member for as long as it is a member. A
  lock that can be taken belongs to a process that is gone, whatever became of its pid.
- ``endpoint.lock``: held by the one member serving the endpoint. Every member's
  background thread tries to take it every :data:`ELECTION_INTERVAL_S`; when the
  serving process ends, the kernel releases it and another member binds the port.
- ``<type>_<pid>.db``: prometheus-client's value files. Each member also writes its
  pipeline health there every :data:`ELECTION_INTERVAL_S` (queue depth, drops, handler
  errors...), labelled ``worker`` and ``pid``.

The serving member removes the files of members whose live lock is free (gauges with
prometheus-client's ``mark_process_dead``, then the rest), so the series of a dead
worker leave the endpoint; a member leaving cleanly removes its own.
"""

from __future__ import annotations

import contextlib
import glob
import os
import re
import sys
import threading
from typing import Any

import prometheus_client
from prometheus_client import CollectorRegistry, Counter, Gauge
from prometheus_client import values as prometheus_values
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead

from hftlogging.exceptions import ConfigError, Found, describe
from hftlogging.health import stats as pipeline_stats
from hftlogging.lifecycle import signals_blocked, starting_thread
from hftlogging.worker import get_worker, runtime_dir

fcntl: Any
try:
    import fcntl
except ImportError:  # pragma: no cover - no advisory locks (Windows)
    fcntl = None

__all__ = [
    "ELECTION_INTERVAL_S",
    "MULTIPROC_ENV",
    "Member",
    "available",
    "join",
    "leave",
    "registry_for",
    "shared_directory",
]

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
#: Seconds between a member's rounds: its pipeline health written to the directory, an
#: attempt to take the endpoint over, and (when serving) the removal of ended members.
ELECTION_INTERVAL_S = 0.5

_DB = re.compile(r".*_(\d+)\.db\Z")
_LIVE = re.compile(r"live_(\d+)\.lock\Z")
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)


def available() -> bool:
    """Whether this platform has the advisory locks sharing needs (``fcntl.flock``)."""
    return fcntl is not None


def shared_directory(addr: str, port: int) -> str:
    """The directory every process sharing ``addr:port`` uses (not created)."""
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", addr)
    return os.path.join(runtime_dir(), f"metrics-{safe}-{port}")


def _close(fd: int | None) -> None:
    if fd is not None:
        with contextlib.suppress(OSError):
            os.close(fd)


def _lock_path(path: str, *, block: bool) -> int | None:
    """Open and ``flock`` ``path``; the descriptor, or None when another holds it.

    The lock is only kept when ``path`` still names the locked file afterwards (a
    cleaner may unlink it between our open and our lock).
    """
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | _CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if block else fcntl.LOCK_NB))
        except OSError:
            os.close(fd)
            return None
        try:
            st, now = os.fstat(fd), os.stat(path)
        except FileNotFoundError:
            os.close(fd)
            continue
        if (st.st_dev, st.st_ino) == (now.st_dev, now.st_ino):
            return fd
        os.close(fd)


class _Pipeline:
    """This process's :func:`hftlogging.stats`, written to the shared directory."""

    _GAUGES = (
        ("queue_depth", "Records waiting in the hftlogging queues.", "queue_depth"),
        ("queue_capacity", "Capacity of the hftlogging queues.", "capacity"),
        ("queue_high_water", "Most records queued at once.", "high_water"),
        ("listeners", "Running hftlogging listener threads.", "listeners"),
        ("batch_size_mean", "Mean records per listener batch.", "mean_batch_size"),
    )
    _COUNTERS = (
        ("records_written", "Records handed to the handlers.", "written", None),
        ("batches", "Batches the listeners dispatched.", "batches", None),
        ("records_dropped", "Records dropped by a full queue, by log type.",
         "dropped_by_type", "type"),
        ("handler_errors", "Errors raised by handlers, by handler.", "handler_errors",
         "handler"),
        ("handler_fallbacks", "Records routed to the fallback, by failing handler.",
         "handler_fallbacks", "handler"),
        ("bad_input", "Log calls dropped for bad input, by reason.", "bad_input", "reason"),
        ("audit_sync_writes", "Audit records written on the caller's thread.",
         "audit_sync_writes", None),
    )

    def __init__(self, namespace: str) -> None:
        self.prefix = f"{namespace}_logging_" if namespace else "logging_"
        ident = ["worker", "pid"]
        # "liveall": prometheus-client labels each gauge with the pid of its file itself.
        self.gauges = [
            (Gauge(self.prefix + n, doc, ["worker"], registry=None, multiprocess_mode="liveall"),
             key)
            for n, doc, key in self._GAUGES
        ]
        self.counters = [
            (Counter(self.prefix + n, doc, [label, *ident] if label else ident, registry=None),
             key, label)
            for n, doc, key, label in self._COUNTERS
        ]
        self.last: dict[tuple[str, str], float] = {}

    def update(self) -> None:
        s = pipeline_stats()
        ident = (get_worker(), str(os.getpid()))
        for gauge, key in self.gauges:
            gauge.labels(ident[0]).set(float(s.get(key, 0)))
        for counter, key, label in self.counters:
            if label is None:
                self._count(counter.labels(*ident), (key, ""), float(s.get(key, 0)))
            else:
                for k, v in (s.get(key) or {}).items():
                    self._count(counter.labels(str(k), *ident), (key, str(k)), float(v))

    def _count(self, child: Any, key: tuple[str, str], value: float) -> None:
        last = self.last.get(key)
        # The statistics restart when the queues are reconfigured: count on from there.
        delta = value if last is None or value < last else value - last
        self.last[key] = value
        child.inc(delta)  # inc(0) on the first pass: the series exists from the start


class _Collector:
    """What the endpoint serves: every member's files, and which process serves."""

    def __init__(self, member: Member) -> None:
        self.member = member
        self.files = MultiProcessCollector(None, path=member.directory)  # type: ignore[no-untyped-call]

    def collect(self) -> list[Metric]:
        m = self.member
        m.write_stats()
        m.reap()
        out: list[Any] = []
        for attempt in range(3):
            try:
                out = list(self.files.collect())  # type: ignore[no-untyped-call]
                break
            except FileNotFoundError:  # a member left during the read: read again
                if attempt == 2:
                    raise
        for ns in sorted(m.namespaces):
            fam = GaugeMetricFamily(
                f"{ns}_logging_endpoint_pid" if ns else "logging_endpoint_pid",
                "Process id of the worker serving this shared endpoint.",
            )
            fam.add_metric([], float(os.getpid()))
            out.append(fam)
        return out


class Member:
    """This process's membership of one shared directory (one per process)."""

    def __init__(self, directory: str, addr: str, port: int | None) -> None:
        self.directory = directory
        self.addr = addr
        self.port = port
        self.refs = 0
        self.namespaces: dict[str, int] = {}
        self.registries: dict[str, CollectorRegistry] = {}
        self.lock = threading.RLock()
        self.flipped = False
        self.live_fd: int | None = None
        self.endpoint_fd: int | None = None
        self.server: Any = None
        self.server_thread: threading.Thread | None = None
        self.thread: threading.Thread | None = None
        self.stop = threading.Event()
        self.pipelines: dict[str, _Pipeline] = {}
        self.reported: str | None = None
        self.pid = os.getpid()
        self.served = CollectorRegistry(auto_describe=False)

    # -- joining and leaving ---------------------------------------------------------------

    def enter(self) -> None:
        """Switch prometheus-client to this directory and announce this process."""
        os.makedirs(self.directory, mode=0o700, exist_ok=True)
        self.served.register(_Collector(self))
        value_class = prometheus_values.ValueClass
        if getattr(value_class, "_multiprocess", False):
            current = os.environ.get(MULTIPROC_ENV)
            if current and os.path.realpath(current) != os.path.realpath(self.directory):
                msg = describe(
                    None, "the metrics directory prometheus-client in this process writes "
                    f"to, {current!r} ({MULTIPROC_ENV}): a process shares one",
                    self.directory, "drop multiprocess_dir or set it to that directory",
                )
                raise ConfigError(msg, key="multiprocess_dir")
        else:
            # prometheus-client reads the variable when it opens a value file; metrics
            # created from now on (ours first) write to the directory.
            os.environ[MULTIPROC_ENV] = self.directory
            prometheus_values.ValueClass = prometheus_values.MultiProcessValue()  # type: ignore[no-untyped-call]
            self.flipped = True
        for attempt in range(3):
            try:
                os.makedirs(self.directory, mode=0o700, exist_ok=True)
                self.live_fd = _lock_path(self._live_path(os.getpid()), block=True)
                break
            except FileNotFoundError:  # the last member removed the directory meanwhile
                if attempt == 2:
                    raise
        if self.flipped:
            self._remove_files(os.getpid())  # a former process of the same pid

    def leave(self) -> None:
        """Stop serving, stop the thread, remove this process's files, switch back."""
        self.stop.set()
        t = self.thread
        self.thread = None
        if t is not None and t is not threading.current_thread():
            t.join(5.0)
        self._stop_serving()
        pid = os.getpid()
        with contextlib.suppress(OSError):
            self._remove_files(pid)
        fd, self.live_fd = self.live_fd, None
        if fd is not None:
            with contextlib.suppress(OSError):
                os.unlink(self._live_path(pid))
            _close(fd)
        with contextlib.suppress(OSError):
            self._remove_directory_if_unused()
        if self.flipped:
            prometheus_values.ValueClass = prometheus_values.MutexValue
            if os.environ.get(MULTIPROC_ENV) == self.directory:
                del os.environ[MULTIPROC_ENV]
            self.flipped = False

    def _remove_directory_if_unused(self) -> None:
        """The last member out removes the election lock and the directory."""
        if set(os.listdir(self.directory)) - {"endpoint.lock"}:
            return
        fd = _lock_path(os.path.join(self.directory, "endpoint.lock"), block=False)
        if fd is None:
            return  # a member that just joined serves
        try:
            os.unlink(os.path.join(self.directory, "endpoint.lock"))
            os.rmdir(self.directory)  # fails when a member joined meanwhile: it stays
        finally:
            _close(fd)
        with contextlib.suppress(OSError):
            os.rmdir(os.path.dirname(self.directory))  # the runtime directory, if empty

    def start_thread(self, *, in_fork_child: bool = False) -> None:
        """Start the member's thread: stats, election, reaping.

        In a fork hook logging's lock is not ours to release: signals are blocked only.
        """
        self.stop = threading.Event()
        self.thread = threading.Thread(
            target=self._run, name="hftlogging-prometheus-endpoint", daemon=True
        )
        with signals_blocked() if in_fork_child else starting_thread():
            self.thread.start()

    def _run(self) -> None:
        stop = self.stop
        while not stop.wait(ELECTION_INTERVAL_S):
            try:
                self.write_stats()
                if self.port is not None and self.server is None:
                    self.try_serve(at_configure=False)
                if self.server is not None:
                    self.reap()
            except Exception as e:  # the thread must go on: report once per kind
                self._report(f"hftlogging: shared metrics endpoint: {type(e).__name__}: {e}\n")

    def _report(self, text: str) -> None:
        if text != self.reported:
            self.reported = text
            sys.stderr.write(text)

    # -- the endpoint ------------------------------------------------------------------------

    def try_serve(self, *, at_configure: bool) -> bool:
        """Serve the endpoint if no other member does; False when another one does.

        Raises:
            ConfigError: at configuration, when no member serves and the port is held by
                a process outside the group.
        """
        assert self.port is not None
        with self.lock:
            if self.server is not None:
                return True
            if self.endpoint_fd is None:
                self.endpoint_fd = _lock_path(
                    os.path.join(self.directory, "endpoint.lock"), block=False
                )
                if self.endpoint_fd is None:
                    return False
            try:
                with starting_thread():
                    server, thread = prometheus_client.start_http_server(
                        self.port, addr=self.addr, registry=self.served
                    )
            except OSError as e:
                msg = describe(
                    None, f"a port to serve metrics on {self.addr}:{self.port}",
                    Found(str(e.strerror or e)),
                    "a process outside this group of workers holds the port: stop it or "
                    "choose another port",
                )
                if at_configure:
                    fd, self.endpoint_fd = self.endpoint_fd, None
                    _close(fd)
                    raise ConfigError(msg, key="port") from e
                self._report(f"hftlogging: {msg}; retrying\n")
                return False
            thread.name = "hftlogging-prometheus-http"
            self.server, self.server_thread = server, thread
            self.reported = None
            return True

    def _stop_serving(self) -> None:
        with self.lock:
            server, thread = self.server, self.server_thread
            self.server = self.server_thread = None
            if server is not None:
                try:
                    server.shutdown()
                finally:
                    server.server_close()
                if thread is not None:
                    thread.join(5.0)
            fd, self.endpoint_fd = self.endpoint_fd, None
            _close(fd)

    # -- files ---------------------------------------------------------------------------------

    def _live_path(self, pid: int) -> str:
        return os.path.join(self.directory, f"live_{pid}.lock")

    def _remove_files(self, pid: int) -> None:
        mark_process_dead(pid, self.directory)  # type: ignore[no-untyped-call]
        for f in glob.glob(os.path.join(self.directory, f"*_{pid}.db")):
            with contextlib.suppress(FileNotFoundError):
                os.remove(f)

    def write_stats(self) -> None:
        with self.lock:
            for p in list(self.pipelines.values()):
                p.update()

    def reap(self) -> list[int]:
        """Remove the files of members that are gone; their pids."""
        me = os.getpid()
        with self.lock:
            # Value files first, then live locks: a member takes its lock before it
            # writes, so a file whose pid has no lock listed after it is a dead one's.
            pids = {int(m.group(1)) for f in os.listdir(self.directory)
                    if (m := _DB.match(f))}
            live = {int(m.group(1)) for f in os.listdir(self.directory)
                    if (m := _LIVE.match(f))}
            gone = []
            for pid in sorted((pids | live) - {me}):
                if pid in live:
                    path = self._live_path(pid)
                    fd = _lock_path(path, block=False)
                    if fd is None:
                        continue  # alive
                    try:
                        self._remove_files(pid)
                        with contextlib.suppress(FileNotFoundError):
                            os.unlink(path)
                    finally:
                        _close(fd)
                else:
                    self._remove_files(pid)
                gone.append(pid)
            return gone

    # -- fork --------------------------------------------------------------------------------

    def after_fork_child(self) -> None:
        """In a forked child: the parent keeps its locks and its endpoint; join anew.

        The child's metrics start empty, in a registry of their own: prometheus-client
        would otherwise copy every series of the parent into the child's files at its
        first update (at 0, but under the parent's worker label). Idempotent.
        """
        if self.pid == os.getpid():
            return
        prometheus_values.ValueClass = prometheus_values.MultiProcessValue()  # type: ignore[no-untyped-call]
        self.registries = {}
        self.lock = threading.RLock()
        server = self.server
        self.server = self.server_thread = self.thread = None
        if server is not None:
            with contextlib.suppress(OSError):
                server.socket.close()
        fd, self.endpoint_fd = self.endpoint_fd, None
        _close(fd)
        fd, self.live_fd = self.live_fd, None
        _close(fd)
        self.pid = os.getpid()
        self.pipelines = {ns: _Pipeline(ns) for ns in self.pipelines}
        self.live_fd = _lock_path(self._live_path(self.pid), block=True)
        self._remove_files(self.pid)
        self.start_thread(in_fork_child=True)


class _Members:
    """The member of this process (module state without ``global``)."""

    lock = threading.Lock()
    current: Member | None = None
    hook = False


def _after_fork_child() -> None:
    _Members.lock = threading.Lock()
    m = _Members.current
    if m is None:
        return
    try:
        m.after_fork_child()
    except Exception as e:
        sys.stderr.write(f"hftlogging: the shared metrics endpoint after fork: {e!r}\n")


def join(
    *, addr: str, port: int | None, namespace: str, directory: str | None = None
) -> Member:
    """Make this process a member of the group sharing ``addr:port`` (see the module).

    Returns:
        The member; call :func:`leave` with the same namespace when done.

    Raises:
        ConfigError: the directory is unusable, this process is already a member of
            another group, or the port is held outside the group.
    """
    try:
        path = directory or os.environ.get(MULTIPROC_ENV) or (
            shared_directory(addr, port) if port is not None else None
        )
    except OSError as e:
        msg = describe(
            None, "a shared metrics directory that can be created", Found(str(e)),
            "fix multiprocess_dir or its permissions",
        )
        raise ConfigError(msg, key="multiprocess_dir") from e
    if not path:
        msg = describe(
            None, f"multiprocess_dir (or {MULTIPROC_ENV}) with multiprocess: true without a "
            "port", Found("neither"), "give the directory the serving process reads",
        )
        raise ConfigError(msg, key="multiprocess_dir")
    with _Members.lock:
        m = _Members.current
        if m is not None:
            same = os.path.realpath(m.directory) == os.path.realpath(path)
            if not same or (port is not None and (m.port, m.addr) not in ((None, m.addr),
                                                                           (port, addr))):
                msg = describe(
                    None, "one group per process", Found(
                        f"this process already shares metrics through {m.directory!r} "
                        f"({m.addr}:{m.port})"
                    ), "configure every handler of this process with the same port",
                )
                raise ConfigError(msg, key="port")
            if m.port is None and port is not None:
                m.port, m.addr = port, addr
        else:
            m = Member(path, addr, port)
            try:
                m.enter()
            except OSError as e:
                m.leave()
                msg = describe(
                    None, "a usable shared metrics directory", path,
                    f"fix the directory or its permissions ({e})",
                )
                raise ConfigError(msg, key="multiprocess_dir") from e
            except BaseException:
                m.leave()
                raise
        with m.lock:
            if namespace not in m.pipelines:
                m.pipelines[namespace] = _Pipeline(namespace)
            m.namespaces[namespace] = m.namespaces.get(namespace, 0) + 1
            m.refs += 1
        try:
            if port is not None:
                m.try_serve(at_configure=True)
            if m.thread is None:
                m.start_thread()
        except BaseException:
            _leave_locked(m, namespace)
            raise
        _Members.current = m
        if not _Members.hook and hasattr(os, "register_at_fork"):
            os.register_at_fork(after_in_child=_after_fork_child)
            _Members.hook = True
        m.write_stats()
        return m


def registry_for(member: Member, namespace: str) -> CollectorRegistry:
    """The registry of a namespace's metrics in this membership (they write to its files)."""
    with member.lock:
        reg = member.registries.get(namespace)
        if reg is None:
            reg = member.registries[namespace] = CollectorRegistry()
        return reg


def leave(member: Member, namespace: str) -> None:
    """Drop one use of ``member``; the last one ends the membership."""
    with _Members.lock:
        _leave_locked(member, namespace)


def _leave_locked(m: Member, namespace: str) -> None:
    with m.lock:
        n = m.namespaces.get(namespace, 0) - 1
        if n <= 0:
            m.namespaces.pop(namespace, None)
            m.pipelines.pop(namespace, None)
        else:
            m.namespaces[namespace] = n
        m.refs -= 1
        last = m.refs <= 0
    if last:
        m.leave()
        if _Members.current is m:
            _Members.current = None
