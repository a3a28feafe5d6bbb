"""`anju bench readings`: readings/s sustained through a reading store, against the bare client in the same run.

- `--backend sql`: the gateway's path (`ReadingStore.stage` in one transaction per batch of readings) against
  a bare SQLAlchemy Core executemany of the same rows into the same `readings` table.
- `--backend influxdb`: the whole buffered path (rows → line protocol → the fsync'd on-disk buffer → the
  writer thread → the server, until the buffer is empty) against bare `influxdb-client` synchronous writes of
  the same lines in the same batch size to the same server. Without `--url`, a private VictoriaMetrics
  (which takes InfluxDB's `/api/v2/write`) is started for the run.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
import urllib.request
from dataclasses import asdict, dataclass
from datetime import timedelta
from pathlib import Path
from typing import Literal, cast

from gateway.timeseries import ReadingRow
from kernel.timeutil import utcnow
from tools.bench.mosquitto import ManagedProcess, free_port

TARGET_RATIO = 0.7
GATEWAY_BATCH = 1000
"""Readings handed to the store at once (about what one 500-message batch of fence heartbeats carries)."""


class ManagedVictoriaMetrics(ManagedProcess):
    """A private VictoriaMetrics (Debian `victoria-metrics`): InfluxDB's write API, for tests and benchmarks."""

    name = "victoria-metrics"

    def __init__(self, port: int | None = None, data_dir: Path | None = None) -> None:
        self.binary = shutil.which("victoria-metrics") or "/usr/bin/victoria-metrics"
        self.port = port or free_port()
        self.data_dir = data_dir or Path(tempfile.mkdtemp(prefix="anju-vm-"))

    @staticmethod
    def available() -> bool:
        return shutil.which("victoria-metrics") is not None or Path("/usr/bin/victoria-metrics").exists()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 15.0) -> None:
        self._spawn([self.binary, f"-httpListenAddr=127.0.0.1:{self.port}", f"-storageDataPath={self.data_dir}",
                     "-retentionPeriod=100y", "-loggerLevel=ERROR"], lambda: vm_healthy(self.url), timeout)

    def __enter__(self) -> ManagedVictoriaMetrics:
        self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()
        shutil.rmtree(self.data_dir, ignore_errors=True)


def vm_healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=1) as response:
            return response.status == 200
    except OSError:
        return False


@dataclass
class ReadingsResult:
    backend: str
    target: str
    readings: int
    store_seconds: float
    store_rate: float
    bare_seconds: float
    bare_rate: float
    ratio: float
    target_ratio: float

    def summary(self) -> str:
        verdict = "OK" if self.ratio >= self.target_ratio else "BELOW"
        bare = "bare executemany" if self.backend == "sql" else "bare influxdb-client"
        return (
            f"{self.readings} readings, backend {self.backend} ({self.target})\n"
            f"through the reading store : {self.store_seconds:>7.2f} s  {self.store_rate:>9.0f} readings/s\n"
            f"{bare:<26}: {self.bare_seconds:>7.2f} s  {self.bare_rate:>9.0f} readings/s\n"
            f"ratio {self.ratio:.2f} (target >= {self.target_ratio})  -> {verdict}"
        )


def synthetic_rows(count: int, site: str, devices: int = 500) -> list[ReadingRow]:
    """Fence heartbeats: two zones per host, one heartbeat per host per millisecond step, ending now."""
    start = utcnow() - timedelta(milliseconds=count)
    return [{"device_id": f"fence-{i % devices:04d}", "site": site, "kind": "fence", "metric": "voltage_kv",
             "zone": f"Z{i % 2 + 1}", "ts": start + timedelta(milliseconds=i), "value": 8.0 + (i % 100) / 100}
            for i in range(count)]


def _chunks(rows: list[ReadingRow], size: int) -> list[list[ReadingRow]]:
    return [rows[i:i + size] for i in range(0, len(rows), size)]


