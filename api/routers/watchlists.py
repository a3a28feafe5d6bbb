"""Watchlists: named lists of plates and person ids that rules refer to (`plate: {on_watchlist: blacklist}`).

A list exists as long as it has entries; reading one that has none answers an
empty list, since rules may name a list before anybody is put on it.
"""

from __future__ import annotations

import builtins
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, status
from pydantic import BaseModel, Field
from sqlalchemy import select

from api.deps import DB, Svc, errors
from api.routers._common import NO_NUL, ConfigReader, ConfigWriter, commit, unprocessable
from kernel.db.models import WatchlistEntry
from kernel.timeutil import utcnow
from rules.matchers import WATCHLIST_NAME
from rules.watchlists import add_entry, remove_entry

router = APIRouter(prefix="/watchlists", tags=["watchlists"])
VALUE_PATTERN = r"^[^\x00-\x1f\x7f]{1,128}$"
"""A plate (辽E12345) or a person id as devices report it: any printable text, at most 128 characters."""
ListName = Annotated[str, Path(pattern=WATCHLIST_NAME, description="e.g. blacklist, watchlist, residents")]


class EntryIn(BaseModel):
    value: str = Field(pattern=VALUE_PATTERN, description="a plate or a person id, exactly as devices report it")
    note: str | None = Field(default=None, max_length=2000, pattern=NO_NUL)


class EntryOut(BaseModel):
    value: str
    note: str | None
    added_by: str | None
    added_at: datetime


class ListOut(BaseModel):
    list: str
    entries: builtins.list[EntryOut]


def _entry(row: WatchlistEntry) -> EntryOut:
    return EntryOut(value=row.value, note=row.note, added_by=row.added_by, added_at=row.added_at)


def _lists(session: DB, name: str | None = None) -> list[ListOut]:
    stmt = select(WatchlistEntry).order_by(WatchlistEntry.list, WatchlistEntry.value)
    if name is not None:
        stmt = stmt.where(WatchlistEntry.list == name)
    lists: dict[str, list[EntryOut]] = {}
    for row in session.scalars(stmt):
        lists.setdefault(row.list, []).append(_entry(row))
    return [ListOut(list=k, entries=v) for k, v in lists.items()]


@router.get("", response_model=list[ListOut], responses=errors())
def list_watchlists(session: DB, _who: ConfigReader) -> list[ListOut]:
    return _lists(session)


@router.get("/{list_name}", response_model=ListOut, responses=errors(422))
def get_watchlist(list_name: ListName, session: DB, _who: ConfigReader) -> ListOut:
    found = _lists(session, list_name)
    return found[0] if found else ListOut(list=list_name, entries=[])


@router.post("/{list_name}/entries", response_model=EntryOut, status_code=status.HTTP_201_CREATED,
             responses=errors(409, 422))
def add_to_watchlist(list_name: ListName, body: EntryIn, svc: Svc, session: DB, who: ConfigWriter) -> EntryOut:
    """Put a value on a list (idempotent: adding it again keeps the first entry); rules use it at once."""
    value = body.value.strip()
    try:
        add_entry(session, list_name, value, utcnow(), added_by=who.name, note=body.note)
    except ValueError as exc:
        raise unprocessable(str(exc)) from None
    commit(session, f"{value} was changed concurrently on {list_name}")
    svc.engine.request_refresh()
    row = session.scalars(select(WatchlistEntry).where(WatchlistEntry.list == list_name,
                                                       WatchlistEntry.value == value)).one()
    return _entry(row)


@router.delete("/{list_name}/entries/{value}", status_code=status.HTTP_204_NO_CONTENT, responses=errors(404, 422))
def remove_from_watchlist(list_name: ListName, value: Annotated[str, Path(pattern=VALUE_PATTERN)], svc: Svc,
                          session: DB, _who: ConfigWriter) -> None:
    if not remove_entry(session, list_name, value.strip()):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"{value!r} is not on {list_name}")
    session.commit()
    svc.engine.request_refresh()
