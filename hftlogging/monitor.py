"""Self-monitoring: what a log call costs its caller, and how many records are written.

Caller-side cost is sampled, so the calls that are not sampled pay nothing for it. About
once every ``latency_sample_every`` records, the listener arms the logger that logged
the latest one: it puts a timing wrapper in that logger's instance dictionary under the
method's name (``info``, ``counter``, ``audit``...), where attribute lookup finds it
before the class's method. The next such call runs through the wrapper, which removes
itself, times the real method with ``perf_counter_ns`` and keeps the figure. Every other
call finds no wrapper and runs exactly as before. (Code that keeps a reference to an armed
method, ``info = log.info``, holds the wrapper: it times one call, then only passes calls
through.)

Each sampled duration is compared with the ``hftlogging:`` settings
``warning_threshold_us`` and ``max_latency_us`` (default 500 and 1000, the write-ups'
values): a duration over one is counted as a breach. When the configuration sets either
threshold, at most one warning record per ``REPORT_INTERVAL_S`` on the ``hftlogging``
logger also says how many there were (with the defaults, breaches are only counted: no
record of ours appears in a user's output unasked). :func:`check_performance` compares
the sampled p99 with the thresholds.

Throughput is counted by the listeners: records handed to the handlers per second, over
windows of about a second.
"""

from __future__ import annotations

import bisect
import collections
import logging
import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from hftlogging import health
from hftlogging.capture import KIND_METRIC, KIND_TEXT
from hftlogging.exceptions import ConfigError, describe
from hftlogging.logger import HFTLogger
from hftlogging.plans import NOOP_NAMES

__all__ = [
    "DEFAULT_MAX_LATENCY_US",
    "DEFAULT_SAMPLE_EVERY",
    "DEFAULT_WARNING_THRESHOLD_US",
    "LATENCY_BUCKETS_S",
    "SETTINGS_KEYS",
    "Monitor",
    "PerformanceCheck",
    "check_performance",
    "check_settings",
    "get_monitor",
]

#: Sample about one call in this many (0 turns sampling off).
DEFAULT_SAMPLE_EVERY = 1000
#: A sampled call slower than this is a warning-level breach (the write-ups' default).
DEFAULT_WARNING_THRESHOLD_US = 500.0
#: A sampled call slower than this is a breach; a p99 above it fails the check.
DEFAULT_MAX_LATENCY_US = 1000.0
#: At most one breach warning record per this many seconds.
REPORT_INTERVAL_S = 10.0
#: The keys of the ``hftlogging:`` configuration section that set the monitor.
SETTINGS_KEYS = ("latency_sample_every", "max_latency_us", "warning_threshold_us")
#: Buckets of the call-latency histogram, in seconds (100 ns to 10 ms, then 0.1 s, 1 s).
LATENCY_BUCKETS_S: tuple[float, ...] = (
    1e-7, 2.5e-7, 5e-7,
    1e-6, 2.5e-6, 5e-6,
    1e-5, 2.5e-5, 5e-5,
    1e-4, 2.5e-4, 5e-4,
    1e-3, 2.5e-3, 5e-3, 1e-2,
    0.1, 1.0,
)
_BOUNDS_NS = tuple(round(b * 1e9) for b in LATENCY_BUCKETS_S)
_RESERVOIR = 2048  # the most recent samples, for the percentiles
_WINDOW_S = 1.0  # throughput window

# Method names of a captured call: text levels, and metric types (unit "ms": latency).
_LEVEL_METHODS = NOOP_NAMES
_METRIC_METHODS = {"counter": "counter", "gauge": "metric", "histogram": "histogram"}

_perf_counter_ns = time.perf_counter_ns
_monotonic = time.monotonic


def _timer_overhead_ns() -> int:
    """What reading the clock twice costs with nothing between (subtracted from samples)."""
    best = 1 << 62
    for _ in range(200):
        t0 = _perf_counter_ns()
        t1 = _perf_counter_ns()
        best = min(best, t1 - t0)
    return best


