"""`anju bench latency`: elder press → alert announced, under background telemetry, against the bare MQTT hop.

Each press is published while the simulators' load mode keeps the broker busy;
the clock stops when the alert change for it arrives on `anju/v1/{site}/alerts`
(published only after the alert is committed to the database). The same run
measures a plain publish → subscriber hop on the same broker as the limit.
"""

from __future__ import annotations

import json
import statistics
import tempfile
import threading
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import yaml

from anju.bench.mosquitto import ManagedMosquitto
from anju.config import load_settings
from anju.mqtt import forget_session, plain_client
from anju.topics import alerts_topic, device_topic
from gateway.service import Gateway
from rules.engine import RuleEngine

SITE = "bench"
TARGET_P99_MS = 10.0


@dataclass
class LatencyResult:
    presses: int
    background_rate: float
    alert_p50_ms: float
    alert_p99_ms: float
    alert_max_ms: float
    hop_p50_ms: float
    hop_p99_ms: float
    database: str
    missed: int = 0
    """Presses whose alert did not arrive within 5 s: counted, never silently left out of the figures."""

    def summary(self) -> str:
        verdict = "OK" if self.alert_p99_ms <= TARGET_P99_MS and not self.missed else "ABOVE TARGET"
        return (
            f"{self.presses} presses timed, {self.missed} without an alert within 5 s, under "
            f"{self.background_rate:.0f} msg/s of background telemetry ({self.database})\n"
            f"press -> alert on the alerts topic: p50 {self.alert_p50_ms:.1f} ms  p99 {self.alert_p99_ms:.1f} ms  "
            f"max {self.alert_max_ms:.1f} ms\n"
            f"bare MQTT hop (same broker, same run): p50 {self.hop_p50_ms:.1f} ms  p99 {self.hop_p99_ms:.1f} ms\n"
            f"target p99 <= {TARGET_P99_MS} ms -> {verdict}"
        )


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


class _Waiter:
    """One MQTT client that records when each awaited message arrives."""

    def __init__(self, url: str, topics: list[str]) -> None:
        self.arrived = threading.Condition()
        self.messages: list[tuple[str, bytes, float]] = []
        """Every arrival: two messages close together must not hide one another (the awaited one may be first)."""
        ready = threading.Event()
        self.client, addr = plain_client(url, f"bench-{uuid.uuid4().hex[:6]}", "bench")
        self.client.on_connect = lambda c, *_: c.subscribe([(t, 1) for t in topics])
        self.client.on_subscribe = lambda *_: ready.set()
        self.client.on_message = self._on_message
        self.client.connect(addr.host, addr.port)
        self.client.loop_start()
        ready.wait(10)

    def _on_message(self, _c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        with self.arrived:
            self.messages.append((msg.topic, msg.payload, time.perf_counter()))
            self.arrived.notify_all()

    def mark(self) -> int:
        """Where the arrivals stand now: `wait` looks only at what comes after."""
        with self.arrived:
            return len(self.messages)

    def wait(self, predicate: Any, since: int, timeout: float = 5.0) -> float | None:
        deadline = time.monotonic() + timeout
        with self.arrived:
            while True:
                found = next((m[2] for m in self.messages[since:] if predicate(m)), None)
                if found is not None:
                    return found
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self.arrived.wait(left)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def run_latency_bench(presses: int, background_rate: float, db_url: str | None,
                      out: Path | None = None) -> LatencyResult:
    from simulators.load import synthetic_devices
    from simulators.runner import run_simulation

    workdir = Path(tempfile.mkdtemp(prefix="anju-bench-"))
    broker = ManagedMosquitto()
    broker.start()
    buttons = [f"press-{i:04d}" for i in range(presses)]
    devices = [{"id": d.device_id, "kind": d.kind} for d in synthetic_devices(500, kind="fence")]
    devices += [{"id": b, "kind": "elder_button"} for b in buttons]
    site_file = workdir / "site.yaml"
    site_file.write_text(yaml.safe_dump({"sites": [{"id": SITE, "name": "bench", "devices": devices}]}))
    db_url = db_url or f"sqlite:///{workdir / 'bench.db'}"
    client_id = f"anju-bench-{uuid.uuid4().hex[:6]}"
    settings = load_settings(mqtt={"url": broker.url.replace("://", "://anju-bench@"), "client_id": client_id},
                             db={"url": db_url}, site_file=str(site_file))
    gateway = Gateway(settings)
    RuleEngine.from_files(None).attach(gateway)
    stop = threading.Event()
    load = threading.Thread(target=run_simulation, daemon=True, kwargs={
        "broker_url": broker.url, "scenario": "load", "devices": 500, "rate": background_rate,
        "kind": "fence", "site_file": str(site_file), "stop_event": stop})
    waiter = _Waiter(broker.url, [alerts_topic(SITE), "bench/hop"])
    pub, _ = plain_client(broker.url, f"bench-pub-{uuid.uuid4().hex[:6]}", "bench-pub")
    alert_ms: list[float] = []
    hop_ms: list[float] = []
    missed = 0
    try:
        gateway.start()
        gateway.wait_connected(10)
        pub.connect("127.0.0.1", broker.port)
        pub.loop_start()
        load.start()
        time.sleep(2)  # let the background load settle
        for i, button in enumerate(buttons):
            since = waiter.mark()
            t0 = time.perf_counter()
            pub.publish("bench/hop", f"{i}".encode(), qos=1)
            arrived = waiter.wait(lambda m, i=i: m[0] == "bench/hop" and m[1] == f"{i}".encode(), since)
            if arrived is not None:
                hop_ms.append((arrived - t0) * 1000)
            since = waiter.mark()
            t0 = time.perf_counter()
            pub.publish(device_topic(SITE, "elder_button", button, "event"),
                        json.dumps({"msg_id": uuid.uuid4().hex, "type": "press"}).encode(), qos=1)
            arrived = waiter.wait(lambda m, b=button: m[0] != "bench/hop" and json.loads(m[1])["device_id"] == b,
                                  since)
            if arrived is not None:
                alert_ms.append((arrived - t0) * 1000)
            else:
                missed += 1
            time.sleep(0.02)
    finally:
        stop.set()
        if load.is_alive():  # not started when the set-up failed (e.g. an unreachable database): keep that error
            load.join(timeout=10)
        pub.disconnect()
        pub.loop_stop()
        waiter.close()
        gateway.stop(drain_seconds=2)
        forget_session(broker.url, client_id)
        broker.stop()
    if not alert_ms:
        raise RuntimeError("no alert arrived: is the rule engine attached?")
    result = LatencyResult(
        presses=len(alert_ms), background_rate=background_rate,
        alert_p50_ms=statistics.median(alert_ms), alert_p99_ms=_percentile(alert_ms, 0.99),
        alert_max_ms=max(alert_ms), hop_p50_ms=statistics.median(hop_ms), hop_p99_ms=_percentile(hop_ms, 0.99),
        database=db_url.split("://", 1)[0], missed=missed,
    )
    if out is not None:
        out.write_text(json.dumps({"benchmark": "latency", **asdict(result)}, indent=2), encoding="utf-8")
    return result
