"""The audit trail beside JSON lines: records/s through hftlogging's queue until on disk.

JSON lines (``JSONFormatter`` into a rotating file) and audit (``JSONAuditHandler``,
``fsync: batch``, hash-chained) log the same four fields a record from one thread; each
round runs in a fresh interpreter, the two are interleaved, and the medians are compared
(see :mod:`hftlogging.tools.bench.audit`). Every record is counted on disk and the audit chain
is verified.

Run: ``pytest benchmarks/test_audit_throughput.py -s`` or
``python benchmarks/test_audit_throughput.py [N]``. Set ``HFTLOGGING_BENCH_STRICT=1`` to
fail when audit is below 0.5x JSON lines.
"""

from __future__ import annotations

import os
import statistics
import sys
from typing import Any

from hftlogging.tools.bench.audit import TARGET_RATIO, run_rounds

N = 50_000
ROUNDS = 3


def compare(n: int = N, rounds: int = ROUNDS) -> dict[str, Any]:
    """Interleaved rounds of both kinds; medians and the audit / JSON lines ratio."""
    runs = run_rounds(rounds, n)
    median = {k: statistics.median(r["rate"] for r in v) for k, v in runs.items()}
    return {"runs": runs, "median": median, "ratio": median["audit"] / median["json"]}


def _report(result: dict[str, Any]) -> str:
    out = []
    for kind, rs in result["runs"].items():
        rates = ", ".join(f"{r['rate']:,.0f}" for r in rs)
        out.append(f"{kind:<6} median {result['median'][kind]:>10,.0f} records/s "
                   f"(rounds: {rates})")
    out.append(f"ratio audit / JSON lines: {result['ratio']:.2f}x (target >= {TARGET_RATIO}x)")
    return "\n".join(out)


def test_audit_throughput_beside_json_lines() -> None:
    """Both kinds write every record (the audit chain verifies in full); prints records/s
    and the ratio (asserted only with HFTLOGGING_BENCH_STRICT=1)."""
    result = compare()
    for rs in result["runs"].values():
        for r in rs:
            assert "error" not in r, r
            assert r["lines"] == r["expected"], r
            assert r.get("verified", r["expected"]) == r["expected"], r
    print("\n" + _report(result))
    try:
        from scenarios import record
    except ImportError:  # run outside the benchmarks directory
        pass
    else:
        for kind, rate in result["median"].items():
            record("audit beside JSON lines records/s", kind, rate)
    if os.environ.get("HFTLOGGING_BENCH_STRICT"):
        assert result["ratio"] >= TARGET_RATIO, _report(result)


if __name__ == "__main__":
    print(_report(compare(int(sys.argv[1]) if len(sys.argv) > 1 else N)))
