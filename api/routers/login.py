"""One-time console login links: `POST /api/v1/login` trades the code of a `/console/#login=<code>` link for its
token, once.

The only route besides `/healthz` that takes no token: the code is the credential
(256 random bits, used once, expiring), and wrong codes count towards the same
per-address limit as wrong tokens (api/ratelimit.py).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Request, status
from pydantic import BaseModel, Field

from api.auth import redeem_login_link
from api.deps import DB, Svc
from api.schemas import ErrorBody
from kernel.timeutil import utcnow

router = APIRouter(prefix="/login", tags=["tokens"])


class LoginIn(BaseModel):
    code: str = Field(min_length=1, max_length=128, description="the `#login=` part of a login link")


class LoginOut(BaseModel):
    token: str = Field(description="the bearer token the link was made for")


REFUSED: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorBody, "description": "the body is not parseable (not JSON, wrong encoding)"},
    401: {"model": ErrorBody, "description": "the code is unknown, used or expired"},
    422: {"model": ErrorBody, "description": "the request is not valid"},
    429: {"model": ErrorBody, "description": "too many wrong codes or tokens from this address"},
}


@router.post("", response_model=LoginOut, responses=REFUSED)
def login(body: LoginIn, request: Request, svc: Svc, session: DB) -> LoginOut:
    """The token of a one-time login link (`POST /api/v1/tokens` with `login_link: true`, or `anju demo`): the
    link works once, so the address left in the browser's history opens nothing."""
    address = request.client.host if request.client else "?"
    wait = svc.failed_auth.retry_after(address)
    if wait:
        raise HTTPException(status.HTTP_429_TOO_MANY_REQUESTS, f"too many wrong codes from this address; retry "
                            f"in {wait} s", headers={"Retry-After": str(wait)})
    token = redeem_login_link(session, body.code, utcnow())
    session.commit()
    if token is None:
        svc.failed_auth.failed(address)
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "this login link is unknown, used or expired; ask for "
                            "a new one, or log in with the token")
    return LoginOut(token=token)
