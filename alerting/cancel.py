"""An elder's `cancel` while their SOS is open: the patrol is told at once, and the alert stays open.

A cancel usually means "pressed by mistake" or "I am fine now", but it may be
pressed by someone else, or by an elder who is confused or being watched. The
patrol needs to know before they arrive (they may phone first), yet only a
person who has checked may close an SOS. So the cancel is written into the
history of the button's open (or acknowledged) SOS alert and announced like
any other change (`anju/v1/{site}/alerts`, the live stream), and nothing else
about the alert changes: its state, level and escalation go on as before.

A cancel older than the alert's first press (a device's queue delivered out of
order) is about an earlier press, not this one, and is only stored, as is a
cancel with no SOS open.
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from alerting.alerts import AlertChange, announce, record_history
from kernel.db.models import Alert
from kernel.observations import Observation
from kernel.vocabulary import OPEN_STATES

log = logging.getLogger(__name__)

KIND = "elder_button"
CANCEL = "cancel"
PRESS = "press"
ACTION = "cancelled_by_device"
"""The history action and the announced change's `action`."""


def is_cancel(obs: Observation) -> bool:
    """A cheap test the engine makes for every observation, before any database work."""
    return obs.type == CANCEL and obs.channel == "event" and obs.device.kind == KIND


def _first_press(alert: Alert) -> datetime | None:
    """Event time of the alert's first press, from its evidence (None if it cannot be read)."""
    evidence = alert.evidence[0] if alert.evidence else None
    stamp = evidence.get("ts") if isinstance(evidence, dict) else None
    if not isinstance(stamp, str):
        return None
    try:
        return datetime.fromisoformat(stamp)
    except ValueError:
        return None


def _comparable(a: datetime, b: datetime) -> bool:
    return (a.tzinfo is None) == (b.tzinfo is None)


def record_cancel(session: Session, obs: Observation) -> list[AlertChange]:
    """Add the cancel to each open SOS alert of the button (normally one) and return the changes to announce.

    An "SOS alert" is any alert raised by a press of this button (`elder-sos`, or an operator's own press rule),
    still open or acknowledged. Rows are locked, so a resolve racing with the cancel is seen either before
    (nothing to add) or after (the cancel is in the history it closes).
    """
    stmt = (select(Alert)
            .where(Alert.device_id == obs.device.id, Alert.kind == KIND, Alert.type == PRESS,
                   Alert.state.in_(OPEN_STATES))
            .order_by(Alert.id)
            .with_for_update())
    changes: list[AlertChange] = []
    for alert in session.scalars(stmt):
        pressed = _first_press(alert)
        if pressed is not None and _comparable(pressed, obs.ts) and obs.ts < pressed:
            log.info("cancel %s of %s is older than the press of alert %s; not added", obs.msg_id, obs.device.id,
                     alert.id)
            continue
        alert.updated_at = obs.received_at
        note = (f"the button sent cancel at {obs.ts.isoformat()} (msg_id {obs.msg_id}); "
                "the alert stays open until a person has checked")
        record_history(session, alert, ACTION, obs.ts, by=obs.device.id, note=note)
        changes.append(announce(session, ACTION, alert, obs.received_at))
    return changes
