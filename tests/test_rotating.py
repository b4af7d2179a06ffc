"""ComponentRotatingFileHandler: files per component, rotation, compression, safety."""

from __future__ import annotations

import gzip
import logging
import os
import stat
import threading
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import hftlogging
from hftlogging.exceptions import ConfigError
from hftlogging.formatters import ContextFormatter
from hftlogging.handlers.files import period_bounds
from hftlogging.handlers.lines import contain
from hftlogging.handlers.rotating import ComponentRotatingFileHandler
from hftlogging.record import build_record

T0 = 1_800_000_000 * 10**9  # a fixed wall-clock time, in ns (2027-01-15T08:00:00Z)


def rec(
    name: str = "orders",
    msg: str = "m",
    *args: Any,
    level: int = logging.INFO,
    created_ns: int = T0,
    context: dict[str, Any] | None = None,
    tags: list[str] | None = None,
    exc_text: str | None = None,
) -> logging.LogRecord:
    return build_record(
        name, level, msg, args, created_ns, threading.get_ident(),
        context=context, tags=tags, exc_text=exc_text,
    )


def plain(fmt: str = "%(message)s") -> logging.Formatter:
    return logging.Formatter(fmt)


def chain_of(path: Path, backup_count: int) -> list[Path]:
    """The rotated files oldest first, then the current one (those that exist)."""
    out = []
    for i in range(1, backup_count + 1):
        p = Path(f"{path}.{i}")
        if not p.exists():
            break
        out.append(p)
    return out[::-1] + ([path] if path.exists() else [])


def read_units(paths: list[Path]) -> list[list[str]]:
    """Per file, the records (a first line plus its continuation lines) it holds."""
    files = []
    for p in paths:
        units: list[str] = []
        for line in p.read_text(encoding="utf-8").split("\n")[:-1]:
            if line.startswith("  | "):
                units[-1] += "\n" + line
            else:
                units.append(line)
        files.append(units)
    return files


# --- files per component -----------------------------------------------------------------


def test_each_component_gets_its_own_file(tmp_path: Path) -> None:
    """By default the component is the logger name: one file per logger, created lazily."""
    h = ComponentRotatingFileHandler(tmp_path / "logs")
    try:
        assert not list((tmp_path / "logs").glob("*.log"))  # nothing opened before a record
        h.emit_batch([rec("dispatcher", "a"), rec("worker_open", "b"), rec("dispatcher", "c")])
    finally:
        h.close()
    d = (tmp_path / "logs" / "dispatcher.log").read_text().splitlines()
    w = (tmp_path / "logs" / "worker_open.log").read_text().splitlines()
    assert [line.rsplit(": ", 1)[1] for line in d] == ["a", "c"]
    assert [line.rsplit(": ", 1)[1] for line in w] == ["b"]
    assert " INFO dispatcher: a" in d[0]


def test_template_placeholders(tmp_path: Path) -> None:
    """``{component}``, ``{worker}``, ``{pid}`` and ``{host}`` are filled per process."""
    hftlogging.set_worker("worker_close")
    try:
        h = ComponentRotatingFileHandler(tmp_path, filename="{component}-{worker}-{pid}-{host}.log")
        try:
            h.emit_batch([rec("dispatcher")])
            expected = Path(h.path_for("dispatcher"))
        finally:
            h.close()
    finally:
        hftlogging.set_worker(None)
    assert expected.exists()
    assert expected.name.startswith(f"dispatcher-worker_close-{os.getpid()}-")


@pytest.mark.parametrize(
    ("kwargs", "key"),
    [
        ({"filename": "{component}/{worker}.log"}, "filename"),
        ({"filename": "{component}-{shard}.log"}, "filename"),
        ({"filename": ""}, "filename"),
        ({"max_bytes": -1}, "max_bytes"),
        ({"backup_count": "3"}, "backup_count"),
        ({"when": "weekly"}, "when"),
        ({"components": {"x": {"max_size": 1}}}, "components.x"),
        ({"components": {"x": {"max_bytes": -5}}}, "components.x.max_bytes"),
        ({"component_from": "thread"}, "component_from"),
        ({"component_from": "map"}, "component_map"),
        ({"file_mode": "rw-r-----"}, "file_mode"),
        ({"encoding": "no-such-codec"}, "encoding"),
    ],
)
def test_bad_options_fail_at_configuration(
    tmp_path: Path, kwargs: dict[str, Any], key: str
) -> None:
    """Each invalid option raises ConfigError naming its key, before anything is written."""
    with pytest.raises(ConfigError) as ei:
        ComponentRotatingFileHandler(tmp_path, **kwargs)
    assert ei.value.key == key


