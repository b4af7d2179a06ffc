"""Helpers of the fault suite: pipelines, child processes, health checks and the catalogues.

The catalogues below are what the suite parametrizes over; the counts printed at the end
of a run and stated in docs/reliability.md are computed from them (``scenario_count``,
``bad_input_count``), so the document cannot drift from the tests.
"""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
import textwrap
import threading
from typing import Any

import pytest

import hftlogging
from hftlogging.handlers import QueueHandler

IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0
NOBODY = 65534

# --- the catalogue of scenarios -----------------------------------------------------------

#: Scenario id -> (what happens, what the library guarantees). Every id is the
#: ``scenario`` marker of at least one test (checked at collection).
SCENARIOS: dict[str, tuple[str, str]] = {
    "disk_full_dev_full": (
        "A file handler behind the queue writes to /dev/full (ENOSPC on every write)",
        "log calls return; each failed batch is counted in handler_errors and its records "
        "are written to the fallback (stderr); after the threshold the handler is bypassed "
        "and retried with back-off",
    ),
    "disk_full_project_handlers": (
        "The component file and the audit file are device nodes that behave as /dev/full",
        "counted and reported as above; once the node is replaced by a regular file the "
        "handlers reopen the path and writing resumes (audit chain resumes from the file)",
    ),
    "disk_full_rlimit": (
        "A process with a small RLIMIT_FSIZE (SIGXFSZ ignored): writes fail with EFBIG",
        "log calls return, failures counted and reported on stderr; when the limit is "
        "raised the same files take the next records; no partial line is left behind",
    ),
    "dir_removed": (
        "The log directory is removed while files in it are open",
        "the next batch notices the path is gone, recreates the directory and writes "
        "there (no record goes to a deleted file)",
    ),
    "dir_replaced_by_file": (
        "The log directory is replaced by a regular file",
        "writes fail, are counted and go to the fallback; when the directory is back the "
        "handlers write there again",
    ),
    "dir_unwritable": (
        "The writer runs as an unprivileged user and its directory becomes read-only",
        "opening a file fails, counted and reported on the fallback; writing resumes when "
        "the permission returns",
    ),
    "handler_raises": (
        "One handler raises on every record",
        "the other handlers get every record; errors counted; records to the fallback",
    ),
    "handler_hangs_caller": (
        "One handler hangs forever",
        "log calls still return at once: a full queue drops (counted by type and level), "
        "audit records are never dropped (kept past capacity)",
    ),
    "handler_hangs_others": (
        "One handler hangs while others share its queue",
        "after hang_timeout_s (default 5 s) the watchdog bypasses it: a new listener thread "
        "serves the other handlers, the hang is counted and reported on the fallback",
    ),
    "handler_slow": (
        "One handler takes a long time per batch",
        "the caller never waits for it; every record reaches every handler or is counted "
        "dropped",
    ),
    "prometheus_port_taken": (
        "The Prometheus endpoint's port is already in use",
        "configure() raises ConfigError naming the port; the running configuration stays",
    ),
    "pushgateway_down": (
        "The Pushgateway refuses connections",
        "pushes fail on the push thread, counted (push_failures, "
        "<ns>_logging_push_failures_total); log calls unaffected",
    ),
    "pushgateway_slow": (
        "The Pushgateway accepts and never answers",
        "each push gives up after timeout_s, counted; log calls return meanwhile",
    ),
    "pushgateway_500": (
        "The Pushgateway answers 500",
        "counted with the status in last_push_error; log calls unaffected",
    ),
    "sigterm_burst": (
        "SIGTERM while threads log a burst",
        "every record accepted into the queue is in the file (emitted - dropped)",
    ),
    "sigint_burst": (
        "SIGINT (KeyboardInterrupt) while threads log a burst",
        "every record accepted into the queue is in the file (emitted - dropped)",
    ),
    "sys_exit_burst": (
        "sys.exit() while threads log a burst",
        "every record accepted into the queue is in the file; the exit code is kept",
    ),
    "sigkill_audit": (
        "SIGKILL while audit records are written",
        "the audit file verifies up to its last complete line; a restart marks the torn "
        "line and the whole trail verifies again",
    ),
    "fork_under_load": (
        "fork() while other threads log heavily",
        "no deadlock in the child, no line written twice, the child's records in its files",
    ),
    "reconfigure_under_load": (
        "configure() called twenty times while four threads log",
        "configure() returns each time; every record is in the file or counted dropped by "
        "the queue that refused it; no listener thread leaks",
    ),
    "redaction": (
        "Secrets passed as fields, extra=, bound or contextvar context, audit fields, "
        "nested dicts and metric tags",
        "masked before any handler: in no text file, no JSON line, no audit line, no "
        "Prometheus label, no fallback line",
    ),
    "endpoint_loopback": (
        "The Prometheus endpoint with default options",
        "binds 127.0.0.1 only",
    ),
    "file_modes": (
        "Log and audit files created by the handlers",
        "mode 0o640 by default, the configured mode otherwise",
    ),
    "symlink_planted": (
        "A symlink to a victim file planted where a log or audit file will be opened",
        "the handler refuses it (O_NOFOLLOW), counts and reports; the victim is untouched",
    ),
    "file_two_names": (
        "Two processes reach one log file by two names (another template, a symlinked "
        "directory, '..', a hard link), 15,000 lines each",
        "every line written once: exclusive writers meet on the file's own lock (its "
        "inode) and the second writes a per-pid file, counted (file_conflicts) and "
        "reported; shared writers share the file; a hard-linked file is refused to all",
    ),
    "file_torn_tail": (
        "SIGKILL while a large text record is being written leaves a partial last line",
        "the next writer to open the file ends the fragment with a newline, counted "
        "(torn_tails) and reported with its length; its first record starts a new line",
    ),
    "file_is_fifo": (
        "The component file is a FIFO, with or without a reader",
        "the listener never blocks; nothing is written into it; records on the fallback, "
        "counted; a regular file in its place is written again",
    ),
    "file_is_device": (
        "The component file is a character device such as a /dev/null node",
        "refused as not a regular file, counted, records on the fallback; a regular file "
        "in its place is written again",
    ),
    "file_read_only": (
        "An unprivileged writer's file is made read-only, then replaced by a read-only "
        "file",
        "the open descriptor keeps writing; after the replacement the records go to the "
        "fallback, counted; writable again, the file takes the next records",
    ),
    "reentrant_handler_drain": (
        "A handler that logs through hftlogging from emit() while shutdown(), configure() "
        "or the exit drains a full queue (overflow drop_newest or block)",
        "each returns at once: the handler's records are queued behind, never waited for; "
        "every record is written, none dropped; the process exits by itself",
    ),
    "reentrant_handler_overflow": (
        "A handler logs into its own full queue with overflow: block",
        "the listener never waits for room only it can make: records that do not fit are "
        "counted dropped, audit records go past the capacity",
    ),
    "handler_logs_forever": (
        "A handler logs one record for every record it writes, so its queue never empties",
        "shutdown() returns; the drain is bounded and what it leaves is counted "
        "(dropped, dropped_at_stop, unfinished_stops) and reported",
    ),
    "handler_close_hangs": (
        "A handler behind the queue never returns from close()",
        "configure() and the exit return after stop_timeout_s; the handler is abandoned, "
        "counted in close_timeouts and reported on stderr",
    ),
    "shared_context_object": (
        "One hftlogging.context(...) object entered by 1,500 asyncio tasks (and inside "
        "itself) or by eight threads at once",
        "each entry restores what its own task or thread had: every record carries its own "
        "correlation id, inside the block and after it",
    ),
    "extra_by_reference": (
        "A dict, a list or an exception passed with extra= (hftlogging or plain stdlib "
        "logger), changed or released while the record is queued",
        "copied at the call as keyword fields are: written as it was at the call; no frame "
        "of the exception stays alive in the queue",
    ),
    "option_breaks_pipeline": (
        "NaN, ±inf or 1e300 for any duration option (flush interval, timeouts, intervals); "
        "a NUL byte, a 300-character name or an over-long path in a file or directory option",
        "refused at load by check and configure() alike, naming the file, the key and the "
        "fix; nothing is created and the running configuration keeps working",
    ),
    "check_builds_handlers": (
        "A handler entry that only building it shows broken: (): builtins.dict, a factory "
        "returning a non-handler, a factory that raises",
        "check builds what configure() builds and refuses it with the same key; check "
        "leaves no file, no thread and no bound port behind",
    ),
    "wall_clock_jump": (
        "The wall clock jumps a year back or forward mid-run",
        "flush() and shutdown() return at once (the listener uses the monotonic clock); "
        "every record written, no handler error, the audit trail verifies",
    ),
}

