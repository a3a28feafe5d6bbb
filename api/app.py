"""The FastAPI application: one router per resource under /api/v1, the web console at /console/."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles

from anju import __version__
from anju.runtime import Runtime
from api.deps import Services
from api.ratelimit import FailedAuth
from api.routers import (
    alerts,
    audit,
    availability,
    contract,
    dead_letters,
    devices,
    faces,
    grids,
    health,
    me,
    persons,
    rules,
    silences,
    sites,
    snapshots,
    teams,
    tokens,
    vendors,
    watchlists,
)
from api.security import harden
from api.stream import AlertStreamHub, MessageTap

CONSOLE_DIR = Path(__file__).resolve().parent / "console"
ROUTERS: tuple[APIRouter, ...] = (alerts.router, devices.router, tokens.router, me.router, sites.router, grids.router,
                                  teams.router, watchlists.router, rules.router, silences.router, persons.router,
                                  dead_letters.router, contract.router, availability.router,
                                  vendors.router, faces.router, snapshots.router, audit.router)


def create_app(runtime: Runtime) -> FastAPI:
    gateway, engine = runtime.gateway, runtime.rules
    app = FastAPI(title="Anju", version=__version__, docs_url=None, redoc_url=None,
                  description="Smart-community gateway API (SPEC §3). Every route but /healthz needs a bearer token; "
                              "docs/api.md has the role table.")
    harden(app, gateway.settings.api.cors_origins)
    _offline_docs(app)
    hub = AlertStreamHub(gateway.sessions)
    tap = MessageTap()
    engine.listeners.append(hub.wake)
    gateway.batch_listeners.append(tap.on_batch)
    app.state.services = Services(gateway.settings, gateway.sessions, gateway, engine, hub, tap,
                                  FailedAuth(gateway.settings.api.auth_failures_per_minute))
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


def _offline_docs(app: FastAPI) -> None:
    """Swagger UI at /docs from the `swagger-ui-bundle` package: community networks are often offline, no CDN."""
    import swagger_ui_bundle

    app.mount("/docs/static", StaticFiles(directory=swagger_ui_bundle.swagger_ui_path), name="swagger-ui")

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return get_swagger_ui_html(openapi_url="/openapi.json", title="Anju API",
                                   swagger_js_url="/docs/static/swagger-ui-bundle.js",
                                   swagger_css_url="/docs/static/swagger-ui.css",
                                   swagger_favicon_url="/docs/static/favicon-32x32.png")
