"""BacktraceHandler: DEBUG detail of the moments before an error, without DEBUG on disk.

Behind the queue, the handler keeps the last ``capacity`` records below ``flush_level``
and writes nothing for them. When a record at or above ``flush_level`` arrives, it writes
the kept records to its target, oldest first, each marked with the field
``backtrace=True``, then the record itself, and starts over with an empty ring.

One ring per handler, shared by every logger whose records reach it: the memory it
holds is bounded by ``capacity`` whatever the number of loggers or threads, and the
records written before an error are the moments before it, in the order they happened
across the service. To keep one component's history apart from a noisy neighbour's,
give that component its own BacktraceHandler (a handler per logger subtree in the
configuration).

Records held by the ring keep no reference to the caller's objects: the message is
rendered when the record is taken (``args`` emptied), as a written record's would be.
"""

from __future__ import annotations

import collections
import logging
import logging.handlers

from hftlogging.exceptions import ConfigError, describe
from hftlogging.filters import to_level

__all__ = ["BacktraceHandler"]


class BacktraceHandler(logging.handlers.MemoryHandler):
    """Keep the last ``capacity`` records below ``flush_level``; write them on an error.

    Args:
        capacity: how many records the ring keeps (older ones are pushed out and
            counted in :attr:`pushed_out`).
        flush_level: a record at or above it writes the ring, then itself (default ERROR).
        target: the handler the records are written to; in ``dictConfig`` the name of a
            configured handler, as for stdlib's ``MemoryHandler``.
        level: this handler's own level (records below it are not kept at all).

    Records at or above ``flush_level`` pass straight to the target. The target's filters
    apply to every record written (redaction, routing); its level does not, so the kept
    records reach a target set to ERROR, as with stdlib's ``MemoryHandler``. ``flush()`` flushes
    the target only; ``close()`` drops the ring (nothing below ``flush_level`` is written
    without an error to explain it). The target is not closed, as with ``MemoryHandler``.
    """

    def __init__(
        self,
        capacity: int = 1000,
        flush_level: int | str = logging.ERROR,
        target: logging.Handler | str | None = None,
        level: int | str = logging.NOTSET,
    ) -> None:
        if isinstance(capacity, bool) or not isinstance(capacity, int) or capacity < 1:
            msg = describe(None, "a whole number of records >= 1", capacity,
                           "set capacity to a whole number such as 1000")
            raise ConfigError(msg, key="capacity")
        flush = to_level(flush_level, "flush_level")
        # A name is resolved by dictConfig (as for MemoryHandler) before the handler is
        # built; one still unresolved here (a handler built alone, as ``check`` does) has
        # no target yet.
        self.target_name = target if isinstance(target, str) else None
        resolved = None if isinstance(target, str) else target
        super().__init__(capacity, flushLevel=flush, target=resolved, flushOnClose=False)
        self.setLevel(level)
        self.ring: collections.deque[logging.LogRecord] = collections.deque(maxlen=capacity)
        self.pushed_out = 0
        self.backtraces = 0

    # A record is kept only when this is False; it is never "flushed" by size.
    def shouldFlush(self, record: logging.LogRecord) -> bool:
        """Whether ``record`` is at or above ``flush_level``."""
        return record.levelno >= self.flushLevel

    def emit(self, record: logging.LogRecord) -> None:
        """Keep ``record``, or write the ring and ``record`` when it is at ``flush_level``."""
        try:
            out = self._take([record])
            if out:
                self._write(out)
        except Exception:
            self.handleError(record)

    def emit_batch(self, records: list[logging.LogRecord]) -> None:
        """The same for a whole batch, with one write to the target per batch."""
        out = self._take(records)
        if out:
            self._write(out)

    def _take(self, records: list[logging.LogRecord]) -> list[logging.LogRecord]:
        out: list[logging.LogRecord] = []
        ring = self.ring
        flush_level = self.flushLevel
        for r in records:
            if r.levelno >= flush_level:
                if ring:
                    for kept in ring:
                        _mark(kept)
                    out.extend(ring)
                    ring.clear()
                    self.backtraces += 1
                out.append(r)
            else:
                if len(ring) == ring.maxlen:
                    self.pushed_out += 1
                ring.append(_detach(r))
        return out

    def _write(self, records: list[logging.LogRecord]) -> None:
        target = self.target
        if target is None:
            return
        batch = getattr(target, "emit_batch", None)
        if batch is not None:
            # As Handler.handle: the target's filters apply (redaction, routing), its level
            # does not, so the DEBUG records of a backtrace reach an ERROR-level file.
            kept = [r for r in records if target.filter(r)]
            if kept:
                target.acquire()
                try:
                    batch(kept)
                finally:
                    target.release()
        else:
            for r in records:
                target.handle(r)

    def flush(self) -> None:
        """Flush the target; the ring is written only when an error arrives."""
        target = self.target
        if target is not None:
            target.flush()

    def close(self) -> None:
        """Drop the ring and close this handler (not the target)."""
        self.ring.clear()
        logging.Handler.close(self)

    def setTarget(self, target: logging.Handler | None) -> None:
        """Set the handler the records are written to."""
        self.target = target


def _detach(record: logging.LogRecord) -> logging.LogRecord:
    """Render the message now so the ring holds no reference to the caller's objects."""
    if record.args:
        record.msg = record.getMessage()
        record.args = None
    return record


def _mark(record: logging.LogRecord) -> None:
    ctx = getattr(record, "context", None)
    record.context = {**ctx, "backtrace": True} if isinstance(ctx, dict) else {"backtrace": True}
    record.backtrace = True
