"""Rule timers in the database: arm, extend, cancel, and claim the due ones.

`duration` arms a timer on its start event (keeping the earliest start) and
cancels it on the end event; `absence` pushes its timer forward on every
sighting; a sustained `threshold` arms on the first breaching reading and
cancels on a normal one. The clock claims due timers with
`FOR UPDATE SKIP LOCKED`, so each fires exactly once across gateway processes.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from kernel.db.engine import prebuilt
from kernel.db.models import RuleTimer

CLAIM_BATCH = 200


@dataclass(slots=True)
class DueTimer:
    rule: str
    group_key: str
    device_id: str
    due_at: datetime
    armed_at: datetime
    evidence: dict[str, Any]


def arm(session: Session, rule: str, group_key: str, device_id: str, due_at: datetime, now: datetime,
        evidence: dict[str, Any], *, extend: bool) -> None:
    """Start a timer; if one runs already, `extend` moves it to `due_at` (absence), else it is kept (duration)."""
    stmt = prebuilt(session, "timer-extend", _extend) if extend else prebuilt(session, "timer-keep", _keep)
    session.execute(stmt, {"rule": rule, "group_key": group_key, "device_id": device_id, "due_at": due_at,
                           "armed_at": now, "evidence": evidence})


def _extend(insert_: Callable[[type[RuleTimer]], Any]) -> Any:
    stmt = insert_(RuleTimer)
    return stmt.on_conflict_do_update(index_elements=[RuleTimer.rule, RuleTimer.group_key], set_={
        "due_at": stmt.excluded.due_at, "armed_at": stmt.excluded.armed_at, "device_id": stmt.excluded.device_id,
        "evidence": stmt.excluded.evidence})


def _keep(insert_: Callable[[type[RuleTimer]], Any]) -> Any:
    return insert_(RuleTimer).on_conflict_do_nothing(index_elements=[RuleTimer.rule, RuleTimer.group_key])


def cancel(session: Session, rule: str, group_key: str) -> None:
    session.execute(delete(RuleTimer).where(RuleTimer.rule == rule, RuleTimer.group_key == group_key))


def claim_due(session: Session, now: datetime, rules: Collection[str]) -> list[DueTimer]:
    """Remove and return the timers of `rules` due by `now` (the caller's transaction owns them until it commits).

    Only the caller's own rules: a backtest must not lock, let alone fire, the live rules' timers.
    """
    rows = session.scalars(
        select(RuleTimer).where(RuleTimer.due_at <= now, RuleTimer.rule.in_(sorted(rules)))
        .order_by(RuleTimer.due_at).limit(CLAIM_BATCH)
        .with_for_update(skip_locked=True)
    ).all()
    due = [DueTimer(r.rule, r.group_key, r.device_id, r.due_at, r.armed_at, dict(r.evidence)) for r in rows]
    for row in rows:
        session.delete(row)
    session.flush()
    return due
