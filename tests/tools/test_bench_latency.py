"""`anju bench latency` runs end to end (its own broker, `anju serve` and `anju simulate` as processes).

Nothing here is timed: the figures are the benchmark's business; the test checks
that every press became an alert on both paths and that the result is complete.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tools.bench.latency import run_latency_bench
from tools.bench.mosquitto import ManagedMosquitto

pytestmark = [pytest.mark.broker, pytest.mark.timeout(180),
              pytest.mark.skipif(not ManagedMosquitto.available(), reason="needs the mosquitto binary")]


def test_every_press_is_timed_on_the_topic_and_the_stream(tmp_path: Path) -> None:
    out = tmp_path / "latency.json"
    result = run_latency_bench(presses=10, background_rate=200, db_url=None, out=out)
    assert result.presses == 10 and result.missed == 0
    assert 0 < result.bare_p50_ms <= result.stream_p50_ms
    assert result.alert_p50_ms <= result.alert_p99_ms <= result.alert_max_ms
    saved = json.loads(out.read_text())
    assert saved["benchmark"] == "latency" and saved["presses"] == 10
    assert "added by the gateway" in result.summary()
    # The split at the gateway's socket comes from the stored presses: every one was found.
    assert result.receive_p50_ms is not None and result.process_p50_ms is not None
    assert "received by the gateway" in result.summary()
    # And every press's notification reached the local webhook, through the outbox and the senders.
    assert result.notify_missed == 0 and result.notify_p50_ms is not None
    assert result.alert_p50_ms <= result.notify_p50_ms <= result.notify_max_ms  # type: ignore[operator]
    assert "notification at a local webhook" in result.summary()
