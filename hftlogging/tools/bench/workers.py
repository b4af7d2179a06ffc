"""Running each measurement in a fresh interpreter, and several processes at once."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from typing import Any

import hftlogging
from hftlogging.exceptions import ConfigError, StateError, describe
from hftlogging.tools.bench.measure import (
    drain,
    measure_backtrace,
    measure_batch,
    measure_burst,
    measure_calls,
    measure_loggers,
    measure_monitor,
    measure_throughput,
)
from hftlogging.tools.bench.network import measure_network
from hftlogging.tools.bench.otel import measure_trace
from hftlogging.tools.bench.setups import SETUPS, Setup

__all__ = [
    "TASKS", "callgrind_info", "parse_result", "run_processes", "run_spec", "run_worker",
    "worker_cmd", "worker_env",
]


#: the tasks that run in a :class:`Setup` of their own.
_SETUP_TASKS = ("calls", "batch", "monitor", "throughput", "burst", "proc", "backtrace")
#: every task a worker process runs.
TASKS = ("loggers", "otel", "network", *_SETUP_TASKS)


# --- worker processes ------------------------------------------------------------------------


def run_spec(spec: dict[str, Any]) -> dict[str, Any]:
    task = spec["task"]
    if task == "loggers":
        return measure_loggers(spec)
    if task == "otel":
        return measure_trace(spec)
    if task == "network":
        return measure_network(spec)
    if task not in _SETUP_TASKS:
        raise ConfigError(describe("bench worker task", f"one of {', '.join(TASKS)}", task,
                                   f"name one of: {', '.join(TASKS)}"))
    directory = tempfile.mkdtemp(prefix="hftlogging-bench-")
    try:
        setup = SETUPS[spec["setup"]](directory, spec.get("fmt", "text"), spec.get("capacity"),
                                      spec.get("overflow"))
        setup.start()
        if task == "calls":
            res = measure_calls(setup, spec["kind"], spec["regime"], spec["n"],
                                spec.get("warmup", 2_000))
            dropped = setup.dropped()
            setup.stop()
            res["dropped"] = dropped
            if spec["kind"] != "debug" and setup.key != "empty":
                res["lines"] = setup.lines()
            return res
        if task == "batch":
            res = measure_batch(setup, spec["kind"], spec.get("loops", 1_000),
                                spec.get("repeat", 50))
            setup.stop()
            return res
        if task == "monitor":
            res = measure_monitor(setup, spec.get("loops", 1_000), spec.get("repeat", 200),
                                  spec.get("sample_every", 1_000))
            setup.stop()
            res["lines"] = setup.lines()
            return res
        if task == "throughput":
            return measure_throughput(setup, spec["n"])
        if task == "burst":
            return measure_burst(setup, spec["n"])
        if task == "proc":
            return _proc_child(setup, spec["n"])
        # The last of _SETUP_TASKS, "backtrace": it configures a pipeline of its own.
        setup.stop()
        return measure_backtrace(directory, spec["n"], spec["ring"])
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def _proc_child(setup: Setup, n: int) -> dict[str, Any]:
    """One of several processes logging to their own file; starts on a line on stdin."""
    for i in range(1_000):
        setup.log.info("order %s filled", i, exchange="mexc", qty=0.5)
    drain(setup)
    sys.stdout.write("READY\n")
    sys.stdout.flush()
    sys.stdin.readline()
    t0 = time.monotonic()
    log = setup.log
    for i in range(n):
        log.info("order %s filled", i, exchange="mexc", qty=0.5)
    dropped = setup.dropped()
    setup.stop()
    t1 = time.monotonic()
    return {"start": t0, "end": t1, "lines": setup.lines(), "expected": n + 1_000,
            "dropped": dropped}


def worker_cmd(spec: dict[str, Any]) -> list[str]:
    return [sys.executable, "-m", "hftlogging.tools.bench", "--worker", json.dumps(spec)]


def worker_env() -> dict[str, str]:
    env = dict(os.environ)
    # The child must import this very hftlogging (a source checkout or an install).
    pkg_root = os.path.dirname(os.path.dirname(os.path.abspath(hftlogging.__file__)))
    env["PYTHONPATH"] = pkg_root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH")
                                    else "")
    return env


def parse_result(stdout: str, spec: dict[str, Any], stderr: str) -> dict[str, Any]:
    for line in reversed(stdout.splitlines()):
        if line.startswith("RESULT "):
            return json.loads(line[7:])  # type: ignore[no-any-return]
    return {"error": (stderr.strip().splitlines() or ["no result"])[-1], "spec": spec}


def run_worker(spec: dict[str, Any], timeout: float = 300.0) -> dict[str, Any]:
    """Run one measurement in a fresh interpreter and return its result."""
    try:
        p = subprocess.run(  # noqa: S603 - our own interpreter and module
            worker_cmd(spec), capture_output=True, text=True, timeout=timeout,
            env=worker_env(), check=False,
        )
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f}s", "spec": spec}
    return parse_result(p.stdout, spec, p.stderr)


def run_processes(k: int, n: int, setup: str = "hftlogging") -> dict[str, Any]:
    """Start ``k`` processes each logging ``n`` records to its own file, all at once.

    Returns:
        ``rate`` (aggregate records/s from the first start to the last end), ``lines_ok``.
    """
    # Each queue blocks when full: the figure is records on disk, none dropped.
    spec = {"task": "proc", "setup": setup, "n": n, "overflow": "block"}
    procs = [
        subprocess.Popen(  # noqa: S603 - our own interpreter and module
            worker_cmd(spec), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True, env=worker_env(),
        )
        for _ in range(k)
    ]
    try:
        for p in procs:
            assert p.stdout is not None
            if p.stdout.readline().strip() != "READY":
                raise StateError(describe("bench process", "READY on its first line",
                                          "another line or none",
                                          "run `hftlogging bench` alone to see its error"))
        for p in procs:
            assert p.stdin is not None
            p.stdin.write("go\n")
            p.stdin.flush()
        results = []
        for p in procs:
            out, err = p.communicate(timeout=300)
            results.append(parse_result(out, spec, err))
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    if any("error" in r for r in results):
        return {"error": next(r["error"] for r in results if "error" in r)}
    start = min(r["start"] for r in results)
    end = max(r["end"] for r in results)
    return {
        "rate": k * n / (end - start),
        "lines_ok": all(r["lines"] == r["expected"] for r in results),
        "dropped": sum(r["dropped"] for r in results),
    }


def callgrind_info(
    n: int, calls: tuple[int, int] = (2_000, 22_000), collect: bool = True
) -> dict[str, Any]:
    """Instructions per enabled ``info`` on the calling thread, with ``n`` loggers.

    Runs the calls under ``valgrind --tool=callgrind`` twice (``calls[0]`` and
    ``calls[1]`` of them) and divides the difference of the calling thread's instruction
    counts by the difference of calls: start-up, set-up and the listener thread cancel out.
    Instruction counts do not move with the machine's load. ``collect=False`` turns the
    garbage collector off during the calls (to tell its share from the call's own).
    """
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        return {"error": "valgrind is not installed"}
    totals = []
    for k in calls:
        spec = {"task": "loggers", "what": "info_calls", "setup": "hftlogging", "n": n,
                "calls": k, "gc": collect}
        with tempfile.TemporaryDirectory(prefix="hftlogging-callgrind-") as out:
            proc = subprocess.run(  # noqa: S603 - valgrind on our own interpreter and module
                [valgrind, "--tool=callgrind", "--separate-threads=yes",
                 f"--callgrind-out-file={out}/cg.out", *worker_cmd(spec)],
                env=worker_env(), capture_output=True, text=True, timeout=900, check=False)
            res = parse_result(proc.stdout, spec, proc.stderr)
            if "error" in res:
                return res
            if res["lines"] != k + 2_000:  # and the warm-up's
                return {"error": f"{res['lines']} lines for {k} calls"}
            # The calling thread is the process's first: its file ends in "-01".
            main = [f for f in os.listdir(out) if f.endswith("-01")]
            with open(os.path.join(out, main[0]), encoding="utf-8") as f:
                total = [int(line.split()[1]) for line in f
                         if line.startswith(("summary:", "totals:"))]
            totals.append(total[0])
    return {"instructions": (totals[1] - totals[0]) / (calls[1] - calls[0])}

