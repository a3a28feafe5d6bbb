"""API tokens (admin only): create one per person or integration, list them, revoke them."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path, status
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.auth import Permission, Principal, Role, hash_token, issue_login_link, new_token
from api.deps import DB, Svc, errors, require
from kernel.db.models import ApiToken, Grid, PatrolTeam
from kernel.timeutil import utcnow

router = APIRouter(prefix="/tokens", tags=["tokens"])
Admin = Annotated[Principal, Depends(require(Permission.TOKENS))]
GridId = Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")]


class TokenIn(BaseModel):
    name: str = Field(min_length=1, max_length=200, description="who uses it: shown in alert histories")
    role: Role
    grids: list[GridId] | None = Field(default=None, max_length=1000,
                                       description="patrol (these or `team`) and office (optional): the grids covered")
    team: str | None = Field(default=None, max_length=64, description="patrol: the team, whose grids are covered")
    expires_days: int | None = Field(default=None, ge=1, le=3650)
    login_link: bool = Field(default=False, description="also answer a one-time console login link for it")


class TokenOut(BaseModel):
    id: int
    name: str
    role: Role
    grids: list[str] | None
    team: str | None
    created_at: datetime
    created_by: str | None
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None


class NewToken(TokenOut):
    token: str = Field(description="the bearer token itself: shown once, stored only as a hash")
    login_link: str | None = Field(default=None, description="with `login_link: true`: `/console/#login=<code>`, "
                                   "which logs the console in once, within 24 h (append it to the server's address)")


def _out(row: ApiToken) -> TokenOut:
    return TokenOut(id=row.id, name=row.name, role=Role(row.role), grids=row.grids, team=row.team_id,
                    created_at=row.created_at, created_by=row.created_by, expires_at=row.expires_at,
                    revoked_at=row.revoked_at, last_used_at=row.last_used_at)


def issue_token(session: Session, body: TokenIn, created_by: str | None) -> tuple[ApiToken, str]:
    """Create a token row and return it with the secret (used by the API and by `anju demo`)."""
    if body.role is Role.PATROL and not body.grids and not body.team:
        raise ValueError("a patrol token needs `grids` or a `team`: patrol users see the alerts of their grids")
    if body.team is not None and session.get(PatrolTeam, body.team) is None:
        raise ValueError(f"no team {body.team!r}")
    for grid in body.grids or []:
        if session.get(Grid, grid) is None:
            raise ValueError(f"no grid {grid!r}")
    now = utcnow()
    secret = new_token()
    row = ApiToken(name=body.name.strip(), role=body.role.value, token_hash=hash_token(secret), team_id=body.team,
                   grids=body.grids, created_at=now, created_by=created_by,
                   expires_at=now + timedelta(days=body.expires_days) if body.expires_days else None)
    session.add(row)
    session.flush()
    return row, secret


@router.post("", response_model=NewToken, status_code=status.HTTP_201_CREATED, responses=errors(422))
def create_token(body: TokenIn, session: DB, who: Admin) -> NewToken:
    try:
        row, secret = issue_token(session, body, who.name)
    except ValueError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None
    link = login_path(issue_login_link(session, row.id, secret, utcnow())) if body.login_link else None
    session.commit()
    return NewToken(**_out(row).model_dump(), token=secret, login_link=link)


def login_path(code: str) -> str:
    """The console's address for a one-time login code (the fragment never reaches the server's logs)."""
    return f"/console/#login={code}"


@router.get("", response_model=list[TokenOut], responses=errors())
def list_tokens(session: DB, _who: Admin) -> list[TokenOut]:
    return [_out(r) for r in session.scalars(select(ApiToken).order_by(ApiToken.id))]


@router.delete("/{token_id}", response_model=TokenOut, responses=errors(404, 422))
def revoke_token(token_id: Annotated[int, Path(ge=1, le=2**62)], svc: Svc, session: DB, _who: Admin) -> TokenOut:
    """Revoke at once: the next request with this token is refused, and its live streams are closed (1008) at
    once in this process, within seconds in the others (api/tokenwatch.py)."""
    row = session.get(ApiToken, token_id)
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no token {token_id}")
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        session.commit()
    if svc.token_watch is not None:
        svc.token_watch.check_now()
    return _out(row)