def _bench_sql(db_url: str | None, count: int, workdir: Path) -> tuple[str, float, float]:
    from sqlalchemy import Table, insert

    from gateway.timeseries import SqlReadingStore
    from kernel.db import make_engine, migrate, session_factory
    from kernel.db.models import Reading

    db_url = db_url or f"sqlite:///{workdir / 'bench.db'}"
    engine = make_engine(db_url)
    migrate(engine)
    sessions = session_factory(engine)
    store = SqlReadingStore(sessions)
    try:
        chunks = _chunks(synthetic_rows(count, "bench-store"), GATEWAY_BATCH)
        started = time.perf_counter()
        for chunk in chunks:
            with sessions.begin() as session:
                store.stage(session, chunk)
        store_seconds = time.perf_counter() - started

        table_rows = [{k: r[k] for k in ("device_id", "metric", "zone", "ts", "value")}
                      for r in synthetic_rows(count, "bench-bare")]
        started = time.perf_counter()
        for chunk in _chunks(table_rows, GATEWAY_BATCH):
            with engine.begin() as conn:
                conn.execute(insert(cast(Table, Reading.__table__)), chunk)
        bare_seconds = time.perf_counter() - started
    finally:
        engine.dispose()
    return db_url.split("://", 1)[0], store_seconds, bare_seconds


def _bench_influx(url: str | None, token: str | None, org: str, bucket: str, batch_size: int, count: int,
                  workdir: Path) -> tuple[str, float, float]:
    from influxdb_client import InfluxDBClient
    from influxdb_client.client.write_api import SYNCHRONOUS, WritePrecision

    from gateway.timeseries.influx import InfluxReadingStore, to_line
    from kernel.config import TimeseriesSettings

    managed = None
    if url is None:
        managed = ManagedVictoriaMetrics(data_dir=workdir / "vm")
        managed.start()
        url = managed.url
    try:
        settings = TimeseriesSettings(backend="influxdb", url=url, token=token, org=org, bucket=bucket,
                                      batch_size=batch_size, buffer_dir=str(workdir / "buffer"))
        store = InfluxReadingStore(settings)
        store.start()
        chunks = _chunks(synthetic_rows(count, "bench-store"), GATEWAY_BATCH)
        try:
            started = time.perf_counter()
            for chunk in chunks:
                store.write(chunk)
            if not store.flush(timeout=600):
                raise RuntimeError(f"{store.buffer.count} readings still buffered after 600 s")
            store_seconds = time.perf_counter() - started
        finally:
            store.close()

        chunks = _chunks(synthetic_rows(count, "bench-bare"), batch_size)
        with InfluxDBClient(url=url, token=token or "", org=org, timeout=30_000) as client:
            write_api = client.write_api(write_options=SYNCHRONOUS)
            started = time.perf_counter()
            for chunk in chunks:  # the same rows, serialised the same way, straight to the server
                write_api.write(bucket=bucket, org=org, record="\n".join(to_line(r) for r in chunk),
                                write_precision=WritePrecision.NS)
            bare_seconds = time.perf_counter() - started
    finally:
        if managed is not None:
            managed.stop()
    return (f"{url} (private VictoriaMetrics)" if managed else url), store_seconds, bare_seconds


def run_readings_bench(backend: Literal["sql", "influxdb"], count: int, url: str | None = None,
                       token: str | None = None, org: str = "anju", bucket: str = "anju", batch_size: int = 5000,
                       db_url: str | None = None, out: Path | None = None) -> ReadingsResult:
    workdir = Path(tempfile.mkdtemp(prefix="anju-bench-readings-"))
    try:
        if backend == "sql":
            target, store_seconds, bare_seconds = _bench_sql(db_url, count, workdir)
        else:
            target, store_seconds, bare_seconds = _bench_influx(url, token, org, bucket, batch_size, count, workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    store_rate, bare_rate = count / store_seconds, count / bare_seconds
    result = ReadingsResult(backend=backend, target=target, readings=count, store_seconds=store_seconds,
                            store_rate=store_rate, bare_seconds=bare_seconds, bare_rate=bare_rate,
                            ratio=store_rate / bare_rate, target_ratio=TARGET_RATIO)
    if out is not None:
        out.write_text(json.dumps({"benchmark": "readings", **asdict(result)}, indent=2), encoding="utf-8")
    return result
