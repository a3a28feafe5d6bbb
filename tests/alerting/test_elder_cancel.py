"""An elder's `cancel` while their SOS is open (rules/cancel.py): in the alert's history, announced, alert still open.

The logic in-process on both databases; the path (device → Mosquitto → gateway → alerts topic, and the API's
live stream and history) once each through the real broker.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from websockets.sync.client import connect

from alerting.alerts import acknowledge, history, resolve
from alerting.cancel import ACTION
from alerting.engine import RuleEngine
from kernel.db import make_engine, migrate, session_factory
from kernel.db.models import Alert
from tests.api.test_alerts import next_change
from tests.conftest import GatewayFactory
from tests.helpers import ApiServer, Publisher, Subscriber, wait_for
from tests.rules.test_safety_floor import T0, Recorder, device, observe

LATER = T0 + timedelta(seconds=40)


@pytest.fixture
def run(db_url: str) -> Iterator[Recorder]:
    engine = make_engine(db_url)
    migrate(engine)
    yield Recorder(RuleEngine.from_files(None), session_factory(engine))
    engine.dispose()


def sos(run: Recorder) -> Alert:
    return run.alerts()["elder-sos"]


def steps(sessions: sessionmaker[Session], alert_id: int) -> list[tuple[str, str | None]]:
    with sessions() as session:
        return [(h["action"], h["by"]) for h in history(session, alert_id)]


def test_a_cancel_is_added_to_the_open_sos_and_announced(run: Recorder) -> None:
    run.feed(observe(device(), "press"))
    before = sos(run)
    run.feed(observe(device(), "cancel", LATER))
    after = sos(run)
    assert (after.state, after.count, after.level) == ("open", 1, before.level)  # a person still closes it
    assert after.escalate_at == before.escalate_at  # and escalation goes on
    assert steps(run.sessions, after.id) == [("created", None), ("notified", None), (ACTION, "eb1")]
    with run.sessions() as session:
        entry = history(session, after.id)[-1]
    assert datetime.fromisoformat(entry["at"]) == LATER and "stays open" in entry["note"]
    assert [(c.action, c.alert["state"]) for c in run.delivered] == [("created", "open"), (ACTION, "open")]
    assert run.delivered[-1].seq is not None  # in the journal: the live stream sends it


def test_an_acknowledged_sos_is_told_too_and_stays_acknowledged(run: Recorder) -> None:
    run.feed(observe(device(), "press"))
    with run.sessions.begin() as session:
        acknowledge(session, sos(run).id, "巡逻员 小张", T0 + timedelta(seconds=10))
    run.feed(observe(device(), "cancel", LATER))
    assert sos(run).state == "acknowledged"
    assert [a for a, _ in steps(run.sessions, sos(run).id)][-2:] == ["acknowledged", ACTION]
    assert run.delivered[-1].action == ACTION


def test_a_cancel_with_no_open_sos_is_only_stored(run: Recorder) -> None:
    run.feed(observe(device(), "cancel"))  # nothing open
    assert run.alerts() == {} and run.delivered == []
    run.feed(observe(device(), "press", LATER))
    alert_id = sos(run).id
    with run.sessions.begin() as session:
        resolve(session, alert_id, "巡逻员 小张", "老人误按 / pressed by mistake", LATER + timedelta(minutes=5),
                "false_alarm")
    run.feed(observe(device(), "cancel", LATER + timedelta(minutes=6)))  # resolved: nothing to tell
    run.feed(observe(device("eb2"), "cancel", LATER + timedelta(minutes=6)))  # another button
    assert ACTION not in [a for a, _ in steps(run.sessions, alert_id)]
    assert [c.action for c in run.delivered] == ["created"]


def test_only_the_buttons_own_sos_and_not_an_older_cancel(run: Recorder) -> None:
    run.feed(observe(device(), "press", LATER), observe(device("eb2"), "press", LATER))
    run.feed(observe(device("eb2"), "cancel", LATER + timedelta(seconds=5)))
    run.feed(observe(device(), "cancel", T0))  # sent before the press, delivered late: about an earlier press
    with run.sessions() as session:
        by_device = {a.device_id: a.id for a in session.scalars(select(Alert))}
    assert ACTION in [a for a, _ in steps(run.sessions, by_device["eb2"])]
    assert ACTION not in [a for a, _ in steps(run.sessions, by_device["eb1"])]
    run.feed(observe(device(), "cancel", LATER + timedelta(seconds=10)))  # this one is about it
    assert [a for a, _ in steps(run.sessions, by_device["eb1"])].count(ACTION) == 1


def test_a_press_and_its_cancel_in_one_batch(run: Recorder) -> None:
    run.feed(observe(device(), "press"), observe(device(), "cancel", LATER))
    assert [c.action for c in run.delivered] == ["created", ACTION]
    assert sos(run).state == "open"


# -- through the real broker ----------------------------------------------------------------------------------


@pytest.mark.broker
def test_cancel_reaches_the_alerts_topic_and_the_history(make_gateway: GatewayFactory, mosquitto_url: str,
                                                        db_url: str, site_id: str) -> None:
    gw = make_gateway(mosquitto_url, db_url, rules=True)
    app = Subscriber(mosquitto_url, f"anju/v1/{site_id}/alerts", qos=1, client_id=f"patrol-app-{site_id}")
    pub = Publisher(mosquitto_url, site_id)
    try:
        pub.send("eb1", "elder_button", "event", type="press")
        wait_for(lambda: [m["action"] for m in app.json()] == ["created"], what="the SOS on the alerts topic")
        cancel_ts = int(time.time() * 1000)
        msg_id = pub.send("eb1", "elder_button", "event", type="cancel", ts=cancel_ts)
        changes = wait_for(lambda: [m for m in app.json() if m["action"] == ACTION], what="the cancel on the topic")
        assert len(changes) == 1 and changes[0]["rule"] == "elder-sos" and changes[0]["state"] == "open"
        assert changes[0]["id"] == app.json()[0]["id"]
    finally:
        pub.close()
        app.close()
    with gw.sessions() as session:
        alert = session.scalars(select(Alert)).one()
        entry = history(session, alert.id)[-1]
    assert alert.state == "open"
    assert (entry["action"], entry["by"]) == (ACTION, "eb1") and msg_id in entry["note"]
    assert int(datetime.fromisoformat(entry["at"]).timestamp() * 1000) == cancel_ts


@pytest.mark.broker
def test_cancel_reaches_the_live_stream_and_the_alert_history(make_api: Callable[..., ApiServer],
                                                              mosquitto_url: str, sqlite_url: str,
                                                              site_id: str) -> None:
    api = make_api(mosquitto_url, sqlite_url)
    patrol = api.token("patrol", name="巡逻员 小张", grids=["g1"])
    pub = Publisher(mosquitto_url, site_id)
    try:
        with connect(api.ws_url("/alerts/stream", patrol)) as ws:
            assert json.loads(ws.recv(timeout=5))["type"] == "hello"
            pub.send("eb1", "elder_button", "event", type="press")
            created = next_change(ws)
            assert created["action"] == "created"
            pub.send("eb1", "elder_button", "event", type="cancel")
            cancelled = next_change(ws)
            assert cancelled["action"] == ACTION and cancelled["seq"] > created["seq"]
            assert cancelled["alert"]["id"] == created["alert"]["id"] and cancelled["alert"]["state"] == "open"
        with api.client(patrol) as http:
            detail = http.get(f"/alerts/{created['alert']['id']}").json()
        assert detail["state"] == "open"
        steps = [h["action"] for h in detail["history"] if not h["action"].startswith("notification_")]
        assert steps == ["created", "notified", ACTION]
    finally:
        pub.close()
