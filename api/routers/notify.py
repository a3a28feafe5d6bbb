"""Notifications (SPEC §6): a test send, the one-tap links of messages, the outbox, and every configured target.

Two routes take no token, because the people who tap a link in a WeCom group or an SMS may have none (an elder's
family): `GET /notify/open` checks the link's signature and expiry and sends the browser on to the console, and
`GET /notify/alert` answers the little a link may show (what, where, since when, in which state). A wrong or
altered link counts towards the same per-address limit as wrong tokens and login codes (api/ratelimit.py).

A target (an Apprise URL) carries the key of a chat group or a mailbox's password: no answer here shows one as
stored, only its redacted form (`shown`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from html import escape
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import BaseModel, Field
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from alerting.alerts import record_step
from alerting.notifications import links
from alerting.notifications.channels import Target, parse_target
from alerting.notifications.message import where
from alerting.notifications.senders import alert_view
from api.auth import Permission, Principal, Role
from api.deps import DB, Services, Svc, errors, require
from api.routers._common import SiteFilter, conflict, shown_target, unprocessable
from api.schemas import ErrorBody
from api.visibility import alert_filter
from devices import DRIVERS, get_driver
from kernel.db.models import Alert, Device, EscalationLevel, Notification, PatrolTeam, Person
from kernel.timeutil import utcnow
from vision.enrolment import audit

router = APIRouter(prefix="/notify", tags=["notifications"])

Admin = Annotated[Principal, Depends(require(Permission.CONFIG_WRITE))]
Reader = Annotated[Principal, Depends(require(Permission.CONFIG_READ))]
DeliveryState = Literal["pending", "sending", "delivered", "failed", "cancelled"]
CHANNEL_PATTERN = r"^[A-Za-z0-9+._-]{1,32}$"
CONSOLE_LINK = "/console/#/link/"
"""Where a genuine link lands: the console's link page (api/console/app.js), the link's parameters in the fragment,
which never reaches a server's log."""
FAILURE_WINDOW = timedelta(hours=24)


# -- answers ------------------------------------------------------------------------------------------------


class TestIn(BaseModel):
    url: str = Field(min_length=1, max_length=1000, examples=["wecombot://KEY", "json://127.0.0.1:8000/hook"],
                     description="an Apprise URL or `sms:<phone>` / `voice:<phone>`")


class TestOut(BaseModel):
    target: str = Field(description="the target as shown (keys masked)")
    channel: str
    delivered: bool
    error: str | None = Field(description="why not, in one line, without secrets")


class DeliveryOut(BaseModel):
    """One row of the outbox: one message to one target about one step of an alert. Never the target itself."""

    id: int
    alert_id: int | None
    site: str | None
    step: str = Field(description="the alert step that caused it: notified, escalated, reminded, family")
    level: int
    recipient: str
    role: str = Field(description="on_duty, level (a level's own targets), family, maintenance")
    channel: str
    shown: str = Field(description="the target, keys masked")
    state: DeliveryState
    attempts: int
    created_at: datetime
    due_at: datetime
    delivered_at: datetime | None
    last_error: str | None


class LinkAlert(BaseModel):
    """What a one-tap link shows without a token: what, where, since when, in which state; nobody's phone."""

    id: int
    title: str
    severity: str
    state: str
    site: str = Field(description="the site's name")
    where: str = Field(description="courtyard, building, unit, room, zone and grid, as the message says")
    created_at: datetime
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    resolved_at: datetime | None
    act: bool = Field(description="the link was sent to someone on duty: opened signed in, it acknowledges")
    link_expires_at: datetime


class TargetOut(BaseModel):
    """One configured notification target, where it is configured, and how its deliveries went."""

    site: str | None
    where: str = Field(description='where it is configured, e.g. "team g1-team member 张建国"')
    source: Literal["member", "shift", "level", "family"]
    recipient: str
    channel: str | None = Field(description="None when the target does not parse")
    shown: str = Field(description="the target, keys masked; a phone as `sms:138****0001`")
    ok: bool = Field(description="the target parses as the senders will parse it")
    error: str | None = Field(description="why it does not parse")
    note: str | None = Field(description="why a usable target is not used (a phone without an SMS provider)")
    last_state: DeliveryState | None = Field(description="the state of its latest delivery")
    last_at: datetime | None = Field(description="when its latest delivery was delivered, or else last due")
    last_error: str | None
    failures_24h: int = Field(description="its deliveries created in the last 24 hours that failed for good")
    failing: bool = Field(description="unusable, its latest delivery failed or is being retried after an error, or "
                                      "failures in the last 24 hours")


