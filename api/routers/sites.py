"""Sites (communities), each site's escalation chain above its grids (community office → street → district), its
maintenance chain (property company → community → street), and its notification policy (quiet hours, the family's
wait)."""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import Literal
from zoneinfo import available_timezones

from fastapi import APIRouter, Response, status
from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator
from sqlalchemy import delete, exists, select
from sqlalchemy.orm import Session

from alerting.routing import DEFAULT_CHAIN_ABOVE_GRID, DEFAULT_MAINTENANCE_CHAIN, Level
from api.auth import Principal
from api.deps import DB, Svc, errors
from api.routers._common import (
    LINE,
    BodyId,
    ConfigReader,
    ConfigWriter,
    Name,
    PathId,
    Roster,
    Shift,
    Targets,
    Wait,
    check_targets,
    check_wait,
    commit,
    conflict,
    get_or_404,
    put_responses,
    reasons,
    remove,
    reveals_targets,
    roster_json,
    save,
    shifts_out,
    targets_out,
    unprocessable,
)
from kernel.db.models import Device, EscalationLevel, Grid, Person, Site
from kernel.durations import format_duration
from kernel.siteconfig import NotificationPolicy

router = APIRouter(prefix="/sites", tags=["sites"])
MAX_LEVELS = 20


@lru_cache(maxsize=1)
def _timezones() -> frozenset[str]:
    return frozenset(available_timezones())


class SiteBody(BaseModel):
    name: Name
    timezone: str = Field(default="Asia/Shanghai", max_length=64, description="an IANA name, e.g. Asia/Shanghai")
    address: str | None = Field(default=None, max_length=500, pattern=LINE)

    @field_validator("timezone")
    @classmethod
    def _iana(cls, value: str) -> str:
        if value not in _timezones():
            raise ValueError(f"unknown timezone {value!r}; use an IANA name such as Asia/Shanghai")
        return value


class SiteIn(SiteBody):
    id: BodyId


class SiteOut(BaseModel):
    id: str
    name: str
    timezone: str
    address: str | None


class LevelIn(BaseModel):
    name: Name
    wait: Wait | None = Field(default=None, description="time to acknowledge before the next level; none at the top")
    roster: Roster = Field(default_factory=list)
    notify: Targets
    """Told whenever an alert reaches this level, whoever is on duty (the office's WeCom group, its mailbox)."""

    @field_validator("notify")
    @classmethod
    def _targets(cls, notify: list[str], info: ValidationInfo) -> list[str]:
        return check_targets(notify, f"level {info.data.get('name', '?')}")


class LevelOut(BaseModel):
    name: str
    wait: str | None
    roster: list[Shift]
    notify: Targets


class ChainIn(BaseModel):
    levels: list[LevelIn] = Field(max_length=MAX_LEVELS, description="the first level first (`/escalation`: level 1, "
                                                                     "above the grid patrol; `/maintenance`: level 0); "
                                                                     "empty: the default chain")


class ChainOut(BaseModel):
    site: str
    levels: list[LevelOut]
    default: bool = Field(description="true: the site has no chain of its own and routes by the default one")


HHMM = r"^([01]\d|2[0-3]):[0-5]\d$"
HOLDABLE = ("major", "minor", "warning")
"""Severities quiet hours may hold, most urgent first: never critical."""


