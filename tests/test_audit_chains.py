"""Audit verification per chain (one per worker, rotated files in order), the hash over the
line's own bytes, older lines still verifying, and the documented stand-alone verifier."""

from __future__ import annotations

import hashlib
import json
import logging
import multiprocessing
import random
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from hftlogging.handlers.audit import (
    GENESIS_HASH,
    JSONAuditHandler,
    canonical_bytes,
    chain_files,
    verify,
)
from hftlogging.record import build_record

DOCS = Path(__file__).resolve().parent.parent / "docs" / "files-and-audit.md"


def _audit_record(i: int) -> logging.LogRecord:
    return build_record(
        "orders", logging.INFO, "audit %s", ("order_placed",), 1_800_000_000_000_000_000 + i,
        None, log_type="audit", context={"order_id": f"o-{i}", "qty": "0.5", "note": "ü€"},
    )


def _write_trail(path: Path, n: int, max_bytes: int = 0) -> JSONAuditHandler:
    h = JSONAuditHandler(path, max_bytes=max_bytes, backup_count=1000)
    try:
        for start in range(0, n, 7):  # several batches, as the listener hands them over
            h.emit_batch([_audit_record(i) for i in range(start, min(n, start + 7))])
    finally:
        h.close()
    return h


def _chain_paths(path: Path) -> list[str]:
    return chain_files([str(p) for p in path.parent.glob(path.name + "*")])[0]


def _cli_verify(files: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hftlogging", "audit", "verify", *files],
        capture_output=True, text=True, timeout=120, check=False,
    )


# --- several workers, real processes ----------------------------------------------------


def _worker(directory: str, worker: str, n: int) -> None:
    import hftlogging as hl

    hl.set_worker(worker)
    hl.configure({
        "version": 1,
        "handlers": {
            "queue": {"class": "hftlogging.handlers.QueueHandler", "handlers": ["audit"]},
            "audit": {"class": "hftlogging.handlers.JSONAuditHandler",
                      "filename": directory + "/audit.{worker}.jsonl", "fsync": "batch",
                      "max_bytes": 3000, "backup_count": 1000},
        },
        "root": {"level": "INFO", "handlers": ["queue"]},
    })
    log = hl.get_logger("orders")
    for i in range(n):
        log.audit("order_placed", order_id=f"{worker}-{i}", qty=0.5)
    hl.shutdown()


def _trail_files(directory: Path) -> list[Path]:
    """The audit files, as a shell's ``*.jsonl*`` gives them (not the hidden lock files)."""
    return [p for p in directory.glob("*.jsonl*") if not p.name.startswith(".")]


@pytest.fixture(scope="module")
def workers_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("workers")
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_worker, args=(str(directory), f"worker_{w}", 150))
             for w in ("open", "close", "cancel")]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    return directory


def test_intact_workers_files_verify_one_line_per_chain(workers_dir: Path) -> None:
    """Three worker processes' rotated audit files, given in any order, verify: exit 0 and
    one OK line per chain naming its worker, with every record of each worker counted."""
    files = sorted(str(p) for p in _trail_files(workers_dir))
    assert len(files) > 6  # every worker rotated
    random.Random(7).shuffle(files)
    proc = _cli_verify(files)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = [ln for ln in proc.stdout.splitlines() if not ln.startswith("note:")]
    assert len(lines) == 3
    for worker in ("worker_open", "worker_close", "worker_cancel"):
        (line,) = [ln for ln in lines if f"worker {worker}," in ln]
        assert line.startswith("OK: 150 records verified")
        assert f"audit.{worker}.jsonl (+" in line


def test_one_altered_line_fails_its_chain_naming_file_and_line(
    workers_dir: Path, tmp_path: Path
) -> None:
    """Changing one value in a rotated file of one worker: exit 1, the FAILED line names
    that file and line; the other workers' chains still verify."""
    for p in _trail_files(workers_dir):
        (tmp_path / p.name).write_bytes(p.read_bytes())
    victim = tmp_path / "audit.worker_close.jsonl.2"
    lines = victim.read_bytes().splitlines(keepends=True)
    lines[1] = lines[1].replace(b'"qty":0.5', b'"qty":5.0')
    victim.write_bytes(b"".join(lines))
    proc = _cli_verify([str(p) for p in tmp_path.iterdir()])
    assert proc.returncode == 1
    out = [ln for ln in proc.stdout.splitlines() if not ln.startswith("note:")]
    assert len(out) == 3
    (failed,) = [ln for ln in out if ln.startswith("FAILED")]
    assert failed.startswith(f"FAILED: {victim} line 2: altered")
    assert sum(ln.startswith("OK: 150 records") for ln in out) == 2


# --- the line hashed is the line written --------------------------------------------------


