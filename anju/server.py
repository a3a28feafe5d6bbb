"""`anju serve`: the gateway and the API in one process, until SIGINT/SIGTERM.

In a scaled-out deployment the same command runs each part alone (docs/deployment.md):
`api.enabled: false` for an ingest worker, `gateway.ingest: false` for an API process.
"""

from __future__ import annotations

import gc
import logging
import signal
import threading

from anju.runtime import build_runtime
from api.app import create_app
from api.serve import serve_http
from gateway.service import Gateway
from kernel.config import Settings

log = logging.getLogger(__name__)


def run_server(settings: Settings) -> None:
    runtime = build_runtime(settings)
    gateway = runtime.gateway
    gateway.start()
    try:
        app = create_app(runtime) if settings.api.enabled else None
        freeze_startup_objects()
        if app is not None:
            # uvicorn owns the main thread and its signal handlers; when it returns, we stop the rest.
            serve_http(app, host=settings.api.host, port=settings.api.port)
        else:
            _wait_for_signal(gateway)
    finally:
        gateway.stop()
        log.info("stopped")


def _wait_for_signal(gateway: Gateway) -> None:
    """An ingest-only worker has no HTTP server to own the signals: wait for SIGINT or SIGTERM here."""
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    if gateway.wait_connected(60):
        log.info("%s: ingest worker subscribed (no API)", gateway.settings.mqtt.client_id)
    while not stop.wait(1):
        pass


def freeze_startup_objects() -> None:
    """Keep what start-up built (modules, the app and its schemas, drivers, the registry) out of every later
    garbage collection: a quarter of a million objects that live as long as the process, yet a full collection
    walked them all, holding the interpreter lock for 100-190 ms while a press waited (10-13 ms once frozen;
    docs/architecture.md#measured-decisions)."""
    gc.collect()
    gc.freeze()
