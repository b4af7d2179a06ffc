"""Measurements made inside one benchmark process: call timings, throughput, bursts, loggers."""

from __future__ import annotations

import gc
import logging
import logging.handlers
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from typing import Any

import hftlogging
from hftlogging.exceptions import ConfigError, describe
from hftlogging.tools.bench.setups import (
    BACKUP_COUNT,
    BURST,
    CALLS,
    LOGGER_NAME,
    MAX_BYTES,
    PAUSE_S,
    SETUPS,
    TEXT_FORMAT,
    HftSetup,
    Setup,
    count_lines,
)

resource: Any
try:
    import resource
except ImportError:  # pragma: no cover - Windows
    resource = None

__all__ = [
    "BATCH_TEMPLATE", "FEW_LOGGERS", "MANY_LOGGERS", "PACED_TEMPLATE", "SAT_TEMPLATE",
    "compile_loop", "drain", "measure_backtrace", "measure_batch", "measure_burst",
    "measure_calls", "measure_loggers", "measure_monitor", "measure_throughput", "percentiles",
]

# --- measurements -------------------------------------------------------------------------

SAT_TEMPLATE = """
def run(out, n, first):
    pc = perf_counter_ns
    for j in range(n):
        i = first + j
        t0 = pc()
        {call}
        t1 = pc()
        out[j] = t1 - t0
"""

PACED_TEMPLATE = """
def run(out, n, first):
    pc = perf_counter_ns
    j = 0
    while j < n:
        for _ in range(burst):
            i = first + j
            t0 = pc()
            {call}
            t1 = pc()
            out[j] = t1 - t0
            j += 1
        sleep(pause)
"""

BATCH_TEMPLATE = """
def run(loops, first):
    pc = perf_counter_ns
    t0 = pc()
    for i in range(first, first + loops):
        {call}
    return pc() - t0
"""


def compile_loop(template: str, call: str, log: Any) -> Callable[..., Any]:
    """Build the timing loop with the call inlined, as :mod:`timeit` does."""
    ns: dict[str, Any] = {
        "perf_counter_ns": time.perf_counter_ns, "sleep": time.sleep, "log": log,
        "burst": BURST, "pause": PAUSE_S,
    }
    exec(template.format(call=call), ns)  # noqa: S102 - our own fixed templates
    return ns["run"]  # type: ignore[no-any-return]


def percentiles(samples: Sequence[int]) -> dict[str, float]:
    """p50/p90/p99/p99.9/max and mean of ``samples`` (nanoseconds), nearest rank."""
    s = sorted(samples)
    n = len(s)

    def q(p: float) -> float:
        return float(s[min(n - 1, int(p * n))])

    return {
        "p50": q(0.50), "p90": q(0.90), "p99": q(0.99), "p999": q(0.999),
        "max": float(s[-1]), "mean": sum(s) / n,
    }


def drain(setup: Setup) -> None:
    flush = getattr(setup, "flush", None)
    if flush is not None:
        flush()


def measure_calls(
    setup: Setup, kind: str, regime: str, n: int, warmup: int = 2_000
) -> dict[str, Any]:
    """Time ``n`` calls one by one (``perf_counter_ns`` into a preallocated list).

    Args:
        setup: a started :class:`Setup`.
        kind: ``"info"``, ``"debug"``, ``"counter"``, ``"metric"`` or ``"timer"``.
        regime: ``"sat"`` (back-to-back) or ``"paced"`` (bursts of 20 calls, 5 ms sleep).
        n: timed calls (a multiple of 20 for ``paced``).
        warmup: untimed calls first (same regime), then the queue is drained.

    Returns:
        percentiles in ns plus ``n`` and ``calls`` (warm-up included).
    """
    call = CALLS[setup.key][kind]
    run = compile_loop(SAT_TEMPLATE if regime == "sat" else PACED_TEMPLATE, call, setup.log)
    n = max(BURST, n - n % BURST)
    warm = [0] * max(BURST, warmup - warmup % BURST)
    run(warm, len(warm), 0)
    drain(setup)
    out = [0] * n
    gc.collect()
    run(out, n, len(warm))
    res = percentiles(out)
    res["n"] = n
    res["calls"] = n + len(warm)
    return res


