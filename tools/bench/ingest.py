"""`anju bench ingest`: the gateway's end-to-end processed rate against a bare MQTT subscriber.

Both receive the same simulated traffic on the same broker in the same run, so
the ratio says what the gateway's work (decode, validate, dedup, store, health)
costs relative to just receiving, whatever else the machine is doing.

Two shapes:

- in-process (`run_ingest_bench`, no `--workers`): one `Gateway` object (no rule
  engine, no API), the simulator and the bare subscriber as threads of this
  process. Quick, and it is the figure the README has quoted since the start.
- `--workers N` (`run_workers_bench`): production shape, every part its own
  process: N `anju serve` workers sharing one subscription (`$share/anju/...`,
  the built-in rules and the API included, as deployed), `anju simulate` for the
  load and `tools.bench.bare --count` for the limit. It adds what scale-out needs:
  each worker's CPU cost per message, which sizes machines (docs/deployment.md).
"""

from __future__ import annotations

import contextlib
import json
import tempfile
import threading
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import yaml

from gateway.service import Gateway
from kernel.config import load_settings
from kernel.mqtt import forget_session, plain_client
from tools.bench.mosquitto import ManagedMosquitto

TARGET_RATIO = 0.7
SITE = "bench"


@dataclass
class IngestResult:
    broker: str
    database: str
    devices: int
    offered_rate: float
    published: int
    bare_received: int
    bare_rate: float
    gateway_processed: int
    gateway_rate: float
    ratio: float
    target_ratio: float
    broker_dropped: int | None
    gateway_shed: int
    """QoS 0 telemetry the gateway dropped because its queue was over `queue_limit` (overload policy)."""
    dead_letters: int

    def summary(self) -> str:
        verdict = "OK" if self.ratio >= self.target_ratio and self.gateway_processed >= self.published else "BELOW"
        dropped = "unknown" if self.broker_dropped is None else str(self.broker_dropped)
        return (
            f"published {self.published} messages from {self.devices} devices ({self.broker}, {self.database})\n"
            f"bare subscriber : {self.bare_received:>8} received  {self.bare_rate:>9.0f} msg/s\n"
            f"gateway         : {self.gateway_processed:>8} processed {self.gateway_rate:>9.0f} msg/s\n"
            f"ratio {self.ratio:.2f} (target >= {self.target_ratio})  broker dropped: {dropped}  "
            f"gateway shed (QoS 0 over queue limit): {self.gateway_shed}  dead letters: {self.dead_letters}"
            f"  -> {verdict}"
        )


class _Counter:
    """Counts messages and remembers the first and last arrival times."""

    def __init__(self) -> None:
        self.count = 0
        self.first = 0.0
        self.last = 0.0
        self.lock = threading.Lock()

    def add(self, n: int = 1) -> None:
        now = time.perf_counter()
        with self.lock:
            if self.count == 0:
                self.first = now
            self.count += n
            self.last = now

    def rate(self) -> float:
        span = self.last - self.first
        return self.count / span if span > 0 else 0.0


def _bare_subscriber(url: str, counter: _Counter, dropped: dict[str, int]) -> mqtt.Client:
    client, addr = plain_client(url, f"bench-bare-{uuid.uuid4().hex[:6]}", "bench-bare")

    def on_connect(c: mqtt.Client, *_: Any) -> None:
        c.subscribe([(f"anju/v1/{SITE}/+/+/+", 1), ("$SYS/broker/publish/messages/dropped", 0)])

    def on_message(_c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        if msg.topic.startswith("$SYS"):
            with contextlib.suppress(ValueError):
                dropped["now"] = int(msg.payload)
                dropped.setdefault("start", dropped["now"])
            return
        counter.add()

    client.on_connect = on_connect
    client.on_message = on_message
    client.connect(addr.host, addr.port)
    client.loop_start()
    return client


def run_ingest_bench(broker_url: str | None, devices: int, rate: float, duration: float, db_url: str | None,
                     out: Path | None = None, influx_url: str | None = None) -> IngestResult:
    """`influx_url`: readings go to InfluxDB (or VictoriaMetrics) through the on-disk buffer instead of SQL."""
    from simulators.load import synthetic_devices
    from simulators.runner import run_simulation

    workdir = Path(tempfile.mkdtemp(prefix="anju-bench-"))
    managed = None
    if broker_url is None:
        managed = ManagedMosquitto()
        managed.start()
        broker_url = managed.url
    site_file = workdir / "site.yaml"
    site_file.write_text(yaml.safe_dump({"sites": [{
        "id": SITE, "name": "bench",
        "devices": [{"id": d.device_id, "kind": d.kind} for d in synthetic_devices(devices)],
    }]}), encoding="utf-8")
    db_url = db_url or f"sqlite:///{workdir / 'bench.db'}"
    client_id = f"anju-bench-{uuid.uuid4().hex[:6]}"
    gateway_url = broker_url if "@" in broker_url else broker_url.replace("://", "://anju-bench@", 1)
    timeseries = ({"backend": "influxdb", "url": influx_url, "buffer_dir": str(workdir / "buffer")}
                  if influx_url else {})
    settings = load_settings(mqtt={"url": gateway_url, "client_id": client_id}, db={"url": db_url},
                             site_file=str(site_file), timeseries=timeseries)
    gateway = Gateway(settings)
    bare_count = _Counter()
    dropped: dict[str, int] = {}
    bare = None
    try:
        gateway.start()
        if not gateway.wait_connected(10):
            raise RuntimeError(f"gateway could not connect to {broker_url}")
        bare = _bare_subscriber(broker_url, bare_count, dropped)
        time.sleep(0.5)

        processed = _Counter()
        # Every message the gateway finished (accepted, duplicate or rejected), counted as its batch commits.
        gateway.batch_listeners.append(lambda batch, _result: processed.add(len(batch)))
        report = run_simulation(broker_url, scenario="load", devices=devices, rate=rate, duration=duration,
                                seed=1, site_file=str(site_file))
        published = report.total_published
        deadline = time.monotonic() + 60
        shed = lambda: gateway.metrics.total("anju_qos0_shed_total")  # noqa: E731
        while ((processed.count + shed() < published or bare_count.count < published)
               and time.monotonic() < deadline):
            time.sleep(0.05)
        time.sleep(1.2)  # one more $SYS interval
        result = IngestResult(
            broker=broker_url if managed is None else f"{broker_url} (private Mosquitto, configured for load)",
            database=db_url.split("://", 1)[0],
            devices=devices,
            offered_rate=rate,
            published=published,
            bare_received=bare_count.count,
            bare_rate=bare_count.rate(),
            gateway_processed=processed.count,
            gateway_rate=processed.rate(),
            ratio=processed.rate() / bare_count.rate() if bare_count.rate() else 0.0,
            target_ratio=TARGET_RATIO,
            broker_dropped=(dropped["now"] - dropped["start"]) if "now" in dropped else None,
            gateway_shed=int(gateway.metrics.total("anju_qos0_shed_total")),
            dead_letters=int(gateway.metrics.total("anju_dead_letters_total")),
        )
    finally:
        if bare is not None:
            bare.disconnect()
            bare.loop_stop()
        gateway.stop(drain_seconds=2)
        forget_session(broker_url, client_id)
        if managed is not None:
            managed.stop()
    if out is not None:
        out.write_text(json.dumps({"benchmark": "ingest", **asdict(result)}, indent=2), encoding="utf-8")
    return result
