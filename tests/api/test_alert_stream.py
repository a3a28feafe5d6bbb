"""The alert stream hub on its own: journal order across gaps, and slow clients dropped without loss."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy.orm import Session, sessionmaker

from api import stream
from api.auth import Principal, Role
from api.stream import AlertStreamHub
from kernel.db.models import AlertChangeRow
from kernel.timeutil import utcnow


def journal(sessions: object, *ids: int) -> None:
    with sessions.begin() as s:  # type: ignore[attr-defined]
        for i in ids:
            s.add(AlertChangeRow(id=i, alert_id=i, site_id="s", grid_id="g1", audience="patrol", action="created",
                                 at=utcnow(), alert={"id": i, "grid": "g1", "audience": "patrol"}))


@pytest.fixture
def sessions(sqlite_sessions: sessionmaker[Session]) -> sessionmaker[Session]:
    return sqlite_sessions


def test_a_gap_holds_later_changes_back_until_it_fills_or_times_out(sessions: object,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    hub = AlertStreamHub(sessions)  # type: ignore[arg-type]
    journal(sessions, 1, 2, 4)  # 3 is a transaction that has not committed yet
    assert [r.id for r in hub._read_new()] == [1, 2]
    journal(sessions, 3)
    assert [r.id for r in hub._read_new()] == [3, 4]  # delivered in order once it commits
    journal(sessions, 6)  # 5 was rolled back: it never comes
    assert hub._read_new() == []
    monkeypatch.setattr(stream, "GAP_WAIT_SECONDS", 0.0)
    assert [r.id for r in hub._read_new()] == [6]


def test_a_slow_client_is_dropped_and_the_others_get_everything(sessions: object,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(stream, "CLIENT_QUEUE", 5)

    async def scenario() -> None:
        hub = AlertStreamHub(sessions)  # type: ignore[arg-type]
        who = Principal("x", Role.ADMIN)
        slow, fast = await hub.subscribe(who), await hub.subscribe(who)
        for seq in range(1, 11):
            hub._dispatch({"type": "change", "seq": seq, "alert": {"grid": "g1", "audience": "patrol"}})
            await asyncio.sleep(0)
            while not fast.queue.empty():  # the fast client keeps up
                fast.queue.get_nowait()
                fast.seen = seq  # type: ignore[attr-defined]
        assert slow.overflowed and hub.subscribers == 1
        items = [slow.queue.get_nowait() for _ in range(slow.queue.qsize())]
        assert items[-1] is None  # the handler closes it with 1013; it resumes from the journal with since=
        assert fast.seen == 10  # type: ignore[attr-defined]
        hub._task.cancel()  # type: ignore[union-attr]

    asyncio.run(scenario())


def test_changes_committed_here_go_straight_out_and_a_gap_falls_back_to_the_journal(sessions: object) -> None:
    """The engine's committed changes carry their journal ids: those that continue the journal are sent as they
    are; one that does not (a change of another process in between) makes the tailer read, in order, once."""
    from alerting.alerts import AlertChange

    def change(seq: int) -> AlertChange:
        return AlertChange("created", {"id": seq, "grid": "g1", "audience": "patrol"}, seq)

    async def received(sub: stream.Subscriber, count: int) -> list[int]:
        got = []
        while len(got) < count:
            frame = await asyncio.wait_for(sub.queue.get(), 5)
            got.append(frame["seq"])  # type: ignore[index]
        return got

    async def scenario() -> None:
        hub = AlertStreamHub(sessions)  # type: ignore[arg-type]
        sub = await hub.subscribe(Principal("x", Role.ADMIN))
        journal(sessions, 1, 2)
        hub.wake([change(1), change(2)])
        assert await received(sub, 2) == [1, 2]
        journal(sessions, 3, 4)  # 3: another process's change, announced to this one by a notification only
        hub.wake([change(4)])  # not the next id: the tailer reads the journal instead
        assert await received(sub, 2) == [3, 4]
        journal(sessions, 5)
        hub.wake([change(5)])
        assert await received(sub, 1) == [5]
        await asyncio.sleep(stream.POLL_SECONDS + 0.2)  # a poll of the journal finds nothing sent twice
        assert sub.queue.empty() and hub.last_seq == 5
        hub._task.cancel()  # type: ignore[union-attr]

    asyncio.run(scenario())
