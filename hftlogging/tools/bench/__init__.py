"""Benchmarks against the standard library and the peers: ``hftlogging bench [--quick]``.

Every figure is measured in the same run, on the same workload, and reported beside a
ratio to the standard library's ``Logger`` + ``QueueHandler`` + ``QueueListener`` path
(or to the section's own baseline). The sections, in the order they are printed:

Caller side (what a call costs the thread that makes it):

1. an enabled ``info`` with one ``%``-argument and two keyword fields, timed call by call
   with ``perf_counter_ns``, in two regimes: ``sat`` (back-to-back calls) and ``paced``
   (bursts of 20 calls, then 5 ms of sleep, as a trading loop that logs sporadically);
2. a disabled ``debug`` call (batches of calls, per-call mean);
3. ``counter``, ``metric`` and ``timer`` against the enabled text call;
4. storms: a call held back by ``every()`` against a disabled and an enabled call, and
   records/s with a backtrace ring in front of the file handler against without;
5. trace context: the enabled call with opentelemetry imported and a span recording,
   against the same call with opentelemetry never imported (:mod:`.otel`);
6. self-monitoring (latency sampling) on and off.

End to end (records until every one is written):

7. throughput: records per second until every record is on disk, in text through
   size-rotating files and in JSON lines, line counts checked;
8. network handlers: records/s into the ``SyslogHandler`` over TCP to a local rsyslog
   and into the ``OTLPHandler`` to a local OpenTelemetry collector, beside the file
   handler (:mod:`.network`; skipped, and said so, when a server is not installed);
9. the audit trail beside JSON lines through the queue, ``fsync: batch``, chain verified
   (:mod:`.audit`);
10. a burst of 1,000,000 records into a queue of capacity 10,000: peak memory growth and
    exact accounting (written + dropped == emitted).

Processes and scale:

11. worker processes each logging to their own file: aggregate throughput;
12. four processes writing one shared rotating file (``exclusive: false``), against four
    writing their own files and against concurrent-log-handler's
    ConcurrentRotatingFileHandler on one file (:mod:`.shared`);
13. many loggers: creating 10,000, getting one, ``addHandler``/``setLevel`` on one, and an
    enabled ``info`` with 10,000 loggers against the same call with 10.

Each measurement runs in a fresh interpreter (``python -m hftlogging.tools.bench --worker
SPEC``), scenarios are interleaved and repeated, and the tables show medians of the
repeats. Peers (picologging, structlog, loguru) are included when importable.

Modules: :mod:`.setups` (the libraries compared), :mod:`.measure` (measurements inside one
process), :mod:`.workers` (fresh interpreters), :mod:`.results` (sizes, results, table
text), :mod:`.tables` (sections and targets), :mod:`.runner` (the command).
"""

from __future__ import annotations

from hftlogging.tools.bench.measure import (
    FEW_LOGGERS,
    MANY_LOGGERS,
    measure_batch,
    measure_calls,
    measure_monitor,
    measure_throughput,
    percentiles,
)
from hftlogging.tools.bench.results import Plan, Results, machine
from hftlogging.tools.bench.runner import main
from hftlogging.tools.bench.setups import CALLS, SETUPS, HftSetup, Setup
from hftlogging.tools.bench.workers import callgrind_info, run_processes, run_worker

__all__ = [
    "CALLS", "FEW_LOGGERS", "MANY_LOGGERS", "SETUPS", "HftSetup", "Plan", "Results", "Setup",
    "callgrind_info", "machine", "main", "measure_batch", "measure_calls", "measure_monitor",
    "measure_throughput", "percentiles", "run_processes", "run_worker",
]
