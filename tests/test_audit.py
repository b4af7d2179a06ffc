"""JSONAuditHandler: the audit line, the hash chain, restarts, torn lines, verification."""

from __future__ import annotations

import dataclasses
import datetime
import decimal
import enum
import hashlib
import json
import logging
import os
import subprocess
import sys
import textwrap
import threading
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import hftlogging
from hftlogging.cli import main as cli_main
from hftlogging.exceptions import ConfigError
from hftlogging.handlers.audit import (
    GENESIS_HASH,
    AuditFormatter,
    JSONAuditHandler,
    canonical_bytes,
    order_files,
    read_tail,
    verify,
    verify_command,
)
from hftlogging.record import build_record

T0 = 1_800_000_000_123_456_789


def audit_rec(event: str = "order_placed", i: int = 0, **fields: Any) -> logging.LogRecord:
    r = build_record(
        "orders", logging.INFO, "audit %s", (event,), T0 + i * 1000, threading.get_ident(),
        log_type="audit", context={"order_id": f"o-{i}", **fields},
    )
    r.__dict__["audit_event"] = event
    return r


def lines_of(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def write(path: Path, n: int, start: int = 0, **kwargs: Any) -> JSONAuditHandler:
    h = JSONAuditHandler(path, **kwargs)
    try:
        h.emit_batch([audit_rec(i=start + i) for i in range(n)])
    finally:
        h.close()
    return h


# --- the line ----------------------------------------------------------------------------------


def test_line_layout(tmp_path: Path) -> None:
    """One JSON object per line with the documented keys, in order, and a valid hash."""
    hftlogging.set_worker("worker_open")
    try:
        h = JSONAuditHandler(tmp_path / "audit.jsonl")
        try:
            h.emit_batch([audit_rec(i=0, qty=decimal.Decimal("0.50"), correlation_id="c-1")])
        finally:
            h.close()
    finally:
        hftlogging.set_worker(None)
    (obj,) = lines_of(tmp_path / "audit.jsonl")
    assert list(obj) == [
        "timestamp", "event", "logger", "level", "seq", "order_id", "qty", "correlation_id",
        "host", "pid", "worker", "prev_hash", "hash",
    ]
    assert obj["timestamp"] == "2027-01-15T08:00:00.123456Z"
    assert (obj["event"], obj["logger"], obj["level"], obj["seq"]) == (
        "order_placed", "orders", "INFO", 1)
    assert obj["qty"] == "0.50"
    assert (obj["pid"], obj["worker"]) == (os.getpid(), "worker_open")
    assert obj["prev_hash"] == GENESIS_HASH
    # The hash covers the line's own bytes, its trailing ``,"hash":"..."`` member removed.
    raw = (tmp_path / "audit.jsonl").read_bytes().rstrip(b"\n")
    tail = b',"hash":"' + obj["hash"].encode() + b'"}'
    assert raw.endswith(tail)
    assert obj["hash"] == hashlib.sha256(raw[: -len(tail)] + b"}").hexdigest()


def test_fields_cannot_overwrite_fixed_keys(tmp_path: Path) -> None:
    """A field named seq, level, hash... is kept as field_<name>; the fixed key is intact."""
    h = JSONAuditHandler(tmp_path / "a.jsonl")
    try:
        h.emit_batch([audit_rec(seq=99, level="fake", hash="0" * 64, host="evil")])
    finally:
        h.close()
    (obj,) = lines_of(tmp_path / "a.jsonl")
    assert (obj["seq"], obj["level"], obj["field_seq"], obj["field_level"]) == (
        1, "INFO", 99, "fake")
    assert obj["field_hash"] == "0" * 64 and obj["field_host"] == "evil"
    assert verify([str(tmp_path / "a.jsonl")]).ok


class Side(enum.Enum):
    BUY = "buy"


@dataclasses.dataclass
class Fill:
    qty: decimal.Decimal
    side: Side


class Unprintable:
    def __str__(self) -> str:
        raise RuntimeError("no")

    __repr__ = __str__


def test_anything_serialises(tmp_path: Path) -> None:
    """datetimes, Decimals, Enums, sets, bytes, dataclasses, odd objects and recursive
    structures are written without raising and without losing the record."""
    loop: dict[str, Any] = {"a": 1}
    loop["self"] = loop
    values = {
        "dt": datetime.datetime(2026, 1, 2, 3, 4, 5, 600000, tzinfo=datetime.timezone.utc),
        "d": datetime.date(2026, 1, 2), "dec": decimal.Decimal("1e-8"), "side": Side.BUY,
        "tags": {"b", "a"}, "raw": b"\x00\xffok", "fill": Fill(decimal.Decimal("2"), Side.BUY),
        "obj": object(), "bad": Unprintable(), "loop": loop, "nan": float("nan"),
        "inf": float("inf"), "tuple": (1, 2), "key_types": {1: "x", None: "y"},
        "surrogate": "\udcff", "unicode": "ü€",
    }
    h = JSONAuditHandler(tmp_path / "a.jsonl")
    try:
        h.emit_batch([audit_rec(**values), audit_rec(i=1)])
        h.emit(audit_rec(i=2, also=Unprintable()))
    finally:
        h.close()
    objs = lines_of(tmp_path / "a.jsonl")
    assert len(objs) == 3
    o = objs[0]
    assert o["dt"] == "2026-01-02T03:04:05.600000Z" and o["d"] == "2026-01-02"
    assert o["dec"] == "1E-8" and o["side"] == "buy" and o["tags"] == ["a", "b"]
    assert o["raw"] == "\x00\\xffok" and o["fill"] == {"qty": "2", "side": "buy"}
    assert o["loop"] == {"a": 1, "self": "<recursion>"} and o["nan"] == "nan"
    assert o["key_types"] == {"1": "x", "None": "y"} and o["unicode"] == "ü€"
    assert "unprintable" in o["bad"]
    assert verify([str(tmp_path / "a.jsonl")]).records == 3


def test_newlines_cannot_forge_a_line(tmp_path: Path) -> None:
    """Newlines in fields or messages are escaped by JSON: one record, one line."""
    forged = 'x"}\n{"event": "order_cancelled", "seq": 2}\n'
    h = JSONAuditHandler(tmp_path / "a.jsonl")
    try:
        text = build_record("app", logging.WARNING, "msg %s", (forged,), T0, None)
        h.emit_batch([audit_rec(note=forged), text])
    finally:
        h.close()
    raw = (tmp_path / "a.jsonl").read_text()
    assert raw.count("\n") == 2
    objs = lines_of(tmp_path / "a.jsonl")
    assert objs[0]["note"] == forged
    assert objs[1]["event"] == "text" and objs[1]["message"] == "msg " + forged
    assert verify([str(tmp_path / "a.jsonl")]).ok


def test_options_are_checked(tmp_path: Path) -> None:
    """Bad options fail at configuration time with the key named."""
    cases: list[tuple[dict[str, Any], str]] = [
        ({"fsync": "sometimes"}, "fsync"),
        ({"max_bytes": 100, "backup_count": 0}, "backup_count"),
        ({"filename": str(tmp_path / "{component}.jsonl")}, "filename"),
        ({"formatter": logging.Formatter()}, "formatter"),
        ({"file_mode": 0o1777}, "file_mode"),
    ]
    for kwargs, key in cases:
        kwargs.setdefault("filename", str(tmp_path / "a.jsonl"))
        with pytest.raises(ConfigError) as ei:
            JSONAuditHandler(**kwargs)
        assert ei.value.key == key, kwargs


def test_check_config_validates_without_touching_the_disk(tmp_path: Path) -> None:
    """check_config rejects bad options and creates neither the directory nor the file."""
    path = tmp_path / "d" / "a.jsonl"
    JSONAuditHandler.check_config({"filename": str(path), "fsync": "always"})
    for options, key in (({"fsync": "no"}, "fsync"), ({"max_bytes": 5, "backup_count": 0},
                                                      "backup_count")):
        with pytest.raises(ConfigError) as ei:
            JSONAuditHandler.check_config({"filename": str(path), **options})
        assert ei.value.key == key
    assert not path.parent.exists()


@pytest.mark.parametrize("policy", ["always", "batch", "never"])
def test_fsync_policies_write_the_same_chain(tmp_path: Path, policy: str) -> None:
    """Every fsync policy writes every record, chained, whether by batch or by emit."""
    h = JSONAuditHandler(tmp_path / "a.jsonl", fsync=policy, max_bytes=2000, backup_count=20)
    try:
        h.emit_batch([audit_rec(i=i) for i in range(20)])
        h.emit(audit_rec(i=20))
        h.flush()
    finally:
        h.close()
    res = verify([str(p) for p in tmp_path.glob("a.jsonl*")])
    assert res.ok and res.records == 21 and res.first_seq == 1 and res.last_seq == 21


def test_failed_rotation_keeps_the_chain_in_the_current_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A rotation that cannot rename (``.1`` is a directory) keeps writing the current
    file: every record is kept and chained; the failure is reported once."""
    (tmp_path / "a.jsonl.1").mkdir()
    h = JSONAuditHandler(tmp_path / "a.jsonl", max_bytes=1500, backup_count=1)
    try:
        for i in range(12):
            h.emit_batch([audit_rec(i=i)])
    finally:
        h.close()
    assert h.rotation_errors >= 1
    assert capsys.readouterr().err.count("cannot rotate") == 1
    res = verify([str(tmp_path / "a.jsonl")])
    assert res.ok and res.records == 12


def test_shared_formatter_keeps_chains_apart(tmp_path: Path) -> None:
    """Two audit handlers given the same AuditFormatter object (dictConfig shares named
    formatters) still write two independent chains."""
    fmt = AuditFormatter()
    a = JSONAuditHandler(tmp_path / "a.jsonl", formatter=fmt)
    b = JSONAuditHandler(tmp_path / "b.jsonl", formatter=fmt)
    try:
        for i in range(3):
            a.emit_batch([audit_rec(i=i)])
            b.emit_batch([audit_rec(i=i)])
    finally:
        a.close()
        b.close()
    for name in ("a.jsonl", "b.jsonl"):
        res = verify([str(tmp_path / name)])
        assert res.ok and res.records == 3 and res.first_seq == 1


def test_without_hash_chain(tmp_path: Path) -> None:
    """hash_chain: false writes seq but no hashes; verify then reports it is not chained."""
    write(tmp_path / "a.jsonl", 3, hash_chain=False)
    objs = lines_of(tmp_path / "a.jsonl")
    assert [o["seq"] for o in objs] == [1, 2, 3]
    assert all("hash" not in o and "prev_hash" not in o for o in objs)
    res = verify([str(tmp_path / "a.jsonl")])
    assert not res.ok and res.bad_line == 1 and "not a chained" in (res.reason or "")


def test_formatter_alone_writes_unchained_json() -> None:
    """AuditFormatter used in another handler gives the same layout, without a chain."""
    obj = json.loads(AuditFormatter().format(audit_rec(i=1)))
    assert obj["event"] == "order_placed" and "seq" not in obj and "hash" not in obj


# --- the chain across rotation and restarts ---------------------------------------------------


def test_chain_continues_across_rotation(tmp_path: Path) -> None:
    """The first line of a new file links to the last line of the rotated one."""
    path = tmp_path / "audit.jsonl"
    write(path, 40, max_bytes=3000, backup_count=100)
    files = sorted(tmp_path.glob("audit.jsonl*"))
    assert len(files) > 3
    assert all(p.stat().st_size <= 3000 for p in files)
    ordered = order_files([str(p) for p in files])
    assert ordered[-1] == str(path) and ordered[-2] == f"{path}.1"
    first_of_current = lines_of(path)[0]
    last_of_previous = lines_of(Path(f"{path}.1"))[-1]
    assert first_of_current["prev_hash"] == last_of_previous["hash"]
    res = verify([str(p) for p in files])  # any order given: sorted into chain order
    assert res.ok and res.records == 40 and res.last_seq == 40


def test_chain_resumes_after_restart(tmp_path: Path) -> None:
    """A new handler on an existing file continues its seq and hash chain."""
    path = tmp_path / "a.jsonl"
    first = write(path, 5)
    second = write(path, 5, start=5)
    assert second.last_seq == 10 and first.last_seq == 5
    objs = lines_of(path)
    assert objs[5]["prev_hash"] == objs[4]["hash"] and objs[5]["seq"] == 6
    res = verify([str(path)])
    assert res.ok and res.records == 10 and res.last_hash == second.last_hash


def test_record_after_close_resumes_the_chain(tmp_path: Path) -> None:
    """A record that reaches the handler after close() reopens the file (taking the lock
    again) and continues the chain; a worker rename does not move an unnamed file."""
    path = tmp_path / "a.jsonl"
    h = JSONAuditHandler(path)
    try:
        h.emit_batch([audit_rec(i=0)])
        hftlogging.set_worker("other")
        h.emit_batch([audit_rec(i=1)])
    finally:
        hftlogging.set_worker(None)
        h.close()
    h.emit_batch([audit_rec(i=2)])
    h.close()
    assert sorted(p.name for p in tmp_path.glob("*.jsonl")) == ["a.jsonl"]
    res = verify([str(path)])
    assert res.ok and res.records == 3


def test_chain_resumes_from_rotated_file_when_current_is_empty(tmp_path: Path) -> None:
    """A stop right after a rotation leaves an empty file: the chain resumes from .1."""
    path = tmp_path / "a.jsonl"
    write(path, 3)
    os.replace(path, f"{path}.1")
    path.touch()
    write(path, 2, start=3)
    res = verify([str(path), f"{path}.1"])
    assert res.ok and res.records == 5


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    batches=st.lists(st.integers(min_value=1, max_value=30), min_size=1, max_size=8),
    restarts=st.sets(st.integers(min_value=0, max_value=7)),
    max_bytes=st.sampled_from([0, 700, 2500]),
    pad=st.integers(min_value=0, max_value=400),
)
def test_property_chain_survives_rotations_and_restarts(
    tmp_path_factory: pytest.TempPathFactory, batches: list[int], restarts: set[int],
    max_bytes: int, pad: int,
) -> None:
    """Whatever the batches, rotations and restarts, the files verify as one chain with
    every record once, in order."""
    d = tmp_path_factory.mktemp("chain")
    path = d / "a.jsonl"
    h = JSONAuditHandler(path, max_bytes=max_bytes, backup_count=10_000)
    i = 0
    try:
        for b, n in enumerate(batches):
            if b in restarts:
                h.close()
                h = JSONAuditHandler(path, max_bytes=max_bytes, backup_count=10_000)
            h.emit_batch([audit_rec(i=i + k, pad="p" * pad) for k in range(n)])
            i += n
    finally:
        h.close()
    files = [str(p) for p in d.glob("a.jsonl*")]
    res = verify(files)
    assert res.ok and res.records == i and res.first_seq == 1 and res.last_seq == i
    ids = [o["order_id"] for f in order_files(files) for o in lines_of(Path(f))]
    assert ids == [f"o-{k}" for k in range(i)]


def test_read_tail_reads_only_the_end(tmp_path: Path) -> None:
    """read_tail finds the last complete line and a fragment, also past a 64 KiB block."""
    p = tmp_path / "t"
    p.write_bytes(b"a\n" + b"b" * 200_000 + b"\n" + b"frag")
    last, torn, off = read_tail(str(p))
    assert last == b"b" * 200_000 and torn == b"frag" and off == 200_003
    p.write_bytes(b"only\n")
    assert read_tail(str(p)) == (b"only", None, 5)
    p.write_bytes(b"no newline at all")
    assert read_tail(str(p)) == (None, b"no newline at all", 0)
    assert read_tail(str(tmp_path / "missing")) == (None, None, 0)


def test_torn_last_line_is_reported_marked_and_skipped(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """A partial last line (a crash) is detected on open: a warning on stderr, a counter,
    an audit_torn_line record, and the chain continues from the last complete line."""
    path = tmp_path / "a.jsonl"
    write(path, 3)
    with open(path, "ab") as f:
        f.write(b'{"timestamp": "2027-01-15T08:00:00.1Z", "event": "ord')
    res = verify([str(path)])  # before any restart: verified up to the last complete line
    assert res.ok and res.records == 3 and "incomplete last line" in res.notes[0]
    h = JSONAuditHandler(path)
    try:
        assert h.torn_lines == 1
        h.emit_batch([audit_rec(i=10)])
    finally:
        h.close()
    assert "torn line" in capfd.readouterr().err
    raw = path.read_text().splitlines()
    assert len(raw) == 6 and raw[3].endswith('"event": "ord')
    marker = json.loads(raw[4])
    assert marker["event"] == "audit_torn_line" and marker["torn_offset"] > 0
    assert marker["prev_hash"] == json.loads(raw[2])["hash"]
    res = verify([str(path)])
    assert res.ok and res.records == 5 and any("torn line" in n for n in res.notes)


def test_unreadable_last_line_starts_a_new_chain_and_fails_verification(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """A complete last line that is not an audit record (damage, not a crash) cannot be
    resumed from: the handler says so, writes an audit_chain_reset record and goes on;
    verification names the damaged line."""
    path = tmp_path / "a.jsonl"
    write(path, 2)
    with open(path, "ab") as f:
        f.write(b"garbage\n")
    write(path, 1, start=5)
    assert "cannot resume the hash chain" in capfd.readouterr().err
    objs = _json_lines(path)
    assert [o["event"] for o in objs] == ["order_placed", "order_placed", "audit_chain_reset",
                                          "order_placed"]
    assert objs[2]["seq"] == 1 and objs[2]["prev_hash"] == GENESIS_HASH
    res = verify([str(path)])
    assert not res.ok and res.bad_line == 3


_KILLED_WRITER = textwrap.dedent("""
    import sys
    import hftlogging
    hftlogging.configure({
        "version": 1,
        "handlers": {
            "queue": {"class": "hftlogging.handlers.QueueHandler", "handlers": ["audit"],
                      "batch_size": 64, "flush_interval_ms": 1},
            "audit": {"class": "hftlogging.handlers.JSONAuditHandler", "filename": sys.argv[1],
                      "fsync": "never", "max_bytes": 200000, "backup_count": 1000},
        },
        "root": {"level": "INFO", "handlers": ["queue"]},
    })
    log = hftlogging.get_logger("orders")
    i = 0
    while True:
        log.audit("order_placed", order_id=i, note="x" * (i % 300))
        i += 1
        if i == 2000:
            for h in hftlogging.lifecycle.active_queue_handlers():
                h.flush()
            print("ready", flush=True)
""")


@pytest.mark.skipif(sys.platform == "win32", reason="needs SIGKILL")
def test_sigkill_mid_stream_leaves_a_verifiable_file(tmp_path: Path) -> None:
    """A writer killed with SIGKILL while writing leaves files that verify up to their
    last complete line; a new writer resumes the chain and the whole verifies."""
    import signal

    path = tmp_path / "audit.jsonl"
    proc = subprocess.Popen(
        [sys.executable, "-c", _KILLED_WRITER, str(path)], stdout=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    assert proc.returncode == -signal.SIGKILL
    files = [str(p) for p in tmp_path.glob("audit.jsonl*")]
    res = verify(files)
    assert res.ok, res
    assert res.records >= 2000 and res.first_seq == 1
    h = JSONAuditHandler(path, max_bytes=200000, backup_count=1000)
    try:
        h.emit_batch([audit_rec(i=i) for i in range(10)])
    finally:
        h.close()
    res2 = verify([str(p) for p in tmp_path.glob("audit.jsonl*")])
    assert res2.ok and res2.records >= res.records + 10


@pytest.mark.skipif(sys.platform == "win32", reason="needs RLIMIT_FSIZE and SIGXFSZ")
def test_partial_write_is_marked_on_the_next_batch(tmp_path: Path) -> None:
    """A write cut short by the kernel (file size limit) leaves a fragment; the next batch
    reopens the file, marks the fragment and continues the chain."""
    script = textwrap.dedent("""
        import logging, resource, signal, sys, threading
        from hftlogging.handlers.audit import JSONAuditHandler
        from hftlogging.record import build_record
        def rec(i):
            r = build_record("o", 20, "audit %s", ("e",), 10**18 + i, threading.get_ident(),
                             log_type="audit", context={"i": i, "pad": "p" * 100})
            r.audit_event = "e"
            return r
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        h = JSONAuditHandler(sys.argv[1])
        h.emit_batch([rec(i) for i in range(5)])
        soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
        resource.setrlimit(resource.RLIMIT_FSIZE, (h._size + 500, hard))
        try:
            h.emit_batch([rec(i) for i in range(5, 15)])
        except OSError as e:
            print("failed", e.errno)
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        h.emit_batch([rec(i) for i in range(15, 20)])
        h.close()
        print("torn", h.torn_lines)
    """)
    path = tmp_path / "a.jsonl"
    out = subprocess.run(
        [sys.executable, "-c", script, str(path)], capture_output=True, text=True, timeout=60,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}, check=True,
    ).stdout.split("\n")
    assert out[0].startswith("failed") and out[1] == "torn 1"
    res = verify([str(path)])
    assert res.ok, res
    assert any("torn line" in n for n in res.notes)
    seen = [o.get("i") for o in _json_lines(path)]
    assert seen[:5] == [0, 1, 2, 3, 4] and seen[-5:] == [15, 16, 17, 18, 19]


def _json_lines(path: Path) -> list[dict[str, Any]]:
    out = []
    for line in path.read_text().splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            continue
    return out


# --- tampering -------------------------------------------------------------------------------


@pytest.fixture
def trail(tmp_path: Path) -> Path:
    path = tmp_path / "audit.jsonl"
    write(path, 10)
    return path


def _edit(path: Path, fn: Any) -> None:
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("".join(fn(lines)))


def test_untouched_trail_verifies(trail: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """An untouched trail exits 0 and prints the number of verified records."""
    assert verify_command([str(trail)]) == 0
    assert "OK: 10 records verified" in capsys.readouterr().out


def test_altered_line(trail: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Changing a value in a line is caught at that line."""
    _edit(trail, lambda ls: [*ls[:4], ls[4].replace('"o-4"', '"o-9"'), *ls[5:]])
    assert verify_command([str(trail)]) == 1
    out = capsys.readouterr().out
    assert "line 5: altered" in out
    res = verify([str(trail)])
    assert (res.bad_line, res.records) == (5, 4)


def test_altered_and_rehashed_line(trail: Path) -> None:
    """An edit whose own hash is recomputed still breaks the link to the next line."""
    def rehash(ls: list[str]) -> list[str]:
        obj = json.loads(ls[4])
        obj["order_id"] = "o-x"
        obj.pop("hash")
        obj["hash"] = hashlib.sha256(canonical_bytes(obj)).hexdigest()
        return [*ls[:4], json.dumps(obj) + "\n", *ls[5:]]

    _edit(trail, rehash)
    res = verify([str(trail)])
    assert not res.ok and res.bad_line == 6 and "chain broken" in (res.reason or "")


def test_deleted_line(trail: Path) -> None:
    """Removing a line is named as a deletion at the line after the gap."""
    _edit(trail, lambda ls: ls[:3] + ls[4:])
    res = verify([str(trail)])
    assert not res.ok and res.bad_line == 4 and (res.reason or "").startswith("deleted")


def test_inserted_copy(trail: Path) -> None:
    """A replayed (copied) line is named as an insertion."""
    _edit(trail, lambda ls: [*ls[:6], ls[2], *ls[6:]])
    res = verify([str(trail)])
    assert not res.ok and res.bad_line == 7 and "inserted" in (res.reason or "")


def test_inserted_copy_of_a_later_line(trail: Path) -> None:
    """A copy of a later line placed earlier is an insertion too, not a reorder."""
    _edit(trail, lambda ls: [*ls[:2], ls[8], *ls[2:]])
    res = verify([str(trail)])
    assert not res.ok and res.bad_line == 3 and (res.reason or "").startswith("inserted")


def test_inserted_forged_line(trail: Path) -> None:
    """A made-up line (without the chain's hashes) is caught where it was inserted."""
    forged = json.dumps({"event": "order_cancelled", "seq": 4, "prev_hash": "0" * 64,
                         "hash": "1" * 64}) + "\n"
    _edit(trail, lambda ls: [*ls[:3], forged, *ls[3:]])
    res = verify([str(trail)])
    assert not res.ok and res.bad_line == 4 and "altered" in (res.reason or "")


def test_reordered_lines(trail: Path) -> None:
    """Swapping two lines is named as a reordering."""
    _edit(trail, lambda ls: [*ls[:2], ls[3], ls[2], *ls[4:]])
    res = verify([str(trail)])
    assert not res.ok and res.bad_line == 3 and (res.reason or "").startswith("reordered")


def test_truncated_mid_line_and_mid_file(trail: Path) -> None:
    """Cutting the file mid-line leaves a verifiable prefix (noted); a cut line in the
    middle of the file fails; a cut at a line boundary is caught by the expected head."""
    data = trail.read_bytes()
    full = verify([str(trail)])
    trail.write_bytes(data[:-40])
    res = verify([str(trail)])
    assert res.ok and res.records == 9 and "incomplete last line" in res.notes[0]
    lines = data.splitlines(keepends=True)
    trail.write_bytes(b"".join([*lines[:5], lines[5][:30] + b"\n", *lines[6:]]))
    res = verify([str(trail)])
    assert not res.ok and res.bad_line == 6
    trail.write_bytes(b"".join(lines[:7]))
    assert verify([str(trail)]).ok
    res = verify([str(trail)], expect_last_hash=full.last_hash)
    assert not res.ok and "removed from the end" in (res.reason or "")


def test_duplicate_keys_are_rejected(trail: Path) -> None:
    """A line with a key repeated (first-wins readers would see the forged value) fails."""
    dup = '{"order_id": "o-x", "timestamp"'
    _edit(trail, lambda ls: [*ls[:1], ls[1].replace('{"timestamp"', dup), *ls[2:]])
    res = verify([str(trail)])
    assert not res.ok and res.bad_line == 2


@settings(max_examples=60, deadline=None)
@given(
    kind=st.sampled_from(["alter", "delete", "swap", "copy"]),
    at=st.integers(min_value=0, max_value=18),
    src=st.integers(min_value=0, max_value=19),
)
def test_property_any_single_edit_is_caught(kind: str, at: int, src: int) -> None:
    """Any one altered, deleted, swapped or copied-in line fails verification at or right
    after the edited place; only the first line's removal passes, with a note that the
    chain starts at seq 2 (as after a rotated file was pruned)."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "a.jsonl"
        write(path, 20)
        lines = path.read_text().splitlines(keepends=True)
        if kind == "alter":
            lines[at] = lines[at].replace(f'"o-{at}"', '"o-X"')
        elif kind == "delete":
            del lines[at]
        elif kind == "swap":
            lines[at], lines[at + 1] = lines[at + 1], lines[at]
        else:
            if src in (at - 1, at):  # a copy beside its original is a plain duplicate
                src = (at + 5) % 20
            lines.insert(at, lines[src])
        path.write_text("".join(lines))
        res = verify([str(path)])
    if kind == "delete" and at == 0:  # looks like older records rotated away: noted
        assert res.ok and "starts at seq 2" in res.notes[0]
        return
    assert not res.ok
    assert res.bad_line is not None and at + 1 <= res.bad_line <= at + 2, res


def test_rotated_file_removed_from_the_middle(tmp_path: Path) -> None:
    """A missing rotated file is a deletion at the first line of the next file."""
    path = tmp_path / "a.jsonl"
    write(path, 30, max_bytes=2000, backup_count=100)
    files = [str(p) for p in tmp_path.glob("a.jsonl*") if not p.name.endswith(".2")]
    res = verify(files)
    assert not res.ok and res.bad_file == f"{path}.1" and res.bad_line == 1
    assert (res.reason or "").startswith("deleted")


def test_cli_exit_codes(trail: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``hftlogging audit verify``: 0 intact, 1 tampered, 2 unreadable."""
    assert cli_main(["audit", "verify", str(trail)]) == 0
    out = capsys.readouterr().out
    assert "10 records verified" in out
    head = out.rsplit("last hash ", 1)[1].strip()
    assert verify_command([str(trail)], expect_last_hash=head) == 0
    assert verify_command([str(trail)], expect_last_hash="0" * 64) == 1
    assert "removed from the end" in capsys.readouterr().out
    assert cli_main(["audit", "verify", str(tmp_path / "missing.jsonl")]) == 2
    assert "cannot read" in capsys.readouterr().err
    assert cli_main(["audit", "verify", str(tmp_path)]) == 2
    _edit(trail, lambda ls: ls[:2] + ls[3:])
    assert cli_main(["audit", "verify", str(trail)]) == 1
    assert "line 3: deleted" in capsys.readouterr().out


def test_gzipped_rotated_files_verify(tmp_path: Path) -> None:
    """Rotated files compressed by an operator still verify (read through gzip)."""
    import gzip

    path = tmp_path / "a.jsonl"
    write(path, 20, max_bytes=2000, backup_count=100)
    for p in tmp_path.glob("a.jsonl.*"):
        with open(p, "rb") as src, gzip.open(f"{p}.gz", "wb") as dst:
            dst.write(src.read())
        p.unlink()
    res = verify([str(p) for p in tmp_path.glob("a.jsonl*")])
    assert res.ok and res.records == 20


# --- processes and configuration -------------------------------------------------------------


def test_second_writer_of_one_file_fails_loudly(tmp_path: Path) -> None:
    """Two handlers on one audit file are refused: the second would break the chain."""
    h = JSONAuditHandler(tmp_path / "a.jsonl")
    try:
        with pytest.raises(ConfigError, match="already written"):
            JSONAuditHandler(tmp_path / "a.jsonl")
    finally:
        h.close()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_forked_child_writes_its_own_chain(tmp_path: Path) -> None:
    """A forked child does not append to its parent's chain: it writes audit.<pid>.jsonl
    with a chain of its own; both files verify."""
    path = tmp_path / "audit.jsonl"
    h = JSONAuditHandler(path)
    try:
        h.emit_batch([audit_rec(i=0)])
        pid = os.fork()
        if pid == 0:  # pragma: no cover - child
            code = 1
            try:
                h.emit_batch([audit_rec(i=100 + i) for i in range(3)])
                code = 0
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        h.emit_batch([audit_rec(i=1)])
    finally:
        h.close()
    child = tmp_path / f"audit.{pid}.jsonl"
    assert [o["order_id"] for o in lines_of(path)] == ["o-0", "o-1"]
    assert [o["order_id"] for o in lines_of(child)] == ["o-100", "o-101", "o-102"]
    assert verify([str(path)]).ok and verify([str(child)]).records == 3


def test_end_to_end_through_configure(tmp_path: Path, logger_name: str) -> None:
    """configure() with a QueueHandler in front and a LogTypeFilter: audit calls reach the
    trail with their fields and the correlation id of the context; text does not."""
    path = tmp_path / "audit" / "audit.jsonl"
    hftlogging.configure({
        "version": 1,
        "filters": {"only_audit": {"()": "hftlogging.filters.LogTypeFilter",
                                   "types": ["audit"]}},
        "handlers": {
            "queue": {"class": "hftlogging.handlers.QueueHandler", "handlers": ["audit"]},
            "audit": {"class": "hftlogging.handlers.JSONAuditHandler", "filename": str(path),
                      "fsync": "batch", "filters": ["only_audit"]},
        },
        "loggers": {logger_name: {"level": "INFO", "handlers": ["queue"], "propagate": False}},
    })
    log = hftlogging.get_logger(logger_name)
    with hftlogging.context(correlation_id="c-42"):
        for i in range(50):
            log.audit("order_placed", order_id=i, price=decimal.Decimal("101.5"))
            log.info("not audited %d", i)
        log.audit("config_changed", {"key": "risk.limit", "old": 1, "new": 2})
    hftlogging.shutdown()
    objs = lines_of(path)
    assert len(objs) == 51
    assert [o["order_id"] for o in objs[:50]] == list(range(50))
    assert all(o["correlation_id"] == "c-42" and o["logger"] == logger_name for o in objs)
    assert objs[50]["event"] == "config_changed" and objs[50]["new"] == 2
    assert verify([str(path)]).records == 51
