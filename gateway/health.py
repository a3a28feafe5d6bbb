"""Offline detection on the clock: a device silent past its deadline turns offline without
waiting for another message (a dead elder button sends nothing at all)."""

from __future__ import annotations

import heapq
import threading
from datetime import datetime


class DeadlineTracker:
    """One deadline per device, earliest first.

    Extending a deadline (every message does) is a dict write, not a heap push:
    the heap holds at most about one entry per device, however busy the traffic,
    and an entry found stale on pop is pushed back with its current deadline.
    """

    def __init__(self) -> None:
        self._deadline: dict[str, datetime] = {}
        self._heap: list[tuple[datetime, str]] = []
        self._lock = threading.Lock()

    def arm(self, device_id: str, deadline: datetime) -> None:
        with self._lock:
            current = self._deadline.get(device_id)
            self._deadline[device_id] = deadline
            if current is None or deadline < current:
                heapq.heappush(self._heap, (deadline, device_id))

    def disarm(self, device_id: str) -> None:
        with self._lock:
            self._deadline.pop(device_id, None)

    def due(self, now: datetime) -> list[str]:
        """Devices whose deadline has passed; each is returned once, then disarmed."""
        out: list[str] = []
        with self._lock:
            while self._heap and self._heap[0][0] <= now:
                _, device_id = heapq.heappop(self._heap)
                current = self._deadline.get(device_id)
                if current is None:
                    continue
                if current > now:
                    heapq.heappush(self._heap, (current, device_id))
                    continue
                del self._deadline[device_id]
                out.append(device_id)
        return out

    def __len__(self) -> int:
        return len(self._deadline)
