"""Who is calling: bearer tokens, roles and what each role may do.

Tokens are long random strings, so they are stored as a SHA-256 digest: a leaked
database gives nobody a working token, and a fast hash is safe because there is
nothing to brute-force. `ANJU_API__ADMIN_TOKEN` is compared the same way and is
never written to the database. The permission table below is the one in
docs/api.md (a test checks that they agree).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from anju.db.models import ApiToken, Grid

TOKEN_PREFIX = "anju_"
LAST_USED_EVERY = timedelta(minutes=1)
"""`last_used_at` is written at most this often per token: a write per request would cost more than the request."""


class Role(StrEnum):
    PATROL = "patrol"
    MAINTENANCE = "maintenance"
    INTEGRATOR = "integrator"
    ADMIN = "admin"


class Permission(StrEnum):
    ALERTS_READ = "alerts:read"
    ALERTS_HANDLE = "alerts:handle"
    DEVICES_READ = "devices:read"
    DEVICES_WRITE = "devices:write"
    READINGS_READ = "readings:read"
    MESSAGES_READ = "messages:read"
    """Raw device messages, dead letters, the device contract: what an integrator debugs with."""
    SILENCES_WRITE = "silences:write"
    CONFIG_READ = "config:read"
    CONFIG_WRITE = "config:write"
    PERSONS_READ = "persons:read"
    PERSONS_WRITE = "persons:write"
    SNAPSHOTS_READ = "snapshots:read"
    """Camera pictures (personal data): every view is audited."""
    AUDIT_READ = "audit:read"
    TOKENS = "tokens"
    METRICS_READ = "metrics:read"


P = Permission
ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.PATROL: frozenset({P.ALERTS_READ, P.ALERTS_HANDLE, P.DEVICES_READ, P.CONFIG_READ, P.SNAPSHOTS_READ}),
    Role.MAINTENANCE: frozenset({P.ALERTS_READ, P.ALERTS_HANDLE, P.DEVICES_READ, P.READINGS_READ, P.MESSAGES_READ,
                                 P.SILENCES_WRITE, P.CONFIG_READ, P.METRICS_READ, P.SNAPSHOTS_READ}),
    Role.INTEGRATOR: frozenset({P.ALERTS_READ, P.DEVICES_READ, P.DEVICES_WRITE, P.READINGS_READ, P.MESSAGES_READ,
                                P.CONFIG_READ, P.METRICS_READ}),
    Role.ADMIN: frozenset(Permission),
}


@dataclass(frozen=True, slots=True)
class Principal:
    """The caller of one request."""

    name: str
    role: Role
    grids: frozenset[str] | None = None
    """The grids a patrol user covers; None means every grid (every other role)."""
    team_id: str | None = None
    token_id: int | None = None

    def can(self, permission: Permission) -> bool:
        return permission in ROLE_PERMISSIONS[self.role]


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_token() -> str:
    """A fresh bearer token: 256 random bits, prefixed so a leaked one is recognisable in logs and scanners."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def authenticate(session: Session, token: str, admin_token: str | None, now: datetime) -> Principal | None:
    """The principal for a presented token, or None (unknown, revoked or expired)."""
    if not token or len(token) > 512:
        return None
    digest = hash_token(token)
    if admin_token and hmac.compare_digest(digest, hash_token(admin_token)):
        return Principal("admin", Role.ADMIN)
    row = session.scalars(select(ApiToken).where(
        ApiToken.token_hash == digest, ApiToken.revoked_at.is_(None),
        or_(ApiToken.expires_at.is_(None), ApiToken.expires_at > now),
    )).one_or_none()
    if row is None:
        return None
    if row.last_used_at is None or now - row.last_used_at >= LAST_USED_EVERY:
        row.last_used_at = now
        session.commit()
    role = Role(row.role)
    grids = None
    if role is Role.PATROL:
        team_grids = session.scalars(select(Grid.id).where(Grid.team_id == row.team_id)) if row.team_id else []
        grids = frozenset([*(row.grids or []), *team_grids])
    return Principal(row.name, role, grids, row.team_id, row.id)
