"""`anju bench latency`: elder press → alert, under background telemetry, against a bare subscriber.

The parts run as they do in production, each in its own process: the gateway is
`anju serve` (gateway and API), the background load is fence heartbeats from
`tools.bench.loadgen` publishers (pre-serialised, so they leave the machine's
cores to the gateway; until 2026-12-06 it was `anju simulate`, which spent
about a core at 5,000 msg/s and sent 5 % alarms and restores of its own), and
this process only publishes presses and watches for the alerts. In one process they
would share one interpreter lock, and the figure would measure that contention
instead of the gateway.

For each press the clock stops twice: when its alert arrives on
`anju/v1/{site}/alerts` (published after the alert is committed) and when it
arrives on the live WebSocket stream (`/api/v1/alerts/stream`, what the patrol
console shows). The limit, measured in the same run: a bare subscriber process
(`tools.bench.bare`) subscribed to the same topics as the gateway receives the same
press through the same loaded broker and machine, and does nothing with it. On a
busy machine most of the delay can be that: the difference is what the gateway adds.

With notifications on (the default), the patrol team of the presses' grid has a member whose target is a
JSON webhook served by this process (`tools.webhook`, what a WeCom or DingTalk server would see): the third
clock stops when the notification arrives there, through the outbox and the gateway's sender threads, the
whole last mile of SPEC §6.

The alerts topic's figure is split at the gateway's socket: the stored event's
`received_at` (the gateway's wall clock when its network thread had the press)
against the wall clock at publishing. A delay before it is the broker's or the
gateway's network thread waiting (Nagle, the interpreter lock); after it,
processing, the commit and the announcement.
"""

from __future__ import annotations

import json
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import yaml
from websockets.sync.client import connect as ws_connect

from kernel.mqtt import plain_client
from kernel.topics import alerts_topic, device_topic
from tools.bench.loadgen import Publishers
from tools.bench.mixes import mix_devices
from tools.bench.mosquitto import ManagedMosquitto, free_port
from tools.bench.processes import AnjuProcess, wait_ready
from tools.webhook import Received, WebhookReceiver

SITE = "bench"
BUTTON_IN_TITLE = re.compile(r"press-\d{4}")
TARGET_P99_MS = 10.0
BACKGROUND_DEVICES = 500
BACKGROUND_PUBLISHERS = 2
TIMEOUT_S = 5.0


@dataclass
class LatencyResult:
    presses: int
    background_rate: float
    alert_p50_ms: float
    alert_p99_ms: float
    alert_max_ms: float
    stream_p50_ms: float
    stream_p99_ms: float
    stream_max_ms: float
    bare_p50_ms: float
    bare_p99_ms: float
    """Press published → arrival at the bare subscriber, which receives all the gateway's traffic."""
    added_p50_ms: float
    added_p99_ms: float
    """Per press, alert on the stream minus arrival at the bare subscriber: what the gateway adds."""
    database: str
    missed: int = 0
    """Presses whose alert did not arrive within 5 s (on either path): counted, never silently left out."""
    receive_p50_ms: float | None = None
    receive_p99_ms: float | None = None
    """Press published → the gateway's network thread has it (the stored event's `received_at`, wall clock)."""
    process_p50_ms: float | None = None
    process_p99_ms: float | None = None
    """Per press, the alert's arrival on the alerts topic minus the gateway's receipt: processing, commit and
    the announcement's hop. With `receive_*`, this says which side of the gateway's socket a delay is on."""
    notify_p50_ms: float | None = None
    notify_p99_ms: float | None = None
    notify_max_ms: float | None = None
    """Press published → its notification received at the local webhook (None: run without notifications)."""
    notify_missed: int = 0
    """Presses whose notification did not arrive within 5 s."""

    def summary(self) -> str:
        def verdict(p99: float) -> str:
            return "OK" if p99 <= TARGET_P99_MS and not self.missed else "ABOVE TARGET"

        worst = max(self.alert_p99_ms, self.stream_p99_ms)
        return (
            f"{self.presses} presses timed, {self.missed} without an alert within {TIMEOUT_S:.0f} s, under "
            f"{self.background_rate:.0f} msg/s of background telemetry ({self.database})\n"
            f"press -> alert on the alerts topic: p50 {self.alert_p50_ms:.1f} ms  p99 {self.alert_p99_ms:.1f} ms  "
            f"max {self.alert_max_ms:.1f} ms\n"
            f"press -> alert on the live stream : p50 {self.stream_p50_ms:.1f} ms  p99 {self.stream_p99_ms:.1f} ms  "
            f"max {self.stream_max_ms:.1f} ms\n"
            f"press -> bare subscriber (same traffic, same run): p50 {self.bare_p50_ms:.1f} ms  "
            f"p99 {self.bare_p99_ms:.1f} ms\n"
            f"added by the gateway (stream - bare): p50 {self.added_p50_ms:.1f} ms  p99 {self.added_p99_ms:.1f} ms\n"
            f"{self._split()}{self._notify()}"
            f"target p99 <= {TARGET_P99_MS:.0f} ms: end to end {worst:.1f} ms -> {verdict(worst)}; "
            f"added by the gateway {self.added_p99_ms:.1f} ms -> {verdict(self.added_p99_ms)}"
        )


    def _notify(self) -> str:
        if self.notify_p50_ms is None:
            return ""
        return (f"press -> notification at a local webhook (outbox, sender, Apprise json://): "
                f"p50 {self.notify_p50_ms:.1f} ms  p99 {self.notify_p99_ms:.1f} ms  max {self.notify_max_ms:.1f} ms"
                f", {self.notify_missed} not within {TIMEOUT_S:.0f} s\n")

    def _split(self) -> str:
        if self.receive_p50_ms is None or self.process_p50_ms is None:
            return ""
        return (f"  of the alerts topic's: published -> received by the gateway p50 {self.receive_p50_ms:.1f} ms  "
                f"p99 {self.receive_p99_ms:.1f} ms; received -> alert on the topic p50 {self.process_p50_ms:.1f} ms  "
                f"p99 {self.process_p99_ms:.1f} ms\n")


