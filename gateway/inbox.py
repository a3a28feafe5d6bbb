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
        self._lingering = 0
        """While a taker lingers: the bulk count it waits for (0: nobody lingers)."""

    def put(self, item: T, urgent: bool = False) -> None:
        with self._ready:
            (self._urgent if urgent else self._bulk).append(item)
            # A lingering taker wants an urgent one or a full bulk batch: no wake-up per heartbeat.
            if urgent or not self._lingering or len(self._bulk) >= self._lingering:
                self._ready.notify()

    def qsize(self) -> int:
        return len(self._urgent) + len(self._bulk)

    def empty(self) -> bool:
        return not self._urgent and not self._bulk

    def take(self, max_urgent: int, max_bulk: int, timeout: float, linger: float = 0.0) -> list[T]:
        """Up to `max_urgent` urgent ones while any wait, else up to `max_bulk` bulk ones; waits at most
        `timeout` for one.

        With `linger`, a bulk batch smaller than `max_bulk` waits up to that long for more bulk, unless an urgent
        one comes meanwhile (taken at once): devices spread their heartbeats evenly, so without it each
        heartbeat became a transaction of its own, and a transaction costs more than the heartbeats in it."""
        deadline = time.monotonic() + timeout
        with self._ready:
            while not self._urgent and not self._bulk:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return []
                self._ready.wait(remaining)
            if not self._urgent and linger > 0 and len(self._bulk) < max_bulk:
                self._lingering, until = max_bulk, time.monotonic() + linger
                try:
                    while not self._urgent and len(self._bulk) < max_bulk:
                        remaining = until - time.monotonic()
                        if remaining <= 0:
                            break
                        self._ready.wait(remaining)
                finally:
                    self._lingering = 0
            lane, limit = (self._urgent, max_urgent) if self._urgent else (self._bulk, max_bulk)
            return [lane.popleft() for _ in range(min(limit, len(lane)))]


def is_urgent(topic: str) -> bool:
    """Device events (a press, an intrusion) take the priority lane."""
    return topic.endswith("/event")


class BatchSizer:
    """How many messages of one lane to take into the next transaction.

    Sized by time, not count: a press that arrives while a transaction runs waits for its
    commit (telemetry, or other devices' events: a burst of fence alarms), so a transaction
    should take about `budget` seconds whatever a message costs on this machine and database.
    The cost per message is a moving average of what batches took; the per-batch overhead is
    in it, so the size settles where a whole batch takes `budget`.
    """

    MIN_SIZE = 10
    """Below this, the per-transaction overhead dominates and throughput falls."""

    def __init__(self, max_size: int, budget: float) -> None:
        self.max_size = max_size
        self.budget = budget
        self.size = min(max_size, 50)
        self._per_message: float | None = None

    def observe(self, count: int, seconds: float) -> None:
        per_message = seconds / count
        self._per_message = per_message if self._per_message is None else 0.8 * self._per_message + 0.2 * per_message
        ideal = int(self.budget / self._per_message) if self._per_message > 0 else self.max_size
        self.size = max(min(self.MIN_SIZE, self.max_size), min(self.max_size, ideal))
