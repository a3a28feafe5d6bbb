"""Silences and maintenance windows: known noise is recorded without waking anybody.

A silence names what it covers (site, grid, device and/or rule: at least one,
so nobody silences a whole city by accident), who set it, why, and when it
ends. It never applies to rules marked `silenceable: false` — an elder's SOS
and a cut fence always reach a person, and the safety floor (`rules.floor`)
keeps it so — and asking to silence such a rule is refused outright rather
than quietly ignored.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta

from sqlalchemy import bindparam, or_, select
from sqlalchemy.orm import Session

from alerting.alerts import AlertError, AlertSpec
from kernel.db.models import Silence
from rules import floor
from rules.schema import Rule

MAX_LENGTH = timedelta(days=30)
"""Longer silences are refused: a device that must be ignored for months should be disabled, not silenced."""


class SilenceRefused(AlertError):
    pass


def create_silence(session: Session, rules: Mapping[str, Rule], *, owner: str, reason: str, ends_at: datetime,
                   now: datetime, starts_at: datetime | None = None, kind: str = "silence",
                   site: str | None = None, grid: str | None = None, device: str | None = None,
                   rule: str | None = None) -> Silence:
    if not owner.strip() or not reason.strip():
        raise SilenceRefused("a silence needs an owner and a reason")
    if kind not in ("silence", "maintenance"):
        raise SilenceRefused("kind must be 'silence' or 'maintenance'")
    if not any((site, grid, device, rule)):
        raise SilenceRefused("a silence must name at least a site, grid, device or rule")
    if rule is not None:
        known = rules.get(rule)
        if floor.is_floor(rule):  # whatever the rule set in hand says: the floor is never silenced
            name = f" ({known.name})" if known is not None else ""
            raise SilenceRefused(f"rule {rule!r}{name} can never be silenced: it is part of the safety floor "
                                 f"({floor.DOC})")
        if known is None:
            raise SilenceRefused(f"no rule {rule!r}")
        if not known.silenceable:
            raise SilenceRefused(f"rule {rule!r} ({known.name}) can never be silenced")
    starts_at = starts_at or now
    if ends_at <= starts_at:
        raise SilenceRefused("a silence must end after it starts")
    if ends_at - starts_at > MAX_LENGTH:
        raise SilenceRefused(f"a silence may last at most {MAX_LENGTH.days} days")
    silence = Silence(kind=kind, site_id=site, grid_id=grid, device_id=device, rule=rule, owner=owner.strip(),
                      reason=reason.strip(), starts_at=starts_at, ends_at=ends_at, created_at=now)
    session.add(silence)
    session.flush()
    return silence


_ACTIVE = (
    select(Silence.__table__.c.id)
    .where(Silence.starts_at <= bindparam("now"), Silence.ends_at > bindparam("now"))
    .where(or_(Silence.site_id.is_(None), Silence.site_id == bindparam("site")))
    .where(or_(Silence.grid_id.is_(None), Silence.grid_id == bindparam("grid")))
    .where(or_(Silence.device_id.is_(None), Silence.device_id == bindparam("device")))
    .where(or_(Silence.rule.is_(None), Silence.rule == bindparam("rule")))
    .order_by(Silence.ends_at.desc())
    .limit(1)
)
"""Built once and run as Core: asked for every alert raised, it showed in profiles of camera-heavy traffic."""


def matching_silence(session: Session, spec: AlertSpec, now: datetime) -> int | None:
    """The id of the active silence covering this alert, if any (never for a non-silenceable rule)."""
    if not spec.silenceable:
        return None
    return session.connection().scalar(_ACTIVE, {"now": now, "site": spec.site, "grid": spec.grid,
                                                 "device": spec.device_id, "rule": spec.rule})
