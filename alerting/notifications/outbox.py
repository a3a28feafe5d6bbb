"""The life of an outbox row: pending → sending (claimed under a lease) → delivered | pending again | failed.

Delivery is at least once and, in normal operation, exactly once:
- rows are written in the alert change's transaction (`plan`), so a crash before the commit leaves neither the
  change nor its notifications, and a crash after it leaves both;
- a sender claims due rows in a short transaction of its own (`FOR UPDATE SKIP LOCKED` on PostgreSQL, so
  workers in other processes pass over each other's rows; a compare-and-set on the row's state besides, which
  is what keeps SQLite's threads apart), sends outside any transaction, then records the outcome;
- a sender killed mid-send leaves its claim's lease, after which another claims the row again.

Every attempt goes into the alert's history (target as shown, channel, outcome, error).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.orm import Session

from alerting.alerts import record_step
from kernel.config import NotificationSettings
from kernel.db.engine import affected
from kernel.db.models import Alert, Notification


@dataclass(frozen=True, slots=True)
class Claimed:
    """A row a sender owns until `lease_until`."""

    id: int
    alert_id: int | None
    step: str
    level: int
    recipient: str
    role: str
    target: str
    shown: str
    channel: str
    attempts: int
    """Including the one this claim is for."""
    created_at: datetime


def claim(session: Session, worker: str, now: datetime, limit: int, lease: timedelta) -> list[Claimed]:
    """Take up to `limit` due rows (and rows whose sender's lease ran out); commit is the caller's.

    Rows whose alert no longer needs them are cancelled here, with a note in its history: anything about a
    resolved alert, and the family's message once somebody acknowledged within the wait.
    """
    rows = session.scalars(
        select(Notification)
        .where(or_(and_(Notification.state == "pending", Notification.due_at <= now),
                   and_(Notification.state == "sending", Notification.lease_until <= now)))
        .order_by(Notification.due_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    ).all()
    if not rows:
        return []
    alert_ids = {r.alert_id for r in rows if r.alert_id is not None}
    states = {alert_id: state for alert_id, state in
              session.execute(select(Alert.id, Alert.state).where(Alert.id.in_(alert_ids)))}
    claimed = []
    for row in rows:
        state = states.get(row.alert_id) if row.alert_id is not None else None
        reason = _not_needed(row, state)
        # Compare-and-set: on SQLite two threads may have read the same row; only one moves it.
        moved = affected(session.execute(
            update(Notification)
            .where(Notification.id == row.id, Notification.state == row.state,
                   Notification.attempts == row.attempts)
            .values(**({"state": "cancelled", "last_error": reason, "lease_until": None} if reason else
                       {"state": "sending", "claimed_by": worker, "lease_until": now + lease,
                        "attempts": row.attempts + 1}))
            .execution_options(synchronize_session=False)))
        if not moved:
            continue
        if reason:
            if row.alert_id is not None:
                record_step(session, row.alert_id, row.level, "notification_cancelled", now,
                            note=f"{row.recipient} ({row.shown}): not sent, {reason}")
            continue
        claimed.append(Claimed(row.id, row.alert_id, row.step, row.level, row.recipient, row.role, row.target,
                               row.shown, row.channel, row.attempts + 1, row.created_at))
    return claimed


def _not_needed(row: Notification, alert_state: str | None) -> str | None:
    if row.alert_id is None:
        return None
    if alert_state is None:
        return "the alert is gone"
    if alert_state == "resolved":
        return "the alert was resolved before it was sent"
    if row.condition == "unacknowledged" and alert_state != "open":
        return "the alert was acknowledged within the wait"
    return None


THROTTLED_FOR_AT_MOST = timedelta(hours=1)
"""A notification a provider keeps throttling is failed after this long (throttled attempts do not count)."""


def finish(session: Session, claimed: Claimed, worker: str, delivered: bool, error: str | None, retry: bool,
           now: datetime, settings: NotificationSettings, retry_after: float | None = None) -> str:
    """Record one attempt's outcome on the row and in the alert's history; returns delivered, retry or failed.

    `retry_after`: the channel was throttled (a bot's rate limit, our own spacing of one bot's messages): try
    again then, and the attempt does not count against `max_attempts` — a burst of alerts to one group must not
    exhaust the attempts of the last ones. For an hour at most."""
    if delivered:
        outcome, values = "delivered", {"state": "delivered", "delivered_at": now, "lease_until": None,
                                        "last_error": None}
    elif retry and retry_after is not None and now - claimed.created_at < THROTTLED_FOR_AT_MOST:
        outcome, values = "retry", {"state": "pending", "due_at": now + timedelta(seconds=max(retry_after, 0.1)),
                                    "lease_until": None, "last_error": error, "attempts": claimed.attempts - 1}
    elif retry and claimed.attempts < settings.max_attempts:
        backoff = min(settings.backoff_seconds * 2 ** (claimed.attempts - 1), settings.backoff_max_seconds)
        outcome, values = "retry", {"state": "pending", "due_at": now + timedelta(seconds=backoff),
                                    "lease_until": None, "last_error": error}
    else:
        outcome, values = "failed", {"state": "failed", "lease_until": None, "last_error": error}
    # Only while the claim is still ours: a sender slower than its lease lost the row to another, whose outcome
    # then stands; this attempt is still recorded in the history below.
    session.execute(update(Notification)
                    .where(Notification.id == claimed.id, Notification.claimed_by == worker,
                           Notification.state == "sending")
                    .values(**values).execution_options(synchronize_session=False))
    if claimed.alert_id is not None:
        note = f"{claimed.channel} → {claimed.recipient} ({claimed.shown}): {outcome}"
        if claimed.attempts > 1:
            note += f" (attempt {claimed.attempts})"
        if error and not delivered:
            note += f": {error}"
        record_step(session, claimed.alert_id, claimed.level, f"notification_{outcome}", now, note=note)
    return outcome


def pending_count(session: Session, now: datetime) -> int:
    """Rows due and not yet sent (the `anju_notifications_pending` gauge)."""
    return session.scalar(select(func.count()).select_from(Notification)
                          .where(Notification.state == "pending", Notification.due_at <= now)) or 0