REFUSED_LINK: dict[int | str, dict[str, Any]] = {
    403: {"model": ErrorBody, "description": "the link is altered, from another installation, or expired"},
    404: {"model": ErrorBody, "description": "the link is genuine but its alert no longer exists"},
    422: {"model": ErrorBody, "description": "the request is not valid"},
    429: {"model": ErrorBody, "description": "too many wrong links, codes or tokens from this address"},
}
HTML_PAGE = {"text/html": {"schema": {"type": "string"}}}
OPEN_RESPONSES: dict[int | str, dict[str, Any]] = {
    303: {"description": "a genuine, unexpired link: on to the console's link page (`/console/#/link/<token>`)"},
    403: {"description": "a page saying why the link does not open (altered, incomplete or expired)",
          "content": HTML_PAGE},
    429: {"description": "too many wrong links, codes or tokens from this address", "content": HTML_PAGE},
}


# -- the test send ------------------------------------------------------------------------------------------


@router.post("/test", response_model=TestOut, responses=errors(422, 503))
def send_test(body: TestIn, svc: Svc, session: DB, who: Admin) -> TestOut:
    """Send a test message to a target now (not through the outbox) and answer the outcome; 422 with the reason
    for a target that cannot be used. Recorded in the audit log (a target may be a person's phone)."""
    notifier = svc.engine.notifier
    if notifier is None:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "notifications are not running in this process",
                            headers={"Retry-After": "30"})
    try:
        target, outcome = notifier.send_test(body.url, by=who.name)
    except ValueError as exc:
        raise unprocessable(f"url: {exc}") from None
    result = "delivered" if outcome.delivered else f"failed: {outcome.error or '?'}"
    audit(session, who.name, who.role, "notify_test", None, f"{target.channel} → {target.shown}: {result}")
    session.commit()
    return TestOut(target=target.shown, channel=target.channel, delivered=outcome.delivered, error=outcome.error)


# -- one-tap links -------------------------------------------------------------------------------------------

links_router = APIRouter(tags=["notifications"])
"""At the root: a link must be short enough for an SMS template's variable (`/n/<22 characters>`)."""
TOKEN_PATTERN = r"^[A-Za-z0-9_-]{8,64}$"


def _read(request: Request, svc: Services, session: Session, token: str) -> links.Opened | links.Refused:
    """The link's alert and action, or why not; a forged or damaged link counts against the caller's address
    (429 while it is blocked, as for wrong tokens and login codes)."""
    address = request.client.host if request.client else "?"
    wait = svc.failed_auth.retry_after(address)
    if wait:
        raise HTTPException(status.HTTP_429_TOO_MANY_REQUESTS, f"too many wrong links from this address; retry in "
                            f"{wait} s", headers={"Retry-After": str(wait)})
    if not re.fullmatch(TOKEN_PATTERN, token):
        svc.failed_auth.failed(address)
        return links.Refused("this link is incomplete or damaged: open it again from the message", genuine=False)
    key = links.link_key(session, svc.settings.notifications.link_secret)
    session.commit()  # the key, if this process made it
    opened = links.read_short(key, token, utcnow())
    if isinstance(opened, links.Refused) and not opened.genuine:
        svc.failed_auth.failed(address)
    return opened


@links_router.get(links.SHORT_PATH + "{token}", status_code=status.HTTP_303_SEE_OTHER,
                  response_class=RedirectResponse, responses=OPEN_RESPONSES)
def open_link(request: Request, svc: Svc, session: DB, token: Annotated[str, Path(max_length=200)]) -> Any:
    """Where a message's one-tap link lands (no token: the link is the credential, signed and expiring). A genuine
    link goes on to the console (`303`), which shows the alert, and acknowledges it when the link was sent to
    someone on duty and the console is signed in with a role that handles alerts. Otherwise a small page says why
    not (`403`)."""
    try:
        opened = _read(request, svc, session, token)
    except HTTPException as refused:
        return _page(refused.status_code, str(refused.detail), refused.headers)
    if isinstance(opened, links.Refused):
        return _page(403, opened.reason, expired=opened.genuine)
    return RedirectResponse(CONSOLE_LINK + token, status_code=status.HTTP_303_SEE_OTHER)


