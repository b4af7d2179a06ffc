"""``hftlogging demo``: a simulated trading service, logging through a shipped configuration.

The parent process starts ``workers`` processes. Each runs one exchange connector and
one order worker in a paced loop of simulated market events:

- the connector counts messages, observes parse latencies, logs book updates at DEBUG
  (dropped at the call site by the production configuration), warns on reconnects and
  sets a gauge of active symbols;
- the order worker places orders (INFO text, an ``order_placed`` audit event carrying
  an ``api_key`` that the redaction filter masks, a counter and a latency), rejects a
  few (WARNING and an ``order_rejected`` audit event) and hits the odd timeout (ERROR).

Every log call is timed on the caller's side with ``perf_counter_ns``. The workers use
prometheus-client's multiprocess mode; the parent serves the aggregated ``/metrics`` of
all of them on 127.0.0.1 while they run, shows a progress line, and ends with a summary:
records per component, records/s, drops, caller-side p50/p99, the files written and the
verification of the audit trail.
"""

from __future__ import annotations

import contextlib
import glob
import math
import multiprocessing
import os
import random
import shutil
import sys
import time
from pathlib import Path
from typing import Any, TextIO

import hftlogging
from hftlogging.config import prepare
from hftlogging.exceptions import ConfigError

__all__ = ["run_demo"]

_EXCHANGES = ("mexc", "binance", "okx", "bybit", "kraken", "gate")
_SYMBOLS = ("BTCUSDT", "ETHUSDT", "SOLUSDT", "XRPUSDT", "DOGEUSDT")
_SAMPLES_KEPT = 50_000
_SECRET_MARK = b"do-not-log"
# Shared counters per worker: calls, dropped, audit events, done flag.
_SLOTS = 4


def _percentile(sorted_values: list[int], q: float) -> float:
    if not sorted_values:
        return float("nan")
    i = min(len(sorted_values) - 1, max(0, math.ceil(q * len(sorted_values)) - 1))
    return float(sorted_values[i])


