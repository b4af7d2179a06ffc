"""Section 5 of ``hftlogging bench``: the caller-side cost of trace context.

Three scenarios, each in a fresh interpreter, the enabled ``info`` of section 1 into the
same queue and rotating file:

- ``none``: opentelemetry never imported (the plain setup of section 1; the child checks
  that no ``opentelemetry`` module was loaded);
- ``idle``: the text format names ``%(otel_trace_id)s``, so every call looks up the
  current span, but no span is recording;
- ``span``: the same, inside an active span of the OpenTelemetry SDK's tracer: every
  call captures the trace and span ids.

Each reports the per-call mean over batches of 1,000 calls and the ``sat`` percentiles.
Without ``opentelemetry-sdk`` the two traced scenarios are skipped, and the section
says so.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from typing import Any

from hftlogging.exceptions import ConfigError, describe
from hftlogging.tools.bench.measure import measure_batch, measure_calls
from hftlogging.tools.bench.results import (
    Check,
    Plan,
    Results,
    fmt_us,
    md_table,
    progress,
    ratio_text,
)
from hftlogging.tools.bench.setups import TEXT_FORMAT, HftSetup

__all__ = [
    "MODES", "TRACE_FORMAT", "TracedSetup", "available", "collect_trace", "measure_trace",
    "trace_table",
]

MODES = ("none", "idle", "span")
#: section 1's text format with the trace context of the call appended.
TRACE_FORMAT = TEXT_FORMAT + " trace=%(otel_trace_id)s span=%(otel_span_id)s"


def available() -> bool:
    """Whether the OpenTelemetry SDK (which starts spans) is importable."""
    try:
        return importlib.util.find_spec("opentelemetry.sdk") is not None
    except (ImportError, ValueError):
        return False


class TracedSetup(HftSetup):
    """hftlogging with a text format naming the trace context: calls capture it."""

    key = "hftlogging"
    label = "hftlogging QueueHandler, trace context in the format"
    text_format = TRACE_FORMAT


@contextmanager
def _active_span() -> Iterator[None]:
    trace: Any = importlib.import_module("opentelemetry.trace")
    sdk: Any = importlib.import_module("opentelemetry.sdk.trace")
    provider = sdk.TracerProvider()
    tracer = provider.get_tracer("hftlogging.bench")
    with tracer.start_as_current_span("order"):
        yield
    provider.shutdown()
    del trace


def _traced_lines(directory: str) -> int:
    """Lines of the benchmark's files that carry a 32-digit trace id."""
    pattern = re.compile(rb"trace=[0-9a-f]{32} span=[0-9a-f]{16}")
    total = 0
    for name in os.listdir(directory):
        with open(os.path.join(directory, name), "rb") as f:
            total += sum(1 for line in f if pattern.search(line))
    return total


def measure_trace(spec: dict[str, Any]) -> dict[str, Any]:
    """One scenario of section 5 in this (fresh) process.

    ``spec["mode"]`` is one of :data:`MODES`; ``spec["n"]`` timed calls for the
    percentiles. Returns ``median`` (ns per call in batches), the ``sat`` percentiles,
    ``lines`` on disk, ``calls`` made, ``traced`` (lines carrying a trace id) and
    ``otel_imported`` (whether any ``opentelemetry`` module was loaded).

    Raises:
        ConfigError: an unknown mode.
    """
    mode = spec["mode"]
    if mode not in MODES:
        raise ConfigError(describe("bench otel mode", f"one of {', '.join(MODES)}", mode,
                                   f"name one of: {', '.join(MODES)}"))
    directory = tempfile.mkdtemp(prefix="hftlogging-bench-otel-")
    try:
        setup = (HftSetup if mode == "none" else TracedSetup)(
            directory, "text", spec["n"] + 200_000, None)
        setup.start()
        with _active_span() if mode == "span" else nullcontext():
            batch = measure_batch(setup, "info", spec.get("loops", 1_000),
                                  spec.get("repeat", 50))
            res = measure_calls(setup, "info", "sat", spec["n"])
        res["median"] = batch["median"]
        res["calls"] += batch["calls"]
        res["dropped"] = setup.dropped()
        setup.stop()
        res["lines"] = setup.lines()
        res["traced"] = _traced_lines(directory)
        res["otel_imported"] = any(m == "opentelemetry" or m.startswith("opentelemetry.")
                                   for m in sys.modules)
        return res
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def collect_trace(plan: Plan, res: Results, run: Any, verbose: bool = True) -> None:
    """The three scenarios interleaved over the rounds (``run`` runs one spec in a fresh
    interpreter); without the SDK, ``none`` alone and a note."""
    modes = MODES if available() else ("none",)
    if not available():
        res.note("otel", "opentelemetry-sdk is not installed (pip install 'hftlogging[otel]'):"
                         " the traced scenarios are skipped")
    for rnd in range(plan.rounds):
        for mode in modes:
            if verbose:
                progress(f"[round {rnd + 1}/{plan.rounds}] otel/{mode}")
            res.add(f"otel/{mode}", run({"task": "otel", "mode": mode, "n": plan.sat_n}))


def trace_table(res: Results, checks: list[Check]) -> str:
    """Render section 5; checks that opentelemetry stayed unimported without a traced
    handler, that every record reached the file, and that every traced one carries ids."""
    base = res.med("otel/none", "median")
    base50 = res.med("otel/none", "p50")
    labels = {"none": "opentelemetry never imported",
              "idle": "imported, trace context in the format, no span",
              "span": "imported, trace context in the format, a span recording"}
    rows = []
    for mode in MODES:
        key = f"otel/{mode}"
        if not res.has(key):
            continue
        med, p50 = res.med(key, "median"), res.med(key, "p50")
        rows.append([labels[mode], f"{med:.0f}", ratio_text(med, base), fmt_us(p50),
                     fmt_us(res.med(key, "p99")), ratio_text(p50, base50)])
        for r in res.raw[key]:
            if r["otel_imported"] != (mode != "none"):
                checks.append((f"opentelemetry imported only when asked ({key})", False,
                               f"imported: {r['otel_imported']}"))
            if mode == "span" and r["traced"] != r["lines"]:
                checks.append((f"every record carries the trace ids ({key})", False,
                               f"{r['traced']} of {r['lines']} lines"))
    notes = "".join(f"\n- {n}" for n in res.notes.get("otel", []))
    return ("### 5. Trace context: enabled info with and without OpenTelemetry (ns per call "
            "in batches of 1,000, loop included; µs per call, sat)\n\n"
            + md_table(["scenario", "ns/call", "÷ none", "sat p50", "sat p99", "÷ none p50"],
                       rows) + ("\n" + notes if notes else ""))
