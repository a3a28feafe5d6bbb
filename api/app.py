"""The FastAPI application. Routers per resource live beside this module."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.responses import RedirectResponse
from sqlalchemy import text

from anju import __version__
from gateway.service import Gateway


def create_app(gateway: Gateway) -> FastAPI:
    app = FastAPI(title="Anju", version=__version__, description="Smart-community gateway API (SPEC §3)")
    app.state.gateway = gateway

    @app.get("/healthz", tags=["health"])
    def healthz() -> dict[str, Any]:
        """Liveness, without authentication: is the process up, is it connected, can it reach its database."""
        try:
            with gateway.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            db_ok = True
        except Exception:  # noqa: BLE001 - reported, not raised
            db_ok = False
        return {
            "status": "ok",
            "version": __version__,
            "mqtt_connected": gateway.hub.connected.is_set(),
            "database": "ok" if db_ok else "unavailable",
            "queue_depth": gateway.hub.inbox.qsize(),
            "messages_accepted": int(gateway.metrics.total("anju_messages_total", outcome="accepted")),
            "dead_letters": int(gateway.metrics.total("anju_dead_letters_total")),
        }

    @app.get("/", include_in_schema=False)
    def root() -> RedirectResponse:
        # The web console will live here; until then the interactive API docs are the front door.
        return RedirectResponse("/docs")

    return app