def test_check_config_validates_without_touching_the_disk(tmp_path: Path) -> None:
    """check_config (used by configure() and ``hftlogging check``) rejects what the
    constructor rejects, and creates nothing."""
    d = tmp_path / "logs"
    ComponentRotatingFileHandler.check_config({"directory": str(d), "max_bytes": 10})
    with pytest.raises(ConfigError) as ei:
        ComponentRotatingFileHandler.check_config({"directory": str(d), "when": "weekly"})
    assert ei.value.key == "when"
    with pytest.raises(ConfigError, match="unexpected keyword"):
        ComponentRotatingFileHandler.check_config({"directory": str(d), "maxBytes": 1})
    assert not d.exists()


def test_configure_rejects_bad_options_before_changing_anything(
    tmp_path: Path, logger_name: str
) -> None:
    """A bad handler option fails configure() with the handler's key; nothing is created."""
    with pytest.raises(ConfigError, match="backup_count"):
        hftlogging.configure({
            "version": 1,
            "handlers": {"files": {"class": "hftlogging.handlers.ComponentRotatingFileHandler",
                                   "directory": str(tmp_path / "x"), "backup_count": -1}},
            "loggers": {logger_name: {"handlers": ["files"]}},
        })
    assert not (tmp_path / "x").exists()


def test_component_from_field_tag_and_map(tmp_path: Path) -> None:
    """The component can come from a context field, a factory tag, or logger-name prefixes."""
    by_field = ComponentRotatingFileHandler(tmp_path / "f", component_from="field",
                                            component_field="worker_type")
    by_tag = ComponentRotatingFileHandler(tmp_path / "t", component_from="tag", component_tag=1)
    by_map = ComponentRotatingFileHandler(
        tmp_path / "m",
        component_map={"exchange.mexc": "mexc", "exchange": "exchanges", "app.orders": "orders"},
        default_component="misc",
    )
    try:
        by_field.emit_batch([rec("x", context={"worker_type": "worker_open"}), rec("y")])
        by_tag.emit_batch([rec("s", tags=["mexc", "private", "ws"]), rec("s", tags=[])])
        by_map.emit_batch([
            rec("exchange.mexc.ws"), rec("exchange.mexcx"), rec("exchange.gate"),
            rec("app.orders"), rec("other"),
        ])
    finally:
        for h in (by_field, by_tag, by_map):
            h.close()
    assert {p.name for p in (tmp_path / "f").glob("*.log")} == {"worker_open.log", "main.log"}
    assert {p.name for p in (tmp_path / "t").glob("*.log")} == {"private.log", "main.log"}
    files = {p.name: len(p.read_text().splitlines()) for p in (tmp_path / "m").glob("*.log")}
    assert files == {"mexc.log": 1, "exchanges.log": 2, "orders.log": 1, "misc.log": 1}


def test_component_names_cannot_escape_the_directory(tmp_path: Path) -> None:
    """A component taken from a field is made safe: no path separators, no dot files."""
    d = tmp_path / "logs"
    h = ComponentRotatingFileHandler(d, component_from="field")
    try:
        h.emit_batch([rec(context={"component": "../../evil"}), rec(context={"component": ".x"})])
    finally:
        h.close()
    assert not (tmp_path / "evil.log").exists()
    names = {p.name for p in d.iterdir()}
    assert all(not n.startswith(".") or n.endswith(".lock") for n in names)
    assert len([n for n in names if n.endswith(".log")]) == 2


def test_max_components_caps_the_number_of_files(tmp_path: Path) -> None:
    """Past ``max_components``, records go to the default component instead of new files."""
    h = ComponentRotatingFileHandler(tmp_path, component_from="field", max_components=3)
    try:
        h.emit_batch([rec(context={"component": f"c{i}"}) for i in range(10)])
    finally:
        h.close()
    logs = sorted(p.name for p in tmp_path.glob("*.log"))
    assert logs == ["c0.log", "c1.log", "c2.log", "main.log"]
    assert len((tmp_path / "main.log").read_text().splitlines()) == 7


# --- size rotation -----------------------------------------------------------------------------


def test_rotation_at_exact_sizes_small_and_huge_records(tmp_path: Path) -> None:
    """Files never exceed max_bytes (unless one record alone does), and rotate only when
    the next record would not fit; a huge record sits alone in its file; order is kept."""
    max_bytes = 100
    h = ComponentRotatingFileHandler(tmp_path, max_bytes=max_bytes, backup_count=1000,
                                     formatter=plain())
    sizes = [9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 250, 3, 99, 100, 1, 40, 59, 150, 0, 0, 5]
    msgs = [f"{i:03d}" + "x" * max(0, s - 4) for i, s in enumerate(sizes)]
    try:
        for start in range(0, len(msgs), 4):  # several batches
            h.emit_batch([rec("c", m) for m in msgs[start:start + 4]])
    finally:
        h.close()
    files = chain_of(tmp_path / "c.log", 1000)
    units = read_units(files)
    assert [u for f in units for u in f] == msgs  # nothing lost, duplicated or reordered
    for i, (path, content) in enumerate(zip(files, units, strict=True)):
        size = path.stat().st_size
        if len(content) > 1:
            assert size <= max_bytes, (path, size)
        if i + 1 < len(files):  # it rotated only because the next record did not fit
            nxt = len(units[i + 1][0].encode()) + 1
            assert size + nxt > max_bytes, (path, size, nxt)
    assert any(len(c) == 1 and len(c[0]) > max_bytes for c in units)  # the huge one, alone


