"""The ``/metrics`` endpoint of a Prometheus handler: prometheus-client's HTTP server thread."""

from __future__ import annotations

import threading
from typing import Any

import prometheus_client
from prometheus_client import CollectorRegistry

from hftlogging.exceptions import ConfigError, Found, describe
from hftlogging.lifecycle import starting_thread

__all__ = ["serve", "stop"]


def serve(port: int, addr: str, registry: CollectorRegistry) -> tuple[Any, threading.Thread]:
    """Serve ``registry`` on ``addr:port`` from a thread; returns the server and its thread.

    Raises:
        ConfigError: the port cannot be bound, or prometheus-client is older than 0.20.
    """
    try:
        # dictConfig builds handlers holding logging's lock; a starting thread may need
        # it (a garbage handler's weakref callback), so start with the lock released.
        with starting_thread():
            result: Any = prometheus_client.start_http_server(port, addr=addr, registry=registry)
    except OSError as e:
        msg = describe(
            None, f"a free port to serve metrics on {addr}:{port}",
            Found(str(e.strerror or e)),
            "another process may hold the port: choose another port, or 0 to pick a "
            "free one (several worker processes share one endpoint with multiprocess: "
            "true)",
        )
        raise ConfigError(msg, key="port") from e
    if not isinstance(result, tuple):  # prometheus-client < 0.20 gives no handle
        msg = describe(
            None, "prometheus-client >= 0.20 (to close the endpoint)",
            Found(f"prometheus-client {getattr(prometheus_client, '__version__', 'older')}"),
            "upgrade prometheus-client or drop the port option",
        )
        raise ConfigError(msg, key="port")
    server, thread = result
    thread.name = "hftlogging-prometheus-http"
    return server, thread


def stop(server: Any, thread: threading.Thread | None) -> None:
    """Stop serving: shut the server down, close its socket, wait for its thread."""
    try:
        server.shutdown()
    finally:
        server.server_close()
    if thread is not None:
        thread.join(5.0)
