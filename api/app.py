"""The FastAPI application: one router per resource under /api/v1, the web console at /console/."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles

from api.deps import Services
from api.jsonsafe import renderable
from api.limits import RequestLimits, token_check
from api.ratelimit import FailedAuth
from api.routers import (
    alerts,
    audit,
    availability,
    commands,
    contract,
    dead_letters,
    deviations,
    devices,
    equipment,
    faces,
    grids,
    health,
    login,
    me,
    notify,
    office,
    patrol,
    persons,
    reports,
    rules,
    silences,
    sites,
    snapshots,
    teams,
    tokens,
    vendors,
    watchlists,
)
from api.runtime import Runtime
from api.security import harden
from api.stream import AlertStreamHub, MessageTap
from api.tokenwatch import TokenWatch
from kernel import __version__

CONSOLE_DIR = Path(__file__).resolve().parent / "console"
ROUTERS: tuple[APIRouter, ...] = (alerts.router, devices.router, tokens.router, me.router, sites.router, grids.router,
                                  teams.router, watchlists.router, rules.router, silences.router, persons.router,
                                  dead_letters.router, deviations.router, contract.router, availability.router,
                                  vendors.router, faces.router, snapshots.router, audit.router, login.router,
                                  notify.router, reports.router, commands.router, patrol.router,
                                  equipment.router, office.router)


def create_app(runtime: Runtime) -> FastAPI:
    gateway, engine = runtime.gateway, runtime.rules
    app = FastAPI(title="Anju", version=__version__, docs_url=None, redoc_url=None,
                  description="Smart-community gateway API (SPEC §3). Every route but /healthz, POST /api/v1/login "
                              "and the one-tap links (GET /n/{token}, GET /api/v1/notify/link/{token}) needs a "
                              "bearer token; docs/api.md has the role table.")
    # Before `harden`, so inside its (BaseHTTPMiddleware) header middleware, which reads no body: a limit raised
    # while the route reads the body must reach FastAPI as itself, not wrapped in that middleware's task group.
    app.add_middleware(RequestLimits, limits=gateway.settings.api.body_limits,
                       token_check=token_check(lambda: app.state.services))
    harden(app, gateway.settings.api.cors_origins)
    app.add_exception_handler(RequestValidationError, _refused)
    _offline_docs(app)
    hub = AlertStreamHub(gateway.sessions)
    tap = MessageTap()
    engine.listeners.append(hub.wake)
    gateway.batch_listeners.append(tap.on_batch)
    app.state.services = Services(gateway.settings, gateway.sessions, gateway, engine, hub, tap,
                                  FailedAuth(gateway.settings.api.auth_failures_per_minute),
                                  TokenWatch(gateway.sessions))
    for router in ROUTERS:
        app.include_router(router, prefix="/api/v1")

    _document_body_limits(app)
    app.include_router(health.router)  # /healthz and /metrics at the root, where probes and scrapers look
    app.include_router(notify.links_router)  # /n/{token}: one-tap links, short enough for a text message
    app.include_router(patrol.links_router)  # /p/{point}.{code}: what a patrol point's QR code holds
    app.include_router(health.router, prefix="/api/v1", include_in_schema=False)  # and where SPEC §3 lists them

    @app.get("/", include_in_schema=False)
    def root() -> RedirectResponse:
        return RedirectResponse("/console/")

    if CONSOLE_DIR.is_dir():
        app.mount("/console", StaticFiles(directory=CONSOLE_DIR, html=True), name="console")
    return app


def _document_body_limits(app: FastAPI) -> None:
    """Every operation that takes a body may answer 413 (api/limits.py, before the route runs): say so in its
    OpenAPI entry, so clients (and the schema tests) know."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            for operations in build().get("paths", {}).values():
                for operation in operations.values():
                    if isinstance(operation, dict) and "requestBody" in operation:
                        operation.setdefault("responses", {}).setdefault("413", {
                            "description": "the body is larger than this route accepts (docs/api.md, limits)",
                            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}})
        return app.openapi_schema or build()

    app.openapi = openapi  # type: ignore[method-assign]


async def _refused(_request: Request, exc: Exception) -> JSONResponse:
    """FastAPI's 422, with the refused input it echoes made renderable: a NaN or a deeply nested value in a
    refused body made the refusal itself fail with 500 (api/jsonsafe.py)."""
    errors = exc.errors() if isinstance(exc, RequestValidationError) else [str(exc)]
    return JSONResponse(status_code=422, content={"detail": renderable(list(errors))})


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
