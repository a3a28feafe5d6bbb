"""Commands to devices through the gateway (docs/commands.md): published on `cmd`, closed by the device's
`cmd_result` in the batch's transaction, expired on the watchdog's clock; bad answers are dead letters, never a crash.

Real Mosquitto, both databases; a test paho client plays the device.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy import select

from gateway import commands
from gateway.decode import CommandResult, RawMessage, Rejection, decode
from gateway.service import Gateway
from kernel.db import make_engine, session_factory
from kernel.db.models import Alert, AlertHistory, DeadLetter, Device, DeviceCommand, Event
from kernel.timeutil import utcnow
from kernel.topics import command_topic, parse_device_topic, subscription_filters
from tests.conftest import GatewayFactory, build_gateway
from tests.helpers import Publisher, Subscriber, wait_for
from tools.bench.mosquitto import free_port

pytestmark = [pytest.mark.broker]


@pytest.fixture
def publisher(mosquitto_url: str, site_id: str) -> Iterator[Publisher]:
    pub = Publisher(mosquitto_url, site_id)
    yield pub
    pub.close()


def _send(gw: Gateway, device_id: str, command: str, args: dict[str, Any] | None = None,
          ttl: timedelta = commands.DEFAULT_TTL, alert_id: int | None = None) -> str:
    """As the API does: the row in a transaction of its own, then published after the commit."""
    with gw.sessions.begin() as session:
        device = session.get(Device, device_id)
        assert device is not None
        cmd_id = commands.send_command(session, device, command, args, "tester", utcnow(), ttl, alert_id).id
    gw.dispatch_command(cmd_id)
    return cmd_id


def _command(gw: Gateway, cmd_id: str) -> DeviceCommand:
    with gw.sessions() as session:
        row = session.get(DeviceCommand, cmd_id)
        assert row is not None
        session.expunge(row)
        return row


def _state(gw: Gateway, cmd_id: str) -> str:
    return _command(gw, cmd_id).state


def _answer(pub: Publisher, kind: str, device: str, cmd_id: str, ok: bool, detail: Any = None) -> None:
    pub.raw(pub.topic(kind, device, "cmd_result"), orjson.dumps({"cmd_id": cmd_id, "ok": ok, "detail": detail}))


def test_a_command_is_published_answered_and_recorded(make_gateway: GatewayFactory, mosquitto_url: str,
                                                      db_url: str, site_id: str, publisher: Publisher) -> None:
    gw = make_gateway(mosquitto_url, db_url)
    told: list[dict[str, Any]] = []
    gw.command_listeners.append(told.extend)
    device = Subscriber(mosquitto_url, f"anju/v1/{site_id}/+/+/cmd", qos=1)
    try:
        opened = _send(gw, "gate1", "open", {"seconds": 10})
        assert _state(gw, opened) == "sent"
        topic, payload = wait_for(device.snapshot, what="the command on the gate's cmd topic")[0]
        assert topic == command_topic(site_id, "access_gate", "gate1") == f"anju/v1/{site_id}/access_gate/gate1/cmd"
        body = orjson.loads(payload)
        assert body["cmd_id"] == opened and body["command"] == "open" and body["args"] == {"seconds": 10}
        assert isinstance(body["ts"], int) and body["expires_at"] - body["ts"] == 30_000

        _answer(publisher, "access_gate", "gate1", opened, True, {"opened_for_s": 10})
        wait_for(lambda: _state(gw, opened) == "succeeded", what="the gate's answer recorded")
        row = _command(gw, opened)
        assert row.detail == {"opened_for_s": 10} and row.answered_at is not None and row.sent_at is not None
        assert row.requested_by == "tester" and row.args == {"seconds": 10}
        wait_for(lambda: any(c["cmd_id"] == opened and c["state"] == "succeeded" for c in told),
                 what="the command listeners told")

        beep = _send(gw, "eb1", "locate")  # defaults filled in
        assert _command(gw, beep).args == {"seconds": 10}
        _answer(publisher, "elder_button", "eb1", beep, False, "battery too low to beep")
        wait_for(lambda: _state(gw, beep) == "failed", what="the failure recorded")
        assert _command(gw, beep).detail == "battery too low to beep"

        _answer(publisher, "elder_button", "eb1", beep, True, "again")  # a repeat (QoS 1): changes nothing
        marker = publisher.send("eb1", "elder_button", "event", type="cancel")
        with gw.sessions() as s:
            wait_for(lambda: s.scalar(select(Event.id).where(Event.msg_id == marker)), what="the marker")
        assert _command(gw, beep).state == "failed" and _command(gw, beep).detail == "battery too low to beep"
        assert gw.metrics.value("anju_messages_total", kind="elder_button", channel="cmd_result",
                                outcome="duplicate") == 1
    finally:
        device.close()


def test_bad_answers_are_dead_letters_and_the_rest_goes_on(make_gateway: GatewayFactory, mosquitto_url: str,
                                                           db_url: str, site_id: str, publisher: Publisher) -> None:
    gw = make_gateway(mosquitto_url, db_url)
    arm = _send(gw, "fence1", "arm", {"zone": "Z1"})
    lock = _send(gw, "gate1", "lock")
    result = publisher.topic("fence", "fence1", "cmd_result")
    _answer(publisher, "fence", "fence1", "0" * 32, True)                   # no such command
    _answer(publisher, "access_gate", "gate1", arm, True)                   # the fence's command, from the gate
    publisher.raw(result, b"{not json")
    publisher.raw(result, orjson.dumps({"cmd_id": arm}))                    # no `ok`
    publisher.raw(result, orjson.dumps({"cmd_id": "a b", "ok": True}))       # not an id
    publisher.raw(result, orjson.dumps({"cmd_id": arm, "ok": True, "detail": [[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]}))
    publisher.raw(f"anju/v1/{site_id}/elder_button/nobody/cmd_result", orjson.dumps({"cmd_id": arm, "ok": True}))
    _answer(publisher, "fence", "fence1", arm, True, {"armed": ["Z1"]})      # the good ones around them
    _answer(publisher, "access_gate", "gate1", lock, True)
    wait_for(lambda: _state(gw, arm) == "succeeded" and _state(gw, lock) == "succeeded", what="the good answers")
    assert _command(gw, arm).detail == {"armed": ["Z1"]}
    ours = select(DeadLetter).where(DeadLetter.topic.startswith(f"anju/v1/{site_id}/"))  # the broker is shared
    with gw.sessions() as s:
        wait_for(lambda: len(s.scalars(ours).all()) >= 7, what="the dead letters")
        reasons = sorted((d.reason, d.device_id) for d in s.scalars(ours))
    assert reasons == sorted([("unknown_cmd_id", "fence1"), ("cmd_device_mismatch", "gate1"), ("not_json", "fence1"),
                              ("invalid_cmd_result", "fence1"), ("invalid_cmd_result", "fence1"),
                              ("too_large", "fence1"), ("unregistered_device", "nobody")])


def test_an_unanswered_command_expires_and_a_late_answer_is_kept(make_gateway: GatewayFactory, mosquitto_url: str,
                                                                 db_url: str, site_id: str,
                                                                 publisher: Publisher) -> None:
    gw = make_gateway(mosquitto_url, db_url)
    expired = threading.Event()
    gw.command_listeners.append(lambda changes: expired.set() if changes[0]["state"] == "expired" else None)
    with gw.sessions.begin() as session:
        alert = Alert(site_id=site_id, grid_id="g1", device_id="eb1", kind="elder_button", rule="sos", type="press",
                      severity="critical", title="SOS", created_at=utcnow(), updated_at=utcnow())
        session.add(alert)
        session.flush()
        alert_id = alert.id
    opened = _send(gw, "gate1", "open", ttl=timedelta(seconds=1), alert_id=alert_id)
    assert _state(gw, opened) == "sent"
    wait_for(lambda: _state(gw, opened) == "expired", timeout=5, what="the command expired")
    assert expired.wait(2), "the command listeners are told of the expiry"
    assert _command(gw, opened).answered_at is None
    _answer(publisher, "access_gate", "gate1", opened, True, {"opened_for_s": 5})
    wait_for(lambda: _command(gw, opened).answered_at is not None, what="the late answer recorded")
    row = _command(gw, opened)
    assert row.state == "expired", "an answer after expiry does not change the state"
    assert row.detail == {"answered_late": True, "ok": True, "detail": {"opened_for_s": 5}}
    with gw.sessions() as s:
        steps = [(h.action, h.by, h.note) for h in s.scalars(select(AlertHistory).where(
            AlertHistory.alert_id == alert_id).order_by(AlertHistory.id))]
    assert [a for a, _by, _note in steps] == ["command_sent", "command_expired", "command_answered_late"]
    assert steps[0][1:] == ("tester", "command open sent to gate1 by tester (seconds=5)")
    assert steps[1][2] == "command open to gate1 expired: no answer within 1 s"


def test_a_command_that_cannot_be_published_fails_at_once(site_file: Path, sqlite_url: str) -> None:
    """No broker connection: not queued for later (a gate opening minutes after anyone asked), failed now."""
    gw = build_gateway(f"mqtt://127.0.0.1:{free_port()}", sqlite_url, site_file, {"client_id": "nobroker"})
    gw.prepare_database()
    try:
        cmd_id = _send(gw, "gate1", "open")
        row = _command(gw, cmd_id)
        assert (row.state, row.detail, row.sent_at) == ("failed", commands.NOT_PUBLISHED, None)
        assert gw.dispatch_command(cmd_id) is None, "published once at most"
    finally:
        gw.engine.dispose()


def test_commands_are_checked_against_the_kind(inprocess_gateway: Gateway) -> None:
    with inprocess_gateway.sessions() as session:
        gate, camera = session.get(Device, "gate1"), session.get(Device, "cam1")
        assert gate is not None and camera is not None
        for device, command, args, reason in (
                (gate, "beep", {}, "kind access_gate takes no command 'beep' (it takes: lock, open)"),
                (camera, "open", {}, "kind plate_camera takes no command 'open' (it takes: none)"),
                (gate, "open", {"seconds": 0}, "open: seconds: Input should be greater than or equal to 1"),
                (gate, "open", {"secs": 5}, "open: secs: Extra inputs are not permitted")):
            with pytest.raises(commands.CommandRefused) as refused:
                commands.send_command(session, device, command, args, "x", utcnow())
            assert str(refused.value) == reason
        with pytest.raises(commands.CommandRefused, match="ttl must be between 1 and 600 seconds"):
            commands.send_command(session, gate, "lock", {}, "x", utcnow(), timedelta(minutes=11))


def test_expiry_is_claimed_once_across_gateways(pg_url: str, site_file: Path, mosquitto_url: str) -> None:
    """`FOR UPDATE SKIP LOCKED`: a command another gateway is expiring is not expired twice."""
    gw = build_gateway(mosquitto_url, pg_url, site_file, {"client_id": f"x-{uuid.uuid4().hex[:6]}"})
    gw.prepare_database()
    other = session_factory(make_engine(pg_url))
    try:
        past = utcnow() - timedelta(minutes=1)
        with gw.sessions.begin() as session:
            device = session.get(Device, "gate1")
            assert device is not None
            ids = [commands.send_command(session, device, "lock", {}, "x", past, timedelta(seconds=1)).id
                   for _ in range(3)]
        first = gw.sessions()
        claimed = commands.expire_due(first, utcnow(), limit=2)  # holds its rows' locks, not committed
        with other.begin() as second:
            rest = commands.expire_due(second, utcnow())
        first.commit()
        first.close()
        assert len(claimed) == 2 and len(rest) == 1
        assert {c["cmd_id"] for c in claimed + rest} == set(ids)
    finally:
        gw.engine.dispose()
        other.kw["bind"].dispose()


# -- decoding, pure ------------------------------------------------------------------------------------------------


def _decoded(payload: bytes, topic: str = "anju/v1/s1/access_gate/gate1/cmd_result") -> Any:
    return decode(RawMessage(topic, payload, 1, False, 1, utcnow()), 256 * 1024)


def test_cmd_result_topics_and_payloads() -> None:
    assert "anju/v1/+/+/+/cmd_result" in subscription_filters()
    assert parse_device_topic("anju/v1/s1/fence/f1/cmd_result") is not None
    assert parse_device_topic("anju/v1/s1/fence/f1/cmd") is None, "the gateway's own publications are not input"
    ok = _decoded(b'{"cmd_id": "abc", "ok": true, "detail": {"opened_for_s": 5}}')
    assert isinstance(ok, CommandResult) and (ok.cmd_id, ok.ok, ok.detail) == ("abc", True, {"opened_for_s": 5})
    bare = _decoded(b'{"cmd_id": "abc", "ok": false}')
    assert isinstance(bare, CommandResult) and bare.detail is None
    nul = _decoded(b'{"cmd_id": "abc", "ok": false, "detail": "a\\u0000b"}')
    assert isinstance(nul, CommandResult) and nul.detail == "a\ufffdb"
    for payload, reason in ((b"[]", "not_object"), (b"nope", "not_json"), (b'{"ok": true}', "invalid_cmd_result"),
                            (b'{"cmd_id": "abc", "ok": "yes"}', "invalid_cmd_result"),
                            (b'{"cmd_id": 5, "ok": true}', "invalid_cmd_result"),
                            (b'{"cmd_id": "abc", "ok": true, "detail": "' + b"x" * 20000 + b'"}', "too_large")):
        refused = _decoded(payload)
        assert isinstance(refused, Rejection) and refused.reason == reason, payload[:40]
    unknown = _decoded(b'{"cmd_id": "abc", "ok": true}', "anju/v1/s1/teapot/t1/cmd_result")
    assert isinstance(unknown, Rejection) and unknown.reason == "unknown_kind"
