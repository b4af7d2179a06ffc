"""The offline verifier of audit files (``hftlogging audit verify``).

See :mod:`hftlogging.handlers.audit` for what verification checks and cannot see.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import os
import re
import sys
from collections.abc import Iterator, Sequence
from typing import IO, Any

from hftlogging.handlers.audit.chain import (
    GENESIS_HASH,
    TORN_EVENT,
    hash_object,
    line_hash_matches,
    load_object,
)

__all__ = [
    "VerifyResult",
    "chain_files",
    "order_files",
    "verify",
    "verify_chains",
    "verify_command",
]


# --- verification --------------------------------------------------------------------------


class VerifyResult:
    """What :func:`verify` found.

    Attributes:
        ok: the chain is intact (a torn, unterminated last line does not change this).
        records: records verified (up to the first bad line when not ``ok``).
        files: the files, in the order they were checked.
        bad_file, bad_line: where the first bad line is (1-based line in that file).
        reason: what is wrong with it.
        first_seq, last_seq, last_hash: the verified part of the chain.
        notes: torn lines that were accepted, where the chain starts, ...
        writers: ``(host, worker)`` of the verified lines, with the pids seen for each.
    """

    def __init__(self, files: list[str]) -> None:
        self.ok = True
        self.records = 0
        self.files = files
        self.bad_file: str | None = None
        self.bad_line: int | None = None
        self.reason: str | None = None
        self.first_seq: int | None = None
        self.last_seq: int | None = None
        self.last_hash: str | None = None
        self.notes: list[str] = []
        self.writers: dict[tuple[str, str], set[int]] = {}

    def fail(self, file: str, line: int, reason: str) -> VerifyResult:
        """Record the first bad line."""
        self.ok = False
        self.bad_file = file
        self.bad_line = line
        self.reason = reason
        return self

    def __repr__(self) -> str:
        if self.ok:
            return f"<VerifyResult ok records={self.records}>"
        return f"<VerifyResult FAILED {self.bad_file}:{self.bad_line}: {self.reason}>"


_ROTATED = re.compile(r"^(?P<base>.*)\.(?P<n>\d+)(?P<gz>\.gz)?$")


def order_files(paths: Sequence[str]) -> list[str]:
    """Put rotated files in chain order: ``F.N`` ... ``F.1`` then ``F``.

    Files of one rotation family are kept together, at the place the first of them was
    given; other files keep their order.
    """
    families: dict[str, list[tuple[int, str]]] = {}
    order: list[str] = []
    for p in paths:
        m = _ROTATED.match(p)
        base, n = (m.group("base"), int(m.group("n"))) if m else (p, 0)
        if base not in families:
            families[base] = []
            order.append(base)
        families[base].append((n, p))
    out: list[str] = []
    for base in order:
        out.extend(p for _, p in sorted(families[base], key=lambda np: -np[0]))
    return out


def chain_files(paths: Sequence[str]) -> list[list[str]]:
    """Group audit files into chains, each in chain order (see :func:`order_files`).

    A chain is one rotation family: ``F`` with its rotated ``F.1``, ``F.2.gz``, ...
    Each writer (a host's worker, or one process when the name has ``{pid}``) writes its
    own file, so the files of different workers are different chains. Chains keep the
    order in which their first file was given.
    """
    families: dict[str, list[str]] = {}
    for p in order_files(paths):
        m = _ROTATED.match(p)
        families.setdefault(m.group("base") if m else p, []).append(p)
    return list(families.values())


def _read_lines(path: str) -> Iterator[tuple[int, bytes, bool]]:
    """(line number, line without newline, terminated) for every line of ``path``."""
    f: IO[bytes] = (
        gzip.open(path, "rb") if path.endswith(".gz") else open(path, "rb")  # type: ignore[assignment]  # noqa: SIM115
    )
    with f:
        for n, raw in enumerate(f, 1):
            if raw.endswith(b"\n"):
                yield n, raw[:-1], True
            else:
                yield n, raw, False


def _all_lines(paths: list[str]) -> Iterator[tuple[str, int, bytes, bool, bool]]:
    """(file, line number, line, terminated, last line of the last file)."""
    prev: tuple[str, int, bytes, bool] | None = None
    for path in paths:
        for n, line, terminated in _read_lines(path):
            if prev is not None:
                yield (*prev, False)
            prev = (path, n, line, terminated)
    if prev is not None:
        yield (*prev, True)


def verify(paths: Sequence[str], *, expect_last_hash: str | None = None) -> VerifyResult:
    """Check the hash chain of audit files, in chain order (see :func:`order_files`).

    Every line must be a JSON object whose ``hash`` matches its canonical content,
    whose ``prev_hash`` is the previous line's ``hash`` and whose ``seq`` is one more
    than the previous line's. The first line may start mid-chain (older files rotated
    away); that is noted. A line that is not JSON is accepted only as a torn line
    followed by its ``audit_torn_line`` record, or as the unterminated last line.

    Args:
        paths: the files (plain or ``.gz``).
        expect_last_hash: if given, the chain must end with this hash (detects records
            removed from the end).

    Returns:
        A :class:`VerifyResult`.

    Raises:
        OSError: a file cannot be read.
    """
    files = order_files(list(paths))
    res = _Verifier(VerifyResult(files), _all_lines(files)).run()
    if res.ok and expect_last_hash is not None and res.last_hash != expect_last_hash:
        res.fail(files[-1] if files else "?", -1,
                 f"the chain ends with {res.last_hash} (seq {res.last_seq}), not the expected "
                 f"{expect_last_hash}: records were removed from the end")
    return res


def verify_chains(paths: Sequence[str]) -> list[VerifyResult]:
    """Verify every chain among ``paths`` on its own (see :func:`chain_files`).

    Returns:
        One :class:`VerifyResult` per chain, in the order of :func:`chain_files`.

    Raises:
        OSError: a file cannot be read.
    """
    return [verify(files) for files in chain_files(paths)]


class _Verifier:
    """Walks the lines once; reads ahead only to name the edit at a break."""

    def __init__(
        self, res: VerifyResult, lines: Iterator[tuple[str, int, bytes, bool, bool]]
    ) -> None:
        self.res = res
        self.lines = lines
        self.expected_seq: int | None = None
        self.last_hash: str | None = None
        self.torn: tuple[str, int, bytes] | None = None

    def run(self) -> VerifyResult:
        res = self.res
        for path, n, raw, terminated, is_last in self.lines:
            obj: dict[str, Any] | None = None
            if terminated:
                with contextlib.suppress(ValueError):
                    obj = load_object(raw)
            if obj is None:
                if not terminated and is_last:
                    res.notes.append(
                        f"{path} line {n}: incomplete last line ({len(raw)} bytes), a write "
                        "cut short by a crash; not counted"
                    )
                    break
                if self.torn is not None:
                    break
                self.torn = (path, n, raw)
                continue
            if not self.accept_torn(obj, n) or not self.check(path, n, obj, raw):
                return res
        if self.torn is not None:
            return res.fail(self.torn[0], self.torn[1], "not a valid audit record (altered or "
                            "truncated, and no audit_torn_line record marks it as torn)")
        return res

    def accept_torn(self, obj: dict[str, Any], n: int) -> bool:
        torn = self.torn
        if torn is None:
            return True
        self.torn = None
        if (
            obj.get("event") != TORN_EVENT
            or obj.get("torn_sha256") != hashlib.sha256(torn[2]).hexdigest()
            or obj.get("torn_bytes") != len(torn[2])
        ):
            self.res.fail(torn[0], torn[1], "not a valid audit record (altered or truncated, "
                          "and no audit_torn_line record marks it as torn)")
            return False
        self.res.notes.append(f"{torn[0]} line {torn[1]}: torn line left by a crash, marked "
                              f"by the next line ({n})")
        return True

    def check(self, path: str, n: int, obj: dict[str, Any], raw: bytes) -> bool:
        res = self.res
        h = obj.pop("hash", None)
        seq = obj.get("seq")
        prev = obj.get("prev_hash")
        if not isinstance(h, str) or not isinstance(prev, str) or type(seq) is not int:
            res.fail(path, n, "not a chained audit record (no seq, prev_hash or hash)")
            return False
        if line_hash_matches(raw, h):
            actual = h
        else:  # a line written before the hash covered the line's own bytes
            try:
                actual = hash_object(obj)
            except (TypeError, ValueError):
                actual = ""
        if actual != h:
            res.fail(path, n, "altered: its content does not match its hash")
            return False
        if self.expected_seq is None:
            if seq == 1 and prev != GENESIS_HASH:
                res.fail(path, n, "altered: seq 1 must start from the genesis hash")
                return False
            if seq != 1:
                res.notes.append(f"the chain starts at seq {seq} ({path} line {n}); earlier "
                                 "records are in files not given")
            res.first_seq = seq
        elif seq != self.expected_seq or prev != self.last_hash:
            res.fail(path, n, _diagnose(seq, self.expected_seq, h, self.lines))
            return False
        self.expected_seq = seq + 1
        self.last_hash = h
        writer = (str(obj.get("host")), str(obj.get("worker")))
        pid = obj.get("pid")
        pids = res.writers.get(writer)
        if pids is None:
            pids = res.writers[writer] = set()
        if type(pid) is int and pid not in pids:
            pids.add(pid)
        res.records += 1
        res.last_seq = seq
        res.last_hash = h
        return True


def _diagnose(
    seq: int, expected: int, h: str, rest: Iterator[tuple[str, int, bytes, bool, bool]]
) -> str:
    """Name the edit that broke the chain at this line (reads ahead for the missing seq)."""
    if seq == expected:
        return ("chain broken: prev_hash does not match the previous line's hash (the "
                "previous line was altered and re-hashed, or this line was forged)")
    if seq < expected:
        return (f"inserted or reordered: seq {seq} follows seq {expected - 1} (a line "
                "copied or moved here)")
    later_expected: str | None = None
    later_same: str | None = None
    for path, n, raw, terminated, _ in rest:
        if not terminated:
            continue
        try:
            obj = load_object(raw)
        except ValueError:
            continue
        s = obj.get("seq")
        if later_same is None and s == seq and obj.get("hash") == h:
            later_same = f"{path} line {n}"
        if later_expected is None and type(s) is int and expected <= s < seq:
            later_expected = f"{path} line {n}"
        if later_same and later_expected:
            break
    if later_same is not None:
        return f"inserted: a copy of {later_same} (seq {seq}) where seq {expected} belongs"
    if later_expected is not None:
        return (f"reordered: seq {seq} where seq {expected} belongs; seq {expected} comes "
                f"later, at {later_expected}")
    missing = seq - expected
    return (f"deleted: {missing} record(s) missing before this line (seq {expected}"
            f"{'' if missing == 1 else f' to {seq - 1}'})")


def _describe_chain(res: VerifyResult) -> str:
    files = res.files
    head = files[-1] if files else "?"
    rotated = f" (+{len(files) - 1} rotated)" if len(files) > 1 else ""
    writers = "; ".join(
        f"host {host}, worker {worker}, pid {', '.join(map(str, sorted(pids))) or '?'}"
        for (host, worker), pids in sorted(res.writers.items())
    )
    return f"chain {head}{rotated}" + (f": {writers}" if writers else "")


def verify_command(files: list[str], expect_last_hash: str | None = None) -> int:
    """``hftlogging audit verify FILE...``: one result line per chain; exit 0, 1 or 2.

    The files are grouped into chains (:func:`chain_files`: one per writer, rotated files
    in rotation order) and each chain is verified on its own.

    Args:
        files: the audit files (any order, any number of writers).
        expect_last_hash: the hash the chain must end with (see :func:`verify`); only
            with the files of one chain.

    Returns:
        0 when every chain is intact (one ``OK`` line per chain with its number of
        verified records), 1 when one is not (its ``FAILED`` line names the file and line
        of the first bad record), 2 when a file cannot be read or ``expect_last_hash``
        is given with several chains.
    """
    for f in files:
        if not os.path.isfile(f) or not os.access(f, os.R_OK):
            print(f"hftlogging audit verify: cannot read {f}", file=sys.stderr)
            return 2
    chains = chain_files(files)
    if expect_last_hash is not None and len(chains) != 1:
        print(f"hftlogging audit verify: an expected last hash needs the files of one chain; "
              f"these are {len(chains)} chains", file=sys.stderr)
        return 2
    try:
        results = [verify(c, expect_last_hash=expect_last_hash) for c in chains]
    except (OSError, EOFError, gzip.BadGzipFile) as e:
        print(f"hftlogging audit verify: cannot read the files: {e}", file=sys.stderr)
        return 2
    failed = 0
    for res in results:
        for note in res.notes:
            print(f"note: {note}")
        if res.ok:
            print(f"OK: {res.records} records verified in {len(res.files)} file(s) "
                  f"[{_describe_chain(res)}]"
                  + (f"; seq {res.first_seq}..{res.last_seq}, last hash {res.last_hash}"
                     if res.records else ""))
        else:
            failed += 1
            print(f"FAILED: {res.bad_file} line {res.bad_line}: {res.reason} "
                  f"({res.records} records verified before it) [{_describe_chain(res)}]")
    return 1 if failed else 0

