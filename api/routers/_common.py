"""What the configuration routers share: typed ids, look-ups that answer 404, commits that answer 409, rosters.

Everything written here ends up in `alerting.routing.Routing.from_db`, which every
gateway runs on each refresh; so a roster, a wait or a timezone is validated
exactly as routing will read it, and a value routing could not use is a 422
here rather than a broken refresh later.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any, TypeVar

from fastapi import Depends, HTTPException, Path, Query, Response, status
from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from sqlalchemy import inspect, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from alerting.notifications.channels import parse_target
from api.auth import Permission, Principal
from api.deps import Services, errors, require
from kernel.db.models import Site
from kernel.durations import parse_duration
from kernel.siteconfig import ID_PATTERN, DutyShift
from rules.schema import Day, Schedule

T = TypeVar("T")

PathId = Annotated[str, Path(pattern=ID_PATTERN, description="`[A-Za-z0-9_-]{1,64}`")]
SiteFilter = Annotated[str | None, Query(pattern=ID_PATTERN, description="only this site's")]
RowId = Annotated[int, Path(ge=1, le=2**62)]
BodyId = Annotated[str, Field(pattern=ID_PATTERN)]
LINE = r"^[^\x00-\x1f\x7f]*$"
"""One line of text: no control characters (PostgreSQL refuses NUL in text, and a name has no line breaks)."""
NO_NUL = r"^[^\x00]*$"
NAME = r"^[^\x00-\x1f\x7f]*[^\x00-\x20\x7f][^\x00-\x1f\x7f]*$"
"""One line with something in it besides spaces."""
Name = Annotated[str, Field(min_length=1, max_length=200, pattern=NAME)]
Phone = Annotated[str, Field(max_length=50, pattern=LINE)]
Wait = Annotated[str, Field(min_length=1, max_length=32, description="a duration: 90s, 5m, 1h30m",
                            examples=["5m"])]
ConfigReader = Annotated[Principal, Depends(require(Permission.CONFIG_READ))]
ConfigWriter = Annotated[Principal, Depends(require(Permission.CONFIG_WRITE))]
TIME_PATTERN = r"^(([01]?\d|2[0-3]):[0-5]\d|24:00)$"
MAX_ROSTER = 200
MAX_TARGETS = 10
"""Notification targets one member, shift or level may have."""
TargetText = Annotated[str, Field(min_length=1, max_length=1000, pattern=LINE,
                                  examples=["wecombot://KEY", "sms:13800000001"])]
Targets = Annotated[list[TargetText], Field(
    default_factory=list, max_length=MAX_TARGETS,
    description="notification targets (SPEC §6): Apprise URLs (`wecombot://KEY`, `mailto://…`, `json://host/path`) "
                "or `sms:`/`voice:` phone numbers; as stored to callers with `config:write`, else redacted (keys "
                "masked); left out of an answer when empty",
    exclude_if=lambda targets: not targets)]


def _utc(value: datetime) -> datetime:
    try:
        return (value if value.tzinfo is not None else value.replace(tzinfo=UTC)).astimezone(UTC)
    except OverflowError:
        raise ValueError("date out of range") from None


Instant = Annotated[datetime, AfterValidator(_utc)]
"""A moment, as UTC; without an offset it is taken as UTC, as everywhere in Anju."""
AwareInstant = Annotated[AwareDatetime, AfterValidator(_utc)]
"""A moment with its offset (required), as UTC."""


def put_responses(model: type[BaseModel]) -> dict[int | str, dict[str, Any]]:
    """The answers of a create-or-replace PUT: 200 replaced, 201 created, and the errors."""
    return {201: {"model": model, "description": "created"}, **errors(409, 422)}


def of_site(session: Session, model: type[T], site: str | None) -> list[T]:
    """Every row of a per-site configuration table, by id, or only one site's."""
    stmt = select(model).order_by(model.id)  # type: ignore[attr-defined]
    if site is not None:
        stmt = stmt.where(model.site_id == site)  # type: ignore[attr-defined]
    return list(session.scalars(stmt))


def get_or_404(session: Session, model: type[T], key: Any, what: str) -> T:
    """The row with this primary key, or a 404 naming what was asked for."""
    row = session.get(model, key)
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no {what} {key}")
    return row


def unprocessable(detail: Any) -> HTTPException:
    return HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail)


def conflict(detail: str) -> HTTPException:
    return HTTPException(status.HTTP_409_CONFLICT, detail)


def existing_site(session: Session, site_id: str) -> Site:
    """A site named in a request body: unknown is a 422 (the request is wrong), not a 404 (the URL is fine)."""
    site = session.get(Site, site_id)
    if site is None:
        raise unprocessable(f"no site {site_id!r}")
    return site


def commit(session: Session, on_conflict: str) -> None:
    """Commit; a concurrent change that breaks a key or a reference is a 409, not a 500."""
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
        raise conflict(on_conflict) from None


def created_status(response: Response, created: bool) -> None:
    """PUT creates or replaces: 201 when it created."""
    response.status_code = status.HTTP_201_CREATED if created else status.HTTP_200_OK


