"""The worker name of this process, used in file names (``{worker}``) and audit lines."""

from __future__ import annotations

import os

__all__ = ["get_worker", "set_worker"]

ENV_VAR = "HFTLOGGING_WORKER"
_worker: str | None = None


def set_worker(name: str | None) -> None:
    """Name this process's worker (e.g. ``"worker_open"``); None returns to the default."""
    global _worker
    if name is not None and (not isinstance(name, str) or not name.strip()):
        msg = f"worker name must be a non-empty string, got {name!r}"
        raise ValueError(msg)
    _worker = name


def get_worker() -> str:
    """The worker name: :func:`set_worker`, else ``$HFTLOGGING_WORKER``, else ``"main"``."""
    if _worker is not None:
        return _worker
    return os.environ.get(ENV_VAR) or "main"