def test_record_exactly_filling_the_file_does_not_rotate(tmp_path: Path) -> None:
    """A file may reach max_bytes exactly; the rotation comes with the next record."""
    h = ComponentRotatingFileHandler(tmp_path, max_bytes=20, backup_count=3, formatter=plain())
    try:
        h.emit_batch([rec("c", "a" * 9), rec("c", "b" * 9)])  # 10 + 10 bytes
        assert not (tmp_path / "c.log.1").exists()
        assert (tmp_path / "c.log").stat().st_size == 20
        h.emit_batch([rec("c", "z")])
    finally:
        h.close()
    assert (tmp_path / "c.log.1").read_text() == "a" * 9 + "\n" + "b" * 9 + "\n"
    assert (tmp_path / "c.log").read_text() == "z\n"


def test_backup_count_limits_and_overrides_per_component(tmp_path: Path) -> None:
    """Only backup_count backups are kept; components override max_bytes and backup_count."""
    h = ComponentRotatingFileHandler(
        tmp_path, max_bytes=10, backup_count=2, formatter=plain(),
        components={"big": {"max_bytes": 1000, "backup_count": 5}},
    )
    try:
        for i in range(20):
            h.emit_batch([rec("small", f"s{i:07d}"), rec("big", f"b{i:07d}")])
    finally:
        h.close()
    small = sorted(p.name for p in tmp_path.glob("small.log*"))
    assert small == ["small.log", "small.log.1", "small.log.2"]
    assert (tmp_path / "small.log").read_text() == "s0000019\n"
    assert (tmp_path / "small.log.2").read_text() == "s0000017\n"
    assert sorted(p.name for p in tmp_path.glob("big.log*")) == ["big.log"]


def test_backup_count_zero_discards_rotated_content(tmp_path: Path) -> None:
    """With backup_count 0 a full file is removed and a new one started (documented)."""
    h = ComponentRotatingFileHandler(tmp_path, max_bytes=10, backup_count=0, formatter=plain())
    try:
        h.emit_batch([rec("c", "12345678"), rec("c", "abcdefgh")])
    finally:
        h.close()
    assert sorted(p.name for p in tmp_path.glob("c.log*")) == ["c.log"]
    assert (tmp_path / "c.log").read_text() == "abcdefgh\n"


def test_size_is_counted_from_the_existing_file(tmp_path: Path) -> None:
    """An existing file's size is taken when it opens, so the limit holds across restarts."""
    (tmp_path / "c.log").write_text("x" * 15 + "\n")
    h = ComponentRotatingFileHandler(tmp_path, max_bytes=20, backup_count=2, formatter=plain())
    try:
        h.emit_batch([rec("c", "abcdefgh")])
    finally:
        h.close()
    assert (tmp_path / "c.log.1").read_text() == "x" * 15 + "\n"
    assert (tmp_path / "c.log").read_text() == "abcdefgh\n"