def test_hash_covers_the_written_bytes(tmp_path: Path) -> None:
    """Every line ends with its hash, which is the SHA-256 of the line's bytes without
    it; a change of one space (same parsed object) is detected."""
    _write_trail(tmp_path / "a.jsonl", 20)
    raw = (tmp_path / "a.jsonl").read_bytes().splitlines()
    for line in raw:
        m = re.fullmatch(rb'(.*),"hash":"([0-9a-f]{64})"\}', line)
        assert m is not None
        assert hashlib.sha256(m.group(1) + b"}").hexdigest() == m.group(2).decode()
    raw[5] = raw[5].replace(b'"seq":', b'"seq": ', 1)
    (tmp_path / "a.jsonl").write_bytes(b"\n".join(raw) + b"\n")
    res = verify([str(tmp_path / "a.jsonl")])
    assert (res.ok, res.bad_line) == (False, 6)


def _old_format_trail(path: Path, n: int) -> None:
    """A file of the older format: spaced JSON, canonical-form hashes."""
    prev = GENESIS_HASH
    out = []
    for i in range(1, n + 1):
        obj: dict[str, Any] = {"timestamp": "2026-01-01T00:00:00.000000Z",
                               "event": "order_placed", "logger": "orders", "level": "INFO",
                               "seq": i, "order_id": f"o-{i}", "host": "h", "pid": 1,
                               "worker": "main", "prev_hash": prev}
        obj["hash"] = prev = hashlib.sha256(canonical_bytes(obj)).hexdigest()
        out.append(json.dumps(obj, ensure_ascii=False) + "\n")
    path.write_text("".join(out))


def test_files_written_before_the_byte_hash_still_verify(tmp_path: Path) -> None:
    """An old-format file verifies; edited, it fails; a handler continues its chain in
    the new format and the mixed file verifies."""
    path = tmp_path / "audit.jsonl"
    _old_format_trail(path, 10)
    assert verify([str(path)]).ok
    original = path.read_text()
    path.write_text(original.replace('"o-4"', '"o-40"'))
    res = verify([str(path)])
    assert (res.ok, res.bad_line) == (False, 4)
    path.write_text(original)
    _write_trail(path, 5)
    res = verify([str(path)])
    assert res.ok and res.records == 15 and res.last_seq == 15


# --- the documented verifier ----------------------------------------------------------------


def _docs_verifier() -> Callable[[list[str]], str | None]:
    text = DOCS.read_text()
    section = text.split("### Verifying without hftlogging", 1)[1]
    code = section.split("```python\n", 1)[1].split("```", 1)[0]
    assert len(code.splitlines()) < 40
    namespace: dict[str, Any] = {"__name__": "docs_verifier"}
    exec(compile(code, str(DOCS), "exec"), namespace)
    return namespace["verify_chain"]  # type: ignore[no-any-return]


def _edit_line(path: str, n: int, edit: Callable[[bytes], bytes]) -> None:
    lines = Path(path).read_bytes().splitlines(keepends=True)
    lines[n] = edit(lines[n])
    Path(path).write_bytes(b"".join(lines))


def _rehash(line: bytes) -> bytes:
    body = line.rstrip(b"\n").rsplit(b',"hash":"', 1)[0].replace(b'"qty":"0.5"', b'"qty":"9"')
    return body + b',"hash":"' + hashlib.sha256(body + b"}").hexdigest().encode() + b'"}\n'


_EDITS: dict[str, Callable[[list[str]], None]] = {
    "intact": lambda paths: None,
    "value changed": lambda paths: _edit_line(
        paths[1], 2, lambda b: b.replace(b'"qty":"0.5"', b'"qty":"0.6"')),
    "re-hashed": lambda paths: _edit_line(paths[0], 3, _rehash),
    "deleted": lambda paths: _edit_line(paths[-1], 1, lambda b: b""),
    "duplicated": lambda paths: _edit_line(paths[1], 0, lambda b: b + b),
    "spaced": lambda paths: _edit_line(paths[0], 0, lambda b: b.replace(b",", b", ", 1)),
}


@pytest.mark.parametrize("edit", list(_EDITS))
def test_documented_verifier_agrees_with_hftlogging(tmp_path: Path, edit: str) -> None:
    """The stand-alone verifier printed in docs/files-and-audit.md (standard library
    only, under 40 lines) reaches the same verdict as hftlogging's on a rotated chain,
    intact and after each kind of edit."""
    _write_trail(tmp_path / "audit.jsonl", 60, max_bytes=2500)
    paths = _chain_paths(tmp_path / "audit.jsonl")
    assert len(paths) >= 3
    _EDITS[edit](paths)
    ours = verify(paths)
    theirs = _docs_verifier()(paths)
    assert ours.ok == (theirs is None) == (edit == "intact"), (ours, theirs)
    if theirs is not None:
        assert theirs.startswith(f"{ours.bad_file} line {ours.bad_line}:") or edit in (
            "re-hashed", "deleted"), (ours, theirs)
