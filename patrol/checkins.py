"""Check-ins: a patrol member at a point, from the phone (QR scan, NFC tap, or the code typed in).

The rules, in order (`check_in`):

- **Once per scan.** The phone makes a `client_id` for each scan and sends it until it is answered; a check-in
  already stored with that id is answered as it was (a resend after a lost answer, or the offline queue sending
  again), never stored twice. The unique index decides between two concurrent sends.
- **The code proves presence.** It must be the point's code (from its QR code) or, for an NFC tap, the point's
  `nfc_tag` (the tag's serial number; a tag may also carry the QR code's link, which is then its code).
- **The phone's clock, bounded.** `at` is when it was scanned (the phone may send hours later, after being
  offline): believed if it is not more than `SKEW` ahead of the server's clock (then it is the server's time,
  and the answer says so) nor older than `MAX_AGE` (refused: a check-in a day old proves nothing about a round).
- **Its round.** It belongs to the round of the member's team (or of a route without a team) that contains the
  point and was running at `at` (start ≤ at ≤ due): the first such round in which the point is not checked yet.
  A round whose start has come is made first, so the first scan never waits for the keeper's tick. With no such
  round it is recorded as a check-in outside a round. When it checks the round's last point, the round is
  completed.
"""

from __future__ import annotations

import hmac
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from kernel.db.models import PatrolCheckin, PatrolPoint, PatrolRound, PatrolRoute
from patrol.rounds import COMPLETED, INCOMPLETE, OPEN, checked_points, complete_if_done, open_due_rounds, round_points

SKEW = timedelta(minutes=1)
"""How far ahead of the server a phone's clock may be before its `at` is replaced by the server's time."""
MAX_AGE = timedelta(hours=24)
"""A check-in scanned longer ago than this is refused."""
METHODS = ("qr", "nfc", "manual")


class CheckinRefused(ValueError):
    """A check-in that cannot be accepted; `status` is the HTTP answer (404 unknown point, 409, 422)."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status


@dataclass(slots=True)
class CheckinRequest:
    point: str | None
    """None only for an NFC tap, found by its tag."""
    code: str
    client_id: str
    at: datetime
    method: str = "qr"


@dataclass(slots=True)
class CheckinResult:
    checkin: PatrolCheckin
    created: bool
    """False: the same `client_id` had been stored before (a resend); nothing was changed."""
    round: PatrolRound | None
    completed: bool
    """This check-in completed its round."""
    note: str | None = None
    """Why `at` is not what the phone sent (its clock was ahead)."""


def _tag(text: str) -> str:
    return "".join(ch for ch in text.lower() if ch.isalnum())


def find_point(session: Session, request: CheckinRequest) -> PatrolPoint:
    if request.point is not None:
        point = session.get(PatrolPoint, request.point)
        if point is None:
            raise CheckinRefused(404, f"no patrol point {request.point}")
        return point
    if request.method != "nfc":
        raise CheckinRefused(422, "a check-in names its point (only an NFC tap may be found by its tag)")
    tag = _tag(request.code)
    found = [p for p in session.scalars(select(PatrolPoint).where(PatrolPoint.nfc_tag.is_not(None)))
             if tag and _tag(p.nfc_tag or "") == tag]
    if len(found) != 1:
        raise CheckinRefused(404 if not found else 409,
                             "no patrol point has this NFC tag" if not found else "several points have this NFC tag")
    return found[0]


def code_matches(point: PatrolPoint, code: str, method: str) -> bool:
    if hmac.compare_digest(code.encode("utf-8"), point.code.encode("utf-8")):
        return True
    return method == "nfc" and bool(point.nfc_tag) and bool(_tag(code)) and hmac.compare_digest(
        _tag(code).encode("utf-8"), _tag(point.nfc_tag or "").encode("utf-8"))


def bounded_time(at: datetime, now: datetime) -> tuple[datetime, str | None]:
    """The check-in's time: the phone's within the bounds (see the module's docstring), else refused."""
    if at < now - MAX_AGE:
        raise CheckinRefused(422, f"scanned at {at.isoformat()}, more than {int(MAX_AGE.total_seconds() // 3600)} h "
                                  "ago: too old to count for a round")
    if at > now + SKEW:
        return now, f"the phone's clock was {int((at - now).total_seconds())} s ahead: the server's time is used"
    return min(at, now), None


def find_round(session: Session, point: PatrolPoint, at: datetime, teams: Collection[str] | None) -> PatrolRound | None:
    """The round this check-in counts for (see the module's docstring), locked for the update."""
    query = select(PatrolRound).where(PatrolRound.site_id == point.site_id, PatrolRound.starts_at <= at,
                                      PatrolRound.due_at >= at, PatrolRound.state.in_((OPEN, INCOMPLETE)))
    if teams is not None:
        query = query.where(or_(PatrolRound.team_id.is_(None), PatrolRound.team_id.in_(sorted(teams))))
    rounds = [r for r in session.scalars(query.order_by(PatrolRound.starts_at, PatrolRound.id))
              if point.id in round_points(r)]
    if not rounds:
        return None
    checked = checked_points(session, [r.id for r in rounds])
    chosen = next((r for r in rounds if point.id not in checked.get(r.id, {})), rounds[-1])
    return session.scalars(select(PatrolRound).where(PatrolRound.id == chosen.id).with_for_update()).one()


def check_in(session: Session, request: CheckinRequest, member: str, team: str | None,
             teams: Collection[str] | None, now: datetime) -> CheckinResult:
    """Record a check-in by `member` (the token's name; `team`: its team, recorded) who walks the rounds of
    `teams` (None: any round). The caller commits."""
    if request.method not in METHODS:
        raise CheckinRefused(422, f"method must be one of {', '.join(METHODS)}")
    again = _stored(session, request.client_id, member)
    if again is not None:
        return again
    point = find_point(session, request)
    if not code_matches(point, request.code, request.method):
        raise CheckinRefused(422, f"this is not the code of point {point.id} (a code reprinted since?)")
    at, note = bounded_time(request.at, now)
    routes = [r.id for r in session.scalars(select(PatrolRoute).where(PatrolRoute.site_id == point.site_id,
                                                                      PatrolRoute.enabled.is_(True)))
              if any(isinstance(p, dict) and p.get("point") == point.id for p in r.points or [])]
    if routes:
        open_due_rounds(session, now, routes)
    round_ = find_round(session, point, at, teams)
    row = PatrolCheckin(client_id=request.client_id, round_id=round_.id if round_ is not None else None,
                        point_id=point.id, site_id=point.site_id, member=member[:200], team_id=team, at=at,
                        received_at=now, method=request.method)
    try:
        with session.begin_nested():
            session.add(row)
            session.flush()
    except IntegrityError:  # the same scan sent twice at once: the other send stored it
        again = _stored(session, request.client_id, member)
        if again is None:
            raise
        return again
    completed = complete_if_done(session, round_, now) if round_ is not None else False
    session.flush()
    return CheckinResult(row, True, round_, completed, note)


def _stored(session: Session, client_id: str, member: str) -> CheckinResult | None:
    row = session.scalars(select(PatrolCheckin).where(PatrolCheckin.client_id == client_id)).one_or_none()
    if row is None:
        return None
    if row.member != member[:200]:
        raise CheckinRefused(409, "this client_id was used by another member's check-in")
    round_ = session.get(PatrolRound, row.round_id) if row.round_id is not None else None
    return CheckinResult(row, False, round_, False)


__all__ = ["COMPLETED", "MAX_AGE", "SKEW", "CheckinRefused", "CheckinRequest", "CheckinResult", "check_in"]
