"""Live streams for the API: alert changes (from the journal) and a device's raw messages (a tap on ingest).

Alert changes are read from the `alert_changes` journal in id order by one
tailer per API process, woken at once by the in-process rule engine after each
commit, by PostgreSQL notifications for changes made by other processes
(kernel/db/notify.py), and polling as the fallback. Each WebSocket client
gets its own bounded queue: a client too slow to keep up is disconnected (and
resumes from the journal with `since=`), so it can never slow ingest or the
other clients, and it loses nothing. A client that stops reading altogether is
closed with 1013 within seconds and cut off if it takes not even the close
frame; a stream whose token ends is closed with 1008 (api/tokenwatch.py). Alerts
are shown as the REST routes show them (api/present.py): always renderable, and
their pictures by public id.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from fastapi import WebSocket, WebSocketDisconnect
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from api.auth import Principal
from api.jsonsafe import renderable
from api.present import has_pictures, present_alerts
from api.visibility import alert_filter, can_see_alert
from gateway.decode import RawMessage
from kernel.db.models import AlertChangeRow
from kernel.db.notify import Listener, listener_for
from kernel.topics import parse_device_topic

log = logging.getLogger(__name__)

POLL_SECONDS = 0.5
"""How often the journal is read when nothing in this process woke the tailer (changes by other processes)."""
GAP_WAIT_SECONDS = 2.0
"""A missing id may belong to a transaction that has not committed yet; after this long it was rolled back."""
GAP_RECHECK_SECONDS = 0.02
CLIENT_QUEUE = 1000
REPLAY_LIMIT = 5000
SEND_TIMEOUT = 5.0
"""A frame the client has not taken within this long (its socket is full: it stopped reading) makes it too slow."""
CLOSE_TIMEOUT = 2.0
"""How long a closing client has to take the close frame before its connection is dropped."""
TOO_SLOW = "too slow; reconnect with since=<last seq>"
TRANSPORT_KEY = "anju.transport"
"""The server's transport of a WebSocket, put in its scope by `api.limits.RequestLimits` where the server
exposes it (uvicorn does): the only way to drop a client that reads nothing, not even a close frame."""


def _frame(seq: int, action: str, alert: dict[str, Any]) -> dict[str, Any]:
    """A change as clients get it: the alert always renderable (api/jsonsafe.py), whatever its evidence holds."""
    return {"type": "change", "seq": seq, "action": action, "alert": renderable(alert)}


def change_frame(row: AlertChangeRow) -> dict[str, Any]:
    return _frame(row.id, row.action, row.alert)


def change_frames(session: Session, rows: list[AlertChangeRow]) -> list[dict[str, Any]]:
    """Frames for journal rows, their pictures by public id (one look-up for all of them)."""
    alerts = present_alerts(session, [row.alert for row in rows])
    return [{"type": "change", "seq": row.id, "action": row.action, "alert": alert}
            for row, alert in zip(rows, alerts, strict=True)]


def _frames(changes: Any) -> list[dict[str, Any]]:
    """Frames for committed `AlertChange`s that all carry a journal id, in id order; [] otherwise, or when an
    alert names a picture (its public id needs a database look-up: the journal read does that)."""
    if not isinstance(changes, list) or not changes:
        return []
    if any(not isinstance(getattr(change, "seq", None), int) for change in changes):
        return []
    if any(has_pictures(change.alert) for change in changes):
        return []
    return sorted((_frame(c.seq, c.action, c.alert) for c in changes), key=lambda frame: frame["seq"])


@dataclass(eq=False)
class Subscriber:
    who: Principal
    queue: asyncio.Queue[dict[str, Any] | None] = field(default_factory=lambda: asyncio.Queue(CLIENT_QUEUE))
    overflowed: bool = False


class AlertStreamHub:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.sessions = sessions
        self.last_seq = 0
        self._subscribers: set[Subscriber] = set()
        self._wake: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._gap_since: float | None = None
        self._reading = False
        """The tailer is reading the journal (only the event loop sets or reads this)."""
        self._listener: Listener | None = None

    @property
    def subscribers(self) -> int:
        return len(self._subscribers)

    # -- producers (any thread) -----------------------------------------------------------------

    def wake(self, changes: Any = None) -> None:
        """Something was committed: read the journal now rather than at the next poll.

        Changes committed in this process come with their journal ids (`AlertChange.seq`): when they
        continue the journal right where the tailer is, they are sent as they are, with no read of the
        journal and no hop through a worker thread (before, the stream lagged the alerts topic:
        docs/architecture.md#measured-decisions). Anything else (a gap, another process's change, a
        notification) reads the journal.
        """
        loop, event = self._loop, self._wake
        if loop is None or event is None or loop.is_closed():
            return
        frames = _frames(changes)
        with contextlib.suppress(RuntimeError):  # the loop is shutting down
            if frames:
                loop.call_soon_threadsafe(self._take, frames)
            else:
                loop.call_soon_threadsafe(event.set)

    def _take(self, frames: list[dict[str, Any]]) -> None:
        """On the event loop (as the tailer): dispatch changes that continue the journal, else read it."""
        # While the tailer reads (in a worker thread, moving `last_seq`), leave everything to it.
        if not self._reading and self._gap_since is None and frames[0]["seq"] == self.last_seq + 1 and all(
                later["seq"] == earlier["seq"] + 1 for earlier, later in itertools.pairwise(frames)):
            self.last_seq = frames[-1]["seq"]
            for frame in frames:
                self._dispatch(frame)
        elif self._wake is not None:
            self._wake.set()

    # -- consumers (the event loop) ---------------------------------------------------------------

    async def subscribe(self, who: Principal) -> Subscriber:
        await self._ensure_running()
        sub = Subscriber(who)
        self._subscribers.add(sub)
        return sub

    def unsubscribe(self, sub: Subscriber) -> None:
        self._subscribers.discard(sub)

    def close(self) -> None:
        """Stop listening for other processes' changes (the API is shutting down)."""
        if self._listener is not None:
            self._listener.stop()
            self._listener = None

    async def replay(self, who: Principal, since: int, upto: int) -> list[dict[str, Any]]:
        """Journal entries this caller may see with since < seq <= upto (what a reconnecting client missed)."""
        def read() -> list[dict[str, Any]]:
            with self.sessions() as session:
                rows = session.scalars(
                    select(AlertChangeRow)
                    .where(AlertChangeRow.id > since, AlertChangeRow.id <= upto, alert_filter(who, AlertChangeRow))
                    .order_by(AlertChangeRow.id).limit(REPLAY_LIMIT)
                ).all()
                return change_frames(session, list(rows))
        return await asyncio.to_thread(read)

    async def _ensure_running(self) -> None:
        if self._task is not None and not self._task.done():
            return
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        self._reading = True  # changes handed over meanwhile wait for the tailer, which starts after this
        try:
            self.last_seq = await asyncio.to_thread(self._latest)
        finally:
            self._reading = False
        self._task = asyncio.create_task(self._run(), name="anju-alert-journal")
        if self._listener is None:
            self._listener = listener_for(self.sessions.kw["bind"], self.wake)

    def _latest(self) -> int:
        with self.sessions() as session:
            return session.scalar(select(func.max(AlertChangeRow.id))) or 0

    async def _run(self) -> None:
        assert self._wake is not None
        while True:
            # Behind a gap, look again soon (the missing id is usually a commit a few ms away), not at once.
            wait = GAP_RECHECK_SECONDS if self._gap_since is not None else POLL_SECONDS
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), wait)
            self._wake.clear()
            self._reading = True
            try:
                frames = await asyncio.to_thread(self._read_frames)
            except Exception:  # the database is briefly away: try again at the next poll
                log.exception("reading the alert journal failed")
                continue
            finally:
                self._reading = False
            for frame in frames:
                self._dispatch(frame)

    def _read_frames(self) -> list[dict[str, Any]]:
        """`_read_new`, as frames (worker thread)."""
        rows = self._read_new()
        if not rows:
            return []
        if not any(has_pictures(row.alert) for row in rows):
            return [change_frame(row) for row in rows]
        with self.sessions() as session:
            return change_frames(session, rows)

    def _read_new(self) -> list[AlertChangeRow]:
        """New journal rows in id order, holding back behind a gap until the missing id commits or times out."""
        with self.sessions() as session:
            rows = session.scalars(select(AlertChangeRow).where(AlertChangeRow.id > self.last_seq)
                                   .order_by(AlertChangeRow.id).limit(1000)).all()
        ready = []
        for row in rows:
            if row.id != self.last_seq + 1:
                now = time.monotonic()
                if self._gap_since is None:
                    self._gap_since = now
                if now - self._gap_since < GAP_WAIT_SECONDS:
                    break
            self._gap_since = None
            self.last_seq = row.id
            ready.append(row)
        return ready

    def _dispatch(self, frame: dict[str, Any]) -> None:
        for sub in list(self._subscribers):
            if sub.overflowed or not can_see_alert(sub.who, frame["alert"]):
                continue
            try:
                sub.queue.put_nowait(frame)
            except asyncio.QueueFull:
                sub.overflowed = True  # the handler closes it; the client resumes with since=
                self._subscribers.discard(sub)
                with contextlib.suppress(asyncio.QueueFull):
                    sub.queue.get_nowait()
                    sub.queue.put_nowait(None)


