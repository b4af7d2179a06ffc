"""The ``hftlogging bench`` command: which scenarios run, in which order, and the output."""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from typing import Any

from hftlogging.tools.bench.audit import run_rounds
from hftlogging.tools.bench.measure import FEW_LOGGERS, MANY_LOGGERS
from hftlogging.tools.bench.network import collect_network
from hftlogging.tools.bench.otel import collect_trace
from hftlogging.tools.bench.results import Plan, Results, machine, progress
from hftlogging.tools.bench.setups import CALLS, SETUPS
from hftlogging.tools.bench.tables import report
from hftlogging.tools.bench.workers import run_processes, run_spec, run_worker

__all__ = ["collect", "collect_loggers", "main"]


def _caller_jobs(plan: Plan, setups: list[str]) -> list[tuple[str, dict[str, Any]]]:
    """The caller-side scenarios of one round, interleaved across setups."""
    jobs: list[tuple[str, dict[str, Any]]] = []
    for regime in ("sat", "paced"):
        n = plan.sat_n if regime == "sat" else plan.paced_n
        for s in ["empty", *setups]:
            if s not in CALLS:
                continue
            spec: dict[str, Any] = {"task": "calls", "setup": s, "kind": "info",
                                    "regime": regime, "n": min(n, plan.slow_n)
                                    if s == "loguru" else n}
            if s == "hftlogging" and regime == "sat":
                # Back-to-back calls outrun any writer: room for all, so none is dropped.
                spec["capacity"] = n + 10_000
            jobs.append((f"calls/{s}/info/{regime}", spec))
        if plan.metrics and "hftlogging" in setups:
            for kind in ("counter", "metric", "timer"):
                spec = {"task": "calls", "setup": "hftlogging", "kind": kind,
                        "regime": regime, "n": n}
                if regime == "sat":
                    spec["capacity"] = n + 10_000
                jobs.append((f"calls/hftlogging/{kind}/{regime}", spec))
    for s in setups:
        if s in CALLS and s != "floor":
            jobs.append((f"batch/{s}/debug", {"task": "batch", "setup": s, "kind": "debug"}))
    if "hftlogging" in setups:
        for kind in ("suppressed", "info"):
            key = f"batch/hftlogging/{kind}"
            if not any(k == key for k, _ in jobs):
                jobs.append((key, {"task": "batch", "setup": "hftlogging", "kind": kind,
                                   "capacity": 200_000}))
    if plan.metrics and "hftlogging" in setups:
        for kind in ("info", "counter", "metric", "timer"):
            jobs.append((f"batch/hftlogging/{kind}", {
                "task": "batch", "setup": "hftlogging", "kind": kind, "capacity": 200_000}))
    return jobs


def _throughput_jobs(plan: Plan, setups: list[str]) -> list[tuple[str, dict[str, Any]]]:
    """End-to-end scenarios of one round: every record must reach the disk."""
    jobs: list[tuple[str, dict[str, Any]]] = []
    for fmt in ("text", "json"):
        for s in setups:
            if fmt not in SETUPS[s].formats or s in ("stdlib-tuned", "floor", "empty"):
                continue
            n = plan.slow_throughput_n if s == "loguru" else plan.throughput_n
            # hftlogging's bounded queue blocks when full instead of dropping.
            jobs.append((f"throughput/{s}/{fmt}", {
                "task": "throughput", "setup": s, "fmt": fmt, "n": n, "overflow": "block"}))
    if "hftlogging" in setups:
        for ring in (False, True):
            jobs.append((f"backtrace/{'ring' if ring else 'file'}", {
                "task": "backtrace", "setup": "hftlogging", "n": plan.throughput_n,
                "ring": ring}))
    return jobs


def collect(plan: Plan, setups: list[str], verbose: bool = True) -> Results:
    """Run every scenario of ``plan`` in worker processes, interleaved and repeated."""
    res = Results()
    for rnd in range(plan.rounds):
        for key, spec in _caller_jobs(plan, setups) + _throughput_jobs(plan, setups):
            if verbose:
                progress(f"[round {rnd + 1}/{plan.rounds}] {key}")
            res.add(key, run_worker(spec))
    # One burst each: its figures are counts and a peak, not a noisy timing.
    if "hftlogging" in setups:
        if verbose:
            progress("burst/hftlogging")
        res.add("burst/hftlogging", run_worker(
            {"task": "burst", "setup": "hftlogging", "n": plan.burst_n, "capacity": 10_000}))
    if "stdlib" in setups:
        if verbose:
            progress("burst/stdlib")
        res.add("burst/stdlib", run_worker(
            {"task": "burst", "setup": "stdlib", "n": plan.stdlib_burst_n}))
    if "hftlogging" in setups:
        for rnd in range(plan.rounds):
            if verbose:
                progress(f"[round {rnd + 1}/{plan.rounds}] monitor/hftlogging")
            res.add("monitor", run_worker(
                {"task": "monitor", "setup": "hftlogging", "capacity": 200_000}))
    if "hftlogging" in setups:
        collect_trace(plan, res, run_worker, verbose)
        collect_network(plan, res, run_worker, verbose)
    if plan.processes and "hftlogging" in setups:
        for rnd in range(plan.rounds):
            for k in (1, 4):
                if verbose:
                    progress(f"[round {rnd + 1}/{plan.rounds}] procs/{k}")
                res.add(f"procs/{k}", run_processes(k, plan.proc_n))
    if plan.shared_files and "hftlogging" in setups:
        _collect_shared(plan, res, verbose)
    if plan.loggers and "hftlogging" in setups and "stdlib" in setups:
        collect_loggers(plan, res, verbose)
    if "hftlogging" in setups:
        # Section 9, measured last as it always was: the audit trail's fsyncs.
        raw = run_rounds(plan.rounds, plan.throughput_n, verbose)
        res.raw.update({f"audit/{kind}": runs for kind, runs in raw.items()})
    return res


