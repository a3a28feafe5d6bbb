"""The processing queue, with a priority lane: device events go before telemetry and status.

A press must not wait behind a backlog of fence heartbeats, nor share their batch: when
events are queued, the next batch holds events only (small, so committed quickly), and
telemetry is taken when no event waits. Status messages (online, and the last will's
offline) stay in the telemetry lane, in arrival order with it: an offline must never
overtake the telemetry the device sent before it went silent.

Taking events first means a QoS 1 event can be acknowledged before earlier QoS 1
telemetry. MQTT asks for acknowledgements in arrival order, but brokers match them by
packet id (Mosquitto, EMQX), and each message is still acknowledged only after its
commit (docs/architecture.md).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from typing import Generic, TypeVar

T = TypeVar("T")


class Inbox(Generic[T]):
    def __init__(self) -> None:
        self._urgent: deque[T] = deque()
        self._bulk: deque[T] = deque()
        self._ready = threading.Condition()

    def put(self, item: T, urgent: bool = False) -> None:
        with self._ready:
            (self._urgent if urgent else self._bulk).append(item)
            self._ready.notify()

    def qsize(self) -> int:
        return len(self._urgent) + len(self._bulk)

    def empty(self) -> bool:
        return not self._urgent and not self._bulk

    def take(self, max_items: int, timeout: float) -> list[T]:
        """Up to `max_items`: urgent ones only while any wait, else bulk ones; waits at most `timeout` for one."""
        deadline = time.monotonic() + timeout
        with self._ready:
            while not self._urgent and not self._bulk:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return []
                self._ready.wait(remaining)
            lane = self._urgent if self._urgent else self._bulk
            return [lane.popleft() for _ in range(min(max_items, len(lane)))]
