"""The reading store without a time-series server: SQL reads, downsampling and retention; line protocol, Flux
text, the on-disk buffer's bound, settings."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry
from pydantic import ValidationError

from gateway.timeseries import Point, SqlReadingStore
from gateway.timeseries.buffer import DiskBuffer
from gateway.timeseries.influx import InfluxReadingStore, flux_query, to_line
from kernel.config import TimeseriesSettings, load_settings
from kernel.db import make_engine, migrate, session_factory
from kernel.timeutil import utcnow
from tests.conftest import GatewayFactory
from tools.bench.mosquitto import free_port

T0 = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)


def row(ts: datetime, value: float, zone: str | None = None, metric: str = "voltage_kv",
        device: str = "fence1") -> dict:
    return {"device_id": device, "site": "s1", "kind": "fence", "metric": metric, "zone": zone, "ts": ts,
            "value": value}


@pytest.fixture
def sql_store(db_url: str):
    engine = make_engine(db_url)
    migrate(engine)
    yield SqlReadingStore(session_factory(engine))
    engine.dispose()


def test_sql_store_reads_raw_and_downsampled_per_zone(sql_store: SqlReadingStore) -> None:
    sql_store.write([
        row(T0 + timedelta(seconds=1), 8.0, "Z1"), row(T0 + timedelta(seconds=1), 1.0, "Z2"),
        row(T0 + timedelta(seconds=30), 9.0, "Z1"), row(T0 + timedelta(seconds=59, microseconds=999_000), 3.0, "Z2"),
        row(T0 + timedelta(seconds=61), 10.0, "Z1"),
        row(T0 + timedelta(seconds=5), 64.0, metric="battery"),
        row(T0 + timedelta(seconds=5), 50.0, "Z1", device="fence2"),
    ])
    until = T0 + timedelta(minutes=5)

    raw = sql_store.read("fence1", "voltage_kv", T0, until, None)
    assert raw == [Point(T0 + timedelta(seconds=1), 8.0, "Z1"), Point(T0 + timedelta(seconds=1), 1.0, "Z2"),
                   Point(T0 + timedelta(seconds=30), 9.0, "Z1"),
                   Point(T0 + timedelta(seconds=59, microseconds=999_000), 3.0, "Z2"),
                   Point(T0 + timedelta(seconds=61), 10.0, "Z1")]

    minute = sql_store.read("fence1", "voltage_kv", T0, until, 60)
    assert minute == [Point(T0, 8.5, "Z1"), Point(T0, 2.0, "Z2"), Point(T0 + timedelta(minutes=1), 10.0, "Z1")]

    every_metric = sql_store.read("fence1", None, T0, until, 60)
    assert Point(T0, 64.0, None) in every_metric and len(every_metric) == 4

    # since/until are inclusive; limit keeps the first raw points, the latest buckets
    assert [p.value for p in sql_store.read("fence1", "voltage_kv", T0 + timedelta(seconds=30),
                                            T0 + timedelta(seconds=61), None)] == [9.0, 3.0, 10.0]
    assert [p.value for p in sql_store.read("fence1", "voltage_kv", T0, until, None, limit=1)] == [8.0]
    assert sql_store.read("fence1", "voltage_kv", T0, until, 60, limit=1) == [Point(T0 + timedelta(minutes=1),
                                                                                     10.0, "Z1")]


def test_sql_store_prunes_by_age(sql_store: SqlReadingStore) -> None:
    sql_store.write([row(T0 - timedelta(days=10), 1.0), row(T0 - timedelta(days=2), 2.0), row(T0, 3.0)])
    assert sql_store.prune(T0 - timedelta(days=7)) == 1
    assert [p.value for p in sql_store.read("fence1", None, T0 - timedelta(days=30), T0, None)] == [2.0, 3.0]


def test_hourly_prune_applies_retention_days(make_gateway: GatewayFactory, sqlite_url: str, mosquitto_url: str,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANJU_TIMESERIES__RETENTION_DAYS", "3")
    gw = make_gateway(mosquitto_url, sqlite_url, start=False)
    gw.prepare_database()
    now = utcnow()
    gw.readings.write([row(now - timedelta(days=4), 1.0), row(now - timedelta(days=2), 2.0)])
    gw._prune(now)
    assert [p.value for p in gw.readings.read("fence1", None, now - timedelta(days=30), now, None)] == [2.0]
    gw.engine.dispose()


def test_line_protocol_is_exact_and_escaped() -> None:
    ts = datetime(2026, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)
    assert to_line(row(ts, 8, "Z 1,a=b")) == (
        r"reading,device=fence1,kind=fence,metric=voltage_kv,site=s1,zone=Z\ 1\,a\=b value=8.0 "
        f"{int(ts.replace(microsecond=0).timestamp()) * 10**9 + 123_456_000}")
    assert to_line(row(ts, 64.5, metric="battery")).startswith(
        "reading,device=fence1,kind=fence,metric=battery,site=s1 value=64.5 ")


def test_flux_query_text() -> None:
    since, until = T0, T0 + timedelta(hours=1)
    assert flux_query("anju", "fence1", 'volt"age', since, until, 60, 5000) == """\
