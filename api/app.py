"""The FastAPI application: one router per resource under /api/v1, the web console at /console/."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles
from sqlalchemy import text

from anju import __version__
from anju.runtime import Runtime
from api.deps import Services
from api.routers import alerts, devices, me, tokens
from api.stream import AlertStreamHub, MessageTap

CONSOLE_DIR = Path(__file__).resolve().parent / "console"
ROUTERS: tuple[APIRouter, ...] = (alerts.router, devices.router, tokens.router, me.router)


def create_app(runtime: Runtime) -> FastAPI:
    gateway, engine = runtime.gateway, runtime.rules
    app = FastAPI(title="Anju", version=__version__,
                  description="Smart-community gateway API (SPEC §3). Every route but /healthz needs a bearer token; "
                              "docs/api.md has the role table.")
    hub = AlertStreamHub(gateway.sessions)
    tap = MessageTap()
    engine.listeners.append(hub.wake)
    gateway.batch_listeners.append(tap.on_batch)
    app.state.services = Services(gateway.settings, gateway.sessions, gateway, engine, hub, tap)
    for router in ROUTERS:
        app.include_router(router, prefix="/api/v1")

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
        return RedirectResponse("/console/")

    if CONSOLE_DIR.is_dir():
        app.mount("/console", StaticFiles(directory=CONSOLE_DIR, html=True), name="console")
    return app
