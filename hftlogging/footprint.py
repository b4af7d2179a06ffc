"""What a configuration attempt creates on disk, so that a failed one can take it back.

Before :func:`hftlogging.configure` applies a configuration, :func:`snapshot` lists the
directories its handlers write to. When applying fails, :func:`ours` picks, among the
entries that appeared since, those this process holds open (the failed attempt's files
and lock files, still held by its handlers): a file another process created meanwhile
is not held by this one and is left alone. Once the failed handlers are closed,
:func:`remove` deletes those entries, then the directories the attempt created, when
they are empty.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
from collections.abc import Iterable, Mapping

__all__ = ["Snapshot", "directories", "ours", "remove", "snapshot"]


@dataclasses.dataclass
class Snapshot:
    """The entries of the watched directories before an attempt."""

    entries: dict[str, frozenset[str]]  # existing directory -> its names
    missing: list[str]  # directories that did not exist, deepest first


def _fixed_part(path: str) -> str:
    """The directory part of ``path`` before any ``{placeholder}``."""
    cut = path.find("{")
    return path if cut < 0 else os.path.dirname(path[:cut])


def directories(options: Iterable[Mapping[str, object]]) -> list[str]:
    """The directories handler options write to (``directory``, else ``filename``'s)."""
    out: list[str] = []
    for o in options:
        d = o.get("directory")
        f = o.get("filename")
        if isinstance(d, (str, os.PathLike)):
            path = _fixed_part(os.fspath(d))
        elif isinstance(f, (str, os.PathLike)):
            path = _fixed_part(os.path.dirname(os.fspath(f)))
        else:
            continue
        path = os.path.abspath(path or ".")
        if path not in out:
            out.append(path)
    return out


def snapshot(dirs: Iterable[str]) -> Snapshot:
    """List ``dirs`` (and note which of them, or of their parents, do not exist)."""
    entries: dict[str, frozenset[str]] = {}
    missing: list[str] = []
    for d in dirs:
        # A directory made by the attempt has every entry new; its missing parents only
        # hold the directories on the way to it (removed when empty).
        try:
            entries[d] = frozenset(os.listdir(d))
            continue
        except OSError:
            entries[d] = frozenset()
        p = d
        while not os.path.isdir(p):
            if p not in missing:
                missing.append(p)
            parent = os.path.dirname(p)
            if parent == p:
                break
            p = parent
    missing.sort(key=lambda x: x.count(os.sep), reverse=True)
    return Snapshot(entries, missing)


def _open_files() -> set[tuple[int, int]]:
    """(device, inode) of every file this process holds open (empty where unknown)."""
    for fd_dir in ("/proc/self/fd", "/dev/fd"):
        try:
            names = os.listdir(fd_dir)
        except OSError:
            continue
        held = set()
        for n in names:
            with contextlib.suppress(OSError, ValueError):
                st = os.fstat(int(n))
                held.add((st.st_dev, st.st_ino))
        return held
    return set()


def ours(before: Snapshot) -> list[tuple[str, tuple[int, int]]]:
    """New entries of the watched directories that this process holds open."""
    held = _open_files()
    found = []
    for d, names in before.entries.items():
        try:
            now = os.listdir(d)
        except OSError:
            continue
        for n in now:
            if n in names:
                continue
            path = os.path.join(d, n)
            with contextlib.suppress(OSError):
                st = os.lstat(path)
                if (st.st_dev, st.st_ino) in held:
                    found.append((path, (st.st_dev, st.st_ino)))
    return found


def remove(files: list[tuple[str, tuple[int, int]]], before: Snapshot) -> None:
    """Delete ``files`` (when still the same files), then the new empty directories."""
    held = _open_files()  # what a restored configuration opened again stays
    for path, ident in files:
        with contextlib.suppress(OSError):
            st = os.lstat(path)
            if (st.st_dev, st.st_ino) == ident and ident not in held:
                os.unlink(path)
    for d in before.missing:
        with contextlib.suppress(OSError):
            os.rmdir(d)  # only when empty: another process's files keep it
