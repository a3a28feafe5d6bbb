"""Escalation up the responsibility chain, on the clock: grid → community → street → district.

"小事不出片区、大事不出社区": an alert climbs only while nobody acknowledges it.
Each level has a wait; when it runs out the alert moves up one level and is
re-notified. An acknowledged SOS that stays unresolved is re-announced as a
reminder instead, so nobody forgets an elder who pressed the button.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from anju.db.models import Alert
from rules.alerts import AlertChange, alert_json, record_history


@dataclass(frozen=True, slots=True)
class EscalationLevel:
    name: str
    wait: timedelta | None
    """How long this level has to acknowledge before the next one is notified; None at the top."""


DEFAULT_CHAIN: tuple[EscalationLevel, ...] = (
    EscalationLevel("网格巡逻 grid patrol", timedelta(minutes=5)),
    EscalationLevel("社区办公室 community office", timedelta(minutes=10)),
    EscalationLevel("街道 street", timedelta(minutes=15)),
    EscalationLevel("区 district", None),
)
DEFAULT_REMINDER = timedelta(minutes=15)
BATCH = 200


def escalate_due(session: Session, now: datetime, chain: tuple[EscalationLevel, ...] = DEFAULT_CHAIN,
                 reminder: timedelta = DEFAULT_REMINDER) -> list[AlertChange]:
    """Escalate open alerts and remind acknowledged ones whose time has come.

    Rows are claimed with `FOR UPDATE SKIP LOCKED` (PostgreSQL), so with several
    gateway processes each due alert is escalated exactly once.
    """
    due = session.scalars(
        select(Alert)
        .where(Alert.state.in_(("open", "acknowledged")), Alert.escalate_at <= now)
        .order_by(Alert.escalate_at)
        .limit(BATCH)
        .with_for_update(skip_locked=True)
    ).all()
    changes = []
    for alert in due:
        if alert.state == "acknowledged":
            alert.escalate_at = now + reminder
            alert.updated_at = now
            record_history(session, alert, "reminded", now, note=f"acknowledged by {alert.acknowledged_by} "
                     "but not resolved")
            changes.append(AlertChange("reminded", alert_json(alert)))
            continue
        if alert.level + 1 >= len(chain):
            alert.escalate_at = None
            continue
        alert.level += 1
        level = chain[alert.level]
        alert.escalate_at = now + level.wait if level.wait is not None else None
        alert.updated_at = now
        record_history(session, alert, "escalated", now, note=f"not acknowledged: escalated to {level.name}")
        changes.append(AlertChange("escalated", alert_json(alert)))
    session.flush()
    return changes