class QuietHoursIO(BaseModel):
    """Hours (site time, may wrap past midnight) in which alerts of the `hold` severities are kept, not sent, until
    the hours end. Critical alerts are never held."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    from_: str = Field(alias="from", pattern=HHMM, examples=["22:00"])
    to: str = Field(pattern=HHMM, examples=["07:00"])
    hold: list[str] = Field(default_factory=lambda: ["minor", "warning"], max_length=4,
                            description="severities held: any of major, minor, warning (never critical)")


class PolicyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    quiet_hours: QuietHoursIO | None = None
    family_after: str | None = Field(default="0s", max_length=32, examples=["0s", "3m"],
                                     description="how long an elder's SOS may stay unacknowledged before the family "
                                                 "is told: `0s` at once; null: the family is never told by Anju")


class PolicyOut(PolicyIn):
    site: str
    default: bool = Field(description="true: the site uses the default policy (no quiet hours, family told at once)")


def _out(row: Site) -> SiteOut:
    return SiteOut(id=row.id, name=row.name, timezone=row.timezone, address=row.address)


def _store(body: SiteBody) -> Callable[[Site], None]:
    def store(row: Site) -> None:
        row.name, row.timezone, row.address = body.name.strip(), body.timezone, body.address

    return store


@router.get("", response_model=list[SiteOut], responses=errors())
def list_sites(session: DB, _who: ConfigReader) -> list[SiteOut]:
    return [_out(r) for r in session.scalars(select(Site).order_by(Site.id))]


@router.post("", response_model=SiteOut, status_code=status.HTTP_201_CREATED, responses=errors(409, 422))
def create_site(body: SiteIn, svc: Svc, session: DB, _who: ConfigWriter) -> SiteOut:
    return _out(save(session, svc, Site, body.id, "site", _store(body)))


@router.get("/{site_id}", response_model=SiteOut, responses=errors(404, 422))
def get_site(site_id: PathId, session: DB, _who: ConfigReader) -> SiteOut:
    return _out(get_or_404(session, Site, site_id, "site"))


@router.put("/{site_id}", response_model=SiteOut, responses=put_responses(SiteOut))
def put_site(site_id: PathId, body: SiteBody, response: Response, svc: Svc, session: DB,
             _who: ConfigWriter) -> SiteOut:
    """Create or replace a site (201 when created). A new timezone applies to its rosters at once."""
    return _out(save(session, svc, Site, site_id, "site", _store(body), replace=response))


@router.delete("/{site_id}", status_code=status.HTTP_204_NO_CONTENT, responses=errors(404, 409, 422))
def delete_site(site_id: PathId, svc: Svc, session: DB, _who: ConfigWriter) -> None:
    """Delete a site with no grids, devices or persons left; its teams and chain go with it."""
    row = get_or_404(session, Site, site_id, "site")
    for model, what in ((Grid, "grids"), (Device, "devices"), (Person, "persons")):
        if session.scalar(select(exists().where(model.site_id == site_id))):
            raise conflict(f"site {site_id} still has {what}: delete or move them first")
    remove(session, svc, row, f"site {site_id}")


Chain = Literal["patrol", "maintenance"]
DEFAULT_CHAINS: dict[str, tuple[Level, ...]] = {"patrol": DEFAULT_CHAIN_ABOVE_GRID,
                                                "maintenance": DEFAULT_MAINTENANCE_CHAIN}


def _chain(session: Session, site_id: str, chain: Chain, who: Principal) -> ChainOut:
    reveal = reveals_targets(who)
    rows = session.scalars(select(EscalationLevel).where(EscalationLevel.site_id == site_id,
                                                         EscalationLevel.chain == chain)
                           .order_by(EscalationLevel.position)).all()
    if not rows:
        return ChainOut(site=site_id, default=True, levels=[
            LevelOut(name=lv.name, wait=format_duration(lv.wait) if lv.wait else None, roster=[],
                     notify=targets_out(list(lv.notify), reveal))
            for lv in DEFAULT_CHAINS[chain]])
    return ChainOut(site=site_id, default=False, levels=[
        LevelOut(name=lv.name, wait=lv.wait, roster=shifts_out(lv.roster, reveal),
                 notify=targets_out(lv.notify, reveal)) for lv in rows])


def _replace_chain(session: Session, svc: Svc, site_id: str, chain: Chain, body: ChainIn, first: int) -> None:
    """Replace one chain of a site whole; `first` is the number of its first level (as errors name it)."""
    site = get_or_404(session, Site, site_id, "site")
    rows = []
    for position, level in enumerate(body.levels, start=1):
        number = position - 1 + first
        if level.wait is None and position < len(body.levels):
            raise unprocessable(f"level {number} ({level.name}): only the last level may have no `wait`")
        wait = check_wait(level.wait, f"level {number} ({level.name}) wait") if level.wait else None
        rows.append(EscalationLevel(site_id=site_id, chain=chain, position=position, name=level.name.strip(),
                                    wait=wait, notify=list(level.notify) or None,
                                    roster=roster_json(level.roster, site.timezone, f"level {number}")))
    session.execute(delete(EscalationLevel).where(EscalationLevel.site_id == site_id, EscalationLevel.chain == chain))
    session.add_all(rows)
    commit(session, f"the {chain} chain of site {site_id} was changed concurrently")
    svc.engine.request_refresh()


@router.get("/{site_id}/escalation", response_model=ChainOut, responses=errors(404, 422))
def get_escalation(site_id: PathId, session: DB, who: ConfigReader) -> ChainOut:
    """The chain above the grid patrol (level 0): level 1 is the first one an unacknowledged alert climbs to."""
    get_or_404(session, Site, site_id, "site")
    return _chain(session, site_id, "patrol", who)


@router.put("/{site_id}/escalation", response_model=ChainOut, responses=errors(404, 409, 422))
def put_escalation(site_id: PathId, body: ChainIn, svc: Svc, session: DB, who: ConfigWriter) -> ChainOut:
    """Replace the whole chain. Every level but the last needs a `wait`; a level whose roster has nobody on
    duty is skipped when an alert reaches it. A level's `notify` targets are told whenever an alert reaches it."""
    _replace_chain(session, svc, site_id, "patrol", body, first=1)
    return _chain(session, site_id, "patrol", who)


