"""Simulated devices answer commands (docs/commands.md, docs/simulators.md): ok, fail or silent, on real Mosquitto;
and what a command did shows in what the device sends afterwards."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import orjson
import pytest

from kernel.mqtt import parse_broker_url
from kernel.siteconfig import SiteConfig
from kernel.topics import command_topic
from simulators import Message, SimulatedDevice
from simulators.commands import CommandResponder, command_mode
from simulators.fleet import LiveFleet
from simulators.netloop import NetLoop
from simulators.report import Counters
from simulators.world import CommunityWorld
from tests.helpers import Publisher, Subscriber, clear_retained, wait_for

SITE = "simcmd"


def _cmd(command: str, args: dict[str, Any] | None = None, expires_in_ms: int = 30_000) -> tuple[str, bytes]:
    cmd_id = uuid.uuid4().hex
    now = int(time.time() * 1000)
    return cmd_id, orjson.dumps({"cmd_id": cmd_id, "command": command, "args": args or {}, "ts": now,
                                 "expires_at": now + expires_in_ms})


@pytest.fixture
def site() -> str:
    return f"{SITE}{uuid.uuid4().hex[:6]}"


@pytest.fixture
def devices(mosquitto_url: str, site: str) -> Iterator[dict[str, SimulatedDevice]]:
    broker = parse_broker_url(mosquitto_url)
    made = {
        "gate": SimulatedDevice(site, "access_gate", "gate-ok", broker),
        "jammed": SimulatedDevice(site, "access_gate", "gate-jammed", broker, command_mode="fail"),
        "mute": SimulatedDevice(site, "elder_button", "eb-silent", broker, command_mode="silent"),
        "fence": SimulatedDevice(site, "fence", "fence-1", broker),
    }
    for device in made.values():
        device.connect()
    yield made
    for device in made.values():
        device.close()
    clear_retained(mosquitto_url, site, settle=0.1)


@pytest.mark.broker
def test_simulated_devices_answer_commands(mosquitto_url: str, site: str,
                                           devices: dict[str, SimulatedDevice]) -> None:
    results = Subscriber(mosquitto_url, f"anju/v1/{site}/+/+/cmd_result", qos=1)
    heartbeats = Subscriber(mosquitto_url, f"anju/v1/{site}/+/+/telemetry", qos=1)
    gateway = Publisher(mosquitto_url, site)
    try:
        sent = {}
        for name, kind, device, command, args in (
                ("open", "access_gate", "gate-ok", "open", {"seconds": 10}),
                ("jammed", "access_gate", "gate-jammed", "open", {}),
                ("silent", "elder_button", "eb-silent", "locate", {}),
                ("disarm", "fence", "fence-1", "disarm", {"zone": "Z1"}),
                ("unknown", "fence", "fence-1", "open", {}),
                ("late", "access_gate", "gate-ok", "lock", {})):
            cmd_id, payload = _cmd(command, args, expires_in_ms=-1 if name == "late" else 30_000)
            sent[name] = cmd_id
            gateway.raw(command_topic(site, kind, device), payload)
        wait_for(lambda: len(results.snapshot()) >= 5, what="five answers")
        time.sleep(0.2)  # the silent one stays silent
        answers = {orjson.loads(p)["cmd_id"]: (t.split("/")[-2], orjson.loads(p)) for t, p in results.snapshot()}
        assert len(answers) == 5 and sent["silent"] not in answers
        assert answers[sent["open"]][0] == "gate-ok"
        assert {k: answers[sent["open"]][1][k] for k in ("ok", "detail")} == {"ok": True,
                                                                              "detail": {"opened_for_s": 10}}
        assert {k: answers[sent["jammed"]][1][k] for k in ("ok", "detail")} == {"ok": False, "detail": "jammed"}
        assert answers[sent["disarm"]][1]["detail"] == {"disarmed": ["Z1"]}
        unknown = answers[sent["unknown"]][1]
        assert unknown["ok"] is False and "unknown command" in unknown["detail"]
        assert answers[sent["late"]][1] | {"ts": 0} == {"cmd_id": sent["late"], "ok": False,
                                                        "detail": "expired on arrival", "ts": 0}
        assert devices["gate"].commands.locked is False, "the expired lock was not carried out"
        assert [a["result"] for a in devices["mute"].commands.answered] == [None]
        # The state a command left is reported at once: the opened gate, the disarmed zone.
        wait_for(lambda: len(heartbeats.snapshot()) >= 2, what="the heartbeats that follow")
        reported = {t.split("/")[-2]: orjson.loads(p) for t, p in heartbeats.snapshot()}
        assert reported["gate-ok"]["door"] == "open" and reported["gate-ok"]["opened_by"] == "command"
        assert reported["fence-1"]["disarmed_zones"] == ["Z1"]
        assert reported["fence-1"]["armed"] is False, "its only zone is disarmed"
    finally:
        results.close()
        heartbeats.close()
        gateway.close()


def test_a_disarmed_zone_stops_alarming_and_rearms() -> None:
    responder = CommandResponder("fence", ["Z1", "Z2"])
    alarm = Message.event("alarm", zone="Z1", cause="intrusion")
    for command, zone, ok in (("disarm", "Z1", True), ("disarm", "Z9", False)):
        result, _changed = responder.answer(orjson.dumps({"cmd_id": "c1", "command": command, "args": {"zone": zone}}))
        assert result is not None and result["ok"] is ok
    assert responder.shape(alarm) is None
    assert responder.shape(Message.event("alarm", zone="Z2", cause="cut")) is not None
    responder.answer(orjson.dumps({"cmd_id": "c2", "command": "disarm", "args": {}}))  # every zone
    beat = responder.shape(Message.telemetry("heartbeat", voltage_kv={"Z1": 8.5}, armed=True))
    assert beat is not None and beat.fields["armed"] is False and beat.fields["disarmed_zones"] == ["Z1", "Z2"]
    responder.answer(orjson.dumps({"cmd_id": "c3", "command": "arm", "args": {"zone": None}}))
    assert responder.shape(alarm) is alarm


def test_a_located_button_beeps_then_stops() -> None:
    now = [1000.0]
    responder = CommandResponder("elder_button", clock=lambda: now[0])
    result, changed = responder.answer(orjson.dumps({"cmd_id": "c1", "command": "locate", "args": {"seconds": 5}}))
    assert result == {"cmd_id": "c1", "ok": True, "detail": {"beeping_for_s": 5}} and changed
    beat = responder.shape(Message.telemetry("heartbeat", battery=80))
    assert beat is not None and beat.fields == {"battery": 80, "beeping": True}
    now[0] += 6
    assert responder.shape(Message.telemetry("heartbeat", battery=80)).fields == {"battery": 80}  # type: ignore[union-attr]
    bad, _ = responder.answer(orjson.dumps({"cmd_id": "c2", "command": "locate", "args": {"seconds": 0}}))
    assert bad is not None and bad["ok"] is False and bad["detail"].startswith("bad arguments")
    assert responder.answer(b"not json") == (None, False)
    assert responder.answer(b'{"command": "locate"}') == (None, False), "no cmd_id: nothing to answer to"


def test_the_site_file_sets_each_devices_mode() -> None:
    assert [command_mode(a) for a in ({}, None, {"simulate_commands": "fail"}, {"simulate_commands": "silent"},
                                      {"simulate_commands": "sometimes"})] == ["ok", "ok", "fail", "silent", "ok"]
    site = SiteConfig.model_validate({"id": "s1", "name": "s", "devices": [
        {"id": "g1", "kind": "access_gate", "attributes": {"simulate_commands": "fail"}},
        {"id": "b1", "kind": "elder_button", "attributes": {"simulate_commands": "silent"}},
        {"id": "f1", "kind": "fence", "attributes": {"zones": ["N1", "N2"]}}]})
    netloop = NetLoop()
    fleet = LiveFleet(CommunityWorld.build(site, 1), parse_broker_url("mqtt://127.0.0.1:1"), Counters(), netloop)
    modes = {d: dev.commands.mode for d, dev in fleet.devices.items()}
    assert modes == {"g1": "fail", "b1": "silent", "f1": "ok"}
    assert fleet.devices["f1"].commands.zones == ["N1", "N2"]
    with pytest.raises(ValueError, match="command mode"):
        CommandResponder("fence", mode="sometimes")