def _collect_shared(plan: Plan, res: Results, verbose: bool) -> None:
    """Section 12, interleaved over the rounds (concurrent-log-handler with fewer records:
    its rate is a tenth of the others')."""
    from hftlogging.tools.bench.shared import available_modes, run_shared

    for rnd in range(plan.rounds):
        for mode in available_modes():
            if verbose:
                progress(f"[round {rnd + 1}/{plan.rounds}] shared/{mode}")
            n = plan.proc_n // 5 if mode == "clh" else plan.proc_n
            res.add(f"shared/{mode}", run_shared(mode, 4, n))



def _loggers_jobs(plan: Plan, ops: bool) -> list[tuple[str, dict[str, Any]]]:
    """One round of the "many loggers" scenarios, stdlib and hftlogging interleaved."""
    jobs: list[tuple[str, dict[str, Any]]] = []
    for n in (FEW_LOGGERS, MANY_LOGGERS):
        jobs.append((f"loggers/info/{n}", {"task": "loggers", "what": "info",
                                            "setup": "hftlogging", "n": n,
                                            "calls": plan.sat_n}))
    for what in ("create", "get", "add_handler", "set_level") if ops else ():
        for s in ("stdlib", "hftlogging"):
            jobs.append((f"loggers/{what}/{s}", {"task": "loggers", "what": what,
                                                 "setup": s, "n": MANY_LOGGERS}))
    return jobs


def collect_loggers(plan: Plan, res: Results, verbose: bool = True) -> None:
    """Run the "many loggers" scenarios; the info pair at least three rounds."""
    rounds = max(3, plan.rounds)
    for rnd in range(rounds):
        for key, spec in _loggers_jobs(plan, ops=rnd < plan.rounds):
            if verbose:
                progress(f"[round {rnd + 1}/{rounds}] {key}")
            res.add(key, run_worker(spec))



def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmarks and print a table of medians and ratios.

    Args:
        argv: command-line arguments (default ``sys.argv[1:]``).

    Returns:
        0, or 1 when a measurement failed or lost records.
    """
    parser = argparse.ArgumentParser(
        prog="hftlogging bench",
        description="Benchmark hftlogging against the standard library and the peers.",
    )
    parser.add_argument("--quick", action="store_true",
                        help="every section but 3, 11 and 12, with fewer records")
    parser.add_argument("--rounds", type=int, default=None,
                        help="repeats of each timed scenario (default 1 quick, 3 full)")
    parser.add_argument("--setups", default=None,
                        help="comma-separated setups (default: all that are importable)")
    parser.add_argument("--json", metavar="FILE", default=None,
                        help="also write the raw results to FILE")
    parser.add_argument("--worker", metavar="SPEC", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(list(argv) if argv is not None else None)

    if args.worker is not None:
        result = run_spec(json.loads(args.worker))
        sys.stdout.write("RESULT " + json.dumps(result) + "\n")
        return 0

    plan = Plan(args.quick, args.rounds)
    wanted = args.setups.split(",") if args.setups else [k for k in SETUPS if k != "empty"]
    setups = [k for k in wanted if k in SETUPS and SETUPS[k].available()]
    missing = [k for k in wanted if k not in setups]
    t0 = time.monotonic()
    res = collect(plan, setups)
    tables, checks = report(res, setups, plan)
    print(f"hftlogging bench{' --quick' if plan.quick else ''}: {machine()}; "
          f"{plan.rounds} round(s), medians; {time.monotonic() - t0:.0f}s\n")
    print(tables)
    print("\n### Targets\n")
    for name, met, detail in checks:
        print(f"- [{'met' if met else 'MISSED'}] {name}: {detail}")
    print("\n### What each setup was given\n")
    for s in setups:
        print(f"- {SETUPS[s].label}: {SETUPS[s]('.').note}")
    if missing:
        print(f"- not installed (or unknown), skipped: {', '.join(missing)}")
    if res.errors:
        print("\n### Errors\n")
        for e in res.errors:
            print(f"- {e}")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump({"machine": machine(), "quick": plan.quick, "rounds": plan.rounds,
                       "raw": res.raw, "errors": res.errors,
                       "checks": [list(c) for c in checks]}, f, indent=1)
    lost = any(name.startswith(("all records", "no record", "burst accounting")) and not met
               for name, met, _ in checks)
    return 1 if res.errors or lost else 0


if __name__ == "__main__":
    sys.exit(main())