# --- the catalogues of bad input ----------------------------------------------------------


class RaisesOnStr:
    """An object whose ``__str__`` and ``__repr__`` both raise."""

    def __str__(self) -> str:
        raise RuntimeError("no str for you")

    def __repr__(self) -> str:
        raise RuntimeError("no repr for you")


class RaisesOnRepr:
    """An object whose ``__repr__`` raises (``__str__`` falls back to it)."""

    def __repr__(self) -> str:
        raise ValueError("no repr")


def _recursive_dict() -> dict[str, Any]:
    d: dict[str, Any] = {"a": 1}
    d["self"] = d
    return d


def _recursive_list() -> list[Any]:
    lst: list[Any] = [1]
    lst.append(lst)
    return lst


HUGE = "x" * (10 * 1024 * 1024)

#: (id, message, args): log.info(message, *args) must neither raise nor be lost.
BAD_MESSAGES: list[tuple[str, Any, tuple[Any, ...]]] = [
    ("huge_10mb", HUGE, ()),
    ("empty", "", ()),
    ("non_utf8_bytes", b"\xff\xfe\x80 raw", ()),
    ("non_utf8_bytes_arg", "payload %s", (b"\xc3\x28\xa0\xa1",)),
    ("lone_surrogate", "half \udc80 pair \ud800", ()),
    ("lone_surrogate_arg", "v=%s", ("\udfff",)),
    ("nul_and_controls", "a\x00b\x07c\x1bd\x7fe\x9bf", ()),
    ("crlf_forged_line", "ok\r\n2026-01-01 00:00:00,000 CRITICAL root: forged", ()),
    ("lf_forged_line_arg", "user=%s", ("x\n2026-01-01 00:00:00,000 CRITICAL root: forged",)),
    ("missing_args", "%s and %s and %d", ("one",)),
    ("extra_args", "no placeholders", (1, 2, 3)),
    ("bad_conversion", "%d items", ("not a number",)),
    ("dict_format_missing_key", "%(absent)s", ({"present": 1},)),
    ("percent_alone", "100%", ()),
    ("str_raises_msg", RaisesOnStr(), ()),
    ("str_raises_arg", "value %s", (RaisesOnStr(),)),
    ("repr_raises_arg", "value %r", (RaisesOnRepr(),)),
    ("recursive_arg", "value %s", (_recursive_list(),)),
    ("none_message", None, ()),
]

