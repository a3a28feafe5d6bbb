"""Escalation up the responsibility chain, on the clock: grid → community → street → district.

"小事不出片区、大事不出社区": an alert climbs only while nobody acknowledges it.
Each level has a wait; when it runs out the alert moves up one level and its
people are notified (`alerting.notifications.plan`). An acknowledged SOS that
stays unresolved is re-announced as a reminder instead, so nobody forgets an
elder who pressed the button. Maintenance alerts climb their own chain.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from alerting.alerts import AlertChange, announce, record_history
from alerting.notifications.plan import Planner
from alerting.routing import Routing
from kernel.db.models import Alert
from kernel.vocabulary import OPEN_STATES

DEFAULT_REMINDER = timedelta(minutes=15)
BATCH = 200


def notify(session: Session, alert: Alert, chain: Routing, level: int, now: datetime, action: str,
           planner: Planner | None = None) -> None:
    """Move the alert to the first staffed level from `level` up, record who is there, and queue their
    notifications (with `planner`; none in a backtest)."""
    target, skipped = chain.route(alert.site_id, alert.grid_id, level, now, alert.audience)
    for note in skipped:
        record_history(session, alert, "skipped", now, note=note)
    levels = chain.levels(alert.site_id, alert.grid_id, alert.audience)
    alert.level = target
    current = levels[target]
    on_duty = current.on_duty(now)
    alert.escalate_at = now + current.wait if current.wait is not None else None
    who = f"{current.name}" + (f": {', '.join(on_duty)}" if on_duty else "")
    record_history(session, alert, action, now, note=f"notified {who}")
    if planner is not None:
        planner.level_reached(session, alert, current, action, now, chain.policy(alert.site_id),
                              chain.timezone(alert.site_id))


def escalate_due(session: Session, now: datetime, chain: Routing, reminder: timedelta = DEFAULT_REMINDER,
                 planner: Planner | None = None) -> list[AlertChange]:
    """Escalate open alerts and remind acknowledged ones whose time has come.

    Rows are claimed with `FOR UPDATE SKIP LOCKED` (PostgreSQL), so with several
    gateway processes each due alert is escalated exactly once.
    """
    due = session.scalars(
        select(Alert)
        .where(Alert.state.in_(OPEN_STATES), Alert.escalate_at <= now)
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
            if planner is not None:
                levels = chain.levels(alert.site_id, alert.grid_id, alert.audience)
                planner.level_reached(session, alert, levels[min(alert.level, len(levels) - 1)], "reminded", now,
                                      chain.policy(alert.site_id), chain.timezone(alert.site_id))
            changes.append(announce(session, "reminded", alert, now))
            continue
        if alert.level + 1 >= len(chain.levels(alert.site_id, alert.grid_id, alert.audience)):
            alert.escalate_at = None
            continue
        alert.updated_at = now
        notify(session, alert, chain, alert.level + 1, now, "escalated", planner)
        changes.append(announce(session, "escalated", alert, now))
    return changes