def _page(status_code: int, reason: str, headers: Mapping[str, str] | None = None,
          expired: bool = False) -> HTMLResponse:
    """A small page a person reads on a phone: why the link does not open, and where to go instead."""
    headline = ("链接已过期 / This link has expired" if expired else
                "请稍后再试 / Please try again later" if status_code == 429 else
                "链接无效 / This link is not valid")
    body = f"""<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>安居 Anju</title><style>
body{{font-family:system-ui,-apple-system,"PingFang SC","Microsoft YaHei",sans-serif;margin:2rem auto;max-width:32rem;
padding:0 1rem;color:#1c2430;line-height:1.5}}h1{{font-size:1.2rem}}.why{{background:#fde8e8;color:#c62828;
padding:.6rem .8rem;border-radius:8px}}a{{color:#2563eb}}</style></head>
<body><h1>{escape(headline)}</h1><p class="why">{escape(reason)}</p>
<p>请打开安居控制台并登录查看告警。<br>Open the Anju console and sign in to see the alert.</p>
<p><a href="/console/">打开控制台 / Open the console</a></p></body></html>
"""
    return HTMLResponse(body, status_code=status_code, headers={
        **(headers or {}),
        "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; "
                                   "form-action 'none'; frame-ancestors 'none'"})


@router.get("/link/{token}", response_model=LinkAlert, responses=REFUSED_LINK)
def link_alert(request: Request, svc: Svc, session: DB,
               token: Annotated[str, Path(max_length=200)]) -> LinkAlert:
    """What a one-tap link may show without a token (the console's link page): the alert's title, severity, state,
    site, where, since when, who acknowledged it, and whether the link acknowledges; never the elder's or the
    family's details. 403 for a link that is altered or expired."""
    opened = _read(request, svc, session, token)
    if isinstance(opened, links.Refused):
        raise HTTPException(status.HTTP_403_FORBIDDEN, opened.reason)
    row = session.get(Alert, opened.alert)
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"alert {opened.alert} no longer exists")
    view = alert_view(session, row)
    return LinkAlert(id=row.id, title=row.title, severity=row.severity, state=row.state, site=view.site_name,
                     where=where(view), created_at=row.created_at, acknowledged_at=row.acknowledged_at,
                     acknowledged_by=row.acknowledged_by, resolved_at=row.resolved_at, act=opened.act,
                     link_expires_at=opened.expires)


# -- the outbox -----------------------------------------------------------------------------------------------


def _state(value: str) -> DeliveryState:
    """A row's state as the answer types it (a state written by a later version reads as pending)."""
    states: dict[str, DeliveryState] = {"pending": "pending", "sending": "sending", "delivered": "delivered",
                                        "failed": "failed", "cancelled": "cancelled"}
    return states.get(value, "pending")


def delivery_out(row: Notification) -> DeliveryOut:
    return DeliveryOut(id=row.id, alert_id=row.alert_id, site=row.site_id, step=row.step, level=row.level,
                       recipient=row.recipient, role=row.role, channel=row.channel, shown=row.shown,
                       state=_state(row.state), attempts=row.attempts, created_at=row.created_at, due_at=row.due_at,
                       delivered_at=row.delivered_at, last_error=row.last_error)


def deliveries_of(session: Session, alert_id: int) -> list[DeliveryOut]:
    """An alert's deliveries, oldest first (the alert's own visibility is the caller's to check)."""
    rows = session.scalars(select(Notification).where(Notification.alert_id == alert_id).order_by(Notification.id))
    return [delivery_out(r) for r in rows]


