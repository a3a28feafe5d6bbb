"""Request size limits, enforced before anything reads the body or checks the token.

FastAPI reads and parses a request's body before it runs the route's
dependencies, the token check among them: four concurrent 100 MB POSTs without
any token took the process from 206 to 1,018 MB (issue 15) before each got its
401. So every HTTP request passes through `RequestLimits` before anything reads
its body (only the security-header and CORS middlewares, which read none, come
earlier; FastAPI's own `max_body_size` is fixed when the routes are declared, and
reads no token):

- a declared `Content-Length` over the route's limit is refused with 413 at
  once, before a byte of the body is read (the connection is then closed);
- a body sent without a length (chunked) is counted as it is read and refused
  with 413 the moment it passes the limit;
- the limit is `api.body_limits.default` (1 MiB), larger only for the routes
  that take pictures, CSV or rule files (`UPLOADS`); on those, a body larger than
  the default is read only for a caller whose token is valid (401 otherwise,
  unread), so no anonymous client can make the process hold more than the
  default per request.

It also hands each WebSocket's transport to the stream code (`TRANSPORT_KEY`),
the only way to drop a client that has stopped reading (api/stream.py).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qs

import orjson
from fastapi import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.deps import UNAUTHORIZED, Blocked, caller
from api.security import HEADERS
from api.stream import TRANSPORT_KEY
from kernel.config import BodyLimits

UPLOADS: tuple[tuple[str, re.Pattern[str], str], ...] = (
    ("POST", re.compile(r"/api/v1/persons/[^/]+/faces"), "faces"),
    ("POST", re.compile(r"/api/v1/reports"), "reports"),
    ("POST", re.compile(r"/api/v1/vendors/[^/]+/[^/]+/[^/]+"), "vendors"),
    ("POST", re.compile(r"/api/v1/devices/import"), "devices_import"),
    ("PUT", re.compile(r"/api/v1/rules/files/[^/]+"), "rules"),
    ("POST", re.compile(r"/api/v1/rules/check"), "rules"),
)
"""(method, path, the `api.body_limits` key): the routes allowed more than the default."""

Refusal = tuple[int, str, dict[str, str]]
"""An answer instead of the route's: status, `detail`, further headers."""
UNAUTHORIZED_ANSWER: Refusal = (401, str(UNAUTHORIZED.detail), dict(UNAUTHORIZED.headers or {}))
"""The routes' own 401 (`api.deps.UNAUTHORIZED`), as a refusal of the middleware."""
TokenCheck = Callable[[Scope], Awaitable[Refusal | None]]
"""The refusal for the caller of a request, or None when its token is valid."""


class BodyTooLarge(HTTPException):
    """Raised from `receive` when a streamed body passes its limit; FastAPI answers it like any HTTPException."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, too_large(limit))


def too_large(limit: int) -> str:
    return f"the request body is larger than this route accepts ({limit} bytes)"


def route_limit(limits: BodyLimits, method: str, path: str) -> tuple[int, bool]:
    """The body limit for a request, and whether it is an upload route (larger than the default)."""
    for route_method, pattern, key in UPLOADS:
        if method == route_method and pattern.fullmatch(path):
            return max(limits.default, getattr(limits, key)), True
    return limits.default, False


class RequestLimits:
    """Pure ASGI middleware: refuses oversized bodies with 413 before they are read."""

    def __init__(self, app: ASGIApp, limits: BodyLimits, token_check: TokenCheck) -> None:
        self.app = app
        self.limits = limits
        self.token_check = token_check

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            transport = getattr(getattr(send, "__self__", None), "transport", None)
            if transport is not None and hasattr(transport, "abort"):
                scope[TRANSPORT_KEY] = transport
            await self.app(scope, receive, send)
            return
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit, upload = route_limit(self.limits, scope["method"], scope["path"])
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await _answer(send, 413, too_large(limit))
            return
        if upload and (declared is None or declared > self.limits.default):
            refusal = await self.token_check(scope)  # a large body only for a caller known to be allowed in
            if refusal is not None:
                await _answer(send, *refusal)
                return
        await self._counted(scope, receive, send, limit)

    async def _counted(self, scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        received = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        async def watching_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, watching_send)
        except BodyTooLarge:
            if started:
                raise
            await _answer(send, 413, too_large(limit))


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            text = value.decode("latin-1").strip()
            return int(text) if text.isdigit() else None
    return None


async def _answer(send: Send, status: int, detail: str, extra: dict[str, str] | None = None) -> None:
    """A JSON error, with the security headers, closing the connection (the body, if any, is left unread)."""
    body = orjson.dumps({"detail": detail})
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
               (b"connection", b"close"), (b"cache-control", b"no-store"),
               *((k.lower().encode(), v.encode()) for k, v in {**HEADERS, **(extra or {})}.items())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def token_check(services: Callable[[], Any]) -> TokenCheck:
    """The check `RequestLimits` runs before reading a large upload: the same token rules as every route (valid,
    not revoked, not expired; wrong ones count towards the address's rate limit), without the permission."""

    async def check(scope: Scope) -> Refusal | None:
        svc = services()
        token = _bearer(scope)
        if not token:
            return UNAUTHORIZED_ANSWER
        address = scope["client"][0] if scope.get("client") else "?"

        def refusal() -> Refusal | None:
            try:
                with svc.sessions() as session:
                    who = caller(svc, session, token, address)
            except Blocked as blocked:
                return 429, str(blocked), {"Retry-After": str(blocked.wait)}
            return None if who is not None else UNAUTHORIZED_ANSWER

        return await asyncio.to_thread(refusal)

    return check


def _bearer(scope: MutableMapping[str, Any]) -> str | None:
    """The token of a request: the Authorization header, or `?token=` (cameras that cannot set headers)."""
    for name, value in scope["headers"]:
        if name == b"authorization":
            text = value.decode("latin-1")
            if text[:7].lower() == "bearer ":
                return text[7:].strip()
    values = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("token")
    return values[0] if values else None
