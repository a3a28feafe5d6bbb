"""LISTEN/NOTIFY wake-ups between processes (kernel/db/notify.py), on the real PostgreSQL."""

from __future__ import annotations

import threading

from kernel.db import make_engine, session_factory
from kernel.db.notify import listener_for, notify_after_commit
from tests.helpers import wait_for


def test_a_notification_arrives_after_the_commit_only_and_once_per_transaction(pg_url: str) -> None:
    engine = make_engine(pg_url)
    woken: list[int] = []
    lock = threading.Lock()

    def on_notify() -> None:
        with lock:
            woken.append(1)

    listener = listener_for(engine, on_notify)
    assert listener is not None
    try:
        wait_for(listener.listening.is_set, 10, what="LISTEN in effect")
        wait_for(lambda: len(woken) >= 1, 5, what="the wake-up after connecting")  # catches up on what it missed
        before = len(woken)
        sessions = session_factory(engine)
        with sessions.begin() as session:
            notify_after_commit(session)
            notify_after_commit(session)  # the same transaction: one statement, one notification
            threading.Event().wait(0.3)
            assert len(woken) == before, "notified before the commit"
        wait_for(lambda: len(woken) == before + 1, 5, what="the notification after the commit")
        threading.Event().wait(0.3)
        assert len(woken) == before + 1
    finally:
        listener.stop()


def test_sqlite_has_no_listener(sqlite_url: str) -> None:
    assert listener_for(make_engine(sqlite_url), lambda: None) is None
