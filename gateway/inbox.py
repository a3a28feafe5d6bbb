"""The processing queue, in three lanes: alarms at once, routine events ahead of telemetry, then telemetry.

A press must not wait behind a backlog of fence heartbeats, nor share their batch: an
urgent message (a device event that may be an alarm) is taken at once, in a small batch
of urgent ones only, so it commits quickly. Routine events (a gate pass, a plate read:
`DeviceDriver.routine_types`, sorted by `gateway.lanes.lane_of`) are not alarms and come
evenly spread, a few hundred a second at a busy gate: one transaction each cost more
than the events in it, so they ride in the telemetry batches, at their front. Telemetry
and status keep arrival order in their lane: an offline (the last will) must never
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
from enum import IntEnum
from typing import Generic, TypeVar

T = TypeVar("T")


class Lane(IntEnum):
    URGENT = 0
    """A device event that may be an alarm: taken at once, in a batch of its own lane."""
    ROUTINE = 1
    """A routine device event: before any telemetry, in the telemetry lane's batches (and its linger)."""
    BULK = 2
    """Telemetry and status, in arrival order."""


class Inbox(Generic[T]):
    def __init__(self) -> None:
        self._lanes: tuple[deque[T], deque[T], deque[T]] = (deque(), deque(), deque())
        self._ready = threading.Condition()
        self._lingering = 0
        """While a taker lingers: the count of routine and bulk messages it waits for (0: nobody lingers)."""

    def put(self, item: T, lane: Lane = Lane.BULK) -> None:
        with self._ready:
            self._lanes[lane].append(item)
            # A lingering taker wants an urgent one or a full batch: no wake-up per heartbeat.
            if lane is Lane.URGENT or not self._lingering or self._later() >= self._lingering:
                self._ready.notify()

    def _later(self) -> int:
        return len(self._lanes[Lane.ROUTINE]) + len(self._lanes[Lane.BULK])

    def qsize(self) -> int:
        return sum(len(lane) for lane in self._lanes)

    def empty(self) -> bool:
        return not any(self._lanes)

    def take(self, max_urgent: int, max_bulk: int, timeout: float, linger: float = 0.0) -> tuple[Lane, list[T]]:
        """Up to `max_urgent` urgent ones while any wait (lane URGENT), else up to `max_bulk` routine events then
        bulk (lane BULK); waits at most `timeout` for one.

        With `linger`, a routine/bulk batch smaller than `max_bulk` waits up to that long for more, unless an urgent
        one comes meanwhile (taken at once): devices spread their heartbeats and gates their passes evenly, so
        without it each became a transaction of its own, and a transaction costs more than the messages in it."""
        urgent, routine, bulk = self._lanes
        deadline = time.monotonic() + timeout
        with self._ready:
            while not urgent and not routine and not bulk:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return Lane.BULK, []
                self._ready.wait(remaining)
            if not urgent and linger > 0 and self._later() < max_bulk:
                self._lingering, until = max_bulk, time.monotonic() + linger
                try:
                    while not urgent and self._later() < max_bulk:
                        remaining = until - time.monotonic()
                        if remaining <= 0:
                            break
                        self._ready.wait(remaining)
                finally:
                    self._lingering = 0
            if urgent:
                return Lane.URGENT, [urgent.popleft() for _ in range(min(max_urgent, len(urgent)))]
            first = [routine.popleft() for _ in range(min(max_bulk, len(routine)))]
            return Lane.BULK, first + [bulk.popleft() for _ in range(min(max_bulk - len(first), len(bulk)))]


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