def measure_batch(setup: Setup, kind: str, loops: int = 1_000, repeat: int = 50) -> dict[str, Any]:
    """Time batches of ``loops`` back-to-back calls; per-call ns of each batch.

    Returns:
        ``median``, ``min`` per-call ns over the batches, and ``calls`` made.
    """
    call = CALLS[setup.key][kind]
    run = compile_loop(BATCH_TEMPLATE, call, setup.log)
    empty = compile_loop(BATCH_TEMPLATE, "pass", None)
    run(loops, 0)
    per_call = []
    loop_cost = []
    for r in range(repeat):
        per_call.append(run(loops, (r + 1) * loops) / loops)
        loop_cost.append(empty(loops, 0) / loops)
        if kind != "debug" and r % 5 == 4:
            drain(setup)  # keep a bounded queue from filling up
    return {
        "median": statistics.median(per_call), "min": min(per_call),
        "loop": statistics.median(loop_cost), "calls": loops * (repeat + 1),
    }


def measure_monitor(
    setup: Setup, loops: int = 1_000, repeat: int = 200, sample_every: int = 1_000
) -> dict[str, Any]:
    """The enabled ``info`` call with self-monitoring off and on, in the same process.

    Batches of ``loops`` back-to-back calls alternate between sampling off
    (``latency_sample_every: 0``) and on (one call in ``sample_every``), so both see the
    same machine, files and queue.

    Returns:
        ``off`` and ``on``: median per-call ns over the batches of each; ``ratio``: the
        median of on / off over adjacent batches; ``samples`` taken; ``calls`` made.
    """
    from hftlogging.monitor import get_monitor

    monitor = get_monitor()
    call = CALLS[setup.key]["info"]
    run = compile_loop(BATCH_TEMPLATE, call, setup.log)
    run(loops, 0)
    off: list[float] = []
    on: list[float] = []
    first = loops
    try:
        for r in range(repeat):
            for every, out in ((0, off), (sample_every, on)) if r % 2 else \
                    ((sample_every, on), (0, off)):
                monitor.configure(latency_sample_every=every)
                out.append(run(loops, first) / loops)
                first += loops
            if r % 5 == 4:
                drain(setup)
        samples = monitor.stats()["call_latency_us"]["samples"]
    finally:
        monitor.configure()
    # The ratio of each adjacent pair, then their median: the machine's drift over the
    # run moves both members of a pair alike.
    ratios = [b / a for a, b in zip(off, on, strict=False)]
    return {"off": statistics.median(off), "on": statistics.median(on),
            "ratio": statistics.median(ratios), "samples": samples, "calls": first}


def measure_throughput(setup: Setup, n: int, warmup: int = 1_000) -> dict[str, Any]:
    """Log ``n`` records back to back and stop the setup: records/s until all are on disk.

    Returns:
        ``rate`` (records/s), ``seconds``, ``lines`` counted on disk and ``expected``.
    """
    log = setup.log
    if setup.key == "loguru":
        def emit(i: int) -> None:
            log.info("order {} filled", i, exchange="mexc", qty=0.5)  # noqa: PLE1205
    elif setup.key in ("stdlib", "stdlib-tuned", "picologging"):
        def emit(i: int) -> None:
            log.info("order %s filled", i, extra={"exchange": "mexc", "qty": 0.5})
    else:
        def emit(i: int) -> None:
            log.info("order %s filled", i, exchange="mexc", qty=0.5)
    for i in range(warmup):
        emit(i)
    drain(setup)
    gc.collect()
    t0 = time.perf_counter()
    for i in range(warmup, warmup + n):
        emit(i)
    dropped = setup.dropped()
    setup.stop()
    seconds = time.perf_counter() - t0
    return {
        "rate": n / seconds, "seconds": seconds, "lines": setup.lines(),
        "expected": n + warmup, "dropped": dropped,
    }


