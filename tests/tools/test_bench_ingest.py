"""`anju bench ingest` in production shape: the gateway as `anju serve`, publishers and the bare subscriber each
their own process.

Nothing here is timed: the test checks what the figures rest on (every published
message stored, nothing shed at a low rate, a CPU figure for the gateway and for
the bare subscriber), that the payloads built ahead of the run are what the
devices would send, and where the saturation sweep stops.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from types import SimpleNamespace
from typing import cast

import pytest

from tests.conftest import unavailable
from tools.bench.ingest import run_ingest_bench, sweep
from tools.bench.loadgen import schedule
from tools.bench.mixes import check_mix, device_templates, mix_devices
from tools.bench.mosquitto import ManagedMosquitto
from tools.bench.rig import IngestRow
from tools.bench.wire import publish_packet, remaining_length, topic_field


def test_the_issue_mix_keeps_its_shares_in_every_publishers_slice() -> None:
    devices = mix_devices("issue", 500)
    assert Counter(d.kind for d in devices) == {"elder_button": 300, "access_gate": 150, "fence": 50}
    assert len({d.device_id for d in devices}) == 500
    for i in range(3):
        kinds = Counter(d.kind for d in devices[i::3])
        assert abs(kinds["elder_button"] / sum(kinds.values()) - 0.6) < 0.02
    assert len({d.kind for d in mix_devices("all-kinds", 5)}) == 5  # the earlier load: the five kinds in turn
    assert {d.kind for d in mix_devices("issue", 10, "fence")} == {"fence"}
    with pytest.raises(ValueError):
        check_mix("most", None)


def test_templates_give_the_devices_payloads_with_the_patched_id_and_time() -> None:
    seen = {}
    for device in mix_devices("issue", 10):
        for template in device_templates("issue", device, seed=1):
            payload = json.loads(template.payload(b"run1-42", b"1700000000123"))
            assert payload["msg_id"] == "run1-42" and payload["ts"] == 1700000000123
            seen[device.kind] = (payload["type"], template.qos, template.topic.rsplit("/", 1)[1])
    assert seen == {"elder_button": ("heartbeat", 0, "telemetry"), "access_gate": ("pass", 1, "event"),
                    "fence": ("heartbeat", 0, "telemetry")}


def test_publishers_share_the_devices_without_overlap() -> None:
    first = {t.topic for t in schedule("issue", 20, None, 0, 2, seed=1)}
    second = {t.topic for t in schedule("issue", 20, None, 1, 2, seed=1)}
    assert first and second and not first & second


def _row(held: bool, achieved: float) -> IngestRow:
    return cast(IngestRow, SimpleNamespace(held=held, offered_actual=achieved))


def test_the_sweep_doubles_until_the_gateway_falls_behind_or_the_load_cannot_follow() -> None:
    asked: list[float] = []

    def behind_at_8k(rate: float) -> IngestRow:
        asked.append(rate)
        return _row(rate < 8000, rate)

    assert len(sweep(behind_at_8k, 2000)) == 4 and asked == [2000, 4000, 8000, 6000]
    asked.clear()

    def load_tops_at_5k(rate: float) -> IngestRow:
        asked.append(rate)
        return _row(True, min(rate, 5000))

    sweep(load_tops_at_5k, 2000)
    assert asked == [2000, 4000, 8000]
    asked.clear()
    sweep(behind_at_8k, 8000)  # behind at the first rate: nothing held to go back towards
    assert asked == [8000]


@pytest.mark.broker
@pytest.mark.timeout(120)
def test_one_gateway_processes_every_message_and_its_cpu_is_measured(tmp_path: Path) -> None:
    if not ManagedMosquitto.available():
        unavailable("mosquitto is not installed (apt-get install mosquitto)")
    out = tmp_path / "ingest.json"
    result = run_ingest_bench(None, devices=30, rate=200, duration=2, db_url=None, out=out, publishers=2)

    row = result.fixed
    assert row.published > 300 and row.publishers == 2
    assert row.stored == row.published and row.lost == 0 and row.shed == 0 and row.dead_letters == 0
    assert row.bare_received == row.published and row.held
    assert row.gateway_cpu_ms_per_msg and row.bare_cpu_ms_per_msg and row.cpu_ratio
    assert row.gateway_msgs_per_cpu_second and row.broker_cpu_ms_per_1k and row.load_cpu_ms_per_1k
    assert result.held_rate == 200 and result.sweep == []
    saved = json.loads(out.read_text())
    assert saved["benchmark"] == "ingest" and saved["fixed"]["stored"] == row.stored
    assert "CPU per message: gateway" in result.summary()


def test_the_wire_publisher_encodes_mqtt_lengths_and_packets() -> None:
    assert [remaining_length(n) for n in (0, 127, 128, 16383, 16384)] == [
        b"\x00", b"\x7f", b"\x80\x01", b"\xff\x7f", b"\x80\x80\x01"]
    packet = publish_packet(topic_field("a/b"), 1, 7, b"{}")
    assert packet == b"\x32\x09\x00\x03a/b\x00\x07{}"
    assert publish_packet(topic_field("a/b"), 0, 7, b"{}") == b"\x30\x07\x00\x03a/b{}"
