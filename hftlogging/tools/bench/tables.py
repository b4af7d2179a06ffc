"""The tables of ``hftlogging bench`` and the targets checked against them."""

from __future__ import annotations

from hftlogging.tools.bench.audit import audit_table
from hftlogging.tools.bench.measure import FEW_LOGGERS, MANY_LOGGERS
from hftlogging.tools.bench.network import network_table
from hftlogging.tools.bench.otel import trace_table
from hftlogging.tools.bench.results import (
    Check,
    Plan,
    Results,
    fmt_us,
    md_table,
    measured,
    ratio_text,
)
from hftlogging.tools.bench.setups import SETUPS

__all__ = ["monitor_table", "report"]


def _caller_table(res: Results, setups: list[str]) -> str:
    rows = []
    for s in ["empty", *setups]:
        k = f"calls/{s}/info"
        if not res.has(k + "/sat") and not res.has(k + "/paced"):
            continue
        r = [SETUPS[s].label]
        for regime in ("sat", "paced"):
            r += [fmt_us(res.med(f"{k}/{regime}", f)) for f in ("p50", "p99", "p999")]
        for regime in ("sat", "paced"):
            r.append(ratio_text(res.med(f"calls/stdlib/info/{regime}", "p50"),
                            res.med(f"{k}/{regime}", "p50")))
        rows.append(r)
    return ("### 1. Caller side, enabled info (µs per call, timer read included; "
            "÷ stdlib = stdlib p50 / this p50)\n\n" + md_table(
                ["setup", "sat p50", "sat p99", "sat p99.9", "paced p50", "paced p99",
                 "paced p99.9", "÷ stdlib sat", "÷ stdlib paced"], rows))


def _debug_table(res: Results, setups: list[str]) -> str:
    base = res.med("batch/stdlib/debug", "median")
    rows = [[SETUPS[s].label, f"{res.med(f'batch/{s}/debug', 'median'):.0f}",
             ratio_text(res.med(f"batch/{s}/debug", "median"), base)]
            for s in setups if res.has(f"batch/{s}/debug")]
    loop = res.med("batch/stdlib/debug", "loop")
    return (f"### 2. Disabled debug (ns per call in batches of 1,000; the loop itself costs "
            f"{loop:.0f} ns and is included)\n\n"
            + md_table(["setup", "ns/call", "this ÷ stdlib"], rows))


def _metrics_table(res: Results) -> str:
    rows = []
    for kind in ("info", "counter", "metric", "timer"):
        r = [kind]
        for k, f in ((f"calls/hftlogging/{kind}/sat", "p50"),
                     (f"calls/hftlogging/{kind}/paced", "p50"),
                     (f"batch/hftlogging/{kind}", "median")):
            base = k.replace(f"/{kind}", "/info")
            r += [f"{res.med(k, f):.0f}", ratio_text(res.med(k, f), res.med(base, f))]
        rows.append(r)
    return ("### 3. hftlogging metric calls vs the enabled text call (ns; ÷ info = this / "
            "info)\n\n" + md_table(["call", "sat p50", "÷ info", "paced p50", "÷ info",
                                  "batch mean", "÷ info"], rows))


def _throughput_table(res: Results, setups: list[str]) -> str:
    rows = []
    for s in setups:
        r = [SETUPS[s].label]
        for fmt in ("text", "json"):
            k = f"throughput/{s}/{fmt}"
            if not res.has(k):
                r += ["-", "-"]
                continue
            ok = all(x["lines"] == x["expected"] for x in res.raw[k])
            rate = res.med(k, "rate")
            r.append(f"{rate / 1000:.1f}k" + ("" if ok else " (LINES MISSING)"))
            r.append(ratio_text(rate, res.med(f"throughput/stdlib/{fmt}", "rate")))
        if r[1:] != ["-"] * 4:
            rows.append(r)
    return ("### 7. End-to-end throughput (records/s until every record is on disk; line "
            "counts checked)\n\n"
            + md_table(["setup", "text", "÷ stdlib", "JSON lines", "÷ stdlib"], rows))


