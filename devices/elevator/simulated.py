"""Lift monitor (电梯): `status` every 30 s, `trapped`, `fault`, `restore`.

The model keeps the car's state: it moves between floors in the day's rhythm (busy mornings and evenings, quiet
nights), and a fault stops it: `stopped_between_floors` leaves it out of service between two floors until
`restore`, so the status agrees with the events.
"""

from __future__ import annotations

import random
from typing import Any, ClassVar

from devices.simulation import KindModel, Message

DAY_S = 86400.0
STOPPING_CODES = frozenset({"stopped_between_floors", "power_loss", "safety_circuit_open", "overspeed",
                            "overrun_top", "overrun_bottom"})
"""Fault codes after which the lift stands (out of service) until it is restored."""


def busy(now: float) -> float:
    """How likely the car is moving at simulated time `now` (seconds since midnight, day 0): rush hours high."""
    hour = (now % DAY_S) / 3600
    if 7 <= hour < 9 or 17 <= hour < 20:
        return 0.7
    if 6 <= hour < 22:
        return 0.35
    return 0.05


class ElevatorModel(KindModel):
    """One lift: its floor, door, and whether it runs and is in service."""

    kind: ClassVar[str] = "elevator"
    heartbeat_interval_s: ClassVar[float] = 30.0

    def __init__(self, rng: random.Random | None = None, floors: int = 11, lowest: int = 1) -> None:
        super().__init__(rng)
        if floors < 2:
            raise ValueError("a lift serves at least two floors")
        self.lowest, self.highest = lowest, lowest + floors - 1
        self.floor = lowest
        self.door = "closed"
        self.running = False
        self.in_service = True
        self.fault_code: str | None = None

    def status(self, now: float = 0.0) -> Message:
        """The periodic status; a car in service moves on by the hour's rhythm."""
        if self.in_service:
            self.running = self.rng.random() < busy(now)
            if self.running:
                self.floor = self.rng.randint(self.lowest, self.highest)
                self.door = "closed"
            else:
                self.door = "open" if self.rng.random() < 0.2 else "closed"
        return Message.telemetry("status", floor=self.floor, door=self.door, running=self.running,
                                 in_service=self.in_service)

    def heartbeat(self, now: float = 0.0) -> Message:
        """The lift's periodic message is its status (the kind has no bare heartbeat)."""
        return self.status(now)

    def fault(self, code: str) -> Message:
        """A fault; the stopping ones leave the car standing out of service until `restore`."""
        if code in STOPPING_CODES:
            self.running, self.in_service, self.door = False, False, "closed"
            self.fault_code = code
        return Message.event("fault", code=code, floor=self.floor)

    def trapped(self) -> Message:
        """People inside the stopped car pressed the alarm (困人)."""
        self.running, self.in_service = False, False
        return Message.event("trapped", floor=self.floor)

    def restore(self) -> Message:
        """The lift company freed the car: back in service."""
        code, self.fault_code = self.fault_code, None
        self.in_service, self.door = True, "open"
        return Message.event("restore", **({"code": code} if code else {}))

    def take_out_of_service(self) -> Message:
        """Switched off for repair or inspection (检修): the status says so until `restore`."""
        self.running, self.in_service = False, False
        return self.status()

    def heartbeat_fields(self, now: float) -> dict[str, Any]:
        return {}
