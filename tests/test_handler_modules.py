"""The layout of the file and metric handlers: the shared file plumbing, old import paths,
and the one error grammar of their configuration errors."""

from __future__ import annotations

import ast
import importlib
import os
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from hftlogging.exceptions import ConfigError, HftLoggingError, HftLoggingOSError
from hftlogging.handlers import files
from hftlogging.handlers.audit import JSONAuditHandler
from hftlogging.handlers.prometheus import PrometheusHandler
from hftlogging.handlers.rotating import ComponentRotatingFileHandler
from hftlogging.handlers.syslog import SyslogHandler

HANDLERS = Path(__file__).resolve().parent.parent / "hftlogging" / "handlers"

#: Names importable from the module paths the handlers had before they were split.
OLD_PATHS = {
    "hftlogging.handlers.rotating": ("ComponentRotatingFileHandler", "component_matcher",
                                     "file_stats", "period_bounds"),
    "hftlogging.handlers.audit": ("GENESIS_HASH", "AuditFormatter", "JSONAuditHandler",
                                  "VerifyResult", "canonical_bytes", "chain_files",
                                  "order_files", "read_tail", "verify", "verify_chains",
                                  "verify_command"),
    "hftlogging.handlers.prometheus": ("DEFAULT_BUCKETS", "ERROR_REASONS", "MULTIPROC_ENV",
                                       "PipelineCollector", "PrometheusHandler"),
}


@pytest.mark.parametrize("module", sorted(OLD_PATHS))
def test_old_import_paths_keep_their_public_names(module: str) -> None:
    """Each split module still offers, under its old path, the names users import."""
    mod = importlib.import_module(module)
    for name in OLD_PATHS[module]:
        assert hasattr(mod, name), f"{module}.{name}"
        assert name in mod.__all__, f"{name} not in {module}.__all__"


def _imports_from(path: Path, module: str) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return {
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module == module
        for alias in node.names
    }


@pytest.mark.parametrize("user", ["rotating.py", "audit/handler.py"])
def test_file_plumbing_is_shared_by_public_names(user: str) -> None:
    """The rotating and audit handlers take the file plumbing from one module, by names in
    its ``__all__`` (no private name crosses a module)."""
    names = _imports_from(HANDLERS / user, "hftlogging.handlers.files")
    assert names, f"{user} does not use hftlogging.handlers.files"
    assert names <= set(files.__all__), sorted(names - set(files.__all__))
    assert not [n for n in names if n.startswith("_")]


#: The one exception: the rotating handler's class alone (configuration, opening with
#: conflict handling, the batched and the shared write paths) is about 800 lines.
def test_a_file_option_error_says_where_what_and_found(tmp_path: Path) -> None:
    """A bad file handler option is a ConfigError (a ValueError and an HftLoggingError)
    naming the key, what was expected and what was found."""
    with pytest.raises(ConfigError) as info:
        ComponentRotatingFileHandler(tmp_path, max_bytes=-1)
    assert isinstance(info.value, ValueError) and isinstance(info.value, HftLoggingError)
    assert str(info.value) == (
        "key max_bytes: expected an integer >= 0, found -1; use a whole number of 0 or more"
    )


def test_an_audit_option_error_follows_the_grammar(tmp_path: Path) -> None:
    """The audit handler's fsync policy error says what is expected and what was found."""
    with pytest.raises(ConfigError) as info:
        JSONAuditHandler(str(tmp_path / "audit.jsonl"), fsync="sometimes")
    assert str(info.value) == (
        "key fsync: expected one of always, batch, never, found 'sometimes'; "
        "name one of: always, batch, never"
    )


def test_a_prometheus_option_error_follows_the_grammar() -> None:
    """A Prometheus handler option error names the key, the expectation and the value."""
    with pytest.raises(ConfigError) as info:
        PrometheusHandler(namespace="1bad", registry=CollectorRegistry())
    assert str(info.value) == (
        "key namespace: expected a Prometheus metric name prefix such as 'hft', found '1bad'; "
        "use letters, digits and underscores, such as 'hft'"
    )


def test_a_syslog_option_error_follows_the_grammar() -> None:
    """The syslog handler's errors use the same grammar."""
    with pytest.raises(ConfigError) as info:
        SyslogHandler(protocol="carrier-pigeon")
    assert str(info.value) == (
        "key protocol: expected one of tcp, udp, unix, found 'carrier-pigeon'; "
        "name one of: tcp, udp, unix"
    )


def test_a_special_file_is_refused_with_an_hftlogging_os_error(tmp_path: Path) -> None:
    """A FIFO where a component file should be is refused as an HftLoggingOSError (an
    OSError) whose message says where, what was expected and what happens to the records."""
    if not hasattr(os, "mkfifo"):
        pytest.skip("no FIFOs on this platform")
    h = ComponentRotatingFileHandler(tmp_path)
    try:
        os.mkfifo(tmp_path / "orders.log")
        reader = os.open(tmp_path / "orders.log", os.O_RDONLY | os.O_NONBLOCK)
        try:
            f = h._file_for("orders")
            with pytest.raises(HftLoggingOSError) as info:
                h._open_file(f)
        finally:
            os.close(reader)
    finally:
        h.close()
    assert isinstance(info.value, OSError)
    assert str(info.value).endswith(
        f"{tmp_path}/orders.log: expected a regular file, found a FIFO, device or socket; "
        "its records go to the fallback"
    )


def test_repair_tail_ends_a_torn_file_and_says_so(tmp_path: Path) -> None:
    """``repair_tail`` ends a file whose last line is partial with a newline and returns
    True; a file ending in a newline is left alone (False)."""
    torn = tmp_path / "torn.log"
    torn.write_bytes(b"whole\npart")
    whole = tmp_path / "whole.log"
    whole.write_bytes(b"whole\n")
    for path, expected, content in ((torn, True, b"whole\npart\n"), (whole, False, b"whole\n")):
        fd = files.open_append(str(path), 0o600)
        try:
            assert files.repair_tail(fd, str(path), path.stat().st_size) is expected
        finally:
            os.close(fd)
        assert path.read_bytes() == content


def test_lock_inode_reports_the_repair_and_refuses_a_second_exclusive_writer(
    tmp_path: Path,
) -> None:
    """The first exclusive writer locks the inode and repairs a torn tail; a second
    descriptor of the same file is refused."""
    if files.flock is None:
        pytest.skip("no advisory locks on this platform")
    path = tmp_path / "a.log"
    path.write_bytes(b"torn")
    first = files.open_append(str(path), 0o600)
    second = files.open_append(str(path), 0o600)
    try:
        assert files.lock_inode(first, str(path), 4, exclusive=True) == (True, True)
        assert files.lock_inode(second, str(path), 5, exclusive=True) == (False, False)
    finally:
        os.close(first)
        os.close(second)
    assert path.read_bytes() == b"torn\n"
