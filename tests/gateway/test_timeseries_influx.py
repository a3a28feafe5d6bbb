"""The InfluxDB reading store against a real server: VictoriaMetrics, which takes InfluxDB's `/api/v2/write`
line protocol (written here through `influxdb-client`) and is read back through its own export API.

VictoriaMetrics cannot answer Flux, so reads through the API on this backend use a fake query API
(`test_readings_route_has_the_same_shape_on_both_backends`); the Flux text is checked in test_timeseries.py.
"""

from __future__ import annotations

import json
import time
import urllib.request
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from influxdb_client.client.flux_table import FluxRecord, FluxTable

from kernel.timeutil import utcnow
from tests.conftest import GatewayFactory, unavailable
from tests.helpers import Publisher, wait_for
from tools.bench.mosquitto import free_port
from tools.bench.readings import ManagedVictoriaMetrics

pytestmark = [pytest.mark.broker]


def influx_backend(monkeypatch: pytest.MonkeyPatch, url: str, buffer_dir: Path, **extra: object) -> None:
    """Gateways built after this use the InfluxDB reading store (environment variables win over the file)."""
    for key, value in {"backend": "influxdb", "url": url, "buffer_dir": str(buffer_dir), "flush_interval": 0.1,
                       **extra}.items():
        monkeypatch.setenv(f"ANJU_TIMESERIES__{key.upper()}", str(value))


def export(vm: str, site: str) -> list[dict[str, Any]]:
    """Every series of the site, as VictoriaMetrics stored it (after a flush, so recent samples show)."""
    urllib.request.urlopen(f"{vm}/internal/force_flush", timeout=5).read()
    query = urlencode({"match[]": f'reading_value{{site="{site}"}}'})
    with urllib.request.urlopen(f"{vm}/api/v1/export?{query}", timeout=5) as response:
        return [json.loads(line) for line in response.read().splitlines() if line.strip()]


def samples(vm: str, site: str) -> list[tuple[str, str, str | None, int, float]]:
    """(device, metric, zone, epoch ms, value) for each stored sample, sorted."""
    return sorted(
        (s["metric"]["device"], s["metric"]["metric"], s["metric"].get("zone"), ts, value)
        for s in export(vm, site) for ts, value in zip(s["timestamps"], s["values"], strict=True))


def now_ms() -> int:
    return int(time.time() * 1000)


