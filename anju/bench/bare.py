"""A bare paho-mqtt subscriber in its own process: the limit a latency benchmark compares against.

It subscribes to everything the gateway subscribes to, so it receives the same
traffic through the same broker on the same loaded machine, and does nothing
with it. For each device event it prints `DEVICE_ID<TAB>PERF_COUNTER` on arrival;
`time.perf_counter` is the system's monotonic clock, comparable across processes.

Run as `python -m anju.bench.bare BROKER_URL`.
"""

from __future__ import annotations

import sys
import time
import uuid
from typing import Any

import paho.mqtt.client as mqtt

from anju.mqtt import plain_client
from anju.topics import subscription_filters


def main(url: str) -> None:
    client, addr = plain_client(url, f"bench-bare-{uuid.uuid4().hex[:6]}", "bench-bare")

    def on_message(_c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        if msg.topic.endswith("/event"):
            print(f"{msg.topic.split('/')[4]}\t{time.perf_counter()}", flush=True)

    client.on_connect = lambda c, *_: c.subscribe([(f, 1) for f in subscription_filters()])
    client.on_subscribe = lambda *_: print("ready", flush=True)
    client.on_message = on_message
    client.connect(addr.host, addr.port)
    client.loop_forever()


if __name__ == "__main__":
    main(sys.argv[1])
