"""The FastAPI application: one router per resource under /api/v1, the web console at /console/."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles

from anju import __version__
from anju.runtime import Runtime
from api.deps import Services
from api.routers import alerts, devices, health, me, tokens
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

    app.include_router(health.router)  # /healthz and /metrics at the root, where probes and scrapers look
    app.include_router(health.router, prefix="/api/v1", include_in_schema=False)  # and where SPEC §3 lists them

    @app.get("/", include_in_schema=False)
    def root() -> RedirectResponse:
        return RedirectResponse("/console/")

    if CONSOLE_DIR.is_dir():
        app.mount("/console", StaticFiles(directory=CONSOLE_DIR, html=True), name="console")
    return app
