"""The ACME VC-200 driver against recorded camera payloads, with Anju's driver harness."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from anju_driver_acme.driver import AcmeVC200

from testkit.drivers import assert_canonical, assert_rejected, load_payloads

PAYLOADS = Path(__file__).parent / "payloads"
driver = AcmeVC200()


def test_lpr_is_a_canonical_plate_event() -> None:
    [lpr] = load_payloads(PAYLOADS / "lpr.json")
    meaning = assert_canonical(driver, "event", lpr, type="plate",
                               fields={"plate": "辽E12345", "confidence": 0.93},
                               ts=datetime(2026, 11, 23, 0, 0, tzinfo=UTC))
    assert meaning.store_event


@pytest.mark.parametrize("recorded", load_payloads(PAYLOADS / "lpr-more.jsonl"), ids=lambda r: r.name)
def test_every_recorded_lpr_maps_to_a_plate(recorded) -> None:
    raw = recorded.json()
    assert_canonical(driver, "event", recorded, type="plate", fields={"plate": raw["plateNo"]}, store_event=True)


def test_heartbeat_is_telemetry_not_an_event() -> None:
    [hb] = load_payloads(PAYLOADS / "heartbeat.json")
    assert not assert_canonical(driver, "telemetry", hb, type="heartbeat").store_event


def test_what_the_camera_gets_wrong_is_dead_lettered_with_a_reason() -> None:
    assert "evt" in assert_rejected(driver, "event", {"evt": "FACE"}, "invalid_payload").detail
    assert_rejected(driver, "event", {"evt": "LPR", "plateNo": "辽E12345", "conf": "93"}, "invalid_payload")
    assert_rejected(driver, "event", {"evt": "LPR"}, "invalid_payload")  # neither plate nor snapshot
