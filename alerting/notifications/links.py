"""Signed, expiring one-tap links to an alert (SPEC §6).

A message leaves Anju for a chat group, a mailbox or a phone; its link must open the alert without a token
(the family has none) yet be useless once it expires or if altered. An HMAC-SHA256 (truncated to 72 bits) over
the alert id, the expiry and the action, packed in 22 characters, keyed with a secret every process shares: the
configured `notifications.link_secret`, else one Anju makes once and keeps in the database (table `secrets`).

`act` marks a link sent to someone on duty (a patrol member, a maintenance contact): opened in a console that
holds a token allowed to handle alerts, it acknowledges the alert in that one tap.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from kernel.db.models import SecretRow

KEY_NAME = "notification_link_key"


def link_key(session: Session, configured: str | None) -> bytes:
    """The signing key: the configured secret, else the stored one (made by the first process that asks)."""
    if configured:
        return configured.encode()
    stored = session.scalar(select(SecretRow.value).where(SecretRow.name == KEY_NAME))
    if stored is None:
        try:
            with session.begin_nested():
                session.add(SecretRow(name=KEY_NAME, value=secrets.token_urlsafe(32)))
        except IntegrityError:  # another process made it at the same moment: use theirs
            pass
        stored = session.scalar(select(SecretRow.value).where(SecretRow.name == KEY_NAME))
    assert stored is not None
    return stored.encode()


SHORT_PATH = "/n/"
"""Where a link lands, `{public_url}/n/<token>`: short enough for an SMS template's variable (Alibaba Cloud allows
about 35 characters). The API checks it and sends the browser on to the console (api/routers/notify.py)."""
EPOCH = 1_767_225_600
"""2026-01-01T00:00Z: expiries are counted in minutes from it, in 3 bytes (until 2057)."""
MAC_BYTES = 9
"""72 bits of HMAC: forging a link by guessing takes 2^71 tries, each one a request the rate limiter counts."""


def short_token(key: bytes, alert: int, expires: datetime, act: bool) -> str:
    """`alert`, the expiry (minutes) with `act` in its low bit, and a truncated HMAC-SHA256, in base64url."""
    minutes = max(0, int(expires.timestamp() - EPOCH) // 60)
    body = _varint(alert) + ((minutes << 1) | int(act)).to_bytes(4, "big")
    mac = hmac.new(key, b"anju-short:" + body, hashlib.sha256).digest()[:MAC_BYTES]
    return base64.urlsafe_b64encode(body + mac).decode().rstrip("=")


@dataclass(frozen=True, slots=True)
class Refused:
    reason: str
    genuine: bool
    """Signed by us but expired (a person's late tap, not an attack: not counted against the address)."""


@dataclass(frozen=True, slots=True)
class Opened:
    """A short link read back: the alert, whether it acknowledges, and until when it is valid."""

    alert: int
    act: bool
    expires: datetime


def read_short(key: bytes, token: str, now: datetime) -> Opened | Refused:
    """The link's alert and action, or why it does not open (tampered, expired, not a link)."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        body, mac = raw[:-MAC_BYTES], raw[-MAC_BYTES:]
        alert, rest = _unvarint(body)
    except (ValueError, IndexError):
        return Refused("this link is incomplete or damaged: open it again from the message", genuine=False)
    good = hmac.new(key, b"anju-short:" + body, hashlib.sha256).digest()[:MAC_BYTES]
    if len(rest) != 4 or not hmac.compare_digest(good, mac):
        return Refused("this link is not valid (altered or from another installation)", genuine=False)
    packed = int.from_bytes(rest, "big")
    expires = datetime.fromtimestamp(EPOCH + (packed >> 1) * 60, tz=UTC)
    if now > expires:
        return Refused("this link has expired: open the console and sign in", genuine=True)
    return Opened(alert, bool(packed & 1), expires)


def short_url(base: str, token: str) -> str:
    return f"{base.rstrip('/')}{SHORT_PATH}{token}"


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _unvarint(data: bytes) -> tuple[int, bytes]:
    value = shift = 0
    for i, byte in enumerate(data[:9]):
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, data[i + 1:]
        shift += 7
    raise ValueError("not a varint")