def _burst_table(res: Results, checks: list[Check]) -> str:
    rows = []
    b = res.raw.get("burst/hftlogging", [{}])[0]
    if b:
        exact = b["written"] + b["dropped"] == b["emitted"] and b["lines"] == b["written"]
        rows.append([f"hftlogging, capacity {b['capacity']:,}", f"{b['emitted']:,}",
                     f"{b['growth_mb']:.1f}", f"{b['written']:,}", f"{b['dropped']:,}",
                     "exact" if exact else "MISMATCH"])
        checks.append(("1M burst memory growth <= 20 MB", b["growth_mb"] <= 20,
                       f"{b['growth_mb']:.1f} MB"))
        checks.append(("burst accounting written + dropped == emitted, written all on disk",
                       exact, f"{b['written']:,} + {b['dropped']:,} vs {b['emitted']:,}; "
                       f"{b['lines']:,} lines"))
    sb = res.raw.get("burst/stdlib", [{}])[0]
    if sb:
        rows.append(["stdlib, unbounded queue.Queue", f"{sb['emitted']:,}",
                     f"{sb['growth_mb']:.1f}", "-", "-", "-"])
    return ("### 10. Burst (peak RSS growth of the process)\n\n"
            + md_table(["setup", "emitted", "growth MB", "written", "dropped", "accounting"],
                     rows))


def _procs_table(res: Results, checks: list[Check]) -> str:
    one = res.med("procs/1", "rate")
    four = res.med("procs/4", "rate")
    checks.append(("four processes aggregate >= 1.7x one", four / one >= 1.7,
                   f"{four / one:.2f}x"))
    lines_ok = all(r["lines_ok"] for k in ("procs/1", "procs/4") for r in res.raw.get(k, []))
    return ("### 11. hftlogging processes, each logging to its own file (aggregate "
            f"records/s; lines {'checked' if lines_ok else 'MISSING'})\n\n"
            + md_table(["processes", "records/s", "÷ one process"], [
                ["1", f"{one / 1000:.1f}k", "1.00x"],
                ["4", f"{four / 1000:.1f}k", ratio_text(four, one)]]))


def _shared_table(res: Results, checks: list[Check]) -> str:
    own, shared, clh = (res.med(f"shared/{m}", "rate") for m in ("own", "shared", "clh"))
    checks.append(("shared file >= 0.7x own files (4 processes)", shared / own >= 0.7,
                   f"{shared / own:.2f}x"))
    if measured(clh):
        checks.append(("shared file >= 5x concurrent-log-handler (4 processes)",
                       shared / clh >= 5, f"{shared / clh:.1f}x"))
    lines_ok = all(r["lines_ok"] and not r["dropped"]
                   for k, v in res.raw.items() if k.startswith("shared/") for r in v)
    if not lines_ok:
        checks.append(("all records on disk in section 12", False, "lines missing or dropped"))
    rows = [["hftlogging, one shared file (exclusive: false)", f"{shared / 1000:.1f}k",
             "1.00x" if not measured(own) else ratio_text(shared, own)],
            ["hftlogging, a file per process", f"{own / 1000:.1f}k", "1.00x"]]
    if measured(clh):
        rows.append(["concurrent-log-handler, one file", f"{clh / 1000:.1f}k",
                     ratio_text(clh, own)])
    return ("### 12. four processes, one shared rotating file (aggregate records/s; lines "
            f"{'checked' if lines_ok else 'MISSING'})\n\n"
            + md_table(["setup", "records/s", "÷ own files"], rows))


def monitor_table(res: Results, checks: list[Check]) -> str:
    off, on = res.med("monitor", "off"), res.med("monitor", "on")
    ratio = res.med("monitor", "ratio")
    samples = res.med("monitor", "samples")
    checks.append(("self-monitoring on costs the enabled call at most 1.05x off", ratio <= 1.05,
                   f"{ratio:.3f}x ({on:.0f} vs {off:.0f} ns)"))
    runs = res.raw.get("monitor", [])
    if any(r["lines"] != r["calls"] for r in runs):
        bad = next(r for r in runs if r["lines"] != r["calls"])
        checks.append(("all records on disk in monitor", False,
                       f"{bad['lines']} lines, {bad['calls']} expected"))
    return ("### 6. Self-monitoring: enabled info with latency sampling off and on (one call "
            "in 1,000), ns per call in alternating batches of 1,000, same process\n\n"
            + md_table(["sampling", "ns/call", "this ÷ off (median of pairs)", "samples"],
                     [["off", f"{off:.0f}", "1.00", "0"],
                      ["on (1 in 1,000)", f"{on:.0f}", f"{ratio:.3f}", f"{samples:.0f}"]]))