def check_settings(settings: Mapping[str, object]) -> dict[str, Any]:
    """Validate the monitor's keys of the ``hftlogging:`` section; return them.

    Returns:
        The three settings with their defaults filled in, and ``report_breaches``: whether
        a threshold was set (breach warnings are then logged).

    Raises:
        ConfigError: a value is not a number of the right kind, or the warning threshold
            is above the maximum; ``key`` names the offending key.
    """
    out: dict[str, Any] = {}
    every = settings.get("latency_sample_every", DEFAULT_SAMPLE_EVERY)
    if isinstance(every, bool) or not isinstance(every, int) or every < 0:
        msg = describe(None, "an integer >= 0", every,
                       "sample one log call in this many; 0 turns the sampling off")
        raise ConfigError(msg, key="latency_sample_every")
    out["latency_sample_every"] = every
    for key, default in (("warning_threshold_us", DEFAULT_WARNING_THRESHOLD_US),
                         ("max_latency_us", DEFAULT_MAX_LATENCY_US)):
        v = settings.get(key, default)
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not v > 0 \
                or v == float("inf"):
            msg = describe(None, "a number of microseconds > 0", v,
                           "use a number of microseconds such as 500")
            raise ConfigError(msg, key=key)
        out[key] = float(v)
    out["report_breaches"] = "warning_threshold_us" in settings or "max_latency_us" in settings
    if out["warning_threshold_us"] > out["max_latency_us"]:
        msg = describe(None, f"warning_threshold_us <= max_latency_us ({out['max_latency_us']:g})",
                       out["warning_threshold_us"], "lower the warning threshold")
        raise ConfigError(msg, key="warning_threshold_us")
    return out


