"""The audit trail: append-only JSON Lines with a SHA-256 hash chain, and its verification.

:class:`JSONAuditHandler` writes one compact JSON object per line
(:class:`AuditFormatter`, a :class:`~hftlogging.formatters.JSONFormatter`)::

    {"timestamp":"2026-11-21T08:15:02.123456Z","event":"order_placed",
     "logger":"orders","level":"INFO","seq":42,"order_id":"o-7","qty":"0.5",
     "correlation_id":"c-1","host":"trade-1","pid":4711,"worker":"worker_open",
     "prev_hash":"9f2c...","hash":"0b4e..."}

The hash chain
    ``seq`` counts the records of the chain from 1. Every line ends with
    ``,"prev_hash":"<hex>","hash":"<hex>"}``: ``prev_hash`` is the previous line's
    ``hash`` (64 zeros before the first record) and ``hash`` the SHA-256 (hex) of the
    line's own UTF-8 bytes with the ``,"hash":"..."`` member removed (the line ending in
    ``}`` there). The line hashed is the line written, serialised once; each line seals
    the whole history before it. Lines of the older format (spaced JSON, hashed over
    :func:`canonical_bytes`) still verify. The chain continues across rotation (the first
    line of a new file links to the last line of the rotated one) and across restarts
    (the handler reads the tail of the existing file, never the whole file). Each writer
    (worker) has its own file and chain; :func:`chain_files` groups files into chains.

Torn lines
    A crash can leave a partial last line. When the handler opens such a file it warns
    on stderr, counts it (:attr:`JSONAuditHandler.torn_lines`), ends the fragment with a
    newline and writes an ``audit_torn_line`` record giving the fragment's offset, length
    and SHA-256; the chain resumes from the last complete line. :func:`verify` accepts
    a fragment only when such a record follows it, and an unterminated last line of the
    last file (a writer that has not restarted yet) is reported, not counted, and does
    not fail verification.

What verification cannot see
    Removing records at the end, or at the start of the first file given (which looks
    like older files rotated away, and is noted), leaves a valid, shorter chain. Keep
    the last ``seq`` and ``hash`` that ``hftlogging audit verify`` prints somewhere else
    (a ticket, another host) and compare: ``verify(paths, expect_last_hash=...)`` does it.

The handler accepts any record, but it is meant for audit records (``log_type ==
"audit"``): put a ``LogTypeFilter`` in front of it in the configuration. Other records
get ``event`` = their log type and a ``message`` key.
"""

from __future__ import annotations

from hftlogging.handlers.audit.chain import (
    GENESIS_HASH,
    AuditFormatter,
    AuditLineError,
    canonical_bytes,
    read_tail,
)
from hftlogging.handlers.audit.handler import JSONAuditHandler
from hftlogging.handlers.audit.verify import (
    VerifyResult,
    chain_files,
    order_files,
    verify,
    verify_chains,
    verify_command,
)

__all__ = [
    "GENESIS_HASH",
    "AuditFormatter",
    "AuditLineError",
    "JSONAuditHandler",
    "VerifyResult",
    "canonical_bytes",
    "chain_files",
    "order_files",
    "read_tail",
    "verify",
    "verify_chains",
    "verify_command",
]
