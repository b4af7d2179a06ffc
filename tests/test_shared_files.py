"""Shared files: many processes append to one ComponentRotatingFileHandler file
(``exclusive: false``) and rotate it together, once per threshold, without losing a line."""

from __future__ import annotations

import logging
import multiprocessing
import os
import zlib
from pathlib import Path
from typing import Any

import pytest

import hftlogging
from hftlogging.exceptions import ConfigError
from hftlogging.handlers.rotating import ComponentRotatingFileHandler

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork and flock")

BATCH = 64  # records per listener batch in the writers below
LONGEST = 140  # bytes of the longest line the writers produce
BATCH_BYTES = BATCH * LONGEST  # the most one batch can hold


def _line(proc: str, seq: int) -> str:
    """A line that proves itself whole: its CRC covers everything before it."""
    body = f"{proc} {seq:06d} " + "x" * (seq * 7919 % 90)
    return f"{body} {zlib.crc32(body.encode()):08x}"


def _configure_shared(directory: str, max_bytes: int, backup_count: int) -> logging.Logger:
    hftlogging.configure({
        "version": 1,
        "formatters": {"plain": {"format": "%(message)s"}},
        "handlers": {
            "queue": {"class": "hftlogging.handlers.QueueHandler", "handlers": ["files"],
                      "overflow": "block", "block_timeout_ms": 60000, "batch_size": BATCH},
            "files": {"class": "hftlogging.handlers.ComponentRotatingFileHandler",
                      "directory": directory, "filename": "shared.log", "formatter": "plain",
                      "max_bytes": max_bytes, "backup_count": backup_count,
                      "exclusive": False},
        },
        "loggers": {"shared": {"level": "INFO", "handlers": ["queue"], "propagate": False}},
    })
    return logging.getLogger("shared")


def _write_lines(log: logging.Logger, proc: str, n: int) -> None:
    for i in range(n):
        log.info("%s", _line(proc, i))


def _spawned_writer(directory: str, proc: str, n: int, max_bytes: int, backups: int,
                    go: Any) -> None:
    log = _configure_shared(directory, max_bytes, backups)
    go.wait(120)
    _write_lines(log, proc, n)
    hftlogging.shutdown()


def _fork_parent(directory: str, procs: list[str], n: int, max_bytes: int, backups: int,
                 go: Any) -> None:
    """Configure once, then fork one child per name: the children inherit the handler."""
    log = _configure_shared(directory, max_bytes, backups)
    log.info("%s", _line("F-parent", 0))  # the listener runs in the parent before the forks
    ctx = multiprocessing.get_context("fork")
    children = [ctx.Process(target=_forked_writer, args=(log.name, p, n, go)) for p in procs]
    for c in children:
        c.start()
    for c in children:
        c.join(300)
        if c.exitcode != 0:
            raise SystemExit(f"forked writer exited with {c.exitcode}")
    hftlogging.shutdown()


def _forked_writer(name: str, proc: str, n: int, go: Any) -> None:
    go.wait(120)
    _write_lines(logging.getLogger(name), proc, n)
    hftlogging.shutdown()


def _chain(path: Path) -> list[Path]:
    """Rotated files oldest first, then the current file."""
    rotated = sorted(path.parent.glob(path.name + ".*"),
                     key=lambda p: int(p.name.rsplit(".", 1)[1]))
    rotated = [p for p in rotated if p.name.rsplit(".", 1)[1].isdigit()]
    return [*reversed(rotated), path]


def _check_chain(files: list[Path]) -> dict[str, list[int]]:
    """Every line whole; per writer, the sequence numbers in rotation order."""
    seqs: dict[str, list[int]] = {}
    for f in files:
        data = f.read_bytes()
        assert not data or data.endswith(b"\n"), f"{f} ends in a partial line"
        for raw in data.decode().split("\n")[:-1]:
            body, _, crc = raw.rpartition(" ")
            assert crc == f"{zlib.crc32(body.encode()):08x}", f"torn line in {f}: {raw!r}"
            proc, seq, _ = body.split(" ", 2)
            seqs.setdefault(proc, []).append(int(seq))
    return seqs