class Monitor:
    """The process's self-monitoring figures (one instance: :func:`get_monitor`)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.sample_every = DEFAULT_SAMPLE_EVERY
        self.warning_threshold_us = DEFAULT_WARNING_THRESHOLD_US
        self.max_latency_us = DEFAULT_MAX_LATENCY_US
        self.report_breaches = False
        self._overhead_ns = 0
        self._calibrated = False
        self._fork_hook = False
        self._reporting = threading.local()
        self.reset()

    def reset(self) -> None:
        """Forget every figure (a forked child starts its own)."""
        # Sampled durations wait here (an append is all a sampled call adds to its own
        # cost) until the listener or a reader of the figures takes them in.
        self._pending: collections.deque[int] = collections.deque(maxlen=_RESERVOIR)
        self.samples: collections.deque[int] = collections.deque(maxlen=_RESERVOIR)
        self.count = 0
        self.sum_ns = 0
        self.max_ns = 0
        self.bucket_counts = [0] * (len(_BOUNDS_NS) + 1)
        self.breaches = {"warning_threshold_us": 0, "max_latency_us": 0}
        self._unreported = {"warning_threshold_us": 0, "max_latency_us": 0}
        self._worst_unreported_ns = 0
        self._last_report = -REPORT_INTERVAL_S
        self._countdown = self.sample_every
        self._window_start = _monotonic()
        self._window_count = 0
        self.records_per_s = 0.0
        self.records = 0

    def configure(
        self,
        latency_sample_every: int = DEFAULT_SAMPLE_EVERY,
        warning_threshold_us: float = DEFAULT_WARNING_THRESHOLD_US,
        max_latency_us: float = DEFAULT_MAX_LATENCY_US,
        report_breaches: bool = False,
    ) -> None:
        """Set the sampling rate and thresholds (validated by :func:`check_settings`).

        Args:
            latency_sample_every: sample about one call in this many; 0: no sampling.
            warning_threshold_us, max_latency_us: the thresholds of a breach.
            report_breaches: log a rate-limited warning record about breaches.
        """
        s = check_settings({"latency_sample_every": latency_sample_every,
                            "warning_threshold_us": warning_threshold_us,
                            "max_latency_us": max_latency_us})
        with self.lock:
            self.sample_every = s["latency_sample_every"]
            self.warning_threshold_us = s["warning_threshold_us"]
            self.max_latency_us = s["max_latency_us"]
            self.report_breaches = bool(report_breaches)
            self._countdown = self.sample_every

    # -- the listener's side -----------------------------------------------------------------

    def after_batch(self, n: int, last: object) -> None:
        """Count ``n`` written records; arm a sample when one is due (listener thread)."""
        now = _monotonic()
        arm = False
        with self.lock:
            self.records += n
            self._window_count += n
            elapsed = now - self._window_start
            if elapsed >= _WINDOW_S:
                self.records_per_s = self._window_count / elapsed
                self._window_start = now
                self._window_count = 0
            if self.sample_every:
                self._countdown -= n
                if self._countdown <= 0:
                    self._countdown = self.sample_every
                    arm = True
        if self._pending:
            self._take_pending()
        if arm and last is not None:
            try:
                self._arm(last)
            except Exception:  # a sample less; the listener goes on
                pass

    def _arm(self, item: object) -> None:
        """Put a timing wrapper on the method that logged ``item``, on its logger."""
        if not self._fork_hook:
            self._fork_hook = True
            if hasattr(os, "register_at_fork"):
                os.register_at_fork(after_in_child=self._after_fork_child)
        if not self._calibrated:
            self._overhead_ns = _timer_overhead_ns()
            self._calibrated = True
        if type(item) is tuple:
            kind, lg, level = item[0], item[1], item[2]
            if kind == KIND_TEXT:
                name = _LEVEL_METHODS.get(level)
            elif kind == KIND_METRIC:
                mtype, unit = item[4][0], item[4][3]
                name = "latency" if unit == "ms" else _METRIC_METHODS.get(mtype)
            else:
                name = "audit"
        else:
            d = getattr(item, "__dict__", {})
            rname = d.get("name")
            lg = logging.root if rname == "root" else logging.Logger.manager.loggerDict.get(
                rname)  # type: ignore[arg-type]
            log_type = d.get("log_type", "text")
            if log_type == "metric":
                name = ("latency" if d.get("metric_unit") == "ms"
                        else _METRIC_METHODS.get(d.get("metric_type", "")))
            elif log_type == "audit":
                name = "audit"
            else:
                name = _LEVEL_METHODS.get(d.get("levelno", 0))
        if name is None or not isinstance(lg, HFTLogger) or lg.name == "hftlogging":
            return
        method = getattr(type(lg), name, None)
        if method is None:
            return
        lg.__dict__.setdefault(name, self._sampler(lg, name, method.__get__(lg, type(lg))))

    def _sampler(self, lg: Any, name: str, method: Callable[..., Any]) -> Callable[..., Any]:
        d = lg.__dict__
        record = self._pending.append

        fired: list[bool] = []

        def sampled(*args: Any, **kwargs: Any) -> Any:
            t0 = _perf_counter_ns()
            if fired:  # a caller kept this wrapper (``info = log.info``): time it once only
                return method(*args, **kwargs)
            fired.append(True)
            if d.get(name) is sampled:  # the next call finds the class's method again
                d.pop(name, None)
            try:
                return method(*args, **kwargs)
            finally:
                record(_perf_counter_ns() - t0)

        sampled.__name__ = sampled.__qualname__ = name
        return sampled

    def _after_fork_child(self) -> None:
        self.lock = threading.Lock()
        self._reporting = threading.local()
        self.reset()

    # -- the caller's side -------------------------------------------------------------------

    def record(self, ns: int) -> None:
        """Keep one sampled call duration (nanoseconds, clock overhead included)."""
        self._pending.append(ns)
        self._take_pending()

    def _take_pending(self) -> None:
        """Take the waiting samples into the figures; report breaches (rate-limited)."""
        pending = self._pending
        overhead = self._overhead_ns
        report = False
        with self.lock:
            warn, top = self.warning_threshold_us, self.max_latency_us
            while pending:
                try:
                    ns = max(0, pending.popleft() - overhead)
                except IndexError:
                    break
                self.samples.append(ns)
                self.count += 1
                self.sum_ns += ns
                self.max_ns = max(self.max_ns, ns)
                self.bucket_counts[bisect.bisect_left(_BOUNDS_NS, ns)] += 1
                us = ns / 1000.0
                if us > warn:
                    key = "max_latency_us" if us > top else "warning_threshold_us"
                    self.breaches[key] += 1
                    self._unreported[key] += 1
                    self._worst_unreported_ns = max(self._worst_unreported_ns, ns)
            if self._worst_unreported_ns and self.report_breaches:
                now = _monotonic()
                if now - self._last_report >= REPORT_INTERVAL_S and not getattr(
                    self._reporting, "active", False
                ):
                    self._last_report = now
                    report = True
                    counts = dict(self._unreported)
                    worst = self._worst_unreported_ns
                    self._unreported = dict.fromkeys(self._unreported, 0)
                    self._worst_unreported_ns = 0
        if report:
            self._report(counts, worst, warn, top)

    def _report(self, counts: dict[str, int], worst_ns: int, warn: float, top: float) -> None:
        self._reporting.active = True
        try:
            logging.getLogger("hftlogging").warning(
                "sampled log calls were slow: %d over max_latency_us=%g, %d more over "
                "warning_threshold_us=%g since the last report; slowest %.1f us",
                counts["max_latency_us"], top, counts["warning_threshold_us"], warn,
                worst_ns / 1000.0,
                extra={"actual_us": worst_ns / 1000.0, "threshold_us": warn,
                       "max_latency_us": top, "breaches": counts},
            )
        except Exception:  # reporting must never raise into the caller
            pass
        finally:
            self._reporting.active = False

    # -- figures -----------------------------------------------------------------------------

    def stats(self) -> dict[str, Any]:
        """The figures :func:`hftlogging.stats` reports (see its documentation)."""
        self._take_pending()
        now = _monotonic()
        with self.lock:
            samples = sorted(self.samples)
            count, sum_ns, max_ns = self.count, self.sum_ns, self.max_ns
            buckets = list(self.bucket_counts)
            breaches = dict(self.breaches)
            rate = self.records_per_s
            idle = now - self._window_start
            if idle >= 2 * _WINDOW_S:  # no batch for a while: the rate has fallen
                rate = self._window_count / idle
            every = self.sample_every
            warn, top = self.warning_threshold_us, self.max_latency_us
        cumulative = []
        running = 0
        for c in buckets:
            running += c
            cumulative.append(running)
        return {
            "call_latency_us": {
                "p50": _percentile(samples, 0.50) / 1000.0 if samples else None,
                "p99": _percentile(samples, 0.99) / 1000.0 if samples else None,
                "max": max_ns / 1000.0 if count else None,
                "samples": count,
                "sample_every": every,
            },
            "call_latency_histogram": {
                "buckets_s": list(LATENCY_BUCKETS_S),
                "cumulative": cumulative,  # one more than buckets_s: +Inf
                "count": count,
                "sum_s": sum_ns / 1e9,
            },
            "records_per_s": rate,
            "latency_breaches": breaches,
            "latency_thresholds_us": {"warning_threshold_us": warn, "max_latency_us": top},
        }


def _percentile(sorted_ns: list[int], q: float) -> float:
    n = len(sorted_ns)
    return float(sorted_ns[min(n - 1, int(q * n))])


_monitor = Monitor()


def get_monitor() -> Monitor:
    """The process's monitor."""
    return _monitor


