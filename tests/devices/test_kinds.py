"""Each built-in kind is one folder: its samples decode as valid, and every message its simulated device makes does.

The samples (`devices/<kind>/samples.json`) go through `testkit.drivers`, the harness third-party driver authors
use; the simulated device's messages go through the gateway's own decoding too, so neither can drift from the
driver's schemas. Also: the hooks a kind answers through instead of code elsewhere naming it.
"""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Any

import pytest

from devices import BUILTIN_DRIVERS, DRIVERS, push_driver
from devices.base import DeviceDriver, PersonEvidence
from devices.simulation import KindModel, Message, simulated_model
from simulators.kinds import make_model
from simulators.messages import encode_payload
from testkit.drivers import assert_canonical, canonical

pytestmark = [pytest.mark.devices]
KINDS = [cls.kind for cls in BUILTIN_DRIVERS]


@pytest.mark.parametrize("kind", KINDS)
def test_every_sample_decodes_as_its_type(kind: str) -> None:
    driver = DRIVERS[kind]
    samples = driver.samples()
    assert samples.get("event") and samples.get("telemetry"), f"{kind}: samples.json needs events and telemetry"
    assert set(samples) <= {"event", "telemetry"}
    for channel, payloads in samples.items():
        for payload in payloads:
            meaning = assert_canonical(driver, channel, payload, type=payload["type"])
            assert meaning.store_event == (channel == "event")


def _actions(model: KindModel) -> list[Message]:
    """A few of everything the kind's simulated device can say."""
    rng = random.Random(7)
    out = [model.heartbeat(0.0), model.heartbeat(3600.0)]
    kind = model.kind
    if kind == "elder_button":
        out += [model.press(), model.cancel()]  # type: ignore[attr-defined]
    elif kind == "access_gate":
        out += [model.passage("in", m, f"C{rng.randint(1, 99)}", r)  # type: ignore[attr-defined]
                for m in ("card", "face", "qr", "plate", "pin") for r in ("granted", "denied")]
        out += [model.forced_open(), model.held_open(120), model.tamper()]  # type: ignore[attr-defined]
    elif kind == "plate_camera":
        out += [model.plate("辽E12345", "blue", "in"), model.plate("辽A8D9F2", None, "out")]  # type: ignore[attr-defined]
    elif kind == "face_camera":
        out += [model.recognised("R01001"), model.snapshot_only()]  # type: ignore[attr-defined]
    elif kind == "fence":
        for cause in ("intrusion", "cut", "short", "tamper", "power_loss"):
            out += [model.alarm("A", cause), model.heartbeat(60.0), model.restore("A")]  # type: ignore[attr-defined]
    elif kind == "elevator":
        out += [model.fault("stopped_between_floors"), model.trapped(), model.heartbeat(60.0),  # type: ignore[attr-defined]
                model.restore(), model.fault("E31"), model.take_out_of_service()]  # type: ignore[attr-defined]
    elif kind == "water":
        out += [model.interrupt("pump_fault"), model.heartbeat(60.0), model.restore(),  # type: ignore[attr-defined]
                model.leak("泵房地面")]  # type: ignore[attr-defined]
    elif kind == "heating":
        model.cool_to(38.0)  # type: ignore[attr-defined]
        out += [model.heartbeat(60.0), model.leak("管井"), model.fault("circulation_pump")]  # type: ignore[attr-defined]
    return out


@pytest.mark.parametrize("kind", KINDS)
def test_every_message_of_the_simulated_device_decodes_as_valid(kind: str) -> None:
    model = make_model(kind, random.Random(1), {"zones": ["A", "B"], "pulse_kv": 9.0})
    assert model.kind == kind
    messages = _actions(model)
    assert len(messages) > 2
    for n, message in enumerate(messages):
        payload = model.encode(message, f"sim-{n}", 1764230400000 + n)
        decoded = canonical(DRIVERS[kind], message.channel, encode_payload(payload))
        assert decoded.payload.type == message.type


def test_the_fence_host_reads_its_zones_from_the_site_file() -> None:
    fence = make_model("fence", random.Random(1), {"zones": ["N1", 2], "pulse_kv": 7})
    assert set(fence.heartbeat().fields["voltage_kv"]) == {"N1", "2"}
    assert set(make_model("fence").heartbeat().fields["voltage_kv"]) == {"Z1"}


class _OldPlugin(DeviceDriver):
    """A plugin written before `simulated` took the attributes."""

    kind = "old_plugin"
    title = "old"
    heartbeat_interval = offline_timeout = timedelta(minutes=1)

    def simulated(self, rng: Any = None) -> Any:  # type: ignore[override]
        return KindModel(rng)


def test_a_plugin_with_the_one_argument_hook_still_gets_its_model() -> None:
    assert isinstance(simulated_model(_OldPlugin(), None, {"zones": ["A"]}), KindModel)


def test_kinds_answer_through_their_hooks() -> None:
    gate, button = DRIVERS["access_gate"], DRIVERS["elder_button"]
    granted = {"result": "granted", "credential": "C1"}
    assert gate.person_evidence("pass", {**granted, "method": "card"}, "g1") == PersonEvidence("credential", "C1")
    assert gate.person_evidence("pass", {**granted, "method": "qr"}, "g1") is None
    assert button.person_evidence("press", {}, "eb1") == PersonEvidence("device", "eb1")
    assert button.person_evidence("heartbeat", {}, "eb1") is None
    assert DRIVERS["fence"].person_evidence("alarm", {}, "f1") is None
    assert DRIVERS["plate_camera"].describe_reading({"plate": "辽E1", "confidence": 0.9}) == "plate 辽E1 (0.9)"
    unknown = DRIVERS["face_camera"].describe_reading({"nearest": "P1", "similarity": 0.4})
    assert unknown == "unknown face (nearest P1 0.4)"
    assert button.contacts({"elder": "王秀英", "family": [{"name": "李", "phone": 138}]}, lambda: None) == {
        "elder": {"name": "王秀英"}, "family": [{"name": "李", "phone": "138"}]}
    from_person = button.contacts({}, lambda: ("王", {"family": "李"}))
    assert from_person == {"elder": {"name": "王"}, "family": [{"name": "李"}]}
    assert DRIVERS["fence"].contacts({"elder": "x"}, lambda: None) is None
    assert [k for k in KINDS if DRIVERS[k].personal_device] == ["elder_button"]
    assert push_driver("hikvision") is not None and push_driver("fence") is None and push_driver("nope") is None
