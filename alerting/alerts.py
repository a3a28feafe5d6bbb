"""The alert lifecycle: open → acknowledged → resolved, with every step in the history.

Small and explicit on purpose (Prometheus Alertmanager is the model): a rule
raises an `AlertSpec` (`rules.alertspec`); the database decides atomically whether that opens a new
alert or merges into the open one with the same dedup key; people acknowledge
and resolve; a timer escalates what nobody acknowledged. Each function returns
an `AlertChange`, which the caller publishes after its transaction commits.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, insert, select, text
from sqlalchemy.orm import Session

from kernel.db.engine import prebuilt
from kernel.db.models import Alert, AlertChangeRow, AlertHistory
from kernel.db.notify import notify_after_commit
from kernel.vocabulary import DISPOSITION_LABELS, DISPOSITION_REQUIRED, DISPOSITIONS, SEVERITIES
from rules.alertspec import AlertSpec

CRITICAL_REMINDER = timedelta(minutes=15)
"""How soon an acknowledged but unresolved critical alert is announced again."""
MAX_EVIDENCE = 20
"""Evidence kept per alert: the first triggers and the latest; the count says how many there were."""


FoldHook = Callable[[Session, AlertSpec], int | None]
"""The grouped alert a new alert belongs under, if any (`alerting.outages.OutageTracker.parent_for`)."""


class AlertError(ValueError):
    """A request the lifecycle refuses (unknown alert, wrong state, missing note)."""


class DispositionError(AlertError):
    """A disposition that is missing where it is required, or not one of `kernel.vocabulary.DISPOSITIONS`."""


@dataclass(slots=True)
class AlertChange:
    """One step of one alert, as published on `anju/v1/{site}/alerts` and the live stream."""

    action: str
    """created, repeated, escalated, reminded, acknowledged, resolved; cancelled_by_device (`alerting.cancel`)."""
    alert: dict[str, Any]
    seq: int | None = None
    """Position in the alert change journal (the live stream's resume point); None when not announced."""

    @property
    def site(self) -> str:
        return self.alert["site"]


def alert_json(alert: Alert) -> dict[str, Any]:
    """The alert as the API and the alerts topic show it (SPEC §3)."""
    return {
        "id": alert.id,
        "site": alert.site_id,
        "grid": alert.grid_id,
        "device_id": alert.device_id,
        "kind": alert.kind,
        "rule": alert.rule,
        "type": alert.type,
        "severity": alert.severity,
        "audience": alert.audience,
        "title": alert.title,
        "state": alert.state,
        "level": alert.level,
        "count": alert.count,
        "created_at": alert.created_at.isoformat(),
        "updated_at": alert.updated_at.isoformat(),
        "acknowledged_at": alert.acknowledged_at.isoformat() if alert.acknowledged_at else None,
        "acknowledged_by": alert.acknowledged_by,
        "resolved_at": alert.resolved_at.isoformat() if alert.resolved_at else None,
        "resolved_by": alert.resolved_by,
        "resolution_note": alert.resolution_note,
        "disposition": alert.disposition,
        "evidence": alert.evidence,
        "silenced_by": alert.silenced_by,
        "parent_id": alert.parent_id,
    }


_HISTORY_INSERT = insert(cast(Table, AlertHistory.__table__))
_CHANGE_INSERT = insert(cast(Table, AlertChangeRow.__table__)).returning(AlertChangeRow.__table__.c.id)
"""Built once, and run as Core on the session's connection: on the press path, building statements and the
ORM's bulk-insert machinery cost more than the database's work (`prebuilt`)."""


def _alert_insert(insert_: Callable[[type[Alert]], Any]) -> Any:
    return insert_(Alert).returning(Alert)


def _alert_merge(insert_: Callable[[type[Alert]], Any]) -> Any:
    stmt = insert_(Alert)
    return stmt.on_conflict_do_update(
        index_elements=[Alert.dedup_key],
        # A literal, as in the index itself: PostgreSQL matches ON CONFLICT to a partial index by its
        # predicate, and cannot once a bound parameter stands there (its generic plan, from the sixth run).
        index_where=text("state <> 'resolved'"),
        set_={"count": Alert.count + 1, "updated_at": stmt.excluded.updated_at},
    ).returning(Alert)


def record_history(session: Session, alert: Alert, action: str, at: datetime, by: str | None = None,
                   note: str | None = None) -> None:
    """Written at once (not at the next flush), in call order: the history reads as the steps happened."""
    record_step(session, alert.id, alert.level, action, at, by, note)


def record_step(session: Session, alert_id: int, level: int, action: str, at: datetime, by: str | None = None,
                note: str | None = None) -> None:
    """`record_history` for a caller that holds the alert's id, not the alert (a notification sender)."""
    session.connection().execute(_HISTORY_INSERT, {"alert_id": alert_id, "at": at, "action": action, "by": by,
                                                   "level": level, "note": note})


def announced(alert: dict[str, Any]) -> bool:
    """Silenced alerts and alerts folded under a grouped one are recorded, never announced."""
    return alert.get("silenced_by") is None and alert.get("parent_id") is None


def announce(session: Session, action: str, alert: Alert, at: datetime) -> AlertChange:
    """The change as published, written to the journal in the same transaction (silenced and folded ones are
    not announced).

    The journal row's id is the change's `seq`: the order every consumer (live
    stream, other processes) sees, and the point a reconnecting client resumes from.
    """
    body = alert_json(alert)
    if not announced(body):
        return AlertChange(action, body)
    seq = session.connection().scalar(_CHANGE_INSERT, {
        "alert_id": alert.id, "site_id": alert.site_id, "grid_id": alert.grid_id, "audience": alert.audience,
        "action": action, "at": at, "alert": body})
    notify_after_commit(session)  # other processes' live streams read the journal at once (kernel/db/notify.py)
    return AlertChange(action, body, seq)


def raise_alert(session: Session, spec: AlertSpec, now: datetime, first_wait: timedelta | None,
                silenced_by: int | None = None, on_created: Callable[[Alert], None] | None = None,
                parent_id: int | None = None) -> AlertChange:
    """Open an alert, or count a repeat into the open one with the same dedup key.

    The merge is one `INSERT … ON CONFLICT (dedup_key) WHERE state <> 'resolved'
    DO UPDATE`: two triggers racing, in one process or two, cannot both insert.
    `first_wait` is how long level 0 has before escalation (None: never escalates).
    `silenced_by`: a silence covers it; it is recorded, but neither escalated nor notified.
    `on_created` routes a new alert (sets its level and first escalation) before it is announced.
    `parent_id`: folded under that grouped alert (an outage): recorded, neither escalated nor announced.
    """
    if spec.severity not in SEVERITIES:
        raise AlertError(f"severity must be one of {SEVERITIES}, not {spec.severity!r}")
    values = {
        "site_id": spec.site, "grid_id": spec.grid, "device_id": spec.device_id, "kind": spec.kind,
        "rule": spec.rule, "type": spec.type, "severity": spec.severity, "audience": spec.audience,
        "title": spec.title[:500], "state": "open", "level": 0, "count": 1, "dedup_key": spec.dedup_key,
        "silenceable": spec.silenceable, "evidence": [spec.evidence], "created_at": now, "updated_at": now,
        "escalate_at": now + first_wait if first_wait is not None and silenced_by is None and parent_id is None
        else None,
        "silenced_by": silenced_by, "parent_id": parent_id,
    }
    stmt = prebuilt(session, "alert-insert", _alert_insert) if spec.dedup_key is None else \
        prebuilt(session, "alert-merge", _alert_merge)
    # The row comes back as the ORM object in the same round trip (no second SELECT on the press path).
    alert = session.scalars(stmt, values, execution_options={"populate_existing": True}).one()
    count = alert.count
    if count == 1:
        record_history(session, alert, "created", now)
        if parent_id is not None:
            record_history(session, alert, "folded", now, note=f"part of outage alert {parent_id}")
        elif on_created is not None:
            on_created(alert)
        return announce(session, "created", alert, now)
    evidence = list(alert.evidence)
    evidence.append(spec.evidence)
    if len(evidence) > MAX_EVIDENCE:
        evidence = evidence[: MAX_EVIDENCE // 2] + evidence[-(MAX_EVIDENCE // 2):]
    alert.evidence = evidence
    record_history(session, alert, "repeated", now, note=f"occurrence {count}")
    return announce(session, "repeated", alert, now)


def fold(session: Session, alert: Alert, parent_id: int, now: datetime) -> None:
    """Put an alert under a grouped one: from now on it is not announced and does not escalate."""
    alert.parent_id, alert.escalate_at, alert.updated_at = parent_id, None, now
    record_history(session, alert, "folded", now, note=f"part of outage alert {parent_id}")


def _locked(session: Session, alert_id: int) -> Alert:
    alert = session.scalars(select(Alert).where(Alert.id == alert_id).with_for_update()).one_or_none()
    if alert is None:
        raise AlertError(f"no alert {alert_id}")
    return alert


def acknowledge(session: Session, alert_id: int, by: str, now: datetime, note: str | None = None,
                reminder_after: timedelta | None = None) -> AlertChange:
    """Someone owns the alert: escalation stops.

    A critical alert (an elder's SOS) that stays unresolved is announced again every
    `reminder_after` (default `CRITICAL_REMINDER`): owning it is not the same as helping.
    """
    alert = _locked(session, alert_id)
    if alert.state != "open":
        raise AlertError(f"alert {alert_id} is {alert.state}; only an open alert can be acknowledged")
    alert.state, alert.acknowledged_at, alert.acknowledged_by, alert.updated_at = "acknowledged", now, by, now
    if reminder_after is None and alert.severity == "critical":
        reminder_after = CRITICAL_REMINDER
    alert.escalate_at = now + reminder_after if reminder_after is not None else None
    record_history(session, alert, "acknowledged", now, by, note)
    return announce(session, "acknowledged", alert, now)


def resolve(session: Session, alert_id: int, by: str, note: str, now: datetime, disposition: str | None = None,
            *, by_system: bool = False) -> AlertChange:
    """Close the alert with a note (what was found, what was done) and its disposition (how it ended).

    A person resolving a critical or major alert must say how it ended: the office's bulletin counts false alarms
    and referrals from it. The system (an outage that ended by itself) resolves without one.
    """
    if not note or not note.strip():
        raise AlertError("resolving an alert needs a note saying what was found and done")
    _check_disposition(disposition)
    alert = _locked(session, alert_id)
    if alert.state == "resolved":
        raise AlertError(f"alert {alert_id} is already resolved")
    if disposition is None and not by_system and alert.severity in DISPOSITION_REQUIRED:
        raise DispositionError(f"请选择处置结果 / alert {alert_id} is {alert.severity}: say how it ended "
                               f"(disposition: {', '.join(DISPOSITIONS)})")
    alert.state, alert.resolved_at, alert.resolved_by, alert.updated_at = "resolved", now, by, now
    alert.resolution_note, alert.escalate_at, alert.disposition = note.strip(), None, disposition
    shown = note.strip() if disposition is None else f"[{disposition}] {note.strip()}"
    record_history(session, alert, "resolved", now, by, shown)
    return announce(session, "resolved", alert, now)


def set_disposition(session: Session, alert_id: int, disposition: str, by: str, note: str,
                    now: datetime) -> AlertChange:
    """Correct how a resolved alert ended (an admin, after the fact): the old and new value and why, in the history."""
    if not note or not note.strip():
        raise AlertError("changing a disposition needs a note saying why")
    _check_disposition(disposition)
    alert = _locked(session, alert_id)
    if alert.state != "resolved":
        raise AlertError(f"alert {alert_id} is {alert.state}; only a resolved alert has a disposition")
    before = alert.disposition or "none"
    alert.disposition, alert.updated_at = disposition, now
    record_history(session, alert, "disposition_changed", now, by, f"{before} → {disposition}: {note.strip()}")
    return announce(session, "disposition_changed", alert, now)


def _check_disposition(disposition: str | None) -> None:
    if disposition is not None and disposition not in DISPOSITION_LABELS:
        raise DispositionError(f"unknown disposition {disposition!r}; use one of {', '.join(DISPOSITIONS)}")


def history(session: Session, alert_id: int) -> list[dict[str, Any]]:
    rows = session.scalars(select(AlertHistory).where(AlertHistory.alert_id == alert_id).order_by(AlertHistory.id))
    return [{"at": r.at.isoformat(), "action": r.action, "by": r.by, "level": r.level, "note": r.note} for r in rows]