class _Simulation:
    """The loop of one worker process: an exchange connector and an order worker.

    Every log call is timed with ``perf_counter_ns``; the durations are kept in a list.
    """

    def __init__(self, index: int, worker: str) -> None:
        self.exchange = _EXCHANGES[index % len(_EXCHANGES)]
        self.conn = hftlogging.get_exchange_logger(self.exchange, "ws")
        self.orders = hftlogging.get_logger("orders")
        # A simulation, not cryptography: a seeded generator makes runs comparable.
        self.rng = random.Random(index)  # noqa: S311
        self.lat: list[int] = []
        self.calls: dict[str, dict[str, int]] = {
            self.conn.name: {"text": 0, "metric": 0, "audit": 0},
            self.orders.name: {"text": 0, "metric": 0, "audit": 0},
        }
        self.order_id = index * 1_000_000_000
        self.api_key = f"demo-key-{worker}-{_SECRET_MARK.decode()}"

    def market_event(self, n: int) -> None:
        """A book update: a counter, a parse latency, a DEBUG line; now and then more."""
        clock, conn, ex = time.perf_counter_ns, self.conn, self.exchange
        cc = self.calls[conn.name]
        symbol = _SYMBOLS[n % len(_SYMBOLS)]
        t0 = clock()
        conn.counter("messages_received", exchange=ex)
        t1 = clock()
        conn.latency("parse_message", self.rng.random() * 0.05, exchange=ex)
        t2 = clock()
        conn.debug("book update %s", symbol, bid=100.0, ask=100.5)
        t3 = clock()
        self.lat += (t1 - t0, t2 - t1, t3 - t2)
        cc["metric"] += 2
        cc["text"] += 1
        if n % 500 == 0:
            t0 = clock()
            conn.warning("reconnecting", attempt=n // 500, exchange=ex)
            t1 = clock()
            conn.metric("active_symbols", len(_SYMBOLS), exchange=ex)
            t2 = clock()
            self.lat += (t1 - t0, t2 - t1)
            cc["text"] += 1
            cc["metric"] += 1
        if n % 10 == 0:
            self.place_order(symbol)

    def place_order(self, symbol: str) -> None:
        """An order: INFO text, an audit event (with a secret), a counter, a latency."""
        clock, log, ex = time.perf_counter_ns, self.orders, self.exchange
        oc = self.calls[log.name]
        self.order_id += 1
        oid = self.order_id
        side = "buy" if oid % 2 else "sell"
        t0 = clock()
        log.info("order placed", order_id=oid, symbol=symbol, side=side)
        t1 = clock()
        log.audit("order_placed", order_id=oid, symbol=symbol, side=side, qty=0.01,
                  price=100.25, exchange=ex, api_key=self.api_key)
        t2 = clock()
        log.counter("orders_placed", exchange=ex, side=side)
        t3 = clock()
        log.latency("order_placement", self.rng.random() * 2.0, exchange=ex)
        t4 = clock()
        self.lat += (t1 - t0, t2 - t1, t3 - t2, t4 - t3)
        oc["text"] += 1
        oc["audit"] += 1
        oc["metric"] += 2
        if oid % 20 == 0:
            t0 = clock()
            log.warning("order rejected", order_id=oid, reason="min_notional")
            t1 = clock()
            log.audit("order_rejected", order_id=oid, reason="min_notional")
            t2 = clock()
            self.lat += (t1 - t0, t2 - t1)
            oc["text"] += 1
            oc["audit"] += 1
        if oid % 1000 == 0:
            t0 = clock()
            log.error("exchange timeout", order_id=oid, exchange=ex, timeout_ms=250)
            self.lat.append(clock() - t0)
            oc["text"] += 1


def _worker_main(
    index: int, spec: dict[str, Any], counters: Any, results: Any
) -> None:
    """One worker process: configure, run the paced loop, drain, report."""
    # prometheus-client picks its multiprocess storage when it is first imported, which
    # happens in configure(): the environment is in place before that.
    os.environ.update(spec["env"])
    worker = f"demo-{index}"
    os.environ["HFTLOGGING_WORKER"] = worker
    hftlogging.set_worker(worker)
    try:
        hftlogging.configure(spec["config"], overrides=spec["overrides"])
    except Exception as e:
        results.put({"worker": worker, "error": f"{e}"})
        return
    sim = _Simulation(index, worker)
    rate = float(spec["rate"])
    base = index * _SLOTS
    start = time.monotonic()
    deadline = start + float(spec["seconds"])
    events = 0
    while True:
        now = time.monotonic()
        if now >= deadline:
            break
        due = int((now - start) * rate)
        if events >= due:
            time.sleep(0.0005)  # pacing: a market does not send events back to back
            continue
        while events < due:
            events += 1
            sim.market_event(events)
            if events % 1000 == 0:
                _publish(counters, base, sim.calls, hftlogging.stats())
    elapsed = time.monotonic() - start
    hftlogging.shutdown()
    st = hftlogging.stats()
    _publish(counters, base, sim.calls, st)
    counters[base + 3] = 1
    lat = sorted(sim.lat)
    step = max(1, len(lat) // _SAMPLES_KEPT)
    results.put({
        "worker": worker,
        "calls": sim.calls,
        "elapsed": elapsed,
        "written": st.get("written", 0),
        "dropped": st.get("dropped", 0),
        "handler_errors": sum((st.get("handler_errors") or {}).values()),
        "n_calls": len(lat),
        "samples": lat[::step],
    })


def _publish(
    counters: Any, base: int, calls: dict[str, dict[str, int]], st: dict[str, Any]
) -> None:
    counters[base] = sum(sum(c.values()) for c in calls.values())
    counters[base + 1] = int(st.get("dropped", 0))
    counters[base + 2] = sum(c["audit"] for c in calls.values())


class _Endpoint:
    """The parent's ``/metrics``: every worker's metrics, from the multiprocess directory."""

    def __init__(self, directory: str, port: int) -> None:
        # Imported here, never at module level: a spawned worker imports this module
        # before its environment selects prometheus-client's multiprocess storage.
        from prometheus_client import CollectorRegistry, start_http_server
        from prometheus_client.multiprocess import MultiProcessCollector

        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=directory)  # type: ignore[no-untyped-call]
        server, thread = start_http_server(port, addr="127.0.0.1", registry=registry)
        self.server = server
        self.thread = thread
        self.port = int(server.server_address[1])

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5.0)


