"""Conditions evaluated in-process (`testkit.rules.RuleHarness`): stored events, windows and event time,
without a broker or real time. On both databases: the look-ups are SQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest

from alerting.engine import RuleEngine
from testkit.rules import RuleHarness
from tests.helpers import make_site


@pytest.fixture
def harness(db_url: str, site_id: str) -> Iterator[RuleHarness]:
    """The built-in rules, as `anju serve` runs them, on the test's site."""
    with RuleHarness.open(db_url, RuleEngine.from_files(None), make_site(site_id)) as rules:
        yield rules


def test_denied_burst_counts_in_a_sliding_window(harness: RuleHarness) -> None:
    def denied() -> None:
        harness.event("gate1", "pass", direction="in", method="card", credential="C-77", result="denied")
        harness.advance(timedelta(seconds=1))

    for _ in range(4):
        denied()
    harness.event("gate1", "pass", direction="in", method="card", credential="C-1", result="granted")
    assert "gate-denied-burst" not in harness.alerts(), "four denials are not five"
    denied()
    alert = harness.alerts().get("gate-denied-burst")
    assert alert is not None, "the burst alert"
    assert alert.severity == "major" and len(alert.evidence[0]["events"]) == 5
    denied()
    assert harness.alerts()["gate-denied-burst"].count == 2, "the sixth merged in"


def test_fence_alarm_then_capture_in_the_same_grid_is_correlated(harness: RuleHarness) -> None:
    harness.event("face1", "face", person_id="R01001", similarity=0.9)  # before: no
    harness.advance(timedelta(seconds=1))
    harness.event("fence1", "alarm", zone="Z1", cause="intrusion")
    harness.advance(timedelta(seconds=1))
    harness.event("face1", "face", snapshot_url="http://cam/face1/123.jpg")
    alert = harness.alerts().get("fence-alarm-then-capture")
    assert alert is not None, "the correlation"
    kinds = [e["type"] for e in alert.evidence[0]["events"]]
    assert kinds == ["alarm", "face"] and alert.count == 1


def test_correlation_follows_event_time_when_the_first_event_arrives_last(harness: RuleHarness) -> None:
    """A fence host's alarm delayed behind a camera's capture (separate connections) still correlates, once."""
    alarm_at = harness.now - timedelta(seconds=60)
    harness.event("face1", "face", person_id="R01001", similarity=0.9, ts=alarm_at + timedelta(seconds=20))
    harness.advance(timedelta(seconds=1))  # the capture stored first
    harness.event("fence1", "alarm", zone="Z1", cause="intrusion", ts=alarm_at)
    alert = harness.alerts().get("fence-alarm-then-capture")
    assert alert is not None, "the late correlation"
    assert [e["type"] for e in alert.evidence[0]["events"]] == ["alarm", "face"] and alert.count == 1
    assert (alert.device_id, alert.kind) == ("face1", "face_camera"), "about the capture, in either order"