def _run_group(tmp_path: Path, n: int, max_bytes: int, backups: int) -> tuple[list[str], Any]:
    spawn = multiprocessing.get_context("spawn")
    go = spawn.Event()
    spawned = [f"S{i}" for i in range(4)]
    forked = [f"F{i}" for i in range(4)]
    procs = [spawn.Process(target=_spawned_writer,
                           args=(str(tmp_path), p, n, max_bytes, backups, go))
             for p in spawned]
    procs.append(spawn.Process(target=_fork_parent,
                               args=(str(tmp_path), forked, n, max_bytes, backups, go)))
    for p in procs:
        p.start()
    go.set()
    for p in procs:
        p.join(600)
        assert p.exitcode == 0
    return spawned + forked, go


def test_eight_processes_share_one_rotating_file(tmp_path: Path) -> None:
    """4 spawned and 4 forked processes x 20,000 lines into one file with a small max_bytes:
    every line exactly once and whole, every file within max_bytes (no slack: the check
    and the write of a batch are one step under the file's lock), each rotated file
    filled to within one batch of its threshold (one rotation per threshold for the
    group, 50+ rotations), and each writer's sequence numbers increasing across the files
    in rotation order."""
    n, max_bytes = 20_000, 100_000
    names, _ = _run_group(tmp_path, n, max_bytes, backups=10_000)
    files = _chain(tmp_path / "shared.log")
    assert len(files) - 1 >= 50, f"only {len(files) - 1} rotations"
    sizes = [f.stat().st_size for f in files]
    assert max(sizes) <= max_bytes, sizes
    # A file is rotated only when the next batch would not fit: never twice per threshold.
    assert min(sizes[:-1]) >= max_bytes - BATCH_BYTES, sizes
    seqs = _check_chain(files)
    assert seqs.pop("F-parent") == [0]
    assert sorted(seqs) == sorted(names)
    for proc, got in seqs.items():
        assert got == list(range(n)), f"{proc}: lines missing, repeated or out of order"


def test_backup_count_holds_for_the_group(tmp_path: Path) -> None:
    """With backup_count 3, the group keeps exactly the current file and three backups;
    the kept files hold whole lines, each writer's numbers increasing and contiguous
    (only the oldest lines are gone, newest kept)."""
    n, max_bytes = 3_000, 40_000
    names, _ = _run_group(tmp_path, n, max_bytes, backups=3)
    kept = sorted(p.name for p in tmp_path.glob("shared.log*"))
    assert kept == ["shared.log", "shared.log.1", "shared.log.2", "shared.log.3"]
    seqs = _check_chain(_chain(tmp_path / "shared.log"))
    seqs.pop("F-parent", None)
    assert seqs and set(seqs) <= set(names)  # a writer that finished early may be gone
    for proc, got in seqs.items():
        assert got == list(range(got[0], n)), f"{proc}: a gap inside the kept files"


def test_a_single_process_sees_the_same_rotation_as_exclusive(tmp_path: Path) -> None:
    """Alone on a shared file, the handler rotates where an exclusive one would: before a
    batch would take the file past max_bytes, records kept whole, nothing lost."""
    h = ComponentRotatingFileHandler(tmp_path, filename="one.log", max_bytes=1000,
                                     backup_count=100, exclusive=False,
                                     formatter=logging.Formatter("%(message)s"))
    try:
        for i in range(100):
            h.emit(logging.makeLogRecord({"msg": _line("P", i), "name": "one"}))
    finally:
        h.close()
    files = _chain(tmp_path / "one.log")
    assert all(f.stat().st_size <= 1000 for f in files)
    assert _check_chain(files) == {"P": list(range(100))}
    assert h.rotations == len(files) - 1 > 5


def test_a_batch_larger_than_max_bytes_is_split_at_line_boundaries(tmp_path: Path) -> None:
    """One batch of 300 lines into a shared file with max_bytes 2000: written in pieces of
    whole lines, each file within max_bytes."""
    h = ComponentRotatingFileHandler(tmp_path, filename="big.log", max_bytes=2000,
                                     backup_count=100, exclusive=False,
                                     formatter=logging.Formatter("%(message)s"))
    try:
        h.emit_batch([logging.makeLogRecord({"msg": _line("B", i), "name": "big"})
                      for i in range(300)])
    finally:
        h.close()
    files = _chain(tmp_path / "big.log")
    assert all(f.stat().st_size <= 2000 for f in files)
    assert _check_chain(files) == {"B": list(range(300))}


def test_shared_files_refuse_compression(tmp_path: Path) -> None:
    """compress with exclusive: false fails at configuration, saying what to do instead."""
    with pytest.raises(ConfigError, match="compress is not available with exclusive: false"):
        ComponentRotatingFileHandler(tmp_path, exclusive=False, compress=True)