#: (id, fields): keyword fields (and audit fields) that must neither raise nor be lost.
BAD_FIELDS: list[tuple[str, dict[str, Any]]] = [
    ("non_serialisable_object", {"obj": object(), "sock": threading.Lock()}),
    ("set_and_bytes", {"s": {1, 2}, "b": b"\xff\x00"}),
    ("str_raises", {"bad": RaisesOnStr()}),
    ("repr_raises", {"bad": RaisesOnRepr()}),
    ("recursive_dict", {"loop": _recursive_dict()}),
    ("recursive_list", {"loop": _recursive_list()}),
    ("huge_value", {"blob": "y" * (2 * 1024 * 1024)}),
    ("deep_nesting", {"deep": __import__("functools").reduce(lambda a, _: [a], range(500), [])}),
    ("many_fields", {f"f{i}": i for i in range(2000)}),
    ("nan_and_inf", {"n": float("nan"), "i": float("inf")}),
    ("surrogate_key_and_value", {"k\udc80": "v\ud800"}),
    ("newline_in_value", {"note": "a\nb\r\nc=forged"}),
    ("collides_msg", {"msg": "shadow", "args": (1,), "levelname": "FAKE"}),
    ("collides_name_module", {"name": "other", "module": "m", "process": -1}),
    ("collides_contract", {"context": "x", "tags": "y", "log_type": "audit"}),
    ("collides_created", {"created": "yesterday", "exc_info": None}),
]