def _target_checks(res: Results, checks: list[Check]) -> None:
    m = res.med
    for regime in ("sat", "paced"):
        h50, s50 = m(f"calls/hftlogging/info/{regime}", "p50"), m(f"calls/stdlib/info/{regime}",
                                                                 "p50")
        p50 = m(f"calls/picologging/info/{regime}", "p50")
        h999 = m(f"calls/hftlogging/info/{regime}", "p999")
        s999 = m(f"calls/stdlib/info/{regime}", "p999")
        if measured(h50, s50):
            checks.append((f"enabled p50 >= 20x faster than stdlib ({regime})",
                           s50 / h50 >= 20, f"{s50 / h50:.1f}x"))
        if measured(h50, p50):
            checks.append((f"enabled p50 >= 5x faster than picologging ({regime})",
                           p50 / h50 >= 5, f"{p50 / h50:.1f}x"))
        if measured(h999, s999):
            checks.append((f"p99.9 >= 5x better than stdlib ({regime})", s999 / h999 >= 5,
                           f"{s999 / h999:.1f}x"))
    hd, sd = m("batch/hftlogging/debug", "median"), m("batch/stdlib/debug", "median")
    if measured(hd, sd):
        checks.append(("disabled debug <= 0.7x stdlib", hd / sd <= 0.7, f"{hd / sd:.2f}x"))
    for kind, limit in (("counter", 1.2), ("timer", 2.5)):
        for regime in ("sat", "paced"):
            a, t = m(f"calls/hftlogging/{kind}/{regime}", "p50"), m(
                f"calls/hftlogging/info/{regime}", "p50")
            if measured(a, t):
                checks.append((f"{kind} within {limit}x of the text call (p50, {regime})",
                               a / t <= limit, f"{a / t:.2f}x"))
    for fmt in ("text", "json"):
        h, st = m(f"throughput/hftlogging/{fmt}", "rate"), m(f"throughput/stdlib/{fmt}", "rate")
        sl = m(f"throughput/structlog/{fmt}", "rate")
        if measured(h, st):
            checks.append((f"throughput >= 6x stdlib ({fmt})", h / st >= 6, f"{h / st:.2f}x"))
        if measured(h, sl):
            checks.append((f"throughput above structlog ({fmt})", h > sl, f"{h / sl:.2f}x"))


def _loss_checks(res: Results, checks: list[Check]) -> None:
    for k, v in res.raw.items():
        if k.startswith("calls/") and any(x.get("dropped") for x in v):
            checks.append((f"no record dropped in {k}", False,
                           f"{max(x['dropped'] for x in v)} dropped"))
        bad = [x for x in v if "lines" in x and ("calls" in x or "expected" in x)
               and x["lines"] != x.get("calls", x.get("expected"))]
        if bad:
            checks.append((f"all records on disk in {k}", False,
                           f"{bad[0]['lines']} lines, {bad[0].get('calls', bad[0].get('expected'))}"
                           " expected"))


def _storms_table(res: Results) -> str:
    sup = res.med("batch/hftlogging/suppressed", "median")
    dis = res.med("batch/hftlogging/debug", "median")
    ena = res.med("batch/hftlogging/info", "median")
    rows = [["disabled `debug()`", f"{dis:.0f}", "1.00", ratio_text(dis, ena)],
            ["`every(...)` call held back", f"{sup:.0f}", ratio_text(sup, dis),
             ratio_text(sup, ena)],
            ["enabled `info()`", f"{ena:.0f}", ratio_text(ena, dis), "1.00"]]
    file_rate = res.med("backtrace/file", "rate")
    ring_rate = res.med("backtrace/ring", "rate")
    rows2 = [["queue → file", f"{file_rate / 1e3:.1f}k", "1.00"],
             ["queue → backtrace ring → file", f"{ring_rate / 1e3:.1f}k",
              ratio_text(ring_rate, file_rate)]]
    return ("### 4. Storms: rate-limited and disabled calls (ns per call in batches of 1,000, "
            "loop included)\n\n"
            + md_table(["call", "ns/call", "÷ disabled", "÷ enabled"], rows)
            + "\n\nEnd to end, one ERROR every 1,000 records (records/s until on disk):\n\n"
            + md_table(["pipeline", "records/s", "÷ file"], rows2))


