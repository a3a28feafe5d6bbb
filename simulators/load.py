"""Load mode: N synthetic devices at a total of R messages/s over a few shared connections.

For throughput tests of the gateway, not realism of connections: devices share
a small pool (default 4) of MQTT connections, messages are spread round-robin
over the devices, and the mix per kind is mostly heartbeats and routine events.
Synthetic ids are `load-<kind>-<n>`; `synthetic_devices()` lists them so a
benchmark can register them with the gateway first.
"""

from __future__ import annotations

import logging
import random
import secrets
import threading
import time
from dataclasses import dataclass

from devices import KINDS
from kernel.mqtt import BrokerSettings
from kernel.topics import device_topic
from simulators.connection import MqttConnection
from simulators.device import EVENT_QOS, TELEMETRY_QOS
from simulators.kinds import (
    AccessGateModel,
    ElderButtonModel,
    FaceCameraModel,
    FenceModel,
    KindModel,
    PlateCameraModel,
    make_model,
)
from simulators.messages import Message, MsgIdFactory, build_payload, encode_payload, epoch_ms
from simulators.netloop import NetLoop
from simulators.plates import local_plate
from simulators.report import Counters

log = logging.getLogger(__name__)

MAX_OUTSTANDING_PER_CONNECTION = 5000  # beyond this the broker is not keeping up: wait


@dataclass(frozen=True)
class LoadDevice:
    kind: str
    device_id: str


def synthetic_devices(n: int, kind: str | None = None) -> list[LoadDevice]:
    """The `n` synthetic devices of a load run: one kind, or the five kinds in turn."""
    if n < 1:
        raise ValueError("need at least one device")
    if kind is not None and kind not in KINDS:
        raise ValueError(f"unknown device kind {kind!r}; one of {KINDS}")
    out = []
    for i in range(n):
        k = kind or KINDS[i % len(KINDS)]
        out.append(LoadDevice(k, f"load-{k.replace('_', '-')}-{i + 1:05d}"))
    return out


def load_message(model: KindModel, rng: random.Random) -> Message:
    """One message in the routine mix of the device's kind."""
    roll = rng.random()
    if isinstance(model, ElderButtonModel):
        return model.heartbeat() if roll < 0.97 else (model.press() if roll < 0.99 else model.cancel())
    if isinstance(model, AccessGateModel):
        if roll < 0.85:
            return model.passage(rng.choice(("in", "out")), "card", f"{rng.getrandbits(32):08X}")
        return model.heartbeat() if roll < 0.98 else model.held_open(rng.randint(45, 300))
    if isinstance(model, PlateCameraModel):
        if roll < 0.9:
            plate, color = local_plate(rng)
            return model.plate(plate, color, rng.choice(("in", "out")))
        return model.heartbeat()
    if isinstance(model, FaceCameraModel):
        return (
            model.recognised(f"R{rng.randint(1, 12):02d}{rng.randint(1, 30):03d}")
            if roll < 0.9
            else model.heartbeat()
        )
    if isinstance(model, FenceModel):
        zone = model.zones[0]
        if roll < 0.95:
            return model.heartbeat()
        return model.alarm(zone, "short") if roll < 0.975 else model.restore(zone)
    return model.heartbeat()


class _Sender:
    """One synthetic device: its topics, model and msg ids, bound to a pool connection."""

    __slots__ = ("conn", "ids", "kind", "model", "topics")

    def __init__(
        self, site: str, dev: LoadDevice, model: KindModel, ids: MsgIdFactory, conn: MqttConnection
    ) -> None:
        self.kind = dev.kind
        self.model = model
        self.ids = ids
        self.topics = {ch: device_topic(site, dev.kind, dev.device_id, ch) for ch in ("event", "telemetry")}
        self.conn = conn

    def send(self, rng: random.Random) -> None:
        msg = load_message(self.model, rng)
        payload = encode_payload(build_payload(msg, self.ids.next(), epoch_ms()))
        qos = EVENT_QOS if msg.channel == "event" else TELEMETRY_QOS
        self.conn.publish(self.topics[msg.channel], payload, qos=qos, label=(self.kind, msg.type))


def run_load(
    broker: BrokerSettings,
    site: str,
    devices: int,
    rate: float,
    duration: float | None,
    stop_event: threading.Event,
    counters: Counters,
    netloop: NetLoop,
    *,
    seed: int = 1,
    kind: str | None = None,
    connections: int = 4,
) -> tuple[float, int]:
    """Publish at `rate` msg/s until `duration` or `stop_event`; returns (real seconds, connections).

    Paced by a target count (rate x elapsed) rather than sleeps per message, so
    the average rate holds even when single sleeps overshoot.
    """
    if rate <= 0:
        raise ValueError("rate must be positive")
    rng = random.Random(f"{seed}:load")
    run = secrets.token_hex(3)
    pool = [
        MqttConnection(
            f"anju-sim-load-{run}-{i}",
            broker,
            username=broker.username or f"anju-sim-load-{i}",
            listener=counters,
            netloop=netloop,
            max_inflight=1000,
        )
        for i in range(max(1, connections))
    ]
    for conn in pool:
        conn.connect(wait=True)
    ids_prefix = secrets.token_hex(4)
    senders = [
        _Sender(
            site,
            dev,
            make_model(dev.kind, random.Random(f"{seed}:{dev.device_id}")),
            MsgIdFactory(f"{ids_prefix}{i:x}"),
            pool[i % len(pool)],
        )
        for i, dev in enumerate(synthetic_devices(devices, kind))
    ]
    start = time.monotonic()
    end = start + duration if duration is not None else float("inf")
    sent = 0
    try:
        while not stop_event.is_set():
            now = time.monotonic()
            if now >= end:
                break
            due = int((now - start) * rate) - sent
            if due <= 0:
                stop_event.wait(min(0.005, max(0.0, (sent + 1) / rate - (now - start))))
                continue
            if sum(c.outstanding for c in pool) > MAX_OUTSTANDING_PER_CONNECTION * len(pool):
                counters.note("load_backpressure_waits")
                stop_event.wait(0.005)
                continue
            for _ in range(min(due, 500)):
                senders[sent % len(senders)].send(rng)
                sent += 1
    finally:
        elapsed = time.monotonic() - start
        deadline = time.monotonic() + 5.0
        for conn in pool:
            conn.wait_idle(max(0.0, deadline - time.monotonic()))
        for conn in pool:
            conn.close(timeout=1.0)
    return elapsed, len(pool)
