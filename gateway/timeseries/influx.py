"""InfluxDB 2/3 (or anything that takes its `/api/v2/write` line protocol) as the reading store.

Schema: one measurement `reading`, tags `device`, `kind`, `metric`, `site` and
(for zoned metrics) `zone`, one float field `value`, nanosecond timestamps.

After a batch commits, its readings are appended to a bounded on-disk buffer
(`DiskBuffer`, fsync'd) before the MQTT acknowledgement goes out; a writer
thread sends them in batches with `influxdb_client`'s synchronous write API,
retrying with exponential backoff (0.5 s → 30 s), and removes them from the
buffer only once the server accepted them.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from prometheus_client import CollectorRegistry, Counter, Gauge
from sqlalchemy.orm import Session

from gateway.timeseries.base import MAX_POINTS, Point, ReadingRow, ReadingStore, bucket_order
from gateway.timeseries.buffer import DiskBuffer
from kernel.config import TimeseriesSettings

log = logging.getLogger(__name__)

MEASUREMENT = "reading"
FIELD = "value"
BACKOFF_START, BACKOFF_MAX = 0.5, 30.0
REJECTED_STATUSES = (400, 422)
"""The server refused the points themselves (bad line, outside the bucket's retention): resending cannot help."""
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_NS = timedelta(microseconds=1)


# -- line protocol --------------------------------------------------------------------------------

def _tag(value: str) -> str:
    return value.replace("\\", "\\\\").replace(",", "\\,").replace("=", "\\=").replace(" ", "\\ ")


def to_line(row: ReadingRow) -> str:
    """One reading as a line of InfluxDB line protocol (tags sorted by key, as InfluxDB prefers)."""
    tags = f"device={_tag(row['device_id'])},kind={_tag(row['kind'])},metric={_tag(row['metric'])}," \
           f"site={_tag(row['site'])}"
    if row.get("zone") is not None:
        tags += f",zone={_tag(row['zone'])}"
    ns = (row["ts"] - _EPOCH) // _NS * 1000
    return f"{MEASUREMENT},{tags} {FIELD}={float(row['value'])!r} {ns}"


# -- Flux --------------------------------------------------------------------------------------------

def _flux_string(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("${", "\\${") + '"'


def _flux_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def flux_query(bucket: str, device_id: str, metric: str | None, since: datetime, until: datetime,
               step: int | None, limit: int = MAX_POINTS) -> str:
    """The Flux query answering `ReadingStore.read` (same points, same buckets as the SQL backend)."""
    lines = ['import "date"', "",
             f"from(bucket: {_flux_string(bucket)})",
             # range's stop is exclusive; the API's `until` is inclusive.
             f"  |> range(start: {_flux_time(since)}, stop: {_flux_time(until + timedelta(microseconds=1))})",
             f'  |> filter(fn: (r) => r._measurement == "{MEASUREMENT}" and r._field == "{FIELD}"'
             f" and r.device == {_flux_string(device_id)})"]
    if metric is not None:
        lines.append(f"  |> filter(fn: (r) => r.metric == {_flux_string(metric)})")
    if step:
        lines += ['  |> group(columns: ["zone"])',
                  f'  |> aggregateWindow(every: {step}s, fn: mean, createEmpty: false, timeSrc: "_start")',
                  # The first window starts at `since`: stamp every bucket at its epoch-aligned start.
                  f"  |> map(fn: (r) => ({{r with _time: date.truncate(t: r._time, unit: {step}s)}}))",
                  "  |> group()",
                  '  |> sort(columns: ["_time"], desc: true)']
    else:
        lines += ["  |> group()", '  |> sort(columns: ["_time"])']
    lines += [f"  |> limit(n: {limit})", '  |> keep(columns: ["_time", "_value", "zone"])']
    return "\n".join(lines)


# -- the store ---------------------------------------------------------------------------------------

class InfluxMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.written = Counter("anju_readings_written_total", "Readings the time-series server accepted",
                               registry=registry)
        self.retries = Counter("anju_readings_write_retries_total",
                               "Failed write requests to the time-series server (retried after a backoff)",
                               registry=registry)
        self.dropped = Counter("anju_readings_dropped_total",
                               "Readings given up: buffer_full (oldest dropped), rejected (refused by the server)",
                               ["reason"], registry=registry)
        self.buffered = Gauge("anju_readings_buffered", "Readings in the on-disk buffer, not yet accepted",
                              registry=registry)
        self.buffer_bytes = Gauge("anju_readings_buffer_bytes", "Line-protocol bytes in the on-disk buffer",
                                  registry=registry)


class InfluxReadingStore(ReadingStore):
    backend = "influxdb"

    def __init__(self, settings: TimeseriesSettings, registry: CollectorRegistry | None = None,
                 client: Any = None) -> None:
        from influxdb_client import InfluxDBClient
        from influxdb_client.client.write_api import SYNCHRONOUS

        self.settings = settings
        self.metrics = InfluxMetrics(registry or CollectorRegistry())
        self.buffer = DiskBuffer(settings.buffer_dir, int(settings.buffer_max_mb * 1024 * 1024))
        # No retries inside the client: the writer thread owns retrying (and the buffer owns durability).
        self.client = client or InfluxDBClient(url=settings.url, token=settings.token or "", org=settings.org,
                                               timeout=10_000)
        self.write_api = self.client.write_api(write_options=SYNCHRONOUS)
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._idle = threading.Event()
        self._thread: threading.Thread | None = None
        self._closed = False
        self._gauges()

    # -- writing ------------------------------------------------------------------------------

    def start(self) -> None:
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="anju-readings-writer", daemon=True)
            self._thread.start()

    def stage(self, session: Session, rows: list[ReadingRow]) -> list[ReadingRow]:
        return rows  # written after the commit: a rolled-back batch never reaches the buffer

    def write(self, rows: list[ReadingRow]) -> None:
        """Append to the on-disk buffer (on disk when this returns); the writer thread sends them."""
        if not rows:
            return
        dropped = self.buffer.append([to_line(r) for r in rows])
        if dropped:
            log.warning("readings buffer full (%.0f MB): dropped the %d oldest", self.settings.buffer_max_mb, dropped)
            self.metrics.dropped.labels("buffer_full").inc(dropped)
        self._gauges()
        self._idle.clear()
        if self.buffer.count >= self.settings.batch_size:
            self._wake.set()

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until the buffer is empty (everything accepted by the server); False on timeout."""
        self._wake.set()
        deadline = time.monotonic() + timeout
        while self.buffer.count and time.monotonic() < deadline:
            self._wake.set()
            self._idle.wait(0.05)
        return self.buffer.count == 0

    def _run(self) -> None:
        backoff = BACKOFF_START
        while not self._stop.is_set():
            if self.buffer.count == 0:
                self._idle.set()
            if self.buffer.count < self.settings.batch_size:
                self._wake.wait(self.settings.flush_interval)
                self._wake.clear()
            if self._stop.is_set() or self.buffer.count == 0:
                continue
            if self._send_one_batch():
                backoff = BACKOFF_START
            else:
                self._stop.wait(backoff)
                backoff = min(backoff * 2, BACKOFF_MAX)

    def _send_one_batch(self) -> bool:
        """Send the oldest `batch_size` buffered lines; True when the buffer moved on."""
        from influxdb_client.client.write_api import WritePrecision
        from influxdb_client.rest import ApiException

        last_id, lines = self.buffer.peek(self.settings.batch_size)
        if not lines:
            return True
        try:
            self.write_api.write(bucket=self.settings.bucket, org=self.settings.org, record="\n".join(lines),
                                 write_precision=cast(Any, WritePrecision.NS))
        except ApiException as exc:
            if exc.status not in REJECTED_STATUSES:
                return self._failed(exc)
            log.error("the time-series server refused %d readings (%s): dropped", len(lines), exc.status)
            self.metrics.dropped.labels("rejected").inc(len(lines))
            self.buffer.remove_through(last_id)
            self._gauges()
            return True
        except Exception as exc:  # noqa: BLE001 - unreachable, timeout, 5xx: keep the lines, retry
            return self._failed(exc)
        self.buffer.remove_through(last_id)
        self.metrics.written.inc(len(lines))
        self._gauges()
        return True

    def _failed(self, exc: BaseException) -> bool:
        self.metrics.retries.inc()
        log.warning("writing %d buffered readings to %s failed (%s); retrying", self.buffer.count,
                    self.settings.url, str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
        return False

    def _gauges(self) -> None:
        self.metrics.buffered.set(self.buffer.count)
        self.metrics.buffer_bytes.set(self.buffer.bytes)

    # -- reading ------------------------------------------------------------------------------

    def read(self, device_id: str, metric: str | None, since: datetime, until: datetime, step: int | None,
             limit: int = MAX_POINTS) -> list[Point]:
        query = flux_query(self.settings.bucket, device_id, metric, since, until, step, limit)
        tables = self.client.query_api().query(query, org=self.settings.org)
        points = [Point(record.get_time().astimezone(UTC), float(record.get_value()), record.values.get("zone"))
                  for table in tables for record in table.records]
        return bucket_order(points)

    def prune(self, older_than: datetime) -> int:
        return 0  # the bucket's retention period does it (docs/timeseries.md)

    def close(self, flush_timeout: float = 2.0) -> None:
        """Stop the writer after a last, short attempt to deliver; what is left stays on disk for the next start."""
        if self._closed:
            return
        self._closed = True
        if self._thread is not None:
            if self.buffer.count:
                self.flush(flush_timeout)
            self._stop.set()
            self._wake.set()
            self._thread.join(timeout=15)
            self._thread = None
        self.client.close()
        self.buffer.close()
