"""The conditions of hftlogging's version-dependent fast paths, stated from public facts.

Tests compare the library's decision with these and check the fallback where a
condition does not hold.
"""

from __future__ import annotations

import sys


def gil_enabled() -> bool:
    """True unless this is a free-threaded build running without the GIL."""
    probe = getattr(sys, "_is_gil_enabled", None)
    return True if probe is None else bool(probe())


def record_reuse_condition() -> bool:
    """Record reuse needs exact reference counts: CPython 3.10-3.13 with the GIL."""
    return sys.implementation.name == "cpython" and sys.version_info < (3, 14) and gil_enabled()


def task_name_condition() -> bool:
    """Records carry ``taskName`` from Python 3.12 on, as stdlib's do."""
    return sys.version_info >= (3, 12)