@router.get("/deliveries", response_model=list[DeliveryOut], responses=errors(422))
def list_deliveries(
    session: DB, who: Reader,
    state: DeliveryState | None = None,
    channel: Annotated[str | None, Query(pattern=CHANNEL_PATTERN)] = None,
    site: SiteFilter = None,
    alert: Annotated[int | None, Query(ge=1, le=2**62)] = None,
    before: Annotated[int | None, Query(ge=1, le=2**62, description="only rows with a smaller id (paging)")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[DeliveryOut]:
    """Recent outbox rows, newest first: of the alerts this caller may see (a patrol token: its grids')."""
    stmt = select(Notification).order_by(Notification.id.desc()).limit(limit)
    if who.role is not Role.ADMIN:
        stmt = stmt.where(Notification.alert_id.in_(select(Alert.id).where(alert_filter(who))))
    for column, value in ((Notification.state, state), (Notification.channel, channel),
                          (Notification.site_id, site), (Notification.alert_id, alert)):
        if value is not None:
            stmt = stmt.where(column == value)
    if before is not None:
        stmt = stmt.where(Notification.id < before)
    return [delivery_out(r) for r in session.scalars(stmt)]


@router.post("/deliveries/{delivery_id}/retry", response_model=DeliveryOut, responses=errors(404, 409, 422))
def retry_delivery(delivery_id: Annotated[int, Path(ge=1, le=2**62)], svc: Svc, session: DB,
                   who: Admin) -> DeliveryOut:
    """Send a failed or cancelled delivery again: back to pending, due now (the senders take it at once). 409 for
    one still pending or sending, already delivered, or whose alert no longer needs it (resolved; the family's
    message once somebody acknowledged)."""
    row = session.get(Notification, delivery_id)
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no delivery {delivery_id}")
    if row.state not in ("failed", "cancelled"):
        raise conflict(f"delivery {delivery_id} is {row.state}: only failed or cancelled ones are sent again")
    alert = session.get(Alert, row.alert_id) if row.alert_id is not None else None
    if alert is not None and alert.state == "resolved":
        raise conflict(f"alert {alert.id} is resolved: nothing to send")
    if alert is not None and row.condition == "unacknowledged" and alert.state != "open":
        raise conflict(f"alert {alert.id} was acknowledged: the family's message is no longer needed")
    now = utcnow()
    row.state, row.due_at, row.lease_until, row.claimed_by = "pending", now, None, None
    if row.alert_id is not None:
        record_step(session, row.alert_id, row.level, "notification_requeued", now, by=who.name,
                    note=f"{row.channel} → {row.recipient} ({row.shown}): sent again on request")
    session.commit()
    if svc.engine.notifier is not None:
        svc.engine.notifier.wake()
    return delivery_out(row)


# -- configured targets --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Found:
    site: str | None
    where: str
    source: Literal["member", "shift", "level", "family"]
    recipient: str
    text: str
    phone: bool = False


def _contact(site: str | None, place: str, source: Literal["member", "shift", "level", "family"],
             contact: Any) -> Iterator[_Found]:
    """The targets of one contact (`{name, phone, notify}`): each `notify` entry, and the phone as an SMS."""
    if not isinstance(contact, dict):
        return
    name = str(contact.get("name") or "?")
    notify = contact.get("notify") or []
    for text in notify if isinstance(notify, list) else [notify]:
        yield _Found(site, place, source, name, str(text))
    if contact.get("phone") not in (None, ""):
        yield _Found(site, place, source, name, str(contact["phone"]), phone=True)


def _configured(session: Session) -> Iterator[_Found]:
    """Every target the configuration names: teams, both chains of every site, the families of personal devices
    and of persons."""
    for team in session.scalars(select(PatrolTeam).order_by(PatrolTeam.site_id, PatrolTeam.id)):
        for member in team.members or []:
            name = member.get("name") if isinstance(member, dict) else None
            yield from _contact(team.site_id, f"team {team.id} member {name}", "member", member)
        for shift in team.roster or []:
            name = shift.get("name") if isinstance(shift, dict) else None
            yield from _contact(team.site_id, f"team {team.id} roster {name}", "shift", shift)
    for level in session.scalars(select(EscalationLevel).order_by(EscalationLevel.site_id, EscalationLevel.chain.desc(),
                                                                 EscalationLevel.position)):
        maintenance = level.chain == "maintenance"
        number = level.position - 1 if maintenance else level.position
        place = f"site {level.site_id} {'maintenance' if maintenance else 'escalation'} level {number} ({level.name})"
        yield from _contact(level.site_id, place, "level", {"name": level.name, "notify": level.notify or []})
        for shift in level.roster or []:
            name = shift.get("name") if isinstance(shift, dict) else None
            yield from _contact(level.site_id, f"{place} roster {name}", "shift", shift)
    personal = [kind for kind, driver in DRIVERS.items() if driver.personal_device]
    for device in session.scalars(select(Device).where(Device.kind.in_(personal)).order_by(Device.id)):
        driver = get_driver(device.kind)
        attributes = device.attributes if isinstance(device.attributes, dict) else {}
        found = driver.contacts(attributes, lambda: None) if driver is not None else None
        for member in (found or {}).get("family") or []:
            name = member.get("name") if isinstance(member, dict) else None
            yield from _contact(device.site_id, f"device {device.id} family {name}", "family", member)
    drivers = [DRIVERS[kind] for kind in personal]
    for person in session.scalars(select(Person).order_by(Person.id)):
        attributes = person.attributes if isinstance(person.attributes, dict) else {}
        if not attributes.get("family") or not drivers:
            continue
        found = drivers[0].contacts({}, _holder(person.name, attributes))  # the family as an elder's button reads it
        for member in (found or {}).get("family") or []:
            name = member.get("name") if isinstance(member, dict) else None
            yield from _contact(person.site_id, f"person {person.id} ({person.name}) family {name}", "family",
                                member)


def _holder(name: str, attributes: dict[str, Any]) -> Callable[[], tuple[str, dict[str, Any]]]:
    return lambda: (name, attributes)


@dataclass(frozen=True, slots=True)
class _Record:
    state: str
    at: datetime | None
    error: str | None
    attempts: int


def _records(session: Session, addresses: set[str], since: datetime) -> tuple[dict[str, _Record], dict[str, int]]:
    """Per target address: its latest delivery, and its deliveries created since `since` that failed."""
    latest: dict[str, _Record] = {}
    failures: dict[str, int] = {}
    chunk = sorted(addresses)
    for start in range(0, len(chunk), 500):
        part = chunk[start:start + 500]
        newest = select(func.max(Notification.id)).where(Notification.target.in_(part)).group_by(Notification.target)
        for row in session.scalars(select(Notification).where(Notification.id.in_(newest))):
            latest[row.target] = _Record(row.state, row.delivered_at or row.due_at, row.last_error, row.attempts)
        failures.update({target: count for target, count in session.execute(
            select(Notification.target, func.count()).where(Notification.target.in_(part),
                                                            Notification.state == "failed",
                                                            Notification.created_at >= since)
            .group_by(Notification.target))})
    return latest, failures


@router.get("/targets", response_model=list[TargetOut], responses=errors(422))
def list_targets(session: DB, svc: Svc, who: Admin,
                 failing: Annotated[bool, Query(description="only the failing ones")] = False,
                 site: SiteFilter = None) -> list[TargetOut]:
    """Every configured notification target (team members and their roster, the levels of both chains and their
    rosters, the families of elder buttons and of persons), where it is configured, whether it parses, and how
    its deliveries went: so the failing ones are seen before an SOS needs them. Targets are shown redacted; the
    call is recorded in the audit log (families are persons' data)."""
    phones_used = svc.settings.notifications.phone.provider is not None
    found = [f for f in _configured(session) if site is None or f.site == site]
    parsed: list[tuple[_Found, str | None, str, str | None, str | None]] = []
    seen: dict[str, Target | str] = {}  # a shared group or a family's number is parsed once
    for item in found:
        text = f"sms:{item.text}" if item.phone else item.text
        if text not in seen:
            try:
                seen[text] = parse_target(text)
            except ValueError as exc:
                seen[text] = str(exc)
        target = seen[text]
        if isinstance(target, str):
            parsed.append((item, None, "sms:****" if item.phone else shown_target(item.text), target, None))
        else:
            parsed.append((item, target.channel, target.shown, None, target.address))
    latest, failures = _records(session, {a for *_, a in parsed if a is not None}, utcnow() - FAILURE_WINDOW)
    out = []
    for item, channel, shown, error, address in parsed:
        record = latest.get(address) if address is not None else None
        failed = failures.get(address, 0) if address is not None else 0
        retrying = record is not None and record.state in ("pending", "sending") and bool(record.error)
        is_failing = error is not None or failed > 0 or (record is not None and record.state == "failed") or retrying
        if failing and not is_failing:
            continue
        note = ("not used: no SMS provider is configured (notifications.phone)"
                if item.phone and error is None and not phones_used else None)
        out.append(TargetOut(
            site=item.site, where=item.where, source=item.source, recipient=item.recipient, channel=channel,
            shown=shown, ok=error is None, error=error, note=note,
            last_state=_state(record.state) if record is not None else None,
            last_at=record.at if record else None, last_error=record.error if record else None,
            failures_24h=failed, failing=is_failing))
    families = sum(1 for item, *_ in parsed if item.source == "family")
    audit(session, who.name, who.role, "notify_targets", None,
          f"{len(out)} target(s) listed, {families} of families; failing={failing}, site={site}")
    session.commit()
    return out
