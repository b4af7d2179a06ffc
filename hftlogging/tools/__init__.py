"""Tooling shipped with hftlogging but never imported by it: the benchmarks and the demo.

Nothing in the runtime modules imports this package; the ``hftlogging bench`` and
``hftlogging demo`` commands import it when they run.
"""

from __future__ import annotations

__all__: list[str] = []
