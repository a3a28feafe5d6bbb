"""Browser-facing hardening: security headers on every answer, a strict CSP on the console, CORS only when asked.

The console loads nothing from other origins and has no inline script, so its
Content-Security-Policy can be `'self'` only; the API answers carry headers that
stop sniffing, framing and referrer leaks. Cross-origin callers are refused
unless their origin is configured (`api.cors_origins`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request, Response
from fastapi.middleware.cors import CORSMiddleware

CONSOLE_CSP = ("default-src 'self'; img-src 'self' data: blob:; connect-src 'self' ws: wss:; style-src 'self'; "
               "script-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'")
DOCS_CSP = ("default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
            "script-src 'self' 'unsafe-inline'; object-src 'none'; frame-ancestors 'none'")
"""Swagger UI's page starts itself with an inline script; it is served from our own files, nothing else."""
CONSOLE_PERMISSIONS = "camera=(self), microphone=(), geolocation=()"
"""The console itself may use the camera: the patrol scans patrol points' QR codes (docs/patrol.md)."""
HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
    "Cross-Origin-Opener-Policy": "same-origin",
}


def harden(app: FastAPI, cors_origins: list[str]) -> None:
    @app.middleware("http")
    async def security_headers(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        response = await call_next(request)
        for name, value in HEADERS.items():
            response.headers.setdefault(name, value)
        path = request.url.path
        if path.startswith("/console"):
            response.headers["Content-Security-Policy"] = CONSOLE_CSP
            response.headers["Permissions-Policy"] = CONSOLE_PERMISSIONS
            response.headers.setdefault("Cache-Control", "no-cache")
        elif path.startswith("/docs"):
            response.headers["Content-Security-Policy"] = DOCS_CSP
        elif path.startswith("/api/"):
            response.headers.setdefault("Cache-Control", "no-store")
        return response

    if cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=cors_origins, allow_methods=["GET", "POST", "PUT", "PATCH",
                           "DELETE"], allow_headers=["Authorization", "Content-Type"], allow_credentials=False)