import "date"

from(bucket: "anju")
  |> range(start: 2026-03-01T12:00:00.000000Z, stop: 2026-03-01T13:00:00.000001Z)
  |> filter(fn: (r) => r._measurement == "reading" and r._field == "value" and r.device == "fence1")
  |> filter(fn: (r) => r.metric == "volt\\"age")
  |> group(columns: ["zone"])
  |> aggregateWindow(every: 60s, fn: mean, createEmpty: false, timeSrc: "_start")
  |> map(fn: (r) => ({r with _time: date.truncate(t: r._time, unit: 60s)}))
  |> group()
  |> sort(columns: ["_time"], desc: true)
  |> limit(n: 5000)
  |> keep(columns: ["_time", "_value", "zone"])"""
    raw = flux_query("anju", "fence1", None, since, until, None, 10)
    assert "r.metric" not in raw and "aggregateWindow" not in raw
    assert raw.endswith('|> group()\n  |> sort(columns: ["_time"])\n  |> limit(n: 10)\n'
                        '  |> keep(columns: ["_time", "_value", "zone"])')


def test_buffer_bound_drops_oldest_and_keeps_lines_in_flight(tmp_path: Path) -> None:
    buffer = DiskBuffer(tmp_path, max_bytes=50)
    assert buffer.append([f"line-{i:04d}" for i in range(5)]) == 0  # 5 x 9 bytes = 45
    last, sending = buffer.peek(2)
    assert sending == ["line-0000", "line-0001"]
    assert buffer.append(["line-0005", "line-0006"]) == 2  # 63 bytes: the two oldest not in flight go
    assert buffer.remove_through(last) == 2
    assert buffer.peek(10)[1] == ["line-0004", "line-0005", "line-0006"]
    assert (buffer.count, buffer.bytes) == (3, 27)
    buffer.close()
    reopened = DiskBuffer(tmp_path, max_bytes=50)
    assert (reopened.count, reopened.bytes) == (3, 27), "the buffer survives a restart"
    reopened.close()


def test_store_counts_what_the_full_buffer_dropped(tmp_path: Path) -> None:
    registry = CollectorRegistry()
    settings = TimeseriesSettings(backend="influxdb", url=f"http://127.0.0.1:{free_port()}",
                                  buffer_dir=str(tmp_path), buffer_max_mb=1000 / 1024 / 1024)  # 1000 bytes
    store = InfluxReadingStore(settings, registry)
    rows = [row(T0 + timedelta(seconds=i), float(i), "Z1") for i in range(30)]
    store.write(rows)
    kept = store.buffer.count
    assert 0 < kept < 30 and store.buffer.bytes <= 1000
    assert registry.get_sample_value("anju_readings_dropped_total", {"reason": "buffer_full"}) == 30 - kept
    assert registry.get_sample_value("anju_readings_buffered") == kept
    assert store.buffer.peek(100)[1] == [to_line(r) for r in rows[-kept:]], "the newest are kept"
    store.close()


def test_timeseries_settings_refuse_misspelt_keys() -> None:
    with pytest.raises(ValidationError, match="bucketname"):
        load_settings(timeseries={"backend": "influxdb", "bucketname": "x"})
    assert load_settings(timeseries={"backend": "influxdb", "bucket": "x"}).timeseries.bucket == "x"
    assert load_settings().timeseries.backend == "sql"
