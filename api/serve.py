"""Run the API in the foreground until Ctrl-C / SIGTERM, then return so the caller can stop the rest."""

from __future__ import annotations

import contextlib
from typing import Any

import uvicorn
from fastapi import FastAPI


def uvicorn_config(app: FastAPI, host: str, port: int, **options: Any) -> uvicorn.Config:
    """uvicorn's settings for the API, wherever it is started (`anju serve`, `anju demo`, the tests).

    Proxy headers are believed only from `api.trusted_proxies` (none by default). uvicorn's own default
    believes `X-Forwarded-For` from any local client (FORWARDED_ALLOW_IPS, 127.0.0.1), so a client on the
    gateway's host, or anything relaying for it, could name any address: dodge the wrong-token limit, or
    get someone else's address blocked (api/ratelimit.py). No lifespan: nothing uses it, and its handler logs
    the re-raised interrupt as an error.
    """
    trusted = list(app.state.services.settings.api.trusted_proxies)
    return uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="off",
                          proxy_headers=bool(trusted), forwarded_allow_ips=trusted or [], **options)


def serve_http(app: FastAPI, host: str, port: int) -> None:
    # uvicorn owns the main thread's signal handlers and re-raises the signal after
    # its graceful shutdown; swallowing that KeyboardInterrupt lets the caller stop
    # the gateway, broker and simulators in order.
    with contextlib.suppress(KeyboardInterrupt):
        uvicorn.Server(uvicorn_config(app, host, port)).run()
