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
from typing import Any, cast

from sqlalchemy import CursorResult, delete, or_, select
from sqlalchemy.orm import Session

from kernel.db.models import ApiToken, Grid, LoginLink

TOKEN_PREFIX = "anju_"
LAST_USED_EVERY = timedelta(minutes=1)
"""`last_used_at` is written at most this often per token: a write per request would cost more than the request."""
LOGIN_LINK_TTL = timedelta(hours=24)
"""A one-time console login link works this long, if nobody has used it before."""


class Role(StrEnum):
    PATROL = "patrol"
    MAINTENANCE = "maintenance"
    INTEGRATOR = "integrator"
    OFFICE = "office"
    """The community office (社区办公室): reports and the monthly bulletin, every alert read-only."""
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
    COMMANDS_SEND = "commands:send"
    """Everyday commands to devices: open or lock a gate, make an elder's button beep (SPEC §5)."""
    COMMANDS_SECURITY = "commands:security"
    """Commands that weaken protection: disarming a fence zone."""
    ROUNDS_CHECK_IN = "rounds:checkin"
    """Check in at patrol points (the patrol member's phone)."""
    REPORTS_WRITE = "reports:write"
    """Raise an alert from the field (what, where, a photo)."""
    REPORTS_READ = "reports:read"
    """The office's figures: response times, dispositions, the monthly bulletin (docs/office.md)."""
    ALERTS_AMEND = "alerts:amend"
    """Correct how a resolved alert ended (its disposition), with the reason in its history."""


P = Permission
ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.PATROL: frozenset({P.ALERTS_READ, P.ALERTS_HANDLE, P.DEVICES_READ, P.CONFIG_READ, P.SNAPSHOTS_READ,
                            P.COMMANDS_SEND, P.ROUNDS_CHECK_IN, P.REPORTS_WRITE}),
    Role.MAINTENANCE: frozenset({P.ALERTS_READ, P.ALERTS_HANDLE, P.DEVICES_READ, P.READINGS_READ, P.MESSAGES_READ,
                                 P.SILENCES_WRITE, P.CONFIG_READ, P.METRICS_READ, P.SNAPSHOTS_READ,
                                 P.COMMANDS_SEND, P.COMMANDS_SECURITY, P.REPORTS_WRITE}),
    Role.INTEGRATOR: frozenset({P.ALERTS_READ, P.DEVICES_READ, P.DEVICES_WRITE, P.READINGS_READ, P.MESSAGES_READ,
                                P.CONFIG_READ, P.METRICS_READ, P.COMMANDS_SEND, P.COMMANDS_SECURITY}),
    Role.OFFICE: frozenset({P.ALERTS_READ, P.REPORTS_READ, P.DEVICES_READ, P.READINGS_READ, P.CONFIG_READ}),
    Role.ADMIN: frozenset(Permission),
}


@dataclass(frozen=True, slots=True)
class Principal:
    """The caller of one request."""

    name: str
    role: Role
    grids: frozenset[str] | None = None
    """The grids a patrol user (or an office token naming some) covers; None means every grid."""
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
        team_grids: list[str] = []
        if row.team_id:
            team_grids = list(session.scalars(select(Grid.id).where(Grid.team_id == row.team_id)))
        grids = frozenset([*(row.grids or []), *team_grids])
    elif role is Role.OFFICE and row.grids:  # a street's office over some grids; without grids, every grid
        grids = frozenset(row.grids)
    return Principal(row.name, role, grids, row.team_id, row.id)


def issue_login_link(session: Session, token_id: int, token: str, now: datetime) -> str:
    """A one-time code that logs the console in as `token` (`/console/#login=<code>`; the caller commits).

    A login link ends up in the browser's list of visited pages whatever the console does (no page can
    remove it), so the link carries this code, not the token: used once (or expired after `LOGIN_LINK_TTL`)
    it opens nothing. The row keeps the token sealed with the code and the code only as a hash, so the
    database alone yields neither.
    """
    session.execute(delete(LoginLink).where(LoginLink.expires_at <= now))  # links nobody used: gone when stale
    code = secrets.token_urlsafe(32)
    session.add(LoginLink(code_hash=hash_token(code), token_id=token_id, sealed=_seal(token.encode("utf-8"), code),
                          created_at=now, expires_at=now + LOGIN_LINK_TTL))
    return code


def redeem_login_link(session: Session, code: str, now: datetime) -> str | None:
    """The token of a login code, once: the link is deleted by its first use, and an expired one opens nothing,
    nor does one whose token has been revoked or has expired meanwhile (the caller commits)."""
    if not code or len(code) > 128:
        return None
    digest = hash_token(code)
    found = session.execute(select(LoginLink.token_id, LoginLink.sealed, LoginLink.expires_at)
                            .where(LoginLink.code_hash == digest)).one_or_none()
    if found is None:
        return None
    token_id, sealed, expires_at = found
    taken = cast("CursorResult[Any]", session.execute(delete(LoginLink).where(LoginLink.code_hash == digest))).rowcount
    if taken != 1 or expires_at <= now:
        return None  # used meanwhile by another request, or expired
    token = _seal(sealed, code).decode("utf-8", errors="replace")
    valid = session.scalar(select(ApiToken.id).where(
        ApiToken.id == token_id, ApiToken.token_hash == hash_token(token), ApiToken.revoked_at.is_(None),
        or_(ApiToken.expires_at.is_(None), ApiToken.expires_at > now)))
    return token if valid is not None else None


def _seal(data: bytes, code: str) -> bytes:
    """`data` XOR a keystream from the code (SHAKE-256): the code's 256 random bits are used once, for one token,
    so this is a one-time pad; the same call unseals."""
    stream = hashlib.shake_256(b"anju login link\x00" + code.encode("utf-8")).digest(len(data))
    return bytes(a ^ b for a, b in zip(data, stream, strict=True))
