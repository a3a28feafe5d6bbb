"""Run the API in the foreground until Ctrl-C / SIGTERM, then return so the caller can stop the rest."""

from __future__ import annotations

import contextlib

import uvicorn
from fastapi import FastAPI


def serve_http(app: FastAPI, host: str, port: int) -> None:
    # uvicorn owns the main thread's signal handlers and re-raises the signal after
    # its graceful shutdown; swallowing that KeyboardInterrupt lets the caller stop
    # the gateway, broker and simulators in order. No lifespan: nothing uses it,
    # and its handler logs the re-raised interrupt as an error.
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="off")
    with contextlib.suppress(KeyboardInterrupt):
        uvicorn.Server(config).run()
