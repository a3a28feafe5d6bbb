"""Rounds on a fake clock: made at the schedule's time in the site's zone, points missed once, overdue, completed,
several keepers at once; the site file's points and routes. No broker, no threads."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from alerting.alerts import AlertChange
from alerting.engine import RuleEngine
from gateway.registry import apply_site_config
from kernel.db import make_engine, migrate, session_factory
from kernel.db.models import Alert, PatrolCheckin, PatrolPoint, PatrolRound
from kernel.siteconfig import CommunityConfig
from patrol import qr
from patrol.checkins import CheckinRefused, CheckinRequest, check_in
from patrol.rounds import RULE_MISSED, RULE_OVERDUE, RoundKeeper, rounds_json, running_starts

LOCAL = timedelta(hours=8)  # Asia/Shanghai
MONDAY_2155 = datetime(2026, 3, 2, 21, 55, tzinfo=UTC) - LOCAL
"""21:55 on a Monday, site time."""
START = MONDAY_2155 + timedelta(minutes=5)
"""The 22:00 round's start."""


def community(**route: Any) -> dict[str, Any]:
    return {"sites": [{
        "id": "s1", "name": "和谐社区", "timezone": "Asia/Shanghai",
        "teams": [{"id": "t1", "name": "夜班巡防队", "members": [{"name": "张建国"}]},
                  {"id": "t2", "name": "白班巡防队"}],
        "grids": [{"id": "g1", "name": "第一网格", "team": "t1"}, {"id": "g2", "name": "第二网格", "team": "t2"}],
        "patrol_points": [{"id": "p1", "name": "东门岗", "grid": "g2", "location": {"gate": "east"}},
                          {"id": "p2", "name": "3号楼", "grid": "g1"},
                          {"id": "p3", "name": "地下车库", "grid": "g1", "nfc_tag": "04:A2:3B:11"},
                          {"id": "p9", "name": "不在路线上"}],
        "patrol_routes": [{"id": "night", "name": "夜间巡更", "team": "t1",
                           "points": [{"point": "p1", "within": "10m"}, {"point": "p2", "within": "20m"},
                                      {"point": "p3", "within": "30m"}],
                           "schedule": {"times": ["22:00", "02:00"]}, "duration": "1h", **route}],
    }]}