def test_failed_rotation_keeps_appending(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """When the rename fails (here ``c.log.1`` is a directory) no record is lost: the file
    grows past max_bytes, the failure is reported once, and rotation is retried only
    after another max_bytes, not on every record."""
    (tmp_path / "c.log.1").mkdir()
    h = ComponentRotatingFileHandler(tmp_path, max_bytes=20, backup_count=1, formatter=plain())
    try:
        for i in range(20):
            h.emit_batch([rec("c", f"{i:09d}")])  # 10 bytes each
    finally:
        h.close()
    assert (tmp_path / "c.log").read_text().split() == [f"{i:09d}" for i in range(20)]
    assert 1 <= h.write_errors <= 10
    assert capsys.readouterr().err.count("cannot rotate") == 1


def test_directory_removed_while_running_is_recreated(tmp_path: Path) -> None:
    """A log directory removed under the handler is created again on the next open."""
    import shutil

    d = tmp_path / "logs"
    h = ComponentRotatingFileHandler(d, idle_close_s=0, formatter=plain())
    try:
        h.emit_batch([rec("a", "1")])
        shutil.rmtree(d)
        h.emit_batch([rec("b", "2")])
    finally:
        h.close()
    assert (d / "b.log").read_text() == "2\n"


def test_traceback_lines_stay_with_their_record(tmp_path: Path) -> None:
    """A record with a traceback is one unit: rotation never separates its lines."""
    tb = "Traceback (most recent call last):\n  File \"x.py\", line 1\nValueError: boom"
    h = ComponentRotatingFileHandler(tmp_path, max_bytes=120, backup_count=50)
    try:
        h.emit_batch([rec("c", f"r{i}", exc_text=tb if i % 2 else None) for i in range(12)])
    finally:
        h.close()
    files = chain_of(tmp_path / "c.log", 50)
    assert len(files) > 3
    for p in files:
        lines = p.read_text().split("\n")[:-1]
        assert not lines[0].startswith("  | ")
        assert all(not ln.startswith("  | ") or i > 0 for i, ln in enumerate(lines))
    units = [u for f in read_units(files) for u in f]
    assert len(units) == 12
    assert all(u.count("\n") == 3 for u in units[1::2])


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    sizes=st.lists(st.integers(min_value=0, max_value=300), min_size=1, max_size=120),
    batch=st.integers(min_value=1, max_value=40),
    max_bytes=st.integers(min_value=16, max_value=700),
    tracebacks=st.sets(st.integers(min_value=0, max_value=119), max_size=10),
)
def test_property_no_record_lost_duplicated_or_split(
    tmp_path_factory: pytest.TempPathFactory, sizes: list[int], batch: int, max_bytes: int,
    tracebacks: set[int],
) -> None:
    """Across any number of rotations every record appears exactly once, in order, whole,
    and every file that holds more than one record is within max_bytes."""
    d = tmp_path_factory.mktemp("prop")
    h = ComponentRotatingFileHandler(d, max_bytes=max_bytes, backup_count=10_000)
    tb = "Traceback (most recent call last):\nValueError: x"
    records = [
        rec("c", f"{i:05d}" + "y" * s, exc_text=tb if i in tracebacks else None)
        for i, s in enumerate(sizes)
    ]
    try:
        for start in range(0, len(records), batch):
            h.emit_batch(records[start:start + batch])
    finally:
        h.close()
    files = chain_of(d / "c.log", 10_000)
    units = read_units(files)
    got = [u.split(": ", 1)[1].split("\n", 1)[0] for f in units for u in f]
    assert got == [f"{i:05d}" + "y" * s for i, s in enumerate(sizes)]
    for path, content in zip(files, units, strict=True):
        assert content, path  # no empty file left behind
        if len(content) > 1:
            assert path.stat().st_size <= max_bytes
    for content in units:
        for u in content:
            i = int(u.split(": ", 1)[1][:5])
            assert u.count("\n") == (2 if i in tracebacks else 0)


# --- time rotation -----------------------------------------------------------------------------


def test_hourly_rotation_follows_the_records_time(tmp_path: Path) -> None:
    """A record from a later hour rotates the file; a late record from the previous hour
    does not rotate it back. The records' own timestamps drive it: no sleeping."""
    hour = 3600 * 10**9
    h = ComponentRotatingFileHandler(tmp_path, when="hourly", utc=True, backup_count=5,
                                     formatter=plain())
    try:
        h.emit_batch([rec("c", "h0-a", created_ns=T0), rec("c", "h0-b", created_ns=T0 + 10**9)])
        h.emit_batch([rec("c", "h1-a", created_ns=T0 + hour), rec("c", "h0-late", created_ns=T0)])
        h.emit_batch([rec("c", "h1-b", created_ns=T0 + hour + 5),
                      rec("c", "h3", created_ns=T0 + 3 * hour)])
    finally:
        h.close()
    assert (tmp_path / "c.log.2").read_text() == "h0-a\nh0-b\n"
    assert (tmp_path / "c.log.1").read_text() == "h1-a\nh0-late\nh1-b\n"
    assert (tmp_path / "c.log").read_text() == "h3\n"


def test_daily_rotation_of_a_file_left_from_yesterday(tmp_path: Path) -> None:
    """An existing file belongs to the day of its mtime: today's first record rotates it."""
    day = 86_400
    path = tmp_path / "c.log"
    path.write_text("yesterday\n")
    t = T0 // 10**9
    os.utime(path, (t - day, t - day))
    h = ComponentRotatingFileHandler(tmp_path, when="daily", utc=True, formatter=plain())
    try:
        h.emit_batch([rec("c", "today", created_ns=T0)])
    finally:
        h.close()
    assert (tmp_path / "c.log.1").read_text() == "yesterday\n"
    assert path.read_text() == "today\n"


def test_period_bounds_local_and_utc() -> None:
    """Periods are whole hours/days; local days start at local midnight."""
    t = T0 / 1e9 + 1234.5
    start, end = period_bounds(t, "hourly", True)
    assert start % 3600 == 0 and end - start == 3600 and start <= t < end
    start, end = period_bounds(t, "daily", False)
    import time as _time

    lt = _time.localtime(start)
    assert (lt.tm_hour, lt.tm_min, lt.tm_sec) == (0, 0, 0)
    assert start <= t < end


