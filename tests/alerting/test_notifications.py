"""Who is told, when, and what becomes of each notification: the planner and the outbox, in process.

The rule harness drives the real engine on a real database with a fake clock; the channels here record what
they are asked to send (the channels themselves are tested against real servers in test_channels.py, and the
whole path in test_notify_path.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from alerting import alerts as lifecycle
from alerting.engine import RuleEngine
from alerting.notifications import links
from alerting.notifications.channels import Message, Outcome, Target
from alerting.notifications.plan import held_until
from kernel.config import NotificationSettings
from kernel.db.models import AlertHistory
from kernel.siteconfig import QuietHours
from testkit.rules import RuleHarness

MONDAY_17H_LOCAL = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
"""Shanghai 17:00 on a Monday: 张三's shift (08:00-20:00), not 李四's (20:00-08:00)."""


def site(**notifications: Any) -> dict[str, Any]:
    return {"sites": [{
        "id": "s1", "name": "测试社区",
        "teams": [{"id": "t1", "name": "一组",
                   "members": [{"name": "张三", "notify": ["json://127.0.0.1:1/zhang"]},
                               {"name": "李四", "phone": "13800000001", "notify": ["json://127.0.0.1:1/li"]},
                               {"name": "赵六", "notify": ["json://127.0.0.1:1/group"]}],
                   "roster": [{"name": "张三", "from": "08:00", "to": "20:00"},
                              {"name": "赵六", "from": "08:00", "to": "20:00"},
                              {"name": "李四", "from": "20:00", "to": "08:00"}]}],
        "grids": [{"id": "g1", "name": "第一网格", "team": "t1"}],
        "escalation": [
            {"name": "社区办公室", "wait": "10m", "notify": ["json://127.0.0.1:1/office", "json://127.0.0.1:1/group"]},
            {"name": "街道", "wait": "15m", "roster": [{"name": "王五", "notify": ["json://127.0.0.1:1/wang"]}]},
            {"name": "区"},
        ],
        "maintenance": [
            {"name": "物业公司", "wait": "30m", "notify": ["json://127.0.0.1:1/wuye"]},
            {"name": "社区办公室", "wait": "1h", "notify": ["json://127.0.0.1:1/office-maint"]},
            {"name": "街道", "notify": ["json://127.0.0.1:1/street-maint"]},
        ],
        "notifications": notifications,
        "devices": [
            {"id": "eb1", "kind": "elder_button", "grid": "g1", "name": "1号楼2单元402一键通",
             "location": {"courtyard": "1号院", "building": "1号楼", "unit": "2单元", "room": "402"},
             "attributes": {"elder": {"name": "于金凤", "age": 78},
                            "family": [{"name": "于杰", "relation": "儿子", "phone": "186-0000-1001",
                                        "notify": ["json://127.0.0.1:1/family"]},
                                       {"name": "于鹏", "relation": "侄子", "phone": "138-0000-1008"}]}},
            {"id": "gate1", "kind": "access_gate", "grid": "g1"},
        ],
    }]}


@dataclass
class Recording:
    """Channels that record each send and answer with the next scripted outcome (delivered by default)."""

    outcomes: list[Outcome] = field(default_factory=list)
    sent: list[tuple[Target, Message]] = field(default_factory=list)

    def send(self, target: Target, message: Message) -> Outcome:
        self.sent.append((target, message))
        return self.outcomes.pop(0) if self.outcomes else Outcome(True)


@pytest.fixture
def harness(sqlite_url: str) -> Iterator[RuleHarness]:
    with RuleHarness.open(sqlite_url, RuleEngine.from_files(None), site(), MONDAY_17H_LOCAL,
                          NotificationSettings()) as rules:
        yield rules


def targets(rules: RuleHarness, **where: Any) -> list[str]:
    return [n.target.rsplit("/", 1)[-1] for n in rules.outbox()
            if all(getattr(n, k) == v for k, v in where.items())]


def history(rules: RuleHarness, alert_id: int) -> list[tuple[str, str | None]]:
    with rules.sessions() as session:
        rows = session.query(AlertHistory).filter_by(alert_id=alert_id).order_by(AlertHistory.id)
        return [(r.action, r.note) for r in rows]


def test_a_press_tells_who_is_on_duty_and_the_family_at_once(harness: RuleHarness) -> None:
    harness.event("eb1", "press")
    assert targets(harness, step="notified") == ["zhang", "group"], "李四 is off duty at 17:00"
    assert targets(harness, step="family") == ["family"]
    assert {n.role for n in harness.outbox()} == {"on_duty", "family"}
    notes = [note for action, note in history(harness, harness.alerts()["elder-sos"].id)
             if action == "notification_skipped"]
    assert notes == ["于鹏 (侄子): only a phone number, and no SMS provider is configured (notifications.phone)"]


def test_with_a_phone_provider_the_family_gets_sms_and_a_call(sqlite_url: str) -> None:
    settings = NotificationSettings(phone={"provider": "aliyun", "access_key_id": "k", "access_key_secret": "s",
                                           "sign_name": "和谐社区", "sms_template": "SMS_1", "voice_template": "TTS_1"})
    with RuleHarness.open(sqlite_url, RuleEngine.from_files(None), site(), MONDAY_17H_LOCAL, settings) as rules:
        rules.event("eb1", "press")
        family = [(n.channel, n.target) for n in rules.outbox() if n.step == "family"]
        assert ("sms", "sms:18600001001") in family and ("voice", "voice:18600001001") in family
        assert ("sms", "sms:13800001008") in family and ("voice", "voice:13800001008") in family
        assert all(n.shown.count("*") >= 4 for n in rules.outbox() if n.channel in ("sms", "voice"))


def test_each_escalation_tells_the_next_level_and_the_shared_group_once_per_step(harness: RuleHarness) -> None:
    harness.event("gate1", "forced_open")
    assert targets(harness, step="notified") == ["zhang", "group"]
    harness.advance(timedelta(minutes=5, seconds=1))
    assert targets(harness, step="escalated", level=1) == ["office", "group"]
    harness.advance(timedelta(minutes=10, seconds=1))
    assert targets(harness, step="escalated", level=2) == ["wang"]
    assert harness.alerts()["gate-forced-open"].level == 2


def test_an_acknowledged_sos_reminds_its_level(harness: RuleHarness) -> None:
    harness.event("eb1", "press")
    alert = harness.alerts()["elder-sos"]
    with harness.sessions.begin() as session:
        lifecycle.acknowledge(session, alert.id, "张三", harness.now)
    harness.advance(timedelta(minutes=15, seconds=1))
    assert targets(harness, step="reminded") == ["zhang", "group"]
    assert not targets(harness, step="escalated")


def test_maintenance_alerts_climb_their_own_chain_never_the_patrol(harness: RuleHarness) -> None:
    harness.event("gate1", "battery_critical", battery=8)
    alert = harness.alerts()["battery-critical"]
    assert alert.audience == "maintenance"
    assert targets(harness, step="notified") == ["wuye"]
    harness.advance(timedelta(minutes=31))
    harness.advance(timedelta(hours=1, minutes=1))
    harness.advance(timedelta(hours=5))
    assert targets(harness, step="escalated") == ["office-maint", "street-maint"]
    assert harness.alerts()["battery-critical"].level == 2, "the top of the maintenance chain is the street"
    assert {n.role for n in harness.outbox()} <= {"maintenance", "level"}


def test_family_after_a_wait_is_cancelled_by_an_acknowledgement(sqlite_url: str) -> None:
    with RuleHarness.open(sqlite_url, RuleEngine.from_files(None), site(family_after="3m"), MONDAY_17H_LOCAL,
                          NotificationSettings()) as rules:
        rules.event("eb1", "press")
        family = [n for n in rules.outbox() if n.step == "family"]
        assert family and all(n.condition == "unacknowledged" for n in family)
        assert family[0].due_at == rules.now + timedelta(minutes=3)
        sent = Recording()
        rules.send_due(sent)
        assert [t.address.rsplit("/", 1)[-1] for t, _ in sent.sent] == ["zhang", "group"], "family not yet due"
        with rules.sessions.begin() as session:
            lifecycle.acknowledge(session, rules.alerts()["elder-sos"].id, "张三", rules.now)
        rules.now += timedelta(minutes=3)
        rules.send_due(sent)
        assert len(sent.sent) == 2
        assert {n.state for n in rules.outbox() if n.step == "family"} == {"cancelled"}
        notes = [note for action, note in history(rules, rules.alerts()["elder-sos"].id)
                 if action == "notification_cancelled"]
        assert notes and "acknowledged within the wait" in notes[0]


def test_family_after_a_wait_is_told_when_nobody_acknowledges(sqlite_url: str) -> None:
    with RuleHarness.open(sqlite_url, RuleEngine.from_files(None), site(family_after="3m"), MONDAY_17H_LOCAL,
                          NotificationSettings()) as rules:
        rules.event("eb1", "press")
        rules.now += timedelta(minutes=3)
        sent = Recording()
        rules.send_due(sent)
        family = [m for t, m in sent.sent if t.address.endswith("/family")]
        assert len(family) == 1
        body = family[0].body
        assert "于金凤" in body and "1号楼 2单元 402" in body, body
        assert "18600001001" not in body.replace("-", ""), "the family's message does not list the relatives"


def test_quiet_hours_hold_minor_alerts_until_morning_never_critical(sqlite_url: str) -> None:
    night = datetime(2026, 3, 2, 15, 30, tzinfo=UTC)  # 23:30 in Shanghai
    policy = {"quiet_hours": {"from": "22:00", "to": "07:00", "hold": ["minor", "warning"]}}
    with RuleHarness.open(sqlite_url, RuleEngine.from_files(None), site(**policy), night,
                          NotificationSettings()) as rules:
        rules.event("gate1", "held_open", seconds=120)
        rules.event("eb1", "press")
        held = [n for n in rules.outbox() if n.alert_id == rules.alerts()["gate-held-open"].id]
        assert held and {n.due_at for n in held} == {datetime(2026, 3, 2, 23, 0, tzinfo=UTC)}  # 07:00 local
        sos = [n for n in rules.outbox() if n.alert_id == rules.alerts()["elder-sos"].id]
        assert sos and all(n.due_at == night for n in sos)


@pytest.mark.parametrize(("local", "held"), [("21:59", False), ("22:00", True), ("03:00", True), ("07:00", False)])
def test_quiet_hours_wrap_past_midnight(local: str, held: bool) -> None:
    hour, minute = map(int, local.split(":"))
    now = datetime(2026, 3, 2, hour, minute, tzinfo=UTC)
    quiet = QuietHours.model_validate({"from": "22:00", "to": "07:00"})
    assert (held_until(quiet, "minor", now, "UTC") is not None) == held
    assert held_until(quiet, "critical", now, "UTC") is None


def test_each_attempt_is_recorded_and_retried_with_backoff_then_failed(sqlite_url: str) -> None:
    settings = NotificationSettings(max_attempts=3, backoff_seconds=10)
    with RuleHarness.open(sqlite_url, RuleEngine.from_files(None), site(family_after=None), MONDAY_17H_LOCAL,
                          settings) as rules:
        rules.event("gate1", "forced_open")
        channels = Recording([Outcome(False, "HTTP 502"), Outcome(True)] + [Outcome(False, "HTTP 502")] * 3)
        assert rules.send_due(channels) == 2  # zhang: 502; group: delivered
        assert rules.send_due(channels) == 0, "the retry waits its backoff"
        rules.now += timedelta(seconds=10)
        assert rules.send_due(channels) == 1
        rules.now += timedelta(seconds=20)
        assert rules.send_due(channels) == 1
        rows = {n.target.rsplit("/", 1)[-1]: n for n in rules.outbox()}
        assert (rows["zhang"].state, rows["zhang"].attempts, rows["zhang"].last_error) == ("failed", 3, "HTTP 502")
        assert rows["group"].state == "delivered"
        actions = [a for a, _ in history(rules, rules.alerts()["gate-forced-open"].id) if a.startswith("notif")]
        assert actions.count("notification_retry") == 2 and actions.count("notification_failed") == 1
        assert actions.count("notification_delivered") == 1


def test_a_refused_target_fails_at_once_and_nothing_is_sent_for_a_resolved_alert(harness: RuleHarness) -> None:
    harness.event("gate1", "forced_open")
    alert = harness.alerts()["gate-forced-open"]
    assert harness.send_due(Recording([Outcome(False, "bad key", retry=False)])) == 2
    assert {n.target.rsplit("/", 1)[-1]: n.state for n in harness.outbox()} == {"zhang": "failed",
                                                                                "group": "delivered"}
    harness.advance(timedelta(minutes=5, seconds=1))  # escalated: office and group queued
    with harness.sessions.begin() as session:
        lifecycle.resolve(session, alert.id, "张三", "门已关好", harness.now, "handled")
    assert harness.send_due(Recording()) == 0
    assert {n.state for n in harness.outbox() if n.step == "escalated"} == {"cancelled"}


def test_the_message_says_what_where_who_since_and_links(harness: RuleHarness) -> None:
    harness.event("eb1", "press")
    harness.now += timedelta(minutes=2)
    sent = Recording()
    harness.send_due(sent)
    message = next(m for t, m in sent.sent if t.address.endswith("/zhang"))
    assert message.severity == "critical" and message.title.startswith("【紧急 CRITICAL】")
    for part in ("1号院 1号楼 2单元 402", "第一网格", "于金凤", "于杰 (儿子) 186-0000-1001", "2026-03-02 17:00:00",
                 "2 分钟前"):
        assert part in message.body, (part, message.body)
    assert message.link is not None and message.link.startswith("http://127.0.0.1:8080/n/")
    with harness.sessions() as session:
        key = links.link_key(session, None)
    opened = links.read_short(key, message.link.rsplit("/", 1)[-1], harness.now)
    assert isinstance(opened, links.Opened) and opened.act, "sent to someone on duty: the link acknowledges"
    family = next(m for t, m in sent.sent if t.address.endswith("/family"))
    assert family.link is not None
    opened = links.read_short(key, family.link.rsplit("/", 1)[-1], harness.now)
    assert isinstance(opened, links.Opened) and not opened.act
    assert f"打开 Open: {message.link}" in message.body


def test_a_throttled_attempt_waits_as_told_and_does_not_count(harness: RuleHarness) -> None:
    harness.event("gate1", "forced_open")
    throttled = Outcome(False, "errcode 45009: api freq out of limit", retry=True, retry_after=60)
    harness.send_due(Recording([throttled, throttled]))
    rows = harness.outbox()
    assert {(n.state, n.attempts) for n in rows} == {("pending", 0)}
    assert {n.due_at for n in rows} == {harness.now + timedelta(seconds=60)}
    harness.now += timedelta(hours=1, seconds=1)
    harness.send_due(Recording([throttled, throttled]))
    assert {n.state for n in harness.outbox()} == {"pending"}, "then it counts as any failure (backoff)"
    assert {n.attempts for n in harness.outbox()} == {1}
