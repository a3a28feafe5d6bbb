"""Watchlists (plates and persons) in the database, as the rules see them: `{list name: {values}}`.

Rules name lists (`plate: {on_watchlist: blacklist}`); the entries are managed
through the API and read by every gateway, so adding a car to the blacklist
reaches all workers within one refresh interval.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from kernel.db.engine import affected, upsert_insert
from kernel.db.models import WatchlistEntry


def load_watchlists(session: Session) -> dict[str, set[str]]:
    lists: dict[str, set[str]] = defaultdict(set)
    for name, value in session.execute(select(WatchlistEntry.list, WatchlistEntry.value)):
        lists[name].add(value)
    return dict(lists)


def add_entry(session: Session, list_name: str, value: str, now: datetime, added_by: str | None = None,
              note: str | None = None) -> None:
    """Add a value to a list (idempotent)."""
    if not list_name.strip() or not value.strip():
        raise ValueError("a watchlist entry needs a list name and a value")
    values = {"list": list_name.strip(), "value": value.strip(), "note": note, "added_by": added_by,
              "added_at": now}
    session.execute(upsert_insert(session, WatchlistEntry).values(values).on_conflict_do_nothing())


def remove_entry(session: Session, list_name: str, value: str) -> bool:
    result = session.execute(delete(WatchlistEntry).where(WatchlistEntry.list == list_name,
                                                          WatchlistEntry.value == value))
    return affected(result) > 0