class MessageTap:
    """A device's raw messages for integrators watching it live; costs one dict lookup per message when unused."""

    def __init__(self) -> None:
        self._watchers: dict[str, set[tuple[asyncio.AbstractEventLoop, asyncio.Queue[dict[str, Any]]]]] = {}
        self._lock = threading.Lock()

    def watch(self, device_id: str) -> tuple[asyncio.Queue[dict[str, Any]], Callable[[], None]]:
        entry = (asyncio.get_running_loop(), asyncio.Queue[dict[str, Any]](CLIENT_QUEUE))
        with self._lock:
            self._watchers.setdefault(device_id, set()).add(entry)

        def stop() -> None:
            with self._lock:
                watchers = self._watchers.get(device_id, set())
                watchers.discard(entry)
                if not watchers:
                    self._watchers.pop(device_id, None)
        return entry[1], stop

    def on_batch(self, batch: list[RawMessage], _result: Any) -> None:
        """Gateway batch listener (processing thread): hand copies to watchers without ever blocking."""
        if not self._watchers:
            return
        for raw in batch:
            topic = parse_device_topic(raw.topic)
            watchers = self._watchers.get(topic.device) if topic is not None else None
            if not watchers:
                continue
            frame = {"received_at": raw.received_at.isoformat(), "topic": raw.topic, "qos": raw.qos,
                     "payload": raw.payload[:4096].decode("utf-8", errors="replace"), "size": len(raw.payload)}
            for loop, queue in list(watchers):
                with contextlib.suppress(RuntimeError):
                    loop.call_soon_threadsafe(_offer, queue, frame)