# --- the provider_workers layout, several processes ------------------------------------------

WORKERS = [("worker_open", "open-1"), ("worker_open", "open-2"), ("worker_close", "close-1"),
           ("dispatcher", "dispatcher")]


def _provider_process(directory: str, kind: str, worker: str, n: int, go: Any,
                      out: Any) -> None:
    os.environ["HFTLOGGING_DIR"] = directory
    os.environ["HFTLOGGING_WORKER"] = worker
    os.environ["HFTLOGGING_PROMETHEUS_PORT"] = ""
    hftlogging.configure("provider_workers")
    log = logging.getLogger(f"app.services.provider.{kind}")  # getLogger(__name__) style
    go.wait(120)
    for i in range(n):
        if i % 5 == 0:
            log.error("err %s %05d", worker, i)
        else:
            log.info("info %s %05d", worker, i)
    hftlogging.shutdown()
    out.put((worker, hftlogging.stats()["dropped"]))


def _tokens(path: Path, word: str) -> list[tuple[str, int]]:
    out = []
    for line in path.read_text().splitlines():
        parts = line.split(f": {word} ", 1)
        if len(parts) == 2:
            worker, seq = parts[1].split()[:2]
            out.append((worker, int(seq)))
    return out


def test_provider_workers_processes_share_the_errors_file(tmp_path: Path) -> None:
    """Three worker processes (two of one type) and the dispatcher, configured with the
    shipped provider_workers and logging under module-style names: every ERROR line of
    all four lands exactly once in the one provider_errors.log, and each worker type's
    lines (both instances of worker_open) in its one shared file."""
    n = 4000
    ctx = multiprocessing.get_context("spawn")
    go, out = ctx.Event(), ctx.Queue()
    procs = [ctx.Process(target=_provider_process, args=(str(tmp_path), k, w, n, go, out))
             for k, w in WORKERS]
    for p in procs:
        p.start()
    go.set()
    for p in procs:
        p.join(300)
        assert p.exitcode == 0
    assert sorted(out.get(timeout=10) for _ in procs) == sorted((w, 0) for _, w in WORKERS)
    errors = _tokens(tmp_path / "provider_errors.log", "err")
    assert sorted(errors) == sorted((w, i) for _, w in WORKERS for i in range(0, n, 5))
    assert _tokens(tmp_path / "provider_errors.log", "info") == []
    for kind in ("worker_open", "worker_close", "dispatcher"):
        lines = _tokens(tmp_path / f"{kind}.log", "info") + _tokens(tmp_path / f"{kind}.log",
                                                                    "err")
        assert sorted(lines) == sorted((w, i) for k, w in WORKERS if k == kind
                                       for i in range(n)), kind
    assert not (tmp_path / "other.log").exists()


def test_time_rotation_happens_once_for_the_group(tmp_path: Path) -> None:
    """Hourly rotation of a shared file: the first writer to see a record of a later hour
    than the file's last write rotates it; the others then find the new file (written this
    hour) and only reopen it. Three handlers on one file, one rotation."""
    import time

    def handler() -> ComponentRotatingFileHandler:
        return ComponentRotatingFileHandler(tmp_path, filename="t.log", when="hourly",
                                            utc=True, exclusive=False,
                                            formatter=logging.Formatter("%(message)s"))

    def rec(msg: str) -> logging.LogRecord:
        return logging.makeLogRecord({"msg": msg, "name": "t", "created": time.time()})

    path = tmp_path / "t.log"
    first, second, third = handler(), handler(), handler()
    try:
        first.emit(rec("last hour"))
        an_hour_ago = time.time() - 3600
        os.utime(path, (an_hour_ago, an_hour_ago))  # its last write was an hour ago
        second.emit(rec("second"))  # rotates: the file belongs to an earlier hour
        third.emit(rec("third"))  # the file is this hour's: no rotation
        first.emit(rec("first again"))  # its descriptor names the rotated file: reopen
    finally:
        for h in (first, second, third):
            h.close()
    assert (tmp_path / "t.log.1").read_text() == "last hour\n"
    assert path.read_text() == "second\nthird\nfirst again\n"
    assert not (tmp_path / "t.log.2").exists()
    assert first.rotations + second.rotations + third.rotations == 1