#: (id, name, value, tags): metric updates that are dropped and counted, never raised.
BAD_METRICS: list[tuple[str, Any, Any, dict[str, Any]]] = [
    ("invalid_name_space", "bad name", 1, {}),
    ("invalid_name_dash", "bad-name", 1, {}),
    ("invalid_name_empty", "", 1, {}),
    ("invalid_name_digit", "9lives", 1, {}),
    ("invalid_name_not_str", 42, 1, {}),
    ("value_nan", "fault_nan", float("nan"), {}),
    ("value_inf", "fault_inf", float("inf"), {}),
    ("value_minus_inf", "fault_minus_inf", float("-inf"), {}),
    ("value_string", "fault_str", "12", {}),
    ("value_none", "fault_none", None, {}),
    ("value_object", "fault_obj", object(), {}),
    ("value_bool", "fault_bool", True, {}),
    ("tag_name_invalid", "fault_tag_name", 1, {"bad-label": "x"}),
    ("tag_name_dunder", "fault_tag_dunder", 1, {"__reserved": "x"}),
    ("tag_value_object", "fault_tag_obj", 1, {"k": RaisesOnStr()}),
]

#: (id, label value): values that must be exported escaped, one sample per value.
BAD_LABEL_VALUES: list[tuple[str, str]] = [
    ("double_quote", 'say "hi"'),
    ("backslash", "C:\\path\\"),
    ("newline", "line1\nline2"),
    ("crlf_forge", 'x"} 1\nfake_metric{a="b'),
    ("huge", "z" * 100_000),
    ("unicode", "naïve ✓ 東京"),
    ("empty", ""),
]

#: The classes whose every option is tried with a value of the wrong type.
CONFIGURABLE = {
    "hftlogging.handlers.QueueHandler": "handler",
    "hftlogging.handlers.ComponentRotatingFileHandler": "handler",
    "hftlogging.handlers.JSONAuditHandler": "handler",
    "hftlogging.handlers.PrometheusHandler": "handler",
    "hftlogging.filters.RedactFilter": "filter",
}
_NOT_TRIED = frozenset({"queue", "handlers", "registry", "buckets", "clock", "formatter"})


def _wrong_value(annotation: str) -> Any:
    """A value of the wrong type for an option annotated ``annotation``."""
    first = annotation.split("|", maxsplit=1)[0].strip()
    if first == "bool":
        return "maybe" if "str" not in annotation else 3.5
    if first == "int":
        return "many" if "str" not in annotation else [1]
    if first == "float":
        return "slow"
    if first.startswith(("Mapping", "dict")):
        return "not a mapping"
    if first.startswith(("Sequence", "Iterable", "list")):
        return 42
    return 12345  # str, paths, handler names


def wrong_type_cases() -> list[tuple[str, str, Any]]:
    """(class path, option, wrong value) for every option of :data:`CONFIGURABLE`."""
    import importlib
    import inspect

    out = []
    for path in CONFIGURABLE:
        module, _, name = path.rpartition(".")
        cls = getattr(importlib.import_module(module), name)
        for opt, param in inspect.signature(cls).parameters.items():
            if opt in _NOT_TRIED or (param.kind is not param.KEYWORD_ONLY and (
                param.kind is not param.POSITIONAL_OR_KEYWORD
            )):
                continue
            out.append((path, opt, _wrong_value(str(param.annotation))))
    return out


