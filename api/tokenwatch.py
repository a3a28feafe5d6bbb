"""Live streams end with their token: a revoked, expired or deleted token's WebSockets close within seconds.

A REST call checks its token every time; a WebSocket checked it once, at the
handshake, and then kept delivering for as long as it stayed open (70 s and more
after the token was revoked, in the containment tests of issue 15). One task per
API process re-checks the tokens of its open streams every `RECHECK_SECONDS`
with one query, and at once when this process revokes a token; a stream whose
token is no longer valid is closed with 1008 (policy), like a refused handshake.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from sqlalchemy import or_, select
from sqlalchemy.orm import Session, sessionmaker

from api.auth import Principal
from kernel.db.models import ApiToken
from kernel.timeutil import utcnow

log = logging.getLogger(__name__)

RECHECK_SECONDS = 2.0
"""How soon a token revoked by another process (or expiring) closes this process's streams, at most."""


class TokenWatch:
    """The open streams per token id, and the task that ends those whose token is no longer valid."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.sessions = sessions
        self._streams: dict[int, set[asyncio.Event]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None

    def watch(self, who: Principal) -> asyncio.Event:
        """An event set when `who`'s token stops being valid (never, for the configured admin token, which is
        not in the database: it ends with the configuration). Call on the event loop; `unwatch` when done."""
        ended = asyncio.Event()
        if who.token_id is None:
            return ended
        self._streams.setdefault(who.token_id, set()).add(ended)
        if self._task is None or self._task.done():
            self._loop = asyncio.get_running_loop()
            self._wake = asyncio.Event()
            self._task = asyncio.create_task(self._run(), name="anju-token-watch")
        return ended

    def unwatch(self, who: Principal, ended: asyncio.Event) -> None:
        if who.token_id is None:
            return
        streams = self._streams.get(who.token_id)
        if streams is not None:
            streams.discard(ended)
            if not streams:
                del self._streams[who.token_id]

    def check_now(self) -> None:
        """Re-check at once (any thread): this process has just revoked a token."""
        loop, wake = self._loop, self._wake
        if loop is not None and wake is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop is shutting down
                loop.call_soon_threadsafe(wake.set)

    async def _run(self) -> None:
        assert self._wake is not None
        while self._streams:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), RECHECK_SECONDS)
            self._wake.clear()
            ids = set(self._streams)
            try:
                valid = await asyncio.to_thread(self._valid, ids)
            except Exception:  # the database is briefly away: keep the streams, try again
                log.exception("re-checking the tokens of live streams failed")
                continue
            for token_id in ids - valid:
                for ended in self._streams.pop(token_id, set()):
                    ended.set()

    def _valid(self, ids: set[int]) -> set[int]:
        now = utcnow()
        with self.sessions() as session:
            return set(session.scalars(select(ApiToken.id).where(
                ApiToken.id.in_(sorted(ids)), ApiToken.revoked_at.is_(None),
                or_(ApiToken.expires_at.is_(None), ApiToken.expires_at > now))))