# --- compression -------------------------------------------------------------------------------


def test_compress_rotated_files(tmp_path: Path) -> None:
    """Rotated files are gzipped to .N.gz (off the writing thread) and shift as .gz files."""
    h = ComponentRotatingFileHandler(tmp_path, max_bytes=50, backup_count=3, compress=True,
                                     formatter=plain())
    msgs = [f"line-{i:04d}-" + "z" * 30 for i in range(8)]
    try:
        for m in msgs:
            h.emit_batch([rec("c", m)])
    finally:
        h.close()  # waits for the compression jobs
    names = sorted(p.name for p in tmp_path.glob("c.log*"))
    assert names == ["c.log", "c.log.1.gz", "c.log.2.gz", "c.log.3.gz"]
    got = []
    for i in (3, 2, 1):
        with gzip.open(tmp_path / f"c.log.{i}.gz", "rt") as f:
            got.extend(f.read().splitlines())
    got.extend((tmp_path / "c.log").read_text().splitlines())
    assert got == msgs[-4:]
    assert not list(tmp_path.glob("*.tmp"))


# --- file safety -------------------------------------------------------------------------------


def test_planted_symlink_is_not_followed(tmp_path: Path) -> None:
    """A symlink in place of a log file is refused (O_NOFOLLOW): the target stays untouched."""
    target = tmp_path / "secret"
    target.write_text("keep\n")
    d = tmp_path / "logs"
    d.mkdir()
    (d / "c.log").symlink_to(target)
    h = ComponentRotatingFileHandler(d, formatter=plain())
    try:
        with pytest.raises(OSError):
            h.emit_batch([rec("c", "x"), rec("other", "y")])
    finally:
        h.close()
    assert target.read_text() == "keep\n"
    assert (d / "other.log").read_text() == "y\n"  # the other files of the batch are written


def test_emit_failure_goes_to_handle_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """emit() (no queue) never raises: a failure is reported through handleError."""
    d = tmp_path / "logs"
    d.mkdir()
    (d / "c.log").symlink_to(tmp_path / "elsewhere")
    h = ComponentRotatingFileHandler(d)
    try:
        h.emit(rec("c", "x"))
    finally:
        h.close()
    assert "Logging error" in capsys.readouterr().err
    assert not (tmp_path / "elsewhere").exists()


def test_file_mode_default_0640(tmp_path: Path) -> None:
    """New files get mode 0o640 (minus the umask); file_mode changes it."""
    umask = os.umask(0)
    os.umask(umask)
    h = ComponentRotatingFileHandler(tmp_path / "a")
    h2 = ComponentRotatingFileHandler(tmp_path / "b", file_mode="0600")
    try:
        h.emit_batch([rec("c")])
        h2.emit_batch([rec("c")])
    finally:
        h.close()
        h2.close()
    assert stat.S_IMODE((tmp_path / "a" / "c.log").stat().st_mode) == 0o640 & ~umask
    assert stat.S_IMODE((tmp_path / "b" / "c.log").stat().st_mode) == 0o600 & ~umask


def test_idle_files_are_closed_and_reopened(tmp_path: Path) -> None:
    """A file not written for idle_close_s is closed; the next record reopens and appends."""
    now = [1000.0]
    h = ComponentRotatingFileHandler(tmp_path, idle_close_s=60, clock=lambda: now[0],
                                     formatter=plain())
    try:
        h.emit_batch([rec("a", "1"), rec("b", "1")])
        assert len(h.open_files) == 2
        now[0] += 30
        h.emit_batch([rec("a", "2")])
        now[0] += 45  # b idle for 75 s, a for 45 s
        h.emit_batch([rec("a", "3")])
        assert [os.path.basename(p) for p in h.open_files] == ["a.log"]
        h.emit_batch([rec("b", "2")])
        assert len(h.open_files) == 2
    finally:
        h.close()
    assert (tmp_path / "b.log").read_text() == "1\n2\n"
    assert (tmp_path / "a.log").read_text() == "1\n2\n3\n"


def test_max_open_files_bounds_descriptors(tmp_path: Path) -> None:
    """No more than max_open_files descriptors are held, however many components write."""
    h = ComponentRotatingFileHandler(tmp_path, max_open_files=3, formatter=plain())
    try:
        for round_ in range(3):
            h.emit_batch([rec(f"c{i}", str(round_)) for i in range(10)])
            assert len(h.open_files) <= 3
    finally:
        h.close()
    assert all((tmp_path / f"c{i}.log").read_text() == "0\n1\n2\n" for i in range(10))


# --- one record, one line --------------------------------------------------------------------


