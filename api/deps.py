"""FastAPI dependencies: the services behind the API, a database session, and the caller's permission."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Depends, HTTPException, Request, WebSocket, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session, sessionmaker

from api.auth import Permission, Principal, authenticate
from api.ratelimit import FailedAuth
from kernel.config import Settings
from kernel.timeutil import utcnow

if TYPE_CHECKING:
    from alerting.engine import RuleEngine
    from api.stream import AlertStreamHub, MessageTap
    from api.tokenwatch import TokenWatch
    from gateway.service import Gateway


@dataclass
class Services:
    """What the routers use, built once by `create_app`."""

    settings: Settings
    sessions: sessionmaker[Session]
    gateway: Gateway
    engine: RuleEngine
    alerts: AlertStreamHub
    tap: MessageTap
    failed_auth: FailedAuth = field(default_factory=lambda: FailedAuth(0))
    token_watch: TokenWatch | None = None
    """Ends live streams whose token is revoked or expires (api/tokenwatch.py)."""


def services(request: Request) -> Services:
    return request.app.state.services


def db(request: Request) -> Iterator[Session]:
    with services(request).sessions() as session:
        yield session


DB = Annotated[Session, Depends(db)]
Svc = Annotated[Services, Depends(services)]

BEARER = HTTPBearer(auto_error=False, description="A token from `POST /api/v1/tokens`, or ANJU_API__ADMIN_TOKEN")

UNAUTHORIZED = HTTPException(status.HTTP_401_UNAUTHORIZED, "a valid bearer token is required",
                             headers={"WWW-Authenticate": "Bearer"})


def require(permission: Permission) -> Callable[..., Principal]:
    """A dependency that authenticates the caller and checks one permission (401 without a token, 403 without it)."""

    def check(request: Request, session: DB,
              credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(BEARER)]) -> Principal:
        return permitted(request, session, bearer_token(credentials), permission)

    check.permission = permission  # type: ignore[attr-defined]  # read by the role-matrix test and docs
    return check


def bearer_token(credentials: HTTPAuthorizationCredentials | None) -> str | None:
    return credentials.credentials if credentials is not None and credentials.scheme.lower() == "bearer" else None


class Blocked(Exception):
    """The address sent too many wrong tokens: it is refused for `wait` seconds whatever token it sends."""

    def __init__(self, wait: int) -> None:
        super().__init__(f"too many wrong tokens from this address; retry in {wait} s")
        self.wait = wait


def caller(svc: Services, session: Session, token: str, address: str) -> Principal | None:
    """Who `token` is, asked from `address`; None for a wrong token, which counts against the address.

    The one check behind every way in (a route, a live stream, a large upload before its body is read), so
    the wrong-token limit cannot be dodged by choosing another. Raises `Blocked` while the address is blocked.
    """
    wait = svc.failed_auth.retry_after(address)
    if wait:
        raise Blocked(wait)
    who = authenticate(session, token, svc.settings.api.admin_token, utcnow())
    if who is None:
        svc.failed_auth.failed(address)
    return who


def permitted(request: Request, session: Session, token: str | None, permission: Permission) -> Principal:
    """The caller of `token` if it may do `permission`: 401 without a valid token, 403 without the permission."""
    if not token:
        raise UNAUTHORIZED
    try:
        who = caller(services(request), session, token, request.client.host if request.client else "?")
    except Blocked as blocked:
        raise HTTPException(status.HTTP_429_TOO_MANY_REQUESTS, str(blocked),
                            headers={"Retry-After": str(blocked.wait)}) from None
    if who is None:
        raise UNAUTHORIZED
    if not who.can(permission):
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"role {who.role} may not do this ({permission})")
    return who


async def accept_websocket(websocket: WebSocket, permission: Permission) -> Principal | None:
    """Authenticate, then accept; a caller without a valid token and `permission` is closed with 1008 (policy)."""
    who = await asyncio.to_thread(websocket_principal, websocket, permission)
    if who is None:
        await websocket.close(code=1008, reason=f"a valid token with {permission} is required")
        return None
    await websocket.accept()
    return who


def websocket_principal(websocket: WebSocket, permission: Permission) -> Principal | None:
    """Authenticate a WebSocket by `?token=` (browsers cannot set headers) or the Authorization header."""
    token = websocket.query_params.get("token")
    header = websocket.headers.get("authorization", "")
    if not token and header.lower().startswith("bearer "):
        token = header[7:].strip()
    if not token:
        return None
    svc: Services = websocket.app.state.services
    try:
        with svc.sessions() as session:
            who = caller(svc, session, token, websocket.client.host if websocket.client else "?")
    except Blocked:
        return None
    return who if who is not None and who.can(permission) else None


def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """The error answers a route can give, for its OpenAPI entry (every one is `{"detail": ...}`)."""
    from api.schemas import ErrorBody

    described = {400: "the body is not parseable (not JSON, wrong encoding)", 401: "no valid bearer token",
                 403: "the token's role may not do this", 404: "no such thing (or not visible to this caller)",
                 409: "the request conflicts with the current state", 422: "the request is not valid",
                 429: "too many wrong tokens from this address: retry after `Retry-After` seconds",
                 503: "busy or stopping: retry after `Retry-After` seconds"}
    return {code: {"model": ErrorBody, "description": described[code]} for code in (400, 401, 403, 429, *codes)}
