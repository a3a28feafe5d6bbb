"""The alert lifecycle on both databases: atomic dedup, transitions, history, escalation."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from alerting.alerts import AlertError, AlertSpec, acknowledge, history, raise_alert, resolve
from alerting.escalation import escalate_due
from alerting.routing import DEFAULT_CHAIN, Routing
from kernel.db import make_engine, migrate, session_factory
from kernel.db.models import Alert

T0 = datetime(2026, 11, 22, 3, 0, tzinfo=UTC)
WAIT = DEFAULT_CHAIN[0].wait


@pytest.fixture
def sessions(db_url: str) -> sessionmaker[Session]:
    engine = make_engine(db_url)
    migrate(engine)
    yield session_factory(engine)
    engine.dispose()


def sos(key: str | None = "elder-sos:eb1") -> AlertSpec:
    return AlertSpec(rule="elder-sos", type="press", severity="critical", title="1号楼 王秀英 呼救", site="s1",
                     grid="g1", device_id="eb1", kind="elder_button", dedup_key=key, silenceable=False,
                     evidence={"msg_id": "m1"})


def test_repeat_merges_into_the_open_alert_and_counts(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as s:
        first = raise_alert(s, sos(), T0, WAIT)
        again = raise_alert(s, sos(), T0 + timedelta(seconds=5), WAIT)
    assert (first.action, again.action) == ("created", "repeated")
    assert again.alert["id"] == first.alert["id"] and again.alert["count"] == 2
    assert len(again.alert["evidence"]) == 2


def test_many_alerts_on_one_connection_keep_merging(sessions: sessionmaker[Session]) -> None:
    """PostgreSQL switches a statement to a generic plan after five runs on a connection; the merge must survive it.

    (With the partial index's predicate sent as a parameter, PostgreSQL could no longer match ON CONFLICT to the
    index from the sixth alert on, and every further alert failed: an SOS stored without its alert.)
    """
    with sessions.begin() as s:
        for i in range(12):
            for _ in range(2):
                raise_alert(s, sos(key=f"elder-sos:eb{i}"), T0, WAIT)
        counts = sorted(s.scalars(select(Alert.count)))
    assert counts == [2] * 12


def test_per_trigger_policy_opens_one_alert_each(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as s:
        a = raise_alert(s, sos(key=None), T0, WAIT)
        b = raise_alert(s, sos(key=None), T0, WAIT)
    assert a.alert["id"] != b.alert["id"]


def test_racing_triggers_open_exactly_one_alert(sessions: sessionmaker[Session]) -> None:
    """Eight threads, each its own connection and transaction, raise the same key at once."""
    barrier = threading.Barrier(8)
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            barrier.wait()
            with sessions.begin() as s:
                raise_alert(s, sos("race"), T0, WAIT)
        except BaseException as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    with sessions() as s:
        alerts = s.scalars(select(Alert).where(Alert.dedup_key == "race")).all()
    assert len(alerts) == 1 and alerts[0].count == 8


def test_lifecycle_and_history(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as s:
        alert_id = raise_alert(s, sos(), T0, WAIT).alert["id"]
    with sessions.begin() as s, pytest.raises(AlertError, match="note"):
        resolve(s, alert_id, "李四", "  ", T0)
    with sessions.begin() as s:
        acked = acknowledge(s, alert_id, "张三", T0 + timedelta(minutes=1))
        assert acked.alert["state"] == "acknowledged" and acked.alert["acknowledged_by"] == "张三"
    with sessions.begin() as s, pytest.raises(AlertError, match="only an open alert"):
        acknowledge(s, alert_id, "李四", T0)
    with sessions.begin() as s:
        done = resolve(s, alert_id, "张三", "已上门，老人摔倒，已联系家属送医", T0 + timedelta(minutes=20),
                       "handled")
        assert done.alert["state"] == "resolved"
        steps = history(s, alert_id)
    assert [h["action"] for h in steps] == ["created", "acknowledged", "resolved"]
    assert steps[1]["by"] == "张三" and "送医" in steps[2]["note"]
    # A new press after resolution is a new incident.
    with sessions.begin() as s:
        assert raise_alert(s, sos(), T0 + timedelta(hours=1), WAIT).action == "created"
        assert s.scalar(select(func.count()).select_from(Alert)) == 2


def test_escalation_climbs_the_chain_until_acknowledged_then_reminds(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as s:
        alert_id = raise_alert(s, sos(), T0, WAIT).alert["id"]
    with sessions.begin() as s:
        assert escalate_due(s, T0 + timedelta(minutes=4), Routing()) == []
        first = escalate_due(s, T0 + timedelta(minutes=5), Routing())
    assert [(c.action, c.alert["level"]) for c in first] == [("escalated", 1)]
    with sessions.begin() as s:
        assert escalate_due(s, T0 + timedelta(minutes=14), Routing()) == []
        assert [c.alert["level"] for c in escalate_due(s, T0 + timedelta(minutes=15), Routing())] == [2]
        acknowledge(s, alert_id, "社区值班 王", T0 + timedelta(minutes=16))  # critical: reminded by default
    with sessions.begin() as s:
        assert escalate_due(s, T0 + timedelta(minutes=30), Routing()) == []
        reminded = escalate_due(s, T0 + timedelta(minutes=31), Routing())
    assert [(c.action, c.alert["level"]) for c in reminded] == [("reminded", 2)]
    with sessions() as s:
        assert [h["action"] for h in history(s, alert_id)] == ["created", "escalated", "escalated", "acknowledged",
                                                              "reminded"]


def test_nobody_on_duty_at_the_grid_goes_straight_to_the_community(sessions: sessionmaker[Session]) -> None:
    from alerting.escalation import notify
    from kernel.siteconfig import CommunityConfig

    community = CommunityConfig.model_validate({"sites": [{
        "id": "s1", "name": "测试社区",
        "grids": [{"id": "g1", "name": "第一网格", "patrol_team": "一组", "wait": "3m",
                   "roster": [{"name": "张三", "from": "20:00", "to": "08:00"}]}],   # nights only
        "escalation": [
            {"name": "社区居委会", "wait": "10m", "roster": [{"name": "王主任", "from": "08:00", "to": "18:00"}]},
            {"name": "街道办"},
        ],
    }]})
    routing = Routing.from_community(community)
    day = T0  # 11:00 in Shanghai: the grid's night shift is off, the community office is in
    with sessions.begin() as s:
        alert_id = raise_alert(s, sos(), day, None).alert["id"]
        alert = s.get(Alert, alert_id)
        notify(s, alert, routing, 0, day, "notified")
        assert alert.level == 1 and alert.escalate_at == day + timedelta(minutes=10)
    with sessions() as s:
        steps = history(s, alert_id)
    assert [h["action"] for h in steps] == ["created", "skipped", "notified"]
    assert "一组" in steps[1]["note"] and "王主任" in steps[2]["note"]
    night = T0 + timedelta(hours=12)  # 23:00 in Shanghai: 张三 is on duty
    assert routing.route("s1", "g1", 0, night) == (0, [])