@dataclass(frozen=True)
class PerformanceCheck:
    """What :func:`hftlogging.check_performance` found; true when ``ok``.

    Attributes:
        ok: the sampled p99 call latency is within ``max_latency_us`` (true when nothing
            was sampled yet: see ``warnings``).
        p50_us, p99_us, max_us: sampled caller-side latency of a log call (None: no sample).
        samples: how many calls were sampled since the process started.
        records_per_s: records written per second, over the last window.
        warning_threshold_us, max_latency_us: the thresholds compared with.
        breaches: sampled calls over each threshold since the process started.
        reasons: why ``ok`` is false (empty when it is true).
        warnings: figures over the warning threshold, or why nothing could be measured.
    """

    ok: bool
    p50_us: float | None
    p99_us: float | None
    max_us: float | None
    samples: int
    records_per_s: float
    warning_threshold_us: float
    max_latency_us: float
    breaches: dict[str, int] = field(default_factory=dict)
    reasons: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return self.ok


def check_performance() -> PerformanceCheck:
    """Compare the sampled cost of log calls with ``warning_threshold_us`` and ``max_latency_us``.

    The check the write-ups call ``validate_hft_logging_compliance``: it fails when the
    sampled p99 caller-side latency is above ``max_latency_us``, and warns when it is
    above ``warning_threshold_us``. It logs nothing; the result says what it found.

    Returns:
        A :class:`PerformanceCheck` (true when ``ok``).
    """
    s = _monitor.stats()
    lat = s["call_latency_us"]
    th = s["latency_thresholds_us"]
    warn, top = th["warning_threshold_us"], th["max_latency_us"]
    p99 = lat["p99"]
    reasons: list[str] = []
    warnings: list[str] = []
    if p99 is None:
        if lat["sample_every"]:
            warnings.append("no log call has been sampled yet: log through a configured "
                            "queue, then check again")
        else:
            warnings.append("sampling is off (latency_sample_every: 0): nothing measured")
    elif p99 > top:
        reasons.append(f"p99 call latency {p99:.1f} us exceeds max_latency_us {top:g}")
    elif p99 > warn:
        warnings.append(f"p99 call latency {p99:.1f} us exceeds warning_threshold_us {warn:g}")
    return PerformanceCheck(
        ok=not reasons, p50_us=lat["p50"], p99_us=p99, max_us=lat["max"],
        samples=lat["samples"], records_per_s=s["records_per_s"],
        warning_threshold_us=warn, max_latency_us=top, breaches=s["latency_breaches"],
        reasons=tuple(reasons), warnings=tuple(warnings),
    )


health.add_stats_fields(lambda: get_monitor().stats())
