"""Write transactions that coexist with the gateway's ingest on SQLite: take the lock first, retry when busy.

SQLite has one writer at a time. A transaction that reads first and writes later
(the default, deferred) fails at once with "database is locked" when another
writer committed in between, whatever `busy_timeout` says: its snapshot is stale
and cannot become a write. A long one holds the lock for its whole length, and
the gateway's batches (an elder's press among them) wait behind it. So bulk
writes from the API (the CSV import) run in short transactions that start with
`BEGIN IMMEDIATE` (the lock is taken up front, waiting up to `busy_timeout` for
the current writer), and a transaction that still finds the database busy is
rolled back and run again. On PostgreSQL both are unneeded and nothing changes.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TypeVar

from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

log = logging.getLogger(__name__)
T = TypeVar("T")

ATTEMPTS = 5
"""Runs of one transaction before a busy database is reported as the failure it is."""
BACKOFF_SECONDS = 0.05
"""The wait after the first busy attempt; doubled after each further one."""


def is_busy(exc: OperationalError) -> bool:
    """SQLite's "database is locked" / "database is busy" (another connection holds the write lock)."""
    text = str(exc.orig).lower()
    return "database is locked" in text or "database is busy" in text


def begin_write(session: Session) -> None:
    """Start the session's transaction as a writer: on SQLite, `BEGIN IMMEDIATE` (the first statement)."""
    connection = session.connection()
    if connection.dialect.name == "sqlite":
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def write_transaction(sessions: sessionmaker[Session], work: Callable[[Session], T]) -> T:
    """Run `work` in a write transaction of its own, committed; again (a few times) while SQLite is busy."""
    delay = BACKOFF_SECONDS
    for attempt in range(1, ATTEMPTS + 1):
        with sessions() as session:
            try:
                begin_write(session)
                result = work(session)
                session.commit()
                return result
            except OperationalError as exc:
                session.rollback()
                if not is_busy(exc) or attempt == ATTEMPTS:
                    raise
                log.info("database busy (attempt %d of %d): retrying in %.2f s", attempt, ATTEMPTS, delay)
        time.sleep(delay)
        delay *= 2
    raise AssertionError("unreachable")