def test_newlines_cannot_forge_a_line(tmp_path: Path) -> None:
    """A message or field with newlines stays on its record's line, with the default
    formatter and with a plain stdlib one (extra lines become continuations)."""
    forged = "ok\n2026-01-01 00:00:00,000 ERROR payments: forged\r\nmore"
    a = ComponentRotatingFileHandler(tmp_path / "a")
    b = ComponentRotatingFileHandler(tmp_path / "b", formatter=plain("%(levelname)s %(message)s"))
    try:
        for h in (a, b):
            h.emit_batch([rec("c", forged, context={"note": "x\ny"}), rec("c", "next")])
    finally:
        a.close()
        b.close()
    lines = (tmp_path / "a" / "c.log").read_text().split("\n")[:-1]
    assert len(lines) == 2
    assert "forged" in lines[0] and '"x\\ny"' in lines[0]
    lines = (tmp_path / "b" / "c.log").read_text().split("\n")[:-1]
    assert [ln.startswith("INFO ") for ln in lines] == [True, False, False, True]
    assert all(ln.startswith("  | ") for ln in lines[1:3])


def test_logger_name_with_newline_cannot_forge_a_line(tmp_path: Path) -> None:
    """A line break in a logger name is escaped: the record stays on one line."""
    h = ComponentRotatingFileHandler(tmp_path, component_from="field", default_component="c")
    try:
        h.emit_batch([rec("x\n2026-01-01 00:00:00,000 ERROR forged: y"), rec("x", "next")])
    finally:
        h.close()
    lines = (tmp_path / "c.log").read_text().split("\n")[:-1]
    assert len(lines) == 2
    assert "x\\n2026-01-01 00:00:00,000 ERROR forged: y" in lines[0]
    assert lines[1].endswith("INFO x: next")


@settings(max_examples=150, deadline=None)
@given(
    msg=st.text(max_size=40),
    ctx=st.dictionaries(st.text(max_size=8), st.one_of(st.text(max_size=10), st.integers(),
                                                       st.floats(allow_nan=True)), max_size=4),
    name=st.text(min_size=1, max_size=10),
    level=st.sampled_from([logging.DEBUG, logging.INFO, logging.WARNING, logging.ERROR, 5]),
    kind=st.sampled_from(["hft", "traceback", "stdlib"]),
    offset_ns=st.integers(min_value=0, max_value=10**12),
)
def test_fast_line_equals_context_formatter(
    msg: str, ctx: dict[str, Any], name: str, level: int, kind: str, offset_ns: int
) -> None:
    """The handler's inlined rendering of the default format is ContextFormatter's output,
    for hftlogging records, records with a traceback and plain stdlib records (a line
    break the formatter lets through, e.g. in a logger name, becomes a continuation)."""
    h = ComponentRotatingFileHandler.__new__(ComponentRotatingFileHandler)
    logging.Handler.__init__(h)
    h.setFormatter(ContextFormatter())
    assert h._fast

    def make() -> logging.LogRecord:
        if kind == "stdlib":
            return logging.makeLogRecord({"name": name, "levelno": level, "msg": msg,
                                          "levelname": logging.getLevelName(level)})
        return rec(name, msg, level=level, context=dict(ctx), created_ns=T0 + offset_ns,
                   exc_text="Traceback:\nValueError: x" if kind == "traceback" else None)

    a, b = make(), make()
    b.created, b.msecs = a.created, a.msecs
    expected = ContextFormatter().format(b)
    if "\n" in expected or "\r" in expected:
        expected = contain(expected)
    assert h._line(a) == expected


def test_fast_line_keeps_a_record_class_own_get_message(tmp_path: Path) -> None:
    """A record class rendering its message its own way (here: masking) is rendered by
    itself, as ContextFormatter would, not by the inlined ``msg % args``."""

    class Masked(logging.LogRecord):
        def getMessage(self) -> str:
            return super().getMessage().replace("hunter2", "***")

    r = Masked("svc", logging.INFO, "p", 1, "login pw=%s", ("hunter2",), None)
    r.context = {}  # type: ignore[attr-defined]
    h = ComponentRotatingFileHandler(tmp_path, formatter=ContextFormatter())
    try:
        assert h._fast
        assert h._line(r).endswith("INFO svc: login pw=***")
        assert h._line(rec("svc", "login pw=%s", "x")).endswith("INFO svc: login pw=x")
    finally:
        h.close()


# --- processes ---------------------------------------------------------------------------------


def test_second_handler_on_the_same_files_fails_loudly(tmp_path: Path) -> None:
    """Two writers of one file set (no {pid}) are refused at configuration time."""
    h = ComponentRotatingFileHandler(tmp_path)
    try:
        with pytest.raises(ConfigError, match=r"\{pid\} or \{worker\}"):
            ComponentRotatingFileHandler(tmp_path)
        ComponentRotatingFileHandler(tmp_path, filename="{component}.{pid}.log").close()
    finally:
        h.close()
    ComponentRotatingFileHandler(tmp_path).close()  # released on close


