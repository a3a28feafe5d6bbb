"""Who is told of an alert step, and when (SPEC §6): rows for the outbox, in the alert change's own transaction.

- a new alert and each escalation: the people on duty at the level the alert reached (the grid's team at
  level 0), and the level's own targets (the office's WeCom group);
- an elder's SOS: also the family, at once or after the site's `family_after` if nobody acknowledged by then;
- maintenance alerts climb the maintenance chain (`alerting.routing`), so its people are told, not the patrol's;
- quiet hours hold the site's `hold` severities until they end; a critical alert is never held.

Planning reads only what the engine already holds (routing, the person directory), plus the device's row for
an SOS's family: the press path stays a few inserts longer, never a network call. Sending is the senders' job,
after the commit (`alerting.notifications.senders`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from functools import lru_cache
from typing import Any, cast
from zoneinfo import ZoneInfo

from sqlalchemy import Table, insert
from sqlalchemy.orm import Session

from alerting.alerts import record_history
from alerting.contacts import device_contacts
from alerting.notifications.channels import Target, normalize_phone, parse_target
from alerting.routing import Contact, Level
from devices import get_driver
from kernel.config import NotificationSettings
from kernel.db.models import Alert, Device, Notification
from kernel.durations import parse_duration
from kernel.siteconfig import NotificationPolicy, QuietHours
from rules.persons import PersonDirectory

log = logging.getLogger(__name__)
_INSERT = insert(cast(Table, Notification.__table__))


@dataclass(frozen=True, slots=True)
class Recipient:
    contact: Contact
    role: str
    """on_duty, level (a level's own targets), family."""


@lru_cache(maxsize=4096)
def _parsed(text: str) -> Target | str:
    """A target, or why it is unusable: parsed once per distinct string (Apprise's parsing is not free)."""
    try:
        return parse_target(text)
    except ValueError as exc:
        return str(exc)


def stored(target: Target) -> str:
    """The target as the outbox keeps it, which `parse_target` reads back: a phone with its channel's prefix."""
    return f"{target.channel}:{target.address}" if target.channel in ("sms", "voice") else target.address


def family_wait(text: str) -> timedelta:
    """`family_after` as a wait: `0`/`0s` is at once (a duration elsewhere in Anju must be longer than zero)."""
    return timedelta(0) if text.strip() in ("0", "0s", "0m") else parse_duration(text)


def held_until(quiet: QuietHours | None, severity: str, now: datetime, timezone: str) -> datetime | None:
    """When quiet hours holding this severity end, if `now` is inside them; None: send now. Never for critical."""
    if quiet is None or severity == "critical" or severity not in quiet.hold:
        return None
    zone = ZoneInfo(timezone)
    local = now.astimezone(zone)
    start, end = time.fromisoformat(quiet.from_), time.fromisoformat(quiet.to)
    clock = local.time().replace(tzinfo=None)
    inside = start <= clock < end if start <= end else clock >= start or clock < end
    if not inside:
        return None
    until = datetime.combine(local.date(), end, tzinfo=zone)
    if until <= local:
        until += timedelta(days=1)
    return until


class Planner:
    """Turns an alert step into outbox rows; the engine calls it where it routes and escalates."""

    def __init__(self, settings: NotificationSettings, persons: Callable[[], PersonDirectory | None]) -> None:
        self.settings = settings
        self.persons = persons
        self.phones = settings.phone.provider is not None
        """Phone numbers become `sms:` (and for `voice_for` severities `voice:`) targets only with a provider."""
        self.queued = False
        """Rows were queued since the senders were last woken (`take_queued`)."""

    def take_queued(self) -> bool:
        """Whether anything was queued since the last call: the senders are woken only then. Waking them for every
        alert change (a gate's repeated event, an acknowledgement) cost a claim transaction each, about a tenth of
        the gateway's CPU under load; a row that is due later is found by their poll."""
        queued, self.queued = self.queued, False
        return queued

    # -- steps ------------------------------------------------------------------------------------------

    def level_reached(self, session: Session, alert: Alert, level: Level, step: str, now: datetime,
                      policy: NotificationPolicy, timezone: str) -> None:
        """`step` (notified, escalated, reminded) brought the alert to `level`: tell who is there."""
        self._safely(session, alert, now, self._level_reached, session, alert, level, step, now, policy, timezone)

    def sos_raised(self, session: Session, alert: Alert, now: datetime, policy: NotificationPolicy,
                   timezone: str) -> None:
        """A critical alert of a personal device (an elder's button): the family, now or after the wait."""
        self._safely(session, alert, now, self._sos_raised, session, alert, now, policy, timezone)

    @staticmethod
    def _safely(session: Session, alert: Alert, now: datetime, plan: Callable[..., None], *args: Any) -> None:
        """Plan in a savepoint; a failure costs the notifications (noted in the history, logged), never the alert:
        an SOS that cannot be planned for is still raised, shown and escalated."""
        try:
            with session.begin_nested():
                plan(*args)
        except Exception as exc:
            log.exception("notifications for alert %s could not be planned", alert.id)
            record_history(session, alert, "notification_skipped", now,
                           note=f"notifications could not be planned: {type(exc).__name__}: {exc}"[:500])

    def _level_reached(self, session: Session, alert: Alert, level: Level, step: str, now: datetime,
                       policy: NotificationPolicy, timezone: str) -> None:
        role = "maintenance" if alert.audience == "maintenance" else "on_duty"
        recipients = [Recipient(c, "level" if c.group else role) for c in level.recipients(now)]
        due = held_until(policy.quiet_hours, alert.severity, now, timezone)
        if due is not None:
            record_history(session, alert, "notification_held", now,
                           note=f"quiet hours: {level.name} told at {due.astimezone(ZoneInfo(timezone)):%H:%M}")
        self._enqueue(session, alert, step, recipients, due or now, None, now,
                      empty=f"nobody at {level.name} has a notification target")

    def _sos_raised(self, session: Session, alert: Alert, now: datetime, policy: NotificationPolicy,
                    timezone: str) -> None:
        if alert.severity != "critical" or alert.device_id is None or policy.family_after is None:
            return
        device = session.get(Device, alert.device_id)
        driver = get_driver(device.kind) if device is not None else None
        if device is None or driver is None or not driver.personal_device:
            return
        found = device_contacts(session, device, self.persons()) or {}
        family = [_contact(c) for c in found.get("family") or [] if isinstance(c, dict)]
        if not family:
            record_history(session, alert, "notification_planned", now, note="no family on record to tell")
            return
        own = device.attributes.get("family_after") if isinstance(device.attributes, dict) else None
        wait = family_wait(str(own) if own is not None else policy.family_after)
        due = now + wait
        names = ", ".join(c.name for c in family)
        if wait:
            local = due.astimezone(ZoneInfo(timezone))
            record_history(session, alert, "notification_planned", now,
                           note=f"family ({names}) told at {local:%H:%M:%S} unless acknowledged by then")
        self._enqueue(session, alert, "family", [Recipient(c, "family") for c in family], due,
                      "unacknowledged" if wait else None, now, empty="no family member has a phone or target")

    # -- rows -------------------------------------------------------------------------------------------

    def _enqueue(self, session: Session, alert: Alert, step: str, recipients: Iterable[Recipient], due: datetime,
                 condition: str | None, now: datetime, empty: str) -> None:
        rows: list[dict[str, Any]] = []
        seen: set[str] = set()
        notes: list[str] = []
        for recipient in recipients:
            targets = self._targets(recipient.contact, alert.severity, notes)
            for target in targets:
                text = stored(target)
                if text in seen:  # a team's shared group is told once, not once per member
                    continue
                seen.add(text)
                rows.append({
                    "alert_id": alert.id, "site_id": alert.site_id, "step": step, "level": alert.level,
                    "recipient": recipient.contact.name[:200], "role": recipient.role,
                    "target": text, "shown": target.shown[:300], "channel": target.channel,
                    "state": "pending", "condition": condition, "created_at": now, "due_at": due, "attempts": 0})
        for note in notes:
            record_history(session, alert, "notification_skipped", now, note=note)
        if rows:
            session.connection().execute(_INSERT, rows)
            self.queued = True
        else:
            record_history(session, alert, "notification_skipped", now, note=empty)

    def _targets(self, contact: Contact, severity: str, notes: list[str]) -> list[Target]:
        out: list[Target] = []
        for raw in contact.notify:
            parsed = _parsed(raw)
            if isinstance(parsed, str):
                notes.append(f"{contact.name}: a target is unusable ({parsed})")
            else:
                out.append(parsed)
        if contact.phone:
            if not self.phones:
                if not out:
                    notes.append(f"{contact.name}: only a phone number, and no SMS provider is configured "
                                 "(notifications.phone)")
                return out
            try:
                phone = normalize_phone(contact.phone)
            except ValueError as exc:
                notes.append(f"{contact.name}: phone unusable ({exc})")
                return out
            kinds = ("sms", "voice") if severity in self.settings.phone.voice_for else ("sms",)
            for kind in kinds:
                parsed = _parsed(f"{kind}:{phone}")
                if not isinstance(parsed, str):
                    out.append(parsed)
        return out


def _contact(found: dict[str, Any]) -> Contact:
    """A family member as the driver's `contacts` gives it (`{name, relation, phone, notify}`)."""
    name = str(found.get("name") or "?")
    relation = found.get("relation")
    notify = found.get("notify") or []
    return Contact(f"{name} ({relation})" if relation else name,
                   str(found["phone"]) if found.get("phone") else None,
                   tuple(str(t) for t in (notify if isinstance(notify, list) else [notify])))