def test_published_readings_land_in_the_server_exactly(
        make_gateway: GatewayFactory, mosquitto_url: str, sqlite_url: str, vm_url: str, site_id: str,
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    influx_backend(monkeypatch, vm_url, tmp_path / "buffer")
    gw = make_gateway(mosquitto_url, sqlite_url)
    pub = Publisher(mosquitto_url, site_id)
    ts = now_ms()
    pub.send("fence1", "fence", "telemetry", type="heartbeat", ts=ts, voltage_kv={"Z1": 8.2, "Z2": 0.4})
    pub.send("eb1", "elder_button", "telemetry", type="heartbeat", ts=ts + 1, battery=64)
    pub.close()

    wait_for(lambda: len(samples(vm_url, site_id)) >= 3, what="three readings in VictoriaMetrics")
    assert samples(vm_url, site_id) == [("eb1", "battery", None, ts + 1, 64.0),
                                        ("fence1", "voltage_kv", "Z1", ts, 8.2),
                                        ("fence1", "voltage_kv", "Z2", ts, 0.4)]
    labels = sorted((s["metric"] for s in export(vm_url, site_id)), key=lambda m: m.get("zone") or "")
    assert labels[0] == {"__name__": "reading_value", "device": "eb1", "kind": "elder_button", "metric": "battery",
                         "site": site_id}
    assert labels[1] == {"__name__": "reading_value", "device": "fence1", "kind": "fence", "metric": "voltage_kv",
                         "site": site_id, "zone": "Z1"}
    wait_for(lambda: gw.metrics.value("anju_readings_written_total") == 3, what="written counted")
    assert gw.readings.buffer.count == 0


def test_server_killed_mid_stream_loses_nothing_and_duplicates_nothing(
        make_gateway: GatewayFactory, mosquitto_url: str, sqlite_url: str, site_id: str, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    if not ManagedVictoriaMetrics.available():
        unavailable("no victoria-metrics binary (apt-get install victoria-metrics, see .ci/run)")
    vm = ManagedVictoriaMetrics(data_dir=tmp_path / "vm")
    vm.start()
    try:
        influx_backend(monkeypatch, vm.url, tmp_path / "buffer", batch_size=10)
        gw = make_gateway(mosquitto_url, sqlite_url)
        pub = Publisher(mosquitto_url, site_id)
        start, sent = now_ms() - 1000, 0

        def heartbeats(n: int) -> None:
            nonlocal sent
            for _ in range(n):
                pub.send("fence1", "fence", "telemetry", type="heartbeat", ts=start + sent,
                         voltage_kv={"Z1": round(8.0 + sent / 100, 2), "Z2": round(1.0 + sent / 100, 2)})
                sent += 1
                time.sleep(0.01)

        heartbeats(20)
        wait_for(lambda: gw.metrics.value("anju_readings_written_total") > 0, what="some readings written")
        vm.stop()  # mid-stream: the gateway keeps taking messages, the buffer keeps their readings
        heartbeats(20)
        wait_for(lambda: gw.metrics.value("anju_readings_write_retries_total") > 0, what="failed writes")
        wait_for(lambda: gw.readings.buffer.count >= 2, what="readings held in the buffer")
        vm.start()
        heartbeats(20)
        pub.close()

        wait_for(lambda: len(samples(vm.url, site_id)) >= 120 and gw.readings.buffer.count == 0, timeout=15,
                 what="all 120 readings in VictoriaMetrics")
        got = samples(vm.url, site_id)
        expected = sorted([("fence1", "voltage_kv", zone, start + i, round(base + i / 100, 2))
                           for i in range(60) for zone, base in (("Z1", 8.0), ("Z2", 1.0))])
        assert len(got) == 120, "every reading exactly once"
        assert got == expected
        assert gw.metrics.value("anju_readings_written_total") == 120
    finally:
        vm.stop()


def test_gateway_restart_flushes_a_non_empty_buffer(
        make_gateway: GatewayFactory, mosquitto_url: str, sqlite_url: str, vm_url: str, site_id: str,
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    buffer_dir = tmp_path / "buffer"
    influx_backend(monkeypatch, f"http://127.0.0.1:{free_port()}", buffer_dir)  # nothing listens there
    gw = make_gateway(mosquitto_url, sqlite_url)
    pub = Publisher(mosquitto_url, site_id)
    ts = now_ms()
    for i in range(3):
        pub.send("fence1", "fence", "telemetry", type="heartbeat", ts=ts + i, voltage_kv={"Z1": 8.0 + i, "Z2": i})
    pub.close()
    wait_for(lambda: gw.readings.buffer.count == 6, what="six readings buffered")
    gw.stop(drain_seconds=1)
    assert samples(vm_url, site_id) == []

    influx_backend(monkeypatch, vm_url, buffer_dir)
    gw2 = make_gateway(mosquitto_url, sqlite_url)
    wait_for(lambda: len(samples(vm_url, site_id)) == 6, what="the buffer flushed after the restart")
    assert samples(vm_url, site_id) == sorted(
        [("fence1", "voltage_kv", "Z1", ts + i, 8.0 + i) for i in range(3)]
        + [("fence1", "voltage_kv", "Z2", ts + i, float(i)) for i in range(3)])
    wait_for(lambda: gw2.readings.buffer.count == 0, what="the buffer emptied")


class _FakeQueryApi:
    """Answers Flux the way InfluxDB would for the points given (VictoriaMetrics cannot run Flux)."""

    def __init__(self, points: list[tuple[datetime, float, str | None]]) -> None:
        self.points = points
        self.queries: list[str] = []

    def query(self, query: str, org: str | None = None) -> list[FluxTable]:
        self.queries.append(query)
        table = FluxTable()
        table.records = [FluxRecord(0, {"_time": ts, "_value": value, "zone": zone})
                         for ts, value, zone in self.points]
        return [table]


@pytest.mark.parametrize("backend", ["sql", "influxdb"])
def test_readings_route_has_the_same_shape_on_both_backends(
        backend: str, make_api: Any, mosquitto_url: str, sqlite_url: str, vm_url: str, site_id: str,
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if backend == "influxdb":
        influx_backend(monkeypatch, vm_url, tmp_path / "buffer")
    server = make_api(mosquitto_url, sqlite_url)
    base = utcnow().replace(second=0, microsecond=0) - timedelta(minutes=5)
    stamps = [base + timedelta(seconds=s) for s in (1, 2, 61)]
    pub = Publisher(mosquitto_url, site_id)
    for i, at in enumerate(stamps):
        pub.send("fence1", "fence", "telemetry", type="heartbeat", ts=int(at.timestamp() * 1000),
                 voltage_kv={"Z1": 8.0 + i})
    pub.close()
    readings = server.services.gateway.readings
    if backend == "influxdb":
        wait_for(lambda: len(samples(vm_url, site_id)) == 3, what="readings in VictoriaMetrics")
        fake = _FakeQueryApi([(base, 8.5, "Z1"), (base + timedelta(minutes=1), 10.0, "Z1")])
        monkeypatch.setattr(readings.client, "query_api", lambda: fake)
    else:
        wait_for(lambda: len(readings.read("fence1", None, base, utcnow(), None)) == 3, what="readings stored")

    with server.admin() as api:
        response = api.get("/devices/fence1/readings", params={"metric": "voltage_kv", "step": 60,
                                                               "since": base.isoformat()})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body == {"device_id": "fence1", "metric": "voltage_kv", "step": 60, "points": [
        {"ts": base.isoformat().replace("+00:00", "Z"), "value": 8.5, "zone": "Z1"},
        {"ts": (base + timedelta(minutes=1)).isoformat().replace("+00:00", "Z"), "value": 10.0, "zone": "Z1"},
    ]}
    if backend == "influxdb":
        assert 'r.device == "fence1"' in fake.queries[0] and "every: 60s" in fake.queries[0]