def _received_at(db_url: str, msg_ids: list[str]) -> dict[str, float]:
    """When the gateway received each press (wall clock, from the stored events), read after the run."""
    from sqlalchemy import select

    from kernel.db import make_engine
    from kernel.db.models import Event

    engine = make_engine(db_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(select(Event.msg_id, Event.received_at).where(Event.msg_id.in_(msg_ids)))
            return {msg_id: at.timestamp() for msg_id, at in rows if msg_id is not None}
    finally:
        engine.dispose()


def _notified(arrivals: _Arrivals, request: Received) -> tuple[int, bytes]:
    """The webhook's reply hook: the press a notification is about, from its title (the button's id)."""
    found = BUTTON_IN_TITLE.search(str(request.json().get("title", "")))
    if found:
        arrivals.record(f"notify:{found.group(0)}")
    return 200, b'{"errcode": 0}'


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


class _Arrivals:
    """Arrival times keyed by what identifies the awaited message; one condition for every waiter."""

    def __init__(self) -> None:
        self.at: dict[str, float] = {}
        self.changed = threading.Condition()

    def record(self, key: str) -> None:
        now = time.perf_counter()
        with self.changed:
            self.at.setdefault(key, now)
            self.changed.notify_all()

    def wait(self, key: str, timeout: float = TIMEOUT_S) -> float | None:
        deadline = time.monotonic() + timeout
        with self.changed:
            while key not in self.at:
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self.changed.wait(left)
            return self.at[key]


class _MqttWatcher:
    """Records the alerts published on the alerts topic (keyed by device)."""

    def __init__(self, url: str, arrivals: _Arrivals) -> None:
        self.arrivals = arrivals
        ready = threading.Event()
        self.client, addr = plain_client(url, f"bench-{uuid.uuid4().hex[:6]}", "bench")
        self.client.on_connect = lambda c, *_: c.subscribe(alerts_topic(SITE), 1)
        self.client.on_subscribe = lambda *_: ready.set()
        self.client.on_message = self._on_message
        self.client.connect(addr.host, addr.port)
        self.client.loop_start()
        if not ready.wait(10):
            raise RuntimeError("the watcher could not subscribe")

    def _on_message(self, _c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        self.arrivals.record(f"topic:{json.loads(msg.payload)['device_id']}")

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


class _StreamWatcher(threading.Thread):
    """The patrol console's view: the live alert stream over WebSocket, as an admin (every alert)."""

    def __init__(self, port: int, token: str, arrivals: _Arrivals) -> None:
        super().__init__(name="bench-stream", daemon=True)
        self.arrivals = arrivals
        self.ws = ws_connect(f"ws://127.0.0.1:{port}/api/v1/alerts/stream?token={token}", open_timeout=10)
        hello = json.loads(self.ws.recv(timeout=10))
        if hello.get("type") != "hello":
            raise RuntimeError(f"unexpected first frame on the stream: {hello}")

    def run(self) -> None:
        try:
            for frame in self.ws:
                change = json.loads(frame)
                if change.get("type") == "change" and change.get("action") == "created":
                    self.arrivals.record(f"stream:{change['alert']['device_id']}")
        except Exception:  # noqa: BLE001 - closed at the end of the run
            return

    def close(self) -> None:
        self.ws.close()


class _BareSubscriber(threading.Thread):
    """Reads the arrival lines of `tools.bench.bare` running in its own process."""

    def __init__(self, url: str, arrivals: _Arrivals) -> None:
        super().__init__(name="bench-bare", daemon=True)
        self.arrivals = arrivals
        self.process = subprocess.Popen([sys.executable, "-m", "tools.bench.bare", url], stdout=subprocess.PIPE,
                                        text=True)
        assert self.process.stdout is not None
        if self.process.stdout.readline().strip() != "ready":
            raise RuntimeError("the bare subscriber did not subscribe")

    def run(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            device, _, at = line.rstrip("\n").partition("\t")
            with self.arrivals.changed:
                self.arrivals.at.setdefault(f"bare:{device}", float(at))
                self.arrivals.changed.notify_all()

    def close(self) -> None:
        self.process.terminate()
        self.process.wait(10)


def run_latency_bench(presses: int, background_rate: float, db_url: str | None,
                      out: Path | None = None, notify: bool = True) -> LatencyResult:
    workdir = Path(tempfile.mkdtemp(prefix="anju-bench-"))
    buttons = [f"press-{i:04d}" for i in range(presses)]
    devices = [{"id": d.device_id, "kind": d.kind} for d in mix_devices("telemetry", BACKGROUND_DEVICES)]
    devices += [{"id": b, "kind": "elder_button", "grid": "g1"} for b in buttons]
    arrivals = _Arrivals()
    hook = WebhookReceiver(reply=partial(_notified, arrivals))
    team = {"id": "t1", "name": "patrol", "members": [{"name": "on duty", "notify": [hook.url("/patrol")]}]}
    site = {"id": SITE, "name": "bench", "devices": devices, "grids": [{"id": "g1", "name": "g1", "team": "t1"}],
            "teams": [team] if notify else [], "notifications": {"family_after": None}}
    if not notify:
        site["grids"] = [{"id": "g1", "name": "g1"}]
    site_file = workdir / "site.yaml"
    site_file.write_text(yaml.safe_dump({"sites": [site]}))
    db_url = db_url or f"sqlite:///{workdir / 'bench.db'}"
    api_port, token = free_port(), uuid.uuid4().hex
    alert_ms: list[float] = []
    notify_ms: list[float] = []
    notify_missed = 0
    stream_ms: list[float] = []
    bare_ms: list[float] = []
    timed: dict[str, tuple[float, float]] = {}
    """msg_id → (published, wall clock; alerts-topic latency in ms)."""
    missed = 0
    with ManagedMosquitto() as broker, hook:
        gateway = AnjuProcess(["serve"], {
            "ANJU_MQTT__URL": broker.url.replace("://", "://anju-bench@"),
            "ANJU_MQTT__CLIENT_ID": f"anju-bench-{uuid.uuid4().hex[:6]}", "ANJU_DB__URL": db_url,
            "ANJU_SITE_FILE": str(site_file), "ANJU_API__PORT": str(api_port), "ANJU_API__ADMIN_TOKEN": token,
            "ANJU_LOG_LEVEL": "WARNING", "ANJU_VISION__ENABLED": "false",
            "ANJU_NOTIFICATIONS__ENABLED": str(notify).lower()}, workdir / "gateway.log")
        load: Publishers | None = None
        watchers: list[Any] = []
        pub, _ = plain_client(broker.url, f"bench-pub-{uuid.uuid4().hex[:6]}", "bench-pub")
        try:
            wait_ready(gateway, api_port)
            watchers = [_MqttWatcher(broker.url, arrivals), _StreamWatcher(api_port, token, arrivals),
                        _BareSubscriber(broker.url, arrivals)]
            watchers[1].start()
            watchers[2].start()
            if background_rate > 0:
                # Outlasts the presses (each waits at most 3 x TIMEOUT_S); stopped when they are done.
                load = Publishers(broker.url, BACKGROUND_PUBLISHERS, "telemetry", None, BACKGROUND_DEVICES,
                                  background_rate, 10 + presses * 3 * TIMEOUT_S, f"lat{uuid.uuid4().hex[:6]}")
                load.go()
            pub.connect("127.0.0.1", broker.port)
            pub.loop_start()
            for button in buttons:  # buttons are online, as in a community: their heartbeats came before
                pub.publish(device_topic(SITE, "elder_button", button, "telemetry"),
                            json.dumps({"msg_id": uuid.uuid4().hex, "type": "heartbeat", "battery": 90}).encode(),
                            qos=1)
            time.sleep(3)  # let the background load settle
            for button in buttons:
                gateway.check()
                msg_id = uuid.uuid4().hex
                t0, sent_at = time.perf_counter(), time.time()
                pub.publish(device_topic(SITE, "elder_button", button, "event"),
                            json.dumps({"msg_id": msg_id, "type": "press"}).encode(), qos=1)
                on_topic = arrivals.wait(f"topic:{button}")
                on_stream = arrivals.wait(f"stream:{button}")
                at_bare = arrivals.wait(f"bare:{button}")
                if on_topic is None or on_stream is None or at_bare is None:
                    missed += 1
                    continue
                alert_ms.append((on_topic - t0) * 1000)
                timed[msg_id] = (sent_at, alert_ms[-1])
                stream_ms.append((on_stream - t0) * 1000)
                bare_ms.append((at_bare - t0) * 1000)
                if notify:
                    notified = arrivals.wait(f"notify:{button}")
                    if notified is None:
                        notify_missed += 1
                    else:
                        notify_ms.append((notified - t0) * 1000)
                time.sleep(0.02)
        finally:
            if load is not None:
                load.stop()
            pub.disconnect()
            pub.loop_stop()
            for watcher in watchers:
                watcher.close()
            gateway.stop()
    added = [stream - bare for stream, bare in zip(stream_ms, bare_ms, strict=True)]
    if not alert_ms:
        raise RuntimeError(f"no alert arrived: see {workdir / 'gateway.log'}")
    received = _received_at(db_url, list(timed))
    receive_ms = [(received[m] - sent) * 1000 for m, (sent, _) in timed.items() if m in received]
    process_ms = [alert - (received[m] - sent) * 1000 for m, (sent, alert) in timed.items() if m in received]
    result = LatencyResult(
        receive_p50_ms=statistics.median(receive_ms) if receive_ms else None,
        receive_p99_ms=_percentile(receive_ms, 0.99) if receive_ms else None,
        process_p50_ms=statistics.median(process_ms) if process_ms else None,
        process_p99_ms=_percentile(process_ms, 0.99) if process_ms else None,
        presses=len(alert_ms), background_rate=background_rate,
        alert_p50_ms=statistics.median(alert_ms), alert_p99_ms=_percentile(alert_ms, 0.99),
        alert_max_ms=max(alert_ms), stream_p50_ms=statistics.median(stream_ms),
        stream_p99_ms=_percentile(stream_ms, 0.99), stream_max_ms=max(stream_ms),
        bare_p50_ms=statistics.median(bare_ms), bare_p99_ms=_percentile(bare_ms, 0.99),
        added_p50_ms=statistics.median(added), added_p99_ms=_percentile(added, 0.99),
        database=db_url.split("://", 1)[0], missed=missed,
        notify_p50_ms=statistics.median(notify_ms) if notify_ms else None,
        notify_p99_ms=_percentile(notify_ms, 0.99) if notify_ms else None,
        notify_max_ms=max(notify_ms) if notify_ms else None, notify_missed=notify_missed,
    )
    if out is not None:
        out.write_text(json.dumps({"benchmark": "latency", **asdict(result)}, indent=2), encoding="utf-8")
    return result
