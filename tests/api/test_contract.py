"""The device contract through the real API: topics, every kind's schemas, and examples the gateway accepts."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from devices import DRIVERS
from tests.helpers import ApiServer, Publisher, wait_for

pytestmark = [pytest.mark.broker]


def test_contract_lists_topics_kinds_and_valid_examples(make_api: Callable[..., ApiServer], mosquitto_url: str,
                                                        sqlite_url: str, site_id: str) -> None:
    api = make_api(mosquitto_url, sqlite_url)
    integrator = api.token("integrator")
    with api.client(integrator) as http:
        contract = http.get("/contract").json()
    assert contract["topics"] == {
        "event": "anju/v1/{site}/{kind}/{device}/event", "telemetry": "anju/v1/{site}/{kind}/{device}/telemetry",
        "status": "anju/v1/{site}/{kind}/{device}/status", "cmd": "anju/v1/{site}/{kind}/{device}/cmd",
        "alerts": "anju/v1/{site}/alerts"}
    assert contract["status_payloads"] == ["online", "offline"] and contract["max_payload_bytes"] == 256 * 1024
    kinds = {k["kind"]: k for k in contract["kinds"]}
    assert sorted(kinds) == sorted(DRIVERS)
    for kind, described in kinds.items():
        driver = DRIVERS[kind]
        assert described["events"].keys() == driver.events.keys() and described["commands"].keys() == \
            driver.commands.keys()
        for channel, key in (("event", "events"), ("telemetry", "telemetry")):
            assert described["examples"][channel].keys() == described[key].keys()
            for name, example in described["examples"][channel].items():
                assert example["type"] == name
                driver.schema_for(channel, name).model_validate(example)  # the gateway would accept it
    assert kinds["plate_camera"]["examples"]["event"]["plate"]["plate"] == "辽E12345"
    assert kinds["access_gate"]["examples"]["event"]["pass"]["direction"] in ("in", "out")

    # The elder button's example press, sent as is, is an SOS.
    publisher = Publisher(mosquitto_url, site_id)
    try:
        example = dict(kinds["elder_button"]["examples"]["event"]["press"], ts=None)
        publisher.send("eb1", "elder_button", "event", **example)
    finally:
        publisher.close()
    with api.admin() as admin:
        alerts = wait_for(lambda: admin.get("/alerts", params={"site": site_id}).json(), timeout=5, what="the SOS")
    assert alerts[0]["rule"] == "elder-sos"

    with api.client(api.token("patrol", grids=["g1"])) as http:
        assert http.get("/contract").status_code == 403
    with api.client() as anonymous:
        assert anonymous.get("/contract").status_code == 401