def _human(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GB"  # pragma: no cover


def _us(ns: float) -> str:
    return "n/a" if math.isnan(ns) else f"{ns / 1000:.2f} µs"


def run_demo(
    *,
    seconds: float = 10.0,
    workers: int = 2,
    config: str = "production",
    port: int = 9108,
    directory: str = "hftlogging-demo",
    rate: int = 5000,
    out: TextIO | None = None,
) -> int:
    """Run the demo; returns the exit code (0: everything written and verified).

    Args:
        seconds: how long the workers log.
        workers: worker processes.
        config: the configuration (a shipped name or a path).
        port: port of the aggregated ``/metrics`` endpoint on 127.0.0.1 (0: any free port).
        directory: where the files go.
        rate: simulated market events per second per worker.
        out: where the progress and the summary go (default stdout).
    """
    out = out if out is not None else sys.stdout
    base = Path(directory).resolve()
    prom_dir = base / ".prometheus"
    env = {
        "HFTLOGGING_DIR": str(base),
        "PROMETHEUS_MULTIPROC_DIR": str(prom_dir),
        "HFTLOGGING_PROMETHEUS_PORT": "",
        "HFTLOGGING_PUSHGATEWAY": "",
    }
    # Each worker serves nothing itself and pushes nowhere: the parent serves them all.
    overrides: dict[str, Any] = {}
    try:
        plan = prepare(config, env={**os.environ, **env, "HFTLOGGING_WORKER": "demo-0"})
    except ConfigError as e:
        out.write(f"hftlogging demo: {e}\n")
        return 1
    for name, spec in plan.handlers.items():
        if "port" in spec.options or "pushgateway" in spec.options:
            overrides.setdefault("handlers", {})[name] = {"port": None, "pushgateway": None}
    base.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(prom_dir, ignore_errors=True)
    prom_dir.mkdir(parents=True)
    try:
        endpoint = _Endpoint(str(prom_dir), port)
    except OSError as e:
        out.write(f"hftlogging demo: cannot serve metrics on 127.0.0.1:{port}: "
                  f"{e.strerror or e}; choose another --port (0 picks a free one)\n")
        return 1
    started = time.time()
    try:
        return _run(config=plan.source or config, seconds=seconds, workers=workers,
                    rate=rate, base=base, env=env, overrides=overrides, endpoint=endpoint,
                    started=started, out=out)
    finally:
        endpoint.close()


def _run(
    *,
    config: str,
    seconds: float,
    workers: int,
    rate: int,
    base: Path,
    env: dict[str, str],
    overrides: dict[str, Any],
    endpoint: _Endpoint,
    started: float,
    out: TextIO,
) -> int:
    ctx = multiprocessing.get_context("spawn")
    counters = ctx.Array("q", workers * _SLOTS, lock=False)
    results = ctx.Queue()
    spec = {"config": config, "env": env, "overrides": overrides, "rate": rate,
            "seconds": seconds}
    out.write(
        f"hftlogging demo: {workers} worker process(es) for {seconds:g} s, "
        f"config {config}\n"
        f"  files:   {base}\n"
        f"  metrics: http://127.0.0.1:{endpoint.port}/metrics\n"
    )
    out.flush()
    procs = [
        ctx.Process(target=_worker_main, args=(i, spec, counters, results),
                    name=f"hftlogging-demo-{i}", daemon=True)
        for i in range(workers)
    ]
    for p in procs:
        p.start()
    tty = bool(getattr(out, "isatty", lambda: False)())
    t0 = time.monotonic()
    last_print = 0.0
    collected: list[dict[str, Any]] = []
    limit = t0 + seconds + 60.0
    while len(collected) < workers and time.monotonic() < limit:
        with contextlib.suppress(Exception):
            collected.append(results.get(timeout=0.25))
            continue
        if all(not p.is_alive() for p in procs):
            # Everyone exited: pick up what is left, then stop waiting.
            with contextlib.suppress(Exception):
                while True:
                    collected.append(results.get(timeout=0.5))
            break
        now = time.monotonic()
        if tty or now - last_print >= 1.0:
            last_print = now
            total = sum(counters[i * _SLOTS] for i in range(workers))
            drops = sum(counters[i * _SLOTS + 1] for i in range(workers))
            audit = sum(counters[i * _SLOTS + 2] for i in range(workers))
            el = now - t0
            line = (f"[{min(el, seconds):5.1f}/{seconds:g} s] {total:>10,} records "
                    f"({total / el if el > 0 else 0:>9,.0f}/s)  audit {audit:,}  "
                    f"dropped {drops:,}")
            out.write(("\r" + line) if tty else (line + "\n"))
            out.flush()
    if tty:
        out.write("\n")
    for p in procs:
        p.join(10.0)
        if p.is_alive():
            p.terminate()
            p.join(5.0)
    return _summary(collected, workers=workers, event_rate=rate, base=base, started=started,
                    out=out)


def _summary(
    results: list[dict[str, Any]],
    *,
    workers: int,
    event_rate: int,
    base: Path,
    started: float,
    out: TextIO,
) -> int:
    ok = True
    errors = [r for r in results if "error" in r]
    good = [r for r in results if "error" not in r]
    for r in errors:
        out.write(f"worker {r['worker']} could not start: {r['error']}\n")
        ok = False
    if len(results) < workers:
        out.write(f"{workers - len(results)} worker(s) did not report\n")
        ok = False
    per_component: dict[str, dict[str, int]] = {}
    for r in good:
        for comp, c in r["calls"].items():
            agg = per_component.setdefault(comp, {"text": 0, "metric": 0, "audit": 0})
            for k, v in c.items():
                agg[k] += v
    out.write("\nrecords per component (log calls made):\n")
    width = max((len(c) for c in per_component), default=10)
    out.write(f"  {'component':<{width}}  {'text':>9}  {'metric':>9}  {'audit':>9}\n")
    for comp in sorted(per_component):
        c = per_component[comp]
        out.write(f"  {comp:<{width}}  {c['text']:>9,}  {c['metric']:>9,}  {c['audit']:>9,}\n")
    calls = sum(sum(c.values()) for c in per_component.values())
    elapsed = max((r["elapsed"] for r in good), default=0.0)
    written = sum(r["written"] for r in good)
    dropped = sum(r["dropped"] for r in good)
    handler_errors = sum(r["handler_errors"] for r in good)
    rate = calls / elapsed if elapsed else 0.0
    out.write(
        f"\n{calls:,} log calls in {elapsed:.2f} s: {rate:,.0f} records/s "
        f"({rate / max(1, len(good)):,.0f}/s per worker, paced at {event_rate:,} market "
        f"events/s each: --rate)\n"
        f"accepted by the queues {written + dropped:,} (the others were stopped at the call "
        f"site by level): written {written:,}, dropped {dropped:,}; handler errors "
        f"{handler_errors:,}\n"
    )
    if handler_errors:
        ok = False
    samples: list[int] = sorted(s for r in good for s in r["samples"])
    n = sum(r["n_calls"] for r in good)
    out.write(
        f"caller-side latency per log call ({n:,} calls timed with perf_counter_ns): "
        f"p50 {_us(_percentile(samples, 0.50))}, p99 {_us(_percentile(samples, 0.99))}, "
        f"p99.9 {_us(_percentile(samples, 0.999))}\n"
    )
    files = sorted(
        p for p in base.rglob("*")
        if p.is_file() and not p.name.startswith(".") and ".prometheus" not in p.parts
        and p.stat().st_mtime >= started - 1
    )
    out.write(f"\nfiles written in {base}:\n")
    for p in files:
        out.write(f"  {p.relative_to(base)!s:<40} {_human(p.stat().st_size):>10}\n")
    if not files:
        out.write("  (none)\n")
        ok = False
    ok = _verify_audit(files, base, out) and ok
    leaked = [p for p in files if _SECRET_MARK in p.read_bytes()]
    if leaked:
        ok = False
        out.write(f"secrets: the demo's api_key appears in {', '.join(map(str, leaked))}\n")
    else:
        out.write("secrets: the api_key passed with every order appears in no file "
                  "(masked by RedactFilter)\n")
    out.write("\nresult: " + ("ok" if ok else "PROBLEMS (see above)") + "\n")
    out.flush()
    return 0 if ok else 1


def _verify_audit(files: list[Path], base: Path, out: TextIO) -> bool:
    """Verify each audit chain written (a file and its rotated predecessors)."""
    heads = [p for p in files if p.suffix == ".jsonl"]
    if not heads:
        out.write("\naudit trail: no audit file was written\n")
        return False
    # Imported on use: the audit module pulls in the file machinery.
    from hftlogging.handlers.audit import verify

    ok = True
    total = 0
    out.write("\naudit trail:\n")
    for head in heads:
        chain = sorted(glob.glob(glob.escape(str(head)) + "*"))
        res = verify(chain)
        rel = head.relative_to(base)
        if res.ok:
            total += res.records
            out.write(f"  {rel!s:<40} {res.records:>9,} records, hash chain verified\n")
        else:
            ok = False
            out.write(f"  {rel!s:<40} FAILED at {res.bad_file} line {res.bad_line}: "
                      f"{res.reason}\n")
    if ok:
        out.write(f"  all {total:,} audit records verified\n")
    return ok