@router.get("/{site_id}/maintenance", response_model=ChainOut, responses=errors(404, 422))
def get_maintenance_chain(site_id: PathId, session: DB, who: ConfigReader) -> ChainOut:
    """The chain maintenance alerts (a dead battery, a device offline) climb instead of the patrol's, from level 0
    (the property company): never the district."""
    get_or_404(session, Site, site_id, "site")
    return _chain(session, site_id, "maintenance", who)


@router.put("/{site_id}/maintenance", response_model=ChainOut, responses=errors(404, 409, 422))
def put_maintenance_chain(site_id: PathId, body: ChainIn, svc: Svc, session: DB, who: ConfigWriter) -> ChainOut:
    """Replace the whole maintenance chain (its first level is level 0); empty: the default one."""
    _replace_chain(session, svc, site_id, "maintenance", body, first=0)
    return _chain(session, site_id, "maintenance", who)


def _policy_out(site: Site) -> PolicyOut:
    stored = site.notifications
    try:
        policy = NotificationPolicy.model_validate(stored) if stored else None
    except ValidationError:
        policy = None  # as routing reads it: a policy it cannot read routes by the defaults
    if policy is None:
        policy = NotificationPolicy()
    quiet = policy.quiet_hours
    return PolicyOut(site=site.id, default=policy == NotificationPolicy(), family_after=policy.family_after,
                     quiet_hours=None if quiet is None else QuietHoursIO.model_construct(
                         from_=quiet.from_, to=quiet.to, hold=list(quiet.hold)))


def _family_after(value: str | None) -> str | None:
    """A duration as the planner reads it, `0s` (at once), or None (never)."""
    if value is None:
        return None
    text = value.strip().lower()
    if text.rstrip("dhms").strip("0") == "" and text[:1] == "0":
        return "0s"  # 0, 0s, 0m: at once
    return check_wait(text, "family_after")


@router.get("/{site_id}/notifications", response_model=PolicyOut, responses=errors(404, 422))
def get_notification_policy(site_id: PathId, session: DB, _who: ConfigReader) -> PolicyOut:
    """The site's quiet hours and when an elder's family is told of an SOS (`default`: the site has none)."""
    return _policy_out(get_or_404(session, Site, site_id, "site"))


@router.put("/{site_id}/notifications", response_model=PolicyOut, responses=errors(404, 409, 422))
def put_notification_policy(site_id: PathId, body: PolicyIn, svc: Svc, session: DB,
                            _who: ConfigWriter) -> PolicyOut:
    """Replace the site's notification policy. Quiet hours hold only major, minor and warning alerts: a critical one
    (an elder's SOS, a fence cut) is sent at once whatever the hour, so `critical` in `hold` is refused."""
    site = get_or_404(session, Site, site_id, "site")
    quiet = body.quiet_hours
    stored: dict[str, object] = {"quiet_hours": None, "family_after": _family_after(body.family_after)}
    if quiet is not None:
        if "critical" in quiet.hold:
            raise unprocessable("quiet_hours.hold: critical alerts are never held (an SOS at 3 a.m. is sent at "
                                "once); hold only major, minor or warning")
        unknown = sorted(set(quiet.hold) - set(HOLDABLE))
        if unknown:
            raise unprocessable(f"quiet_hours.hold: unknown severities {', '.join(unknown)}; use major, minor, "
                                "warning")
        if quiet.from_ == quiet.to:
            raise unprocessable("quiet_hours: `from` and `to` are the same time; give the hours they span")
        stored["quiet_hours"] = {"from": quiet.from_, "to": quiet.to,
                                 "hold": [s for s in HOLDABLE if s in quiet.hold]}
    try:
        site.notifications = NotificationPolicy.model_validate(stored).model_dump(by_alias=True)
    except ValidationError as exc:
        raise unprocessable(reasons(exc)) from None
    commit(session, f"site {site_id} was changed concurrently")
    svc.engine.request_refresh()
    return _policy_out(site)