#: (id, YAML text, words the ConfigError must contain). Each must be refused cleanly.
BAD_CONFIG_FILES: list[tuple[str, str, str]] = [
    ("billion_laughs", "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
     + "".join(f"{c}: &{c} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}]\n"
               for p, c in zip("abcdefgh", "bcdefghi", strict=True))
     + "version: 1\n", "alias"),
    ("merge_key_bomb", "a: &a {k0: 0, k1: 1}\n"
     + "".join(f"{c}: &{c}\n  <<: [*{p}]\n  {c}x: [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}]\n"
               for p, c in zip("abcdefgh", "bcdefghi", strict=True))
     + "version: 1\n", "alias"),
    ("self_reference", "a: &a [1, *a]\nversion: 1\n", "YAML"),
    ("python_object_apply",
     "version: 1\nx: !!python/object/apply:os.system ['touch PWNED']\n", "python/object"),
    ("python_name", "version: 1\nx: !!python/name:os.system\n", "python/name"),
    ("python_object_new",
     "version: 1\nx: !!python/object/new:subprocess.Popen [['touch', 'PWNED']]\n",
     "python/object"),
    ("unknown_local_tag", "version: 1\nx: !custom 1\n", "tag"),
    ("syntax_error", "version: 1\nhandlers: [unclosed\n", "YAML"),
    ("top_level_list", "- version\n- 1\n", "mapping"),
    ("deep_nesting", "x: " + "[" * 5000 + "]" * 5000 + "\nversion: 1\n", "nest"),
    ("unknown_handler_class",
     "version: 1\nhandlers: {h: {class: hftlogging.handlers.NoSuchHandler}}\n"
     "root: {handlers: [h]}\n", "NoSuchHandler"),
    ("unknown_module",
     "version: 1\nhandlers: {h: {class: nosuchmodule.Handler}}\nroot: {handlers: [h]}\n",
     "nosuchmodule"),
    ("not_a_handler_class",
     "version: 1\nhandlers: {h: {class: os.system}}\nroot: {handlers: [h]}\n", "os.system"),
    ("missing_env_var",
     "version: 1\nhandlers: {f: {class: hftlogging.handlers.ComponentRotatingFileHandler,"
     " directory: '${HFT_FAULT_SURELY_UNSET}'}}\nroot: {handlers: [f]}\n",
     "HFT_FAULT_SURELY_UNSET"),
    ("handler_not_defined",
     "version: 1\nroot: {handlers: [ghost]}\n", "ghost"),
    ("queue_targets_unknown",
     "version: 1\nhandlers: {q: {class: hftlogging.handlers.QueueHandler, handlers: [ghost]}}\n"
     "root: {handlers: [q]}\n", "ghost"),
    ("version_wrong", "version: 2\n", "version"),
    ("level_unknown", "version: 1\nroot: {level: LOUD}\n", "LOUD"),
]

#: Hypothesis examples per property test (fixed, so the count is known).
HYPOTHESIS_EXAMPLES = 60
#: Property tests of bad input in the suite (each runs HYPOTHESIS_EXAMPLES examples).
PROPERTY_TESTS = ("text_never_forges_a_line", "json_lines_stay_one_object",
                  "fields_never_raise")


def scenario_count() -> int:
    """Scenarios in the suite."""
    return len(SCENARIOS)


#: Bad files that are not YAML text (non-UTF-8, too large, a directory, unreadable, empty).
BAD_CONFIG_SOURCES = ("non_utf8", "too_large", "directory", "unreadable", "missing")


def bad_input_counts() -> dict[str, int]:
    """Bad inputs tried, per class: parametrized cases and the property tests' examples."""
    return {
        "messages": len(BAD_MESSAGES),
        "fields": len(BAD_FIELDS),
        "metrics": len(BAD_METRICS) * 3,  # through metric(), counter() and histogram()
        "label values": len(BAD_LABEL_VALUES),
        "config option types": len(wrong_type_cases()),
        "config files": len(BAD_CONFIG_FILES) + len(BAD_CONFIG_SOURCES),
        "property examples": len(PROPERTY_TESTS) * HYPOTHESIS_EXAMPLES,
    }


def bad_input_count() -> int:
    """Bad inputs tried in all."""
    return sum(bad_input_counts().values())


def scenario(name: str) -> pytest.MarkDecorator:
    """Mark a test as covering scenario ``name`` (an id of :data:`SCENARIOS`)."""
    if name not in SCENARIOS:
        msg = f"unknown scenario {name!r}"
        raise KeyError(msg)
    return pytest.mark.scenario(name)


# --- pipelines ------------------------------------------------------------------------------


class Pipeline:
    """A queue with named handlers behind it, configured on a dedicated logger."""

    def __init__(self, logger: Any, queue: QueueHandler) -> None:
        self.log = logger
        self.queue = queue

    def flush(self) -> None:
        """Wait until everything queued so far was handed to the handlers."""
        self.queue.flush()

    def stats(self) -> dict[str, Any]:
        """This queue's own counters."""
        return self.queue.stats()

    def detach_test_capture(self) -> None:
        """Remove pytest's log capture handlers from this logger.

        pytest >= 9.2 attaches them to non-propagating loggers when a test's call phase
        starts (after fixtures ran): the logger then takes the stdlib path and pytest keeps
        every record, which a test of speed or memory must not measure.
        """
        for h in list(self.log.handlers):
            if type(h).__module__.startswith("_pytest"):
                self.log.removeHandler(h)

    def assert_healthy(self) -> None:
        """The listener is alive and never caught an error of its own."""
        s = self.queue.stats()
        assert s["listener_errors"] == 0, s
        listener = self.queue.listener
        assert listener is not None and listener.running, "the listener thread died"