def measure_backtrace(directory: str, n: int, ring: bool, every: int = 1_000) -> dict[str, Any]:
    """Records/s to disk through the queue, with or without a backtrace ring in front.

    The workload is the same either way: ``n`` records, one ERROR every ``every``
    records, the others INFO. Without the ring every record goes to the file as it comes;
    with a ring of ``every`` records that flushes at ERROR, the INFO records wait in the
    ring and each ERROR writes the ``every - 1`` before it, so the same lines reach the
    file (the last partial ring excepted, which is not written).
    """
    path = os.path.join(directory, LOGGER_NAME + ".log")
    handlers: dict[str, Any] = {
        "file": {"class": "hftlogging.handlers.ComponentRotatingFileHandler",
                 "directory": directory, "filename": "{component}.log",
                 "max_bytes": MAX_BYTES, "backup_count": BACKUP_COUNT, "formatter": "text"},
    }
    if ring:
        handlers["ring"] = {"class": "hftlogging.handlers.BacktraceHandler",
                            "capacity": every, "flush_level": "ERROR", "target": "file"}
    handlers["queue"] = {"class": "hftlogging.handlers.QueueHandler",
                         "handlers": ["ring" if ring else "file"], "overflow": "block",
                         "block_timeout_ms": 60_000}
    hftlogging.configure({
        "version": 1, "disable_existing_loggers": False,
        "formatters": {"text": {"()": "hftlogging.formatters.ContextFormatter",
                                "fmt": TEXT_FORMAT}},
        "handlers": handlers,
        "loggers": {LOGGER_NAME: {"level": "INFO", "handlers": ["queue"], "propagate": False}},
    })
    log: Any = logging.getLogger(LOGGER_NAME)
    n -= n % every
    gc.collect()
    t0 = time.perf_counter()
    for i in range(n):
        if i % every == every - 1:
            log.error("order %s rejected", i, exchange="mexc")
        else:
            log.info("order %s filled", i, exchange="mexc", qty=0.5)
    hftlogging.shutdown()
    seconds = time.perf_counter() - t0
    lines = count_lines(directory) if os.path.exists(path) else 0
    return {"rate": n / seconds, "seconds": seconds, "lines": lines, "expected": n}


def _maxrss_bytes() -> int:
    if resource is None:  # pragma: no cover - not on Windows
        return 0
    rss = int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
    return rss if sys.platform == "darwin" else rss * 1024


def measure_burst(setup: Setup, n: int, warmup: int = 1_000) -> dict[str, Any]:
    """Log ``n`` records back to back; peak RSS growth, and the accounting.

    Returns:
        ``growth_mb`` (peak RSS after the burst minus peak RSS before it), ``seconds`` of
        the burst, and for hftlogging ``written``, ``dropped``, ``emitted`` and
        ``lines`` (records of the benchmark logger on disk).
    """
    log = setup.log
    is_hft = setup.key == "hftlogging"
    for i in range(warmup):
        if is_hft:
            log.info("order %s filled", i, exchange="mexc", qty=0.5)
        else:
            log.info("order %s filled", i, extra={"exchange": "mexc", "qty": 0.5})
    drain(setup)
    gc.collect()
    before = _maxrss_bytes()
    t0 = time.perf_counter()
    if is_hft:
        info = log.info
        for i in range(warmup, warmup + n):
            info("order %s filled", i, exchange="mexc", qty=0.5)
    else:
        info = log.info
        for i in range(warmup, warmup + n):
            info("order %s filled", i, extra={"exchange": "mexc", "qty": 0.5})
    seconds = time.perf_counter() - t0
    after = _maxrss_bytes()
    res: dict[str, Any] = {
        "growth_mb": (after - before) / 1e6, "seconds": seconds, "emitted": n + warmup,
    }
    if is_hft:
        assert isinstance(setup, HftSetup)
        setup.flush()
        st = setup.stats()
        res.update(written=st["written"], dropped=st["dropped"], high_water=st["high_water"],
                   capacity=st["capacity"])
        setup.stop()
        res["lines"] = count_lines(setup.directory, needle=f" {LOGGER_NAME}: ".encode())
    return res


# --- many loggers ----------------------------------------------------------------------------
#
# Services with a logger per symbol, connection or order book have thousands of loggers.
# Each scenario runs in its own process: ``stdlib`` uses logging.getLogger and plain
# loggers (hftlogging not installed), ``hftlogging`` uses get_logger.

MANY_LOGGERS = 10_000
FEW_LOGGERS = 10