async def forward(websocket: WebSocket, queue: asyncio.Queue[Any], keep: Callable[[dict[str, Any]], bool],
                  ended: asyncio.Event | None = None) -> None:
    """Send queued frames to the client until it goes away.

    Closes with 1013 a client too slow to keep up: a None in the queue (it overflowed), or a frame it has
    not taken within `SEND_TIMEOUT` (it stopped reading: its socket is full). Closes with 1008 when `ended`
    is set (the token was revoked or expired: api/tokenwatch.py). Either way the connection is gone within
    `CLOSE_TIMEOUT` more, even when the client reads nothing: it can never hold more than its queue and a
    socket's buffers.
    """
    reader = asyncio.create_task(_drain(websocket))
    stop = asyncio.create_task(ended.wait()) if ended is not None else None
    try:
        while True:
            getter = asyncio.create_task(queue.get())
            waits = {getter, reader} if stop is None else {getter, reader, stop}
            done, _ = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
            if reader in done:
                getter.cancel()
                return
            if stop is not None and stop in done:
                getter.cancel()
                await close(websocket, 1008, "the token was revoked or has expired")
                return
            frame = getter.result()
            if frame is None:
                await close(websocket, 1013, TOO_SLOW)
                return
            if keep(frame):
                try:
                    await asyncio.wait_for(websocket.send_json(frame), SEND_TIMEOUT)
                except TimeoutError:
                    await close(websocket, 1013, TOO_SLOW)
                    return
    except (WebSocketDisconnect, RuntimeError):
        return
    finally:
        reader.cancel()
        if stop is not None:
            stop.cancel()


async def close(websocket: WebSocket, code: int, reason: str) -> None:
    """Close with `code`; a client that does not take the close frame within `CLOSE_TIMEOUT` is cut off."""
    with contextlib.suppress(TimeoutError, WebSocketDisconnect, RuntimeError):
        await asyncio.wait_for(websocket.close(code=code, reason=reason), CLOSE_TIMEOUT)
    transport = websocket.scope.get(TRANSPORT_KEY)
    if transport is None:
        return
    deadline = time.monotonic() + CLOSE_TIMEOUT
    while transport.get_write_buffer_size() and not transport.is_closing() and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    if transport.get_write_buffer_size():  # nothing read for all that time: drop the connection
        transport.abort()


async def _drain(websocket: WebSocket) -> None:
    """Read (and ignore) what the client sends, so a disconnect is noticed at once."""
    with contextlib.suppress(WebSocketDisconnect, RuntimeError):
        while True:
            await websocket.receive_text()


def _offer(queue: asyncio.Queue[dict[str, Any]], frame: dict[str, Any]) -> None:
    with contextlib.suppress(asyncio.QueueFull):  # a slow watcher misses raw frames; they are not alerts
        queue.put_nowait(frame)
