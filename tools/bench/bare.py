"""A bare paho-mqtt subscriber in its own process: the limit a benchmark compares the gateway against.

It subscribes to everything the gateway subscribes to, so it receives the same
traffic through the same broker on the same loaded machine, and does nothing
with it. Running it in its own process keeps its receiving from competing with
the benchmark's own bookkeeping for one interpreter lock.

Two modes, both printing `ready` once the broker has granted the subscription:

- default (the latency benchmark): for each device event, `DEVICE_ID<TAB>PERF_COUNTER`
  on arrival; `time.perf_counter` is the system's monotonic clock, comparable
  across processes.
- `--count` (the ingest benchmark): every 0.25 s one JSON line
  `{"received", "first", "last", "dropped_start", "dropped_now"}`: messages
  received, the perf-counter times of the first and last, and Mosquitto's
  `$SYS/broker/publish/messages/dropped` when the subscription started and now
  (null when the broker does not publish it). Printing the running totals
  rather than a final line means the parent always has the latest figures,
  however this process ends.

Run as `python -m tools.bench.bare BROKER_URL [--count]`.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import threading
import time
import uuid
from typing import Any

import paho.mqtt.client as mqtt

from kernel.mqtt import plain_client
from kernel.topics import subscription_filters

DROPPED_TOPIC = "$SYS/broker/publish/messages/dropped"
REPORT_INTERVAL = 0.25


class _Tally:
    """Written by paho's network thread only; read by the reporting thread (ints and floats, no lock needed)."""

    def __init__(self) -> None:
        self.received = 0
        self.first = 0.0
        self.last = 0.0
        self.dropped_start: int | None = None
        self.dropped_now: int | None = None

    def line(self) -> str:
        return json.dumps({"received": self.received, "first": self.first, "last": self.last,
                           "dropped_start": self.dropped_start, "dropped_now": self.dropped_now})


def main(url: str, count: bool = False) -> None:
    client, addr = plain_client(url, f"bench-bare-{uuid.uuid4().hex[:6]}", "bench-bare")
    tally = _Tally()
    filters = [(f, 1) for f in subscription_filters()]
    if count:
        filters.append((DROPPED_TOPIC, 0))

    def on_event(_c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        if msg.topic.endswith("/event"):
            print(f"{msg.topic.split('/')[4]}\t{time.perf_counter()}", flush=True)

    def on_count(_c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        if msg.topic == DROPPED_TOPIC:
            with contextlib.suppress(ValueError):
                tally.dropped_now = int(msg.payload)
                if tally.dropped_start is None:
                    tally.dropped_start = tally.dropped_now
            return
        now = time.perf_counter()
        if not tally.received:
            tally.first = now
        tally.received += 1
        tally.last = now

    def report() -> None:
        while True:
            time.sleep(REPORT_INTERVAL)
            print(tally.line(), flush=True)

    def on_subscribe(*_: Any) -> None:
        if ready.is_set():  # a reconnect: the parent already knows
            return
        print("ready", flush=True)
        ready.set()
        if count:  # after "ready", so that it stays the first line
            threading.Thread(target=report, name="bare-report", daemon=True).start()

    ready = threading.Event()
    client.on_connect = lambda c, *_: c.subscribe(filters)
    client.on_subscribe = on_subscribe
    client.on_message = on_count if count else on_event
    client.connect(addr.host, addr.port)
    client.loop_forever()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m tools.bench.bare")
    parser.add_argument("url")
    parser.add_argument("--count", action="store_true", help="count messages instead of timing device events")
    args = parser.parse_args()
    main(args.url, args.count)