def _many_names(n: int) -> list[str]:
    """``n`` names shaped like per-exchange, per-symbol loggers: ``many.ex<k>.sym<i>``."""
    return [f"many.ex{i % 20}.sym{i}" for i in range(n)]


def _per_call(fn: Callable[[], Any], loops: int, repeat: int) -> float:
    """Median ns per loop of ``fn`` (which runs ``loops`` operations), over ``repeat``."""
    fn()
    samples = []
    for _ in range(repeat):
        t0 = time.perf_counter_ns()
        fn()
        samples.append((time.perf_counter_ns() - t0) / loops)
    return statistics.median(samples)


def measure_loggers(spec: dict[str, Any]) -> dict[str, Any]:
    """One "many loggers" scenario, in this (fresh) process.

    ``spec["what"]``: ``create`` (ns per new logger, ``n`` of them), ``get`` (ns to get an
    existing logger among ``n``), ``add_handler`` (ns per addHandler + removeHandler pair
    on one logger among ``n``), ``set_level`` (ns per setLevel on one logger among ``n``),
    or ``info`` (an enabled info's percentiles with ``n`` loggers besides the one that
    logs, each of which has logged once; ``gc`` collections during the timed calls).
    """
    what, n, key = spec["what"], spec["n"], spec["setup"]
    hft = key == "hftlogging"
    get: Callable[[str], logging.Logger] = (
        hftlogging.get_logger if hft else logging.getLogger)
    names = _many_names(n)
    if what == "create":
        t0 = time.perf_counter_ns()
        for name in names:
            get(name)
        return {"ns": (time.perf_counter_ns() - t0) / n, "loggers": len(names)}
    if what == "info_calls":  # run under callgrind: the calls, untimed
        directory = tempfile.mkdtemp(prefix="hftlogging-bench-")
        try:
            hsetup: Any = SETUPS["hftlogging"](directory, "text", spec["calls"] + 10_000, None)
            hsetup.start()
            for name in names:
                get(name).debug("planned")
            run = compile_loop(BATCH_TEMPLATE, CALLS["hftlogging"]["info"], hsetup.log)
            run(2_000, 0)  # warm-up, the same in every run
            if not spec.get("gc", True):
                gc.disable()
            run(spec["calls"], 2_000)
            gc.enable()
            while hsetup.queue_handler.ring:  # slow under valgrind: more than one flush
                hsetup.flush()
            hsetup.stop()
            return {"lines": hsetup.lines()}
        finally:
            shutil.rmtree(directory, ignore_errors=True)
    if what == "info":
        directory = tempfile.mkdtemp(prefix="hftlogging-bench-")
        try:
            setup = SETUPS["hftlogging"](directory, "text", spec["calls"] + 10_000, None)
            setup.start()
            for name in names:
                get(name).debug("planned")  # a cached plan (a no-op) on every logger
            before = [g["collections"] for g in gc.get_stats()]
            res = measure_calls(setup, "info", "sat", spec["calls"])
            res["gc"] = [g["collections"] - b for g, b in zip(gc.get_stats(), before, strict=False)]
            res["dropped"] = setup.dropped()
            setup.stop()
            res["lines"] = setup.lines()
            return res
        finally:
            shutil.rmtree(directory, ignore_errors=True)
    for name in names:
        get(name)
    if what == "get":
        sample = names[:: max(1, n // 1_000)]

        def lookups() -> None:
            for name in sample:
                get(name)

        return {"ns": _per_call(lookups, len(sample), 200)}
    one = get(names[n // 2])
    handler = logging.NullHandler()
    one.info("planned")  # plans (or stdlib's level cache) in place before the change
    if what == "add_handler":
        def pairs() -> None:
            for _ in range(1_000):
                one.addHandler(handler)
                one.removeHandler(handler)

        return {"ns": _per_call(pairs, 1_000, 30)}
    if what == "set_level":
        def levels() -> None:
            for _ in range(50):
                one.setLevel(logging.INFO)
                one.setLevel(logging.NOTSET)

        return {"ns": _per_call(levels, 100, 5)}
    raise ConfigError(describe("bench loggers scenario", "one of create, info_calls, info, get, "
                               "add_handler, set_level", what, "name one of those scenarios"))