def test_worker_rename_and_write_after_close(tmp_path: Path) -> None:
    """Renaming the worker moves a {worker} template to the new files and leaves other
    templates alone; a record after close() claims the files again and appends."""
    plainh = ComponentRotatingFileHandler(tmp_path / "p", formatter=plain())
    per_worker = ComponentRotatingFileHandler(tmp_path / "w", filename="{component}-{worker}.log",
                                              formatter=plain())
    try:
        for h in (plainh, per_worker):
            h.emit_batch([rec("c", "1")])
        hftlogging.set_worker("w2")
        for h in (plainh, per_worker):
            h.emit_batch([rec("c", "2")])
    finally:
        hftlogging.set_worker(None)
        plainh.close()
        per_worker.close()
    plainh.emit_batch([rec("c", "3")])
    plainh.close()
    assert sorted(p.name for p in (tmp_path / "p").glob("*.log")) == ["c.log"]
    assert (tmp_path / "p" / "c.log").read_text() == "1\n2\n3\n"
    assert (tmp_path / "w" / "c-main.log").read_text() == "1\n"
    assert (tmp_path / "w" / "c-w2.log").read_text() == "2\n"


def test_repr_and_flush(tmp_path: Path) -> None:
    """flush() is a no-op (nothing is buffered) and repr names the directory and template."""
    h = ComponentRotatingFileHandler(tmp_path)
    try:
        h.emit_batch([rec("c")])
        h.flush()
        assert (tmp_path / "c.log").read_text().endswith("m\n")
        assert str(tmp_path) in repr(h)
    finally:
        h.close()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_forked_child_writes_its_own_files(tmp_path: Path) -> None:
    """After fork the child does not share the parent's descriptors or rotation state:
    the parent keeps the file set, the child writes per-pid files."""
    h = ComponentRotatingFileHandler(tmp_path, max_bytes=200, backup_count=50, formatter=plain())
    try:
        h.emit_batch([rec("c", "parent-0")])
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - child
            code = 1
            try:
                os.close(r)
                h.emit_batch([rec("c", f"child-{i}") for i in range(50)])
                os.write(w, h.path_for("c").encode())
                code = 0
            finally:
                os._exit(code)
        os.close(w)
        with os.fdopen(r, "rb") as f:
            child_path = f.read().decode()
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        h.emit_batch([rec("c", f"parent-{i}") for i in range(1, 50)])
    finally:
        h.close()
    assert child_path.endswith(f"c.{pid}.log")
    parent = [u for f in read_units(chain_of(tmp_path / "c.log", 50)) for u in f]
    assert parent == [f"parent-{i}" for i in range(50)]
    child = [u for f in read_units(chain_of(Path(child_path), 50)) for u in f]
    assert child == [f"child-{i}" for i in range(50)]


def _forked_logger(name: str, n: int) -> None:
    log = logging.getLogger(name)
    for i in range(n):
        log.info("child %d", i)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_fork_start_method_behind_the_queue(tmp_path: Path, logger_name: str) -> None:
    """configure() in the parent, then multiprocessing (fork) children log through the
    queue: each child's records land in its own per-pid file, the parent's in its file,
    nothing lost or mixed."""
    import multiprocessing

    hftlogging.configure({
        "version": 1,
        "handlers": {
            "queue": {"class": "hftlogging.handlers.QueueHandler", "handlers": ["files"]},
            "files": {"class": "hftlogging.handlers.ComponentRotatingFileHandler",
                      "directory": str(tmp_path), "filename": "app.log"},
        },
        "loggers": {logger_name: {"level": "INFO", "handlers": ["queue"], "propagate": False}},
    })
    log = logging.getLogger(logger_name)
    log.info("parent before")  # the queue and its listener run before the fork
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_forked_logger, args=(logger_name, 200)) for _ in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    log.info("parent after")
    hftlogging.shutdown()
    parent = (tmp_path / "app.log").read_text().splitlines()
    assert [ln.rsplit(": ", 1)[1] for ln in parent] == ["parent before", "parent after"]
    for p in procs:
        child = (tmp_path / f"app.{p.pid}.log").read_text().splitlines()
        assert [ln.rsplit(": ", 1)[1] for ln in child] == [f"child {i}" for i in range(200)]


def _worker_main(directory: str, worker: str, n: int) -> None:
    import hftlogging as hl

    hl.set_worker(worker)
    hl.configure({
        "version": 1,
        "handlers": {
            "queue": {"class": "hftlogging.handlers.QueueHandler", "handlers": ["files"],
                      "overflow": "block", "block_timeout_ms": 30000},
            "files": {"class": "hftlogging.handlers.ComponentRotatingFileHandler",
                      "directory": directory, "filename": "{component}-{worker}.log",
                      "max_bytes": 2000, "backup_count": 1000},
        },
        "root": {"level": "INFO", "handlers": ["queue"]},
    })
    a = logging.getLogger("dispatcher")
    b = logging.getLogger("worker_open")
    for i in range(n):
        a.info("msg %d from %s", i, worker)
        b.info("order %d", i, order_id=i, worker_name=worker)
    hl.shutdown()