def build_pipeline(
    logger_name: str,
    handlers: dict[str, Any],
    *,
    root_level: str = "DEBUG",
    filters: dict[str, Any] | None = None,
    formatters: dict[str, Any] | None = None,
    **queue_opts: Any,
) -> Pipeline:
    """Configure ``handlers`` (name -> dictConfig entry or handler object) behind a queue."""
    entries: dict[str, Any] = {}
    for name, h in handlers.items():
        if isinstance(h, logging.Handler):
            entries[name] = {"()": (lambda obj=h: obj)}
        elif callable(h):  # a factory: built by dictConfig, after it closed the old handlers
            entries[name] = {"()": h}
        else:
            entries[name] = h
    entries["queue"] = {
        "class": "hftlogging.handlers.QueueHandler", "handlers": list(handlers), **queue_opts,
    }
    cfg: dict[str, Any] = {
        "version": 1,
        "disable_existing_loggers": False,
        "handlers": entries,
        "loggers": {logger_name: {"level": root_level, "handlers": ["queue"],
                                  "propagate": False}},
    }
    if filters:
        cfg["filters"] = filters
    if formatters:
        cfg["formatters"] = formatters
    hftlogging.configure(cfg)
    qh = logging._handlers["queue"]  # type: ignore[attr-defined]
    return Pipeline(hftlogging.get_logger(logger_name), qh)


class ListHandler(logging.Handler):
    """Keeps the formatted fallback lines (a fallback handler the test can read)."""

    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)
        self.lines.append(self.format(record))


# --- child processes ------------------------------------------------------------------------

CHILD_PRELUDE = """
import atexit, json, logging, os, signal, sys, threading, time
import hftlogging
"""


def child_path() -> str:
    """This process's import path, for a child's ``PYTHONPATH``.

    A child imports what the parent imports: the installed wheel under tox, the checkout
    in a developer's tree. (``""``, the working directory, is made absolute: children run
    in ``/``.)
    """
    return os.pathsep.join(p or os.getcwd() for p in sys.path)


def run_child(
    body: str,
    *args: str,
    env: dict[str, str] | None = None,
    timeout: float = 60.0,
    popen: bool = False,
) -> Any:
    """Run ``CHILD_PRELUDE + body`` in a fresh interpreter; returns CompletedProcess or Popen."""
    script = CHILD_PRELUDE + textwrap.dedent(body)
    full_env = {**os.environ, **(env or {})}
    full_env["PYTHONPATH"] = child_path()
    cmd = [sys.executable, "-c", script, *args]
    if popen:
        return subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=full_env,
            cwd="/",
        )
    return subprocess.run(
        cmd, capture_output=True, text=True, env=full_env, timeout=timeout, cwd="/",
        check=False,
    )


# --- sockets ----------------------------------------------------------------------------------


class SilentServer:
    """A TCP server on 127.0.0.1 that accepts connections and never answers."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.accepted = threading.Event()
        self._conns: list[socket.socket] = []
        self._stop = False
        self._thread = threading.Thread(target=self._serve, name="silent-server", daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self._conns.append(conn)
            self.accepted.set()

    def close(self) -> None:
        """Stop accepting and drop every connection."""
        self._stop = True
        for c in self._conns:
            c.close()
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
        except OSError:
            pass
        self.sock.close()
        self._thread.join(5)


def closed_port() -> int:
    """A port on 127.0.0.1 with nothing listening (bound, then released)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = int(s.getsockname()[1])
    s.close()
    return port


# --- unprivileged writers --------------------------------------------------------------------


def run_as_nobody(fn: Any, *args: Any) -> dict[str, Any]:
    """Run ``fn(*args)`` in a forked child as ``nobody``; return the dict it returns.

    The child drops its groups and ids before calling ``fn``; its result comes back as
    JSON through a pipe; a child that fails prints its traceback and fails the caller.
    """
    import json

    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        code = 0
        try:
            os.close(r)
            os.setgroups([])
            os.setgid(NOBODY)
            os.setuid(NOBODY)
            os.write(w, json.dumps(fn(*args)).encode())
        except BaseException:
            import traceback

            traceback.print_exc()
            code = 1
        finally:
            os._exit(code)
    os.close(w)
    with os.fdopen(r) as f:
        data = f.read()
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    return json.loads(data)  # type: ignore[no-any-return]
