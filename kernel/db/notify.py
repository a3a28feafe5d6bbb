"""Cross-process wake-ups through PostgreSQL LISTEN/NOTIFY.

With several processes (ingest workers, API processes: docs/deployment.md), an
alert change committed by one must reach the live streams served by the others.
The journal (`alert_changes`) is the truth and is always read in order; a NOTIFY,
sent in the changing transaction and so delivered only after its commit, just
tells the other processes to read it now rather than at their next poll. Losing
a notification (a dropped listener connection) therefore costs latency, never
a change. SQLite has a single process, so there this module does nothing.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from sqlalchemy import Engine
from sqlalchemy.orm import Session

log = logging.getLogger(__name__)

ALERT_CHANGES = "anju_alert_changes"


def notify_after_commit(session: Session, channel: str = ALERT_CHANGES) -> None:
    """Queue a notification on `channel` for this transaction's commit (once per transaction)."""
    if session.get_bind().dialect.name != "postgresql":
        return
    transaction = session.get_transaction()
    if session.info.get(channel) is transaction:
        return
    session.connection().exec_driver_sql(f"NOTIFY {channel}")  # the ORM's execute cost a millisecond per press
    session.info[channel] = transaction


class Listener(threading.Thread):
    """LISTENs on `channel` on its own connection and calls `on_notify` for every notification.

    Reconnects by itself (with back-off) after the database went away; `stop()` ends it.
    """

    def __init__(self, engine: Engine, on_notify: Callable[[], None], channel: str = ALERT_CHANGES) -> None:
        super().__init__(name=f"anju-listen-{channel}", daemon=True)
        self.conninfo = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        self.on_notify = on_notify
        self.channel = channel
        self._stop = threading.Event()
        self.listening = threading.Event()
        """Set while LISTEN is in effect (tests wait for it)."""

    def run(self) -> None:
        import psycopg

        backoff = 0.5
        while not self._stop.is_set():
            try:
                with psycopg.connect(self.conninfo, autocommit=True) as conn:
                    conn.execute(f"LISTEN {self.channel}")
                    self.listening.set()
                    backoff = 0.5
                    self.on_notify()  # changes committed while we were not listening
                    while not self._stop.is_set():
                        for _ in conn.notifies(timeout=1.0):
                            self.on_notify()
            except Exception as exc:  # noqa: BLE001 - the database is away: the journal poll covers the gap
                self.listening.clear()
                log.warning("listening for %s failed (%s); retrying in %.1fs", self.channel, exc, backoff)
                self._stop.wait(backoff)
                backoff = min(backoff * 2, 10.0)

    def stop(self) -> None:
        self._stop.set()


def listener_for(engine: Engine, on_notify: Callable[[], None], channel: str = ALERT_CHANGES) -> Listener | None:
    """A started listener on PostgreSQL; None on other databases."""
    if engine.dialect.name != "postgresql":
        return None
    listener = Listener(engine, on_notify, channel)
    listener.start()
    return listener