def save(session: Session, svc: Services, model: type[T], key: str, what: str, store: Callable[[T], None],
         replace: Response | None = None) -> T:
    """Create one configuration row (POST: 409 if it exists), or with `replace` create or replace it (PUT: 201 or
    200 on that response); `store` checks the request and writes it into the row. Then commit, and have the engine
    re-read its configuration before the next message."""
    row = session.get(model, key)
    if replace is None and row is not None:
        raise conflict(f"{what} {key} already exists (PUT replaces it)")
    if replace is not None:
        created_status(replace, row is None)
    row = row if row is not None else model(**{inspect(model).primary_key[0].key: key})
    store(row)
    session.add(row)
    commit(session, f"{what} {key}, or what it refers to, was changed at the same time")
    svc.engine.request_refresh()
    return row


def remove(session: Session, svc: Services, row: Any, what: str) -> None:
    """Delete one configuration row (its conflicts checked by the caller), commit, have the engine re-read."""
    session.delete(row)
    commit(session, f"{what} is still referenced")
    svc.engine.request_refresh()


def reasons(exc: ValidationError) -> str:
    """Pydantic's messages without its `Value error, ` prefixes, for a `detail` a person reads."""
    return "; ".join(str(e["msg"]).removeprefix("Value error, ") for e in exc.errors())


def target_problem(text: str) -> str | None:
    """Why a notification target cannot be used (`alerting.notifications.channels.parse_target`), or None."""
    try:
        parse_target(text)
    except ValueError as exc:
        return str(exc)
    return None


def check_targets(targets: list[str], who: str) -> list[str]:
    """The targets, stripped, each one parsed as the senders will; ValueError naming `who`, the target's place in
    the list and the parser's reason (never the target itself: it may hold a key)."""
    out = []
    for i, text in enumerate(targets):
        problem = target_problem(text)
        if problem is not None:
            raise ValueError(f"{who}: notify[{i}] is not a usable target: {problem}")
        out.append(text.strip())
    return out


def shown_target(text: str) -> str:
    """A target as it may be shown to anybody: its redacted form (keys, tokens and passwords masked), or for one
    that no longer parses, its schema alone."""
    try:
        return parse_target(text).shown
    except ValueError:
        schema, sep, _rest = str(text).partition(":")
        return f"{schema[:32]}:****" if sep and schema.isascii() and schema.isalnum() else "****"


def targets_out(stored: Any, reveal: bool) -> list[str]:
    """Stored targets for an answer: as stored when `reveal` (the caller may change them), else redacted."""
    targets = [str(t) for t in stored] if isinstance(stored, list) else []
    return targets if reveal else [shown_target(t) for t in targets]


def reveals_targets(who: Principal) -> bool:
    """Who sees notification targets as stored (with their keys): the callers who may change them. Everyone else
    sees them redacted, as they see no token: a key in a URL is a credential for that chat group or mailbox."""
    return who.can(Permission.CONFIG_WRITE)


def check_wait(value: str, what: str) -> str:
    """A duration as routing parses it (`kernel.durations.parse_duration`)."""
    try:
        parse_duration(value)
    except ValueError as exc:
        raise unprocessable(f"{what}: {exc}") from None
    return value.strip()


class Shift(BaseModel):
    """Someone on duty on these days between `from` and `to`, in the site's local time (may wrap past midnight)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    name: Name
    phone: Phone | None = None
    days: list[Day] | None = Field(default=None, min_length=1, max_length=7, description="mon..sun; all when left out")
    from_: str | None = Field(default=None, alias="from", pattern=TIME_PATTERN, examples=["08:00"])
    to: str | None = Field(default=None, pattern=TIME_PATTERN, examples=["20:00"])
    notify: Targets
    """Without its own, the shift uses the targets of the team member of the same name."""

    @field_validator("notify")
    @classmethod
    def _targets(cls, notify: list[str], info: ValidationInfo) -> list[str]:
        return check_targets(notify, f"shift {info.data.get('name', '?')}")


Roster = Annotated[list[Shift], Field(max_length=MAX_ROSTER, description="empty: always staffed")]


def roster_json(roster: list[Shift], timezone: str, what: str) -> list[dict[str, Any]]:
    """The roster as stored (`DutyShift`, key `from`), after checking that routing can build a schedule from it."""
    stored = []
    for i, shift in enumerate(roster):
        item = shift.model_dump(by_alias=True, exclude_none=True)
        try:
            DutyShift.model_validate(item)
            Schedule.model_validate({"timezone": timezone,
                                     **{k: v for k, v in item.items() if k in ("days", "from", "to")}})
        except ValidationError as exc:
            raise unprocessable(f"{what} roster[{i}] ({shift.name}): {reasons(exc)}") from None
        stored.append(item)
    return stored


def shifts_out(stored: list[Any] | None, reveal: bool = True) -> list[Shift]:
    """A stored roster for an answer; targets redacted unless `reveal` (`reveals_targets`). Not re-validated: a
    target stored before (or by the site file) that no longer parses is still shown."""
    shifts = []
    for item in stored or []:
        fields = {k: v for k, v in item.items() if k != "notify"} if isinstance(item, dict) else item
        shift = Shift.model_validate(fields)
        shift.notify = targets_out(item.get("notify") if isinstance(item, dict) else None, reveal)
        shifts.append(shift)
    return shifts