def report(res: Results, setups: list[str], plan: Plan) -> tuple[str, list[Check]]:
    """Render the tables in section order; return them and the target checks (name, met,
    detail)."""
    checks: list[Check] = []
    parts = [_caller_table(res, setups), _debug_table(res, setups)]
    if plan.metrics:
        parts.append(_metrics_table(res))
    if res.has("batch/hftlogging/suppressed") and res.has("backtrace/file"):
        parts.append(_storms_table(res))
    if any(k.startswith("otel/") for k in res.raw) or res.notes.get("otel"):
        parts.append(trace_table(res, checks))
    if res.has("monitor"):
        parts.append(monitor_table(res, checks))
    parts.append(_throughput_table(res, setups))
    if any(k.startswith("network/") for k in res.raw) or res.notes.get("network"):
        parts.append(network_table(res, checks))
    if res.has("audit/json") and res.has("audit/audit"):
        parts.append(audit_table(res.raw, plan.throughput_n, checks))
    parts.append(_burst_table(res, checks))
    if plan.processes and res.has("procs/1") and res.has("procs/4"):
        parts.append(_procs_table(res, checks))
    if plan.shared_files and res.has("shared/own") and res.has("shared/shared"):
        parts.append(_shared_table(res, checks))
    if res.has(f"loggers/info/{MANY_LOGGERS}"):
        parts.append(_loggers_table(res, checks))
    _target_checks(res, checks)
    _loss_checks(res, checks)
    return "\n\n".join(parts), checks



def _loggers_table(res: Results, checks: list[Check]) -> str:
    m = res.med
    rows = []
    targets = {"create": 2.0, "get": 3.0, "add_handler": 3.0}
    labels = {"create": "create a logger (10,000 new)",
              "get": "get an existing logger",
              "add_handler": "addHandler + removeHandler on one",
              "set_level": "setLevel on one"}
    for what, label in labels.items():
        s, h = m(f"loggers/{what}/stdlib", "ns"), m(f"loggers/{what}/hftlogging", "ns")
        rows.append([label, fmt_us(s), fmt_us(h), ratio_text(h, s)])
        limit = targets.get(what)
        if limit is not None and measured(s, h):
            checks.append((f"many loggers: {label} <= {limit:g}x stdlib",
                           h / s <= limit, f"{h / s:.2f}x"))
    few, many = m(f"loggers/info/{FEW_LOGGERS}", "p50"), m(f"loggers/info/{MANY_LOGGERS}",
                                                            "p50")
    if measured(few, many):
        checks.append(("many loggers: enabled info p50 with 10,000 loggers <= 1.1x with 10",
                       many / few <= 1.1, f"{many / few:.2f}x"))
    info_rows = []
    for n in (FEW_LOGGERS, MANY_LOGGERS):
        k = f"loggers/info/{n}"
        gcs = [r.get("gc", [0, 0, 0]) for r in res.raw.get(k, [])]
        info_rows.append([f"{n:,}", fmt_us(m(k, "p50")), fmt_us(m(k, "p99")),
                          fmt_us(m(k, "p999")), ratio_text(m(k, "p50"), few),
                          "/".join(str(max(g[i] for g in gcs)) if gcs else "-"
                                   for i in range(3))])
    return ("### 13. Many loggers (10,000 loggers in the process; µs per operation; this ÷ "
            "stdlib)\n\n" + md_table(["operation", "stdlib", "hftlogging", "this ÷ stdlib"],
                                   rows)
            + "\n\nEnabled info (hftlogging, sat) with loggers besides the one that logs, each "
            "having logged once (gc: collections of generations 0/1/2 during the calls):\n\n"
            + md_table(["loggers", "p50", "p99", "p99.9", "÷ 10 loggers", "gc"], info_rows))


