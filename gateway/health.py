"""Offline detection on the clock: a device silent past its deadline turns offline without
waiting for another message (a dead elder button sends nothing at all)."""

from __future__ import annotations

import heapq
import threading
from datetime import datetime, timedelta
from typing import Any

from devices import DRIVERS
from kernel.config import HealthSettings
from kernel.durations import parse_duration

UNKNOWN_KIND_TIMEOUT = timedelta(minutes=10)


class OfflineTimeouts:
    """How long a device may stay silent: per device, then sleeping devices, then per kind, then the driver.

    1. `attributes.offline_timeout_s` (a positive number of seconds) on the device;
    2. `attributes.sleeping: true` (battery buttons that wake rarely): `health.sleeping_timeout` (25 h);
    3. `health.offline_timeouts[kind]`;
    4. the driver's `offline_timeout` (docs/health.md lists them).
    """

    def __init__(self, settings: HealthSettings | None = None) -> None:
        settings = settings or HealthSettings()
        self.per_kind = {kind: parse_duration(text) for kind, text in settings.offline_timeouts.items()}
        self.sleeping = parse_duration(settings.sleeping_timeout)

    def for_device(self, kind: str, attributes: dict[str, Any] | None) -> timedelta:
        attributes = attributes or {}
        override = attributes.get("offline_timeout_s")
        if isinstance(override, int | float) and not isinstance(override, bool) and override > 0:
            return timedelta(seconds=override)
        if attributes.get("sleeping") is True:
            return self.sleeping
        if kind in self.per_kind:
            return self.per_kind[kind]
        driver = DRIVERS.get(kind)
        return driver.offline_timeout if driver is not None else UNKNOWN_KIND_TIMEOUT


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
