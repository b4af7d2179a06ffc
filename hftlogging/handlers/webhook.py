"""WebhookHandler: POST records (CRITICAL by default) to an HTTP endpoint as JSON."""

from __future__ import annotations

import json
import logging
import urllib.request
from collections.abc import Sequence

from hftlogging.exceptions import ConfigError, describe

__all__ = ["WebhookHandler"]


class WebhookHandler(logging.Handler):
    """POST each batch as one JSON array of ``{time, level, logger, message, context}``.

    Behind a queue it runs on the listener, which passes only records at ``level`` and
    above, one batch per call; a failed POST raises, so the listener counts it, sends
    the batch to the fallback and, after repeated failures, bypasses this handler with
    back-off, while the other handlers go on.
    """

    def __init__(self, url: str, *, timeout_s: float = 2.0,
                 level: int | str = logging.CRITICAL) -> None:
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            msg = describe(None, "an http:// or https:// URL", url,
                           "give a URL such as 'https://hooks.example.com/alerts'")
            raise ConfigError(msg, key="url")
        super().__init__(level)
        self.url, self.timeout_s, self.sent = url, timeout_s, 0

    def emit(self, record: logging.LogRecord) -> None:
        """Post one record (stdlib entry point: a failure goes to ``handleError``)."""
        try:
            self.emit_batch([record])
        except Exception:
            self.handleError(record)

    def emit_batch(self, records: Sequence[logging.LogRecord]) -> None:
        """Post a batch in one request; raise if the endpoint does not take it."""
        body = json.dumps([{
            "time": r.created, "level": r.levelname, "logger": r.name,
            "message": self.format(r), "context": getattr(r, "context", {}),
        } for r in records], default=str).encode()
        request = urllib.request.Request(  # noqa: S310 - http(s) only, checked at init
            self.url, data=body, headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=self.timeout_s) as response:  # noqa: S310
            response.read()
        self.sent += len(records)
