"""`anju serve`: the gateway and the API in one process, until SIGINT/SIGTERM."""

from __future__ import annotations

import logging

from anju.config import Settings
from anju.runtime import build_runtime
from api.app import create_app
from api.serve import serve_http

log = logging.getLogger(__name__)


def run_server(settings: Settings) -> None:
    runtime = build_runtime(settings)
    gateway = runtime.gateway
    gateway.start()
    try:
        # uvicorn owns the main thread and its signal handlers; when it returns, we stop the rest.
        serve_http(create_app(runtime), host=settings.api.host, port=settings.api.port)
    finally:
        gateway.stop()
        log.info("stopped")
