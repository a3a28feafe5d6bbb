"""Commands through the API, end to end (docs/commands.md): POST → published on `cmd` → a simulated device answers
on `cmd_result` → the gateway records it → GET shows it; refusals (422, 403 by role and by grid), expiry, and the
alert's history when sent from its page."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml

from kernel.mqtt import parse_broker_url
from simulators import FenceModel, SimulatedDevice
from tests.conftest import serving_api
from tests.helpers import ApiServer, Publisher, Subscriber, clear_retained, make_site, wait_for

pytestmark = [pytest.mark.broker]


@pytest.fixture
def ids() -> dict[str, str]:
    """Device ids of this test's own (a simulated device's MQTT client id is its id: never shared between runs)."""
    tag = uuid.uuid4().hex[:6]
    return {"gate": f"gate-{tag}", "jammed": f"gatej-{tag}", "far": f"gatef-{tag}", "fence": f"fence-{tag}",
            "button": f"eb-{tag}"}


@pytest.fixture
def command_site(tmp_path: Path, site_id: str, ids: dict[str, str]) -> Path:
    site = make_site(site_id)
    own = site["sites"][0]
    own["grids"].append({"id": "g2", "name": "第二网格", "patrol_team": "二组"})
    own["devices"] += [
        {"id": ids["gate"], "kind": "access_gate", "grid": "g1", "location": {"courtyard": "1号院"}},
        {"id": ids["jammed"], "kind": "access_gate", "grid": "g1", "attributes": {"simulate_commands": "fail"}},
        {"id": ids["far"], "kind": "access_gate", "grid": "g2"},
        {"id": ids["fence"], "kind": "fence", "grid": "g1", "attributes": {"zones": ["Z1", "Z2"]}},
        {"id": ids["button"], "kind": "elder_button", "grid": "g1", "location": {"courtyard": "1号院"}},
    ]
    path = tmp_path / "commands.yaml"
    path.write_text(yaml.safe_dump(site, allow_unicode=True), encoding="utf-8")
    return path


@pytest.fixture
def simulated(mosquitto_url: str, site_id: str, ids: dict[str, str]) -> Iterator[dict[str, SimulatedDevice]]:
    broker = parse_broker_url(mosquitto_url)
    devices = {
        "gate": SimulatedDevice(site_id, "access_gate", ids["gate"], broker),
        "jammed": SimulatedDevice(site_id, "access_gate", ids["jammed"], broker, command_mode="fail"),
        "fence": SimulatedDevice(site_id, "fence", ids["fence"], broker, model=FenceModel(zones=["Z1", "Z2"])),
        "button": SimulatedDevice(site_id, "elder_button", ids["button"], broker, command_mode="silent"),
    }
    for device in devices.values():
        device.connect()
    yield devices
    for device in devices.values():
        device.close()
    clear_retained(mosquitto_url, site_id, settle=0.1)


def _final(http: Any, device: str, cmd_id: str, timeout: float = 5) -> dict[str, Any]:
    """Poll the command until it is final, as the console does."""
    def done() -> dict[str, Any] | None:
        body = http.get(f"/devices/{device}/commands/{cmd_id}").json()
        return body if body["state"] in ("succeeded", "failed", "expired") else None
    return wait_for(done, timeout=timeout, what=f"command {cmd_id} final")


def test_commands_through_the_api(mosquitto_url: str, db_url: str, site_id: str, command_site: Path,
                                  ids: dict[str, str], simulated: dict[str, SimulatedDevice]) -> None:
    wire = Subscriber(mosquitto_url, f"anju/v1/{site_id}/+/+/cmd", qos=1)
    press = Publisher(mosquitto_url, site_id)
    try:
        with serving_api(mosquitto_url, db_url, command_site) as api:
            _commands(api, site_id, ids, simulated, wire, press)
    finally:
        wire.close()
        press.close()


def _commands(api: ApiServer, site_id: str, ids: dict[str, str], simulated: dict[str, SimulatedDevice],
              wire: Subscriber, press: Publisher) -> None:
    gate, fence, button = ids["gate"], ids["fence"], ids["button"]
    maintenance = api.token("maintenance", name="运维 老李")
    patrol = api.token("patrol", name="巡逻员 小张", grids=["g1"])
    with api.client(patrol) as http, api.client(maintenance) as ops:
        # An SOS, and from its page the gate of the elder's courtyard opened for the ambulance.
        press.send(button, "elder_button", "event", type="press")
        alert = wait_for(lambda: http.get("/alerts", params={"state": "open"}).json(), what="the SOS alert")[0]
        sent = http.post(f"/devices/{gate}/commands",
                         json={"command": "open", "args": {"seconds": 10}, "alert_id": alert["id"]})
        assert sent.status_code == 202, sent.text
        body = sent.json()
        assert body["state"] in ("sent", "succeeded") and body["requested_by"] == "巡逻员 小张"
        assert (body["command"], body["args"], body["device_id"], body["alert_id"]) == (
            "open", {"seconds": 10}, gate, alert["id"])
        topic, payload = wait_for(wire.snapshot, what="the command on the wire")[0]
        assert topic == f"anju/v1/{site_id}/access_gate/{gate}/cmd"
        assert orjson.loads(payload)["cmd_id"] == body["cmd_id"]
        done = _final(http, gate, body["cmd_id"])
        assert (done["state"], done["detail"]) == ("succeeded", {"opened_for_s": 10})
        assert done["sent_at"] and done["answered_at"]
        steps = [(h["action"], h["note"]) for h in http.get(f"/alerts/{alert['id']}").json()["history"]
                 if h["action"].startswith("command_")]
        assert steps == [("command_sent", f"command open sent to {gate} by 巡逻员 小张 (seconds=10)"),
                         ("command_succeeded", f'command open to {gate} succeeded: {{"opened_for_s":10}}')]

        # A device that fails says why; one that stays silent expires.
        jammed = http.post(f"/devices/{ids['jammed']}/commands", json={"command": "lock"}).json()
        assert _final(http, ids["jammed"], jammed["cmd_id"]) | {"detail": "jammed", "state": "failed"} == \
            _final(http, ids["jammed"], jammed["cmd_id"])
        beep = http.post(f"/devices/{button}/commands", json={"command": "locate", "ttl": 1}).json()
        assert beep["args"] == {"seconds": 10} and beep["state"] == "sent"
        expired = _final(http, button, beep["cmd_id"])
        assert (expired["state"], expired["answered_at"]) == ("expired", None)

        # Re-arming a zone is everyday; disarming one is not a patrol's to do.
        armed = http.post(f"/devices/{fence}/commands", json={"command": "arm", "args": {"zone": "Z1"}})
        assert armed.status_code == 202
        assert _final(http, fence, armed.json()["cmd_id"])["detail"] == {"armed": ["Z1"]}
        refused = http.post(f"/devices/{fence}/commands", json={"command": "disarm", "args": {"zone": "Z1"}})
        assert refused.status_code == 403 and "commands:security" in refused.json()["detail"]
        disarmed = ops.post(f"/devices/{fence}/commands", json={"command": "disarm", "args": {"zone": "Z2"}})
        assert disarmed.status_code == 202
        assert _final(ops, fence, disarmed.json()["cmd_id"])["detail"] == {"disarmed": ["Z2"]}
        assert simulated["fence"].commands.disarmed == {"Z2"}
        # Outside the patrol's grids: refused; the device's commands are not shown either.
        far = http.post(f"/devices/{ids['far']}/commands", json={"command": "open"})
        assert far.status_code == 403 and "not in your grids" in far.json()["detail"]
        assert http.get(f"/devices/{ids['far']}/commands").status_code == 404
        assert ops.get(f"/devices/{ids['far']}/commands").json() == []

        # What is wrong with a command is said (422).
        for request, reason in (
                ({"command": "beep"}, "kind access_gate takes no command 'beep' (it takes: lock, open)"),
                ({"command": "open", "args": {"seconds": 0}}, "open: seconds: Input should be greater than or equal"),
                ({"command": "open", "args": {"secs": 5}}, "open: secs: Extra inputs are not permitted"),
                ({"command": "open", "alert_id": 10**9}, "no alert 1000000000")):
            answer = http.post(f"/devices/{gate}/commands", json=request)
            assert answer.status_code == 422 and reason in answer.json()["detail"], answer.text
        for ttl in (0, 601):
            assert http.post(f"/devices/{gate}/commands", json={"command": "lock", "ttl": ttl}).status_code == 422
        assert http.post("/devices/cam1/commands", json={"command": "open"}).status_code == 422  # a camera: none
        assert http.post("/devices/nope/commands", json={"command": "open"}).status_code == 404

        # The history, newest first; a command only under its own device.
        history = ops.get(f"/devices/{gate}/commands").json()
        assert [c["cmd_id"] for c in history] == [body["cmd_id"]]
        assert ops.get(f"/devices/{fence}/commands").json()[0]["command"] == "disarm"
        assert ops.get(f"/devices/{fence}/commands/{body['cmd_id']}").status_code == 404
        assert [c["state"] for c in ops.get(f"/devices/{fence}/commands").json()] == ["succeeded", "succeeded"]


@pytest.mark.timeout(60)
def test_the_console_sends_commands_and_shows_them_live(mosquitto_url: str, sqlite_url: str, site_id: str,
                                                        command_site: Path, ids: dict[str, str],
                                                        simulated: dict[str, SimulatedDevice]) -> None:
    """From the SOS's page the patrol opens the gate of the elder's courtyard; from a fence's sheet maintenance
    disarms a zone; each button shows its command's state until the device has answered."""
    from tests.api.browser import CHROMIUM, CHROMIUM_ARGS, login, shoot
    from tests.conftest import unavailable

    if not Path(CHROMIUM).exists():
        unavailable("no Chromium at /usr/bin/chromium (Debian package `chromium`)")
    from playwright.sync_api import sync_playwright

    press = Publisher(mosquitto_url, site_id)
    try:
        with serving_api(mosquitto_url, sqlite_url, command_site) as api, sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            errors: list[str] = []
            page = browser.new_page(viewport={"width": 390, "height": 844})
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            login(page, api, api.token("patrol", name="巡逻员 小张", grids=["g1"]))
            page.get_by_test_id("alert-list").wait_for()
            press.send(ids["button"], "elder_button", "event", type="press")
            item = page.locator("[data-testid=alert-item][data-severity=critical]").first
            item.wait_for(timeout=10_000)
            item.get_by_test_id("alert-summary").click()
            commands = item.get_by_test_id("alert-commands")
            commands.wait_for(state="visible", timeout=10_000)
            gate = commands.locator(f"[data-testid=cmd-button][data-device='{ids['gate']}'][data-command=open]")
            assert commands.locator(f"[data-device='{ids['button']}'][data-command=locate]").count() == 1
            assert commands.locator(f"[data-device='{ids['far']}']").count() == 0, "another courtyard's gate"
            gate.click()
            commands.locator("[data-testid=cmd-state][data-state=succeeded]").wait_for(timeout=10_000)
            shoot(page, "patrol-commands")
            assert simulated["gate"].commands.open_until is not None

            ops = browser.new_page(viewport={"width": 1280, "height": 900})
            ops.on("pageerror", lambda exc: errors.append(str(exc)))
            login(ops, api, api.token("maintenance"))
            ops.locator(f"[data-testid=device-row][data-device-id='{ids['fence']}']").click()
            sheet = ops.get_by_test_id("device-commands")
            disarm = sheet.locator("[data-testid=cmd-button][data-command=disarm]").first
            disarm.wait_for(timeout=10_000)
            disarm.click()
            sheet.locator("[data-testid=cmd-state][data-state=succeeded]").first.wait_for(timeout=10_000)
            sheet.locator("[data-testid=cmd-history-row][data-state=succeeded]").first.wait_for(timeout=10_000)
            shoot(ops, "maintenance-commands")
            assert simulated["fence"].commands.disarmed == {"Z1"}
            browser.close()
            assert not errors, errors
    finally:
        press.close()