def test_four_worker_processes_write_their_own_files(tmp_path: Path) -> None:
    """Four real processes log concurrently, each into its own rotating files; every
    line of every file is checked: all records present, in order, none foreign."""
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")
    n = 600
    workers = [f"w{i}" for i in range(4)]
    procs = [ctx.Process(target=_worker_main, args=(str(tmp_path), w, n)) for w in workers]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    for w in workers:
        disp = [u for f in read_units(chain_of(tmp_path / f"dispatcher-{w}.log", 1000)) for u in f]
        assert [u.split(": ", 1)[1] for u in disp] == [f"msg {i} from {w}" for i in range(n)]
        orders = [u for f in read_units(chain_of(tmp_path / f"worker_open-{w}.log", 1000))
                  for u in f]
        assert [u.split(": ", 1)[1] for u in orders] == [
            f"order {i} order_id={i} worker_name={w}" for i in range(n)
        ]
        assert Path(f"{tmp_path}/dispatcher-{w}.log.1").exists()  # it did rotate


def _second_process(directory: str, out: Any) -> None:
    try:
        ComponentRotatingFileHandler(directory)
    except ConfigError as e:
        out.put(f"ConfigError: {e}")
    else:
        out.put("no error")


def test_second_process_on_the_same_files_fails_loudly(tmp_path: Path) -> None:
    """Another process configuring the same file set gets a ConfigError saying why."""
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")
    h = ComponentRotatingFileHandler(tmp_path)
    try:
        q = ctx.Queue()
        p = ctx.Process(target=_second_process, args=(str(tmp_path), q))
        p.start()
        result = q.get(timeout=60)
        p.join(60)
    finally:
        h.close()
    assert result.startswith("ConfigError")
    assert "another process" in result


# --- end to end ----------------------------------------------------------------------------


def test_end_to_end_through_configure_with_errors_file(tmp_path: Path, logger_name: str) -> None:
    """configure() with a QueueHandler in front: components get their files, and a second
    handler with level ERROR collects the errors of every component."""
    hftlogging.configure({
        "version": 1,
        "handlers": {
            "queue": {"class": "hftlogging.handlers.QueueHandler",
                      "handlers": ["files", "errors"]},
            "files": {"class": "hftlogging.handlers.ComponentRotatingFileHandler",
                      "directory": str(tmp_path), "max_bytes": 1_000_000, "backup_count": 3,
                      "component_map": {f"{logger_name}.open": "worker_open",
                                        f"{logger_name}.close": "worker_close"}},
            "errors": {"class": "hftlogging.handlers.ComponentRotatingFileHandler",
                       "directory": str(tmp_path), "filename": "provider_errors.log",
                       "level": "ERROR"},
        },
        "loggers": {logger_name: {"level": "INFO", "handlers": ["queue"], "propagate": False}},
    })
    op = hftlogging.get_logger(f"{logger_name}.open")
    cl = hftlogging.get_logger(f"{logger_name}.close")
    for i in range(100):
        op.info("opened %d", i, order_id=i)
        cl.info("closed %d", i)
    op.error("open failed", order_id=7)
    try:
        raise RuntimeError("db down")
    except RuntimeError:
        cl.exception("close failed")
    hftlogging.shutdown()
    opened = (tmp_path / "worker_open.log").read_text().splitlines()
    assert len(opened) == 101 and opened[5].endswith("opened 5 order_id=5")
    closed = (tmp_path / "worker_close.log").read_text().split("\n")
    assert "RuntimeError: db down" in (tmp_path / "worker_close.log").read_text()
    assert closed[100].endswith("ERROR " + f"{logger_name}.close: close failed")
    errors = (tmp_path / "provider_errors.log").read_text()
    heads = [ln for ln in errors.splitlines() if not ln.startswith("  | ")]
    assert len(heads) == 2 and "open failed order_id=7" in heads[0]
    assert "  | RuntimeError: db down" in errors


def test_no_listener_thread_needed_for_emit(tmp_path: Path, logger_name: str) -> None:
    """Without a queue, the handler works as any stdlib handler through emit()."""
    h = ComponentRotatingFileHandler(tmp_path)
    lg = logging.getLogger(logger_name)
    lg.addHandler(h)
    lg.setLevel(logging.INFO)
    lg.propagate = False
    try:
        lg.info("direct %s", "call")
    finally:
        lg.removeHandler(h)
        h.close()
    assert (tmp_path / f"{logger_name}.log").read_text().rstrip().endswith("direct call")

