"""One-tap elder alarm button (一键通): `press`, `cancel`, `heartbeat` with `battery`."""

from __future__ import annotations

import random
from typing import Any, ClassVar

from devices.simulation import KindModel, Message

LOW_BATTERY = 20


class ElderButtonModel(KindModel):
    """A battery-powered button in an elder's flat.

    Battery falls slowly with simulated time (a coin cell lasts about a year);
    `start_fast_drain` makes it fall to a low level quickly, the fault a gateway
    should catch before the button dies.
    """

    kind: ClassVar[str] = "elder_button"
    heartbeat_interval_s: ClassVar[float] = 60.0

    def __init__(
        self, rng: random.Random | None = None, battery: float | None = None, drain_per_hour: float = 0.01
    ) -> None:
        super().__init__(rng)
        self.battery = float(battery) if battery is not None else self.rng.uniform(35.0, 100.0)
        self.drain_per_hour = drain_per_hour
        self.floor = 0.0
        self._last_now: float | None = None

    def press(self) -> Message:
        """The elder pressed the button: the SPEC's critical alarm."""
        return Message.event("press")

    def cancel(self) -> Message:
        """The elder (or family) cancelled an accidental press."""
        return Message.event("cancel")

    def start_fast_drain(self, per_hour: float = 20.0, floor: float = 3.0) -> None:
        """Make the battery fall fast, but not below `floor` (a failing cell)."""
        self.drain_per_hour = per_hour
        self.floor = min(floor, self.battery)

    def advance(self, now: float) -> None:
        """Drain the battery for the simulated time since the last reading."""
        if self._last_now is not None and now > self._last_now:
            drained = self.battery - self.drain_per_hour * (now - self._last_now) / 3600.0
            self.battery = max(self.floor, drained)
        self._last_now = now

    def heartbeat_fields(self, now: float) -> dict[str, Any]:
        self.advance(now)
        return {"battery": round(self.battery)}