class Rig:
    """A migrated database with the community applied, a rule engine, a keeper, and the changes delivered."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.sessions = sessions
        self.engine = RuleEngine.from_files(None)
        self.delivered: list[AlertChange] = []
        self.engine.listeners.append(self.delivered.extend)
        with sessions() as session:
            self.engine.refresh(session, MONDAY_2155)
        self.keeper = RoundKeeper(self.engine)

    def tick(self, at: datetime, keeper: RoundKeeper | None = None) -> None:
        (keeper or self.keeper).tick(self.sessions, at, force=True)

    def rounds(self) -> list[PatrolRound]:
        with self.sessions() as session:
            return list(session.scalars(select(PatrolRound).order_by(PatrolRound.starts_at)))

    def alerts(self) -> list[Alert]:
        with self.sessions() as session:
            return list(session.scalars(select(Alert).order_by(Alert.id)))

    def code(self, point: str) -> str:
        with self.sessions() as session:
            row = session.get(PatrolPoint, point)
            assert row is not None
            return row.code

    def check(self, point: str, at: datetime, now: datetime | None = None, member: str = "张建国",
              team: str | None = "t1", client_id: str | None = None, code: str | None = None,
              method: str = "qr") -> Any:
        request = CheckinRequest(point, code or self.code(point), client_id or f"c-{point}-{at.timestamp():.0f}", at,
                                 method)
        with self.sessions.begin() as session:
            result = check_in(session, request, member, team, {team} if team else None, now or at)
            return result.created, result.completed, result.round.id if result.round else None, result.note


def open_db(url: str, site: dict[str, Any]) -> Iterator[Rig]:
    engine = make_engine(url)
    migrate(engine)
    sessions = session_factory(engine)
    with sessions.begin() as session:
        apply_site_config(session, CommunityConfig.model_validate(site))
    yield Rig(sessions)
    engine.dispose()


@pytest.fixture
def rig(sqlite_url: str) -> Iterator[Rig]:
    yield from open_db(sqlite_url, community())


def test_schedule_times_are_the_sites_wall_clock() -> None:
    from zoneinfo import ZoneInfo

    schedule = {"times": ["22:00", "02:00"], "days": ["mon"]}
    zone = ZoneInfo("Asia/Shanghai")
    assert running_starts(schedule, timedelta(hours=1), zone, START - timedelta(seconds=1)) == []
    assert running_starts(schedule, timedelta(hours=1), zone, START) == [START]
    assert running_starts(schedule, timedelta(hours=1), zone, START + timedelta(minutes=59)) == [START]
    assert running_starts(schedule, timedelta(hours=1), zone, START + timedelta(hours=1)) == []
    # 02:00 on Tuesday is not a Monday start; without `days` it is
    tuesday_0210 = START + timedelta(hours=4, minutes=10)
    assert running_starts(schedule, timedelta(hours=1), zone, tuesday_0210) == []
    assert running_starts({"times": ["02:00"]}, timedelta(hours=1), zone, tuesday_0210) == [
        START + timedelta(hours=4)]
    # a round of 3 hours started yesterday evening is still running after midnight
    assert running_starts({"times": ["22:00"]}, timedelta(hours=3), zone, START + timedelta(hours=2, minutes=30)) == [
        START]
    # daylight saving: 22:00 in New York is 02:00 UTC in summer, 03:00 in winter
    ny = ZoneInfo("America/New_York")
    assert running_starts({"times": ["22:00"]}, timedelta(hours=1), ny,
                          datetime(2026, 7, 2, 2, 30, tzinfo=UTC)) == [datetime(2026, 7, 2, 2, 0, tzinfo=UTC)]
    assert running_starts({"times": ["22:00"]}, timedelta(hours=1), ny,
                          datetime(2026, 1, 2, 3, 30, tzinfo=UTC)) == [datetime(2026, 1, 2, 3, 0, tzinfo=UTC)]


def test_site_file_points_keep_their_codes_and_are_validated(rig: Rig) -> None:
    code = rig.code("p1")
    assert len(code) >= 16
    changed = community()
    changed["sites"][0]["patrol_points"][0]["name"] = "东大门岗"
    with rig.sessions.begin() as session:
        apply_site_config(session, CommunityConfig.model_validate(changed))
    with rig.sessions() as session:
        row = session.get(PatrolPoint, "p1")
        assert row is not None and row.name == "东大门岗" and row.code == code  # printed codes stay valid
    for bad, reason in (({"points": [{"point": "nope"}]}, "is not a patrol point"),
                        ({"schedule": {"times": ["22:60"]}}, "is not HH:MM"),
                        ({"team": "t9"}, "is not a team"),
                        ({"duration": "25h"}, "longer than 24h"),
                        ({"points": [{"point": "p1", "within": "2h"}]}, "longer than the round's duration")):
        with pytest.raises(ValueError, match=reason):
            CommunityConfig.model_validate(community(**bad))
    assert qr.parse_ref(qr.point_url("https://anju.example/", "p1", code)) == ("p1", code)
    assert qr.parse_ref(f"p1.{code}") == ("p1", code)
    assert qr.parse_ref("https://example.com/other") is None


def test_a_round_is_made_when_its_time_comes_once(rig: Rig) -> None:
    rig.tick(START - timedelta(seconds=1))
    assert rig.rounds() == []
    rig.tick(START)
    rig.tick(START + timedelta(seconds=3))
    [round_] = rig.rounds()
    assert (round_.starts_at, round_.due_at, round_.state, round_.team_id) == (
        START, START + timedelta(hours=1), "open", "t1")
    assert [p["point"] for p in round_.points] == ["p1", "p2", "p3"]
    rig.tick(START + timedelta(hours=4, minutes=1))  # 02:01: the night's second round
    assert [r.starts_at for r in rig.rounds()] == [START, START + timedelta(hours=4)]


def test_a_keeper_started_during_a_round_makes_it_but_not_one_already_over(rig: Rig) -> None:
    rig.tick(START + timedelta(hours=1, minutes=5))  # 23:05: the 22:00 round is over
    assert rig.rounds() == []
    rig.tick(START + timedelta(hours=4, minutes=40))  # 02:40: the 02:00 round is running
    assert [r.starts_at for r in rig.rounds()] == [START + timedelta(hours=4)]


def test_missed_points_raise_their_alert_once_and_an_overdue_round_its_own(rig: Rig) -> None:
    rig.tick(START)
    rig.check("p1", START + timedelta(minutes=3))
    rig.tick(START + timedelta(minutes=10, seconds=1))  # p1's window ran out: it was checked
    assert rig.alerts() == []
    rig.tick(START + timedelta(minutes=20))  # p2's window ran out unchecked
    rig.tick(START + timedelta(minutes=21))
    [missed] = rig.alerts()
    assert (missed.rule, missed.severity, missed.audience, missed.kind, missed.grid_id, missed.count) == (
        RULE_MISSED, "minor", "patrol", "patrol_round", "g1", 1)  # the team's grid, not the point's
    assert "3号楼" in missed.title and missed.evidence[0]["point"] == "p2"
    assert missed.level == 0 and missed.escalate_at is not None  # the alert lifecycle: routed, escalates
    assert [c.action for c in rig.delivered] == ["created"]
    rig.check("p2", START + timedelta(minutes=25))  # late: counts, the alert stays
    rig.tick(START + timedelta(hours=1))
    alerts = rig.alerts()
    assert [(a.rule, a.evidence[0].get("point")) for a in alerts] == [
        (RULE_MISSED, "p2"), (RULE_MISSED, "p3"), (RULE_OVERDUE, None)]
    overdue = alerts[-1]
    assert overdue.severity == "major" and overdue.evidence[0]["unchecked"] == ["p3"]
    [round_] = rig.rounds()
    assert round_.state == "incomplete" and round_.missed == ["p2", "p3"]
    rig.tick(START + timedelta(hours=2))
    assert len(rig.alerts()) == 3
    with rig.sessions() as session:
        [shown] = rounds_json(session, rig.rounds(), START + timedelta(hours=2))
    assert [(p["point"], p["state"], p["alerted"]) for p in shown["points"]] == [
        ("p1", "checked", False), ("p2", "late", True), ("p3", "missed", True)]
    assert (shown["checked"], shown["total"], shown["members"]) == (2, 3, ["张建国"])


def test_the_last_point_completes_the_round(rig: Rig) -> None:
    rig.tick(START)
    assert rig.check("p1", START + timedelta(minutes=1))[1:3] == (False, 1)
    assert rig.check("p2", START + timedelta(minutes=2))[1] is False
    created, completed, round_id, _ = rig.check("p3", START + timedelta(minutes=3))
    assert (created, completed, round_id) == (True, True, 1)
    [round_] = rig.rounds()
    assert round_.state == "completed" and round_.completed_at == START + timedelta(minutes=3)
    rig.tick(START + timedelta(hours=2))
    assert rig.alerts() == []


def test_check_in_rules(rig: Rig) -> None:
    now = START + timedelta(minutes=5)
    assert rig.check("p1", now, client_id="same-scan-1")[:3] == (True, False, 1)  # the round is made on demand
    assert rig.check("p1", now, client_id="same-scan-1")[:3] == (False, False, 1)  # a resend: stored once
    with rig.sessions() as session:
        assert session.scalar(select(func.count()).select_from(PatrolCheckin)) == 1
    with pytest.raises(CheckinRefused, match="another member"):
        rig.check("p1", now, client_id="same-scan-1", member="李四")
    with pytest.raises(CheckinRefused, match="not the code") as wrong:
        rig.check("p2", now, code="guessed-code-000")
    assert wrong.value.status == 422
    with pytest.raises(CheckinRefused, match="no patrol point") as unknown:
        rig.check("p7", now, code="x" * 16)
    assert unknown.value.status == 404
    with pytest.raises(CheckinRefused, match="too old"):
        rig.check("p2", now - timedelta(hours=25), now=now)
    # the phone's clock five minutes ahead: the server's time, said so
    _, _, round_id, note = rig.check("p2", now + timedelta(minutes=5), now=now)
    assert round_id == 1 and note is not None and "ahead" in note
    # NFC: the tag's serial, however the phone writes it, found without naming the point
    request = CheckinRequest(None, "04a23b11", "nfc-tap-0001", now, "nfc")
    with rig.sessions.begin() as session:
        result = check_in(session, request, "张建国", "t1", {"t1"}, now)
        assert (result.checkin.point_id, result.completed) == ("p3", True)
    # a point on no route, or another team's member: recorded outside a round
    assert rig.check("p9", now)[2] is None
    assert rig.check("p1", now, member="王五", team="t2", client_id="other-team-1")[2] is None


def test_a_round_checked_offline_in_time_is_completed_when_the_phone_comes_back(rig: Rig) -> None:
    rig.tick(START)
    rig.tick(START + timedelta(hours=1))  # nothing arrived: missed and overdue
    assert rig.rounds()[0].state == "incomplete" and len(rig.alerts()) == 4
    back = START + timedelta(hours=1, minutes=30)
    for minute, point in ((2, "p1"), (8, "p2"), (15, "p3")):  # scanned in time, sent when the network returned
        completed = rig.check(point, START + timedelta(minutes=minute), now=back)[1]
    assert completed is True
    [round_] = rig.rounds()
    assert round_.state == "completed" and round_.completed_at == START + timedelta(minutes=15)
    assert len(rig.alerts()) == 4  # raised when they were true: the team leader closes them


@pytest.mark.parametrize("db", ["sqlite", "postgresql"])
def test_two_keepers_make_one_round_and_one_alert_per_point(db: str, request: pytest.FixtureRequest) -> None:
    url = request.getfixturevalue("sqlite_url" if db == "sqlite" else "pg_url")
    for rig in open_db(url, community()):
        other = RoundKeeper(RuleEngine.from_files(None))
        for seconds in range(0, 3700, 300):
            at = START + timedelta(seconds=seconds)
            rig.tick(at)
            rig.tick(at, other)
        assert len(rig.rounds()) == 1
        alerts = rig.alerts()
        assert sorted((a.rule, a.evidence[0].get("point") or "") for a in alerts) == [
            (RULE_MISSED, "p1"), (RULE_MISSED, "p2"), (RULE_MISSED, "p3"), (RULE_OVERDUE, "")]
        assert all(a.count == 1 for a in alerts)
