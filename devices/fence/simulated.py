"""Pulse electric fence host (脉冲电子围栏): `alarm`, `restore`, `heartbeat` with `voltage_kv`.

The host keeps each zone's voltage: a cut or shorted wire, or lost power, pulls
the zone's pulse voltage down until `restore`, so heartbeats agree with alarms.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any, ClassVar

from devices.simulation import KindModel, Message

CAUSES: tuple[str, ...] = ("intrusion", "cut", "short", "tamper", "power_loss")
_FAULT_KV = {"cut": 0.0, "short": 0.8, "power_loss": 0.0}


class FenceModel(KindModel):
    """One fence host controlling several perimeter zones."""

    kind: ClassVar[str] = "fence"
    heartbeat_interval_s: ClassVar[float] = 60.0

    def __init__(
        self, rng: random.Random | None = None, zones: Sequence[str] = ("Z1",), nominal_kv: float = 8.5
    ) -> None:
        super().__init__(rng)
        if not zones:
            raise ValueError("a fence host needs at least one zone")
        self.zones = list(zones)
        self.nominal_kv = nominal_kv
        self.faults: dict[str, str] = {}  # zone -> cause currently pulling its voltage down

    def alarm(self, zone: str, cause: str) -> Message:
        """A zone alarmed; voltage-affecting causes stay in effect until `restore`."""
        self._check_zone(zone)
        if cause not in CAUSES:
            raise ValueError(f"unknown fence alarm cause {cause!r}")
        if cause in _FAULT_KV:
            self.faults[zone] = cause
        return Message.event("alarm", zone=zone, cause=cause)

    def restore(self, zone: str) -> Message:
        """The zone is back to normal."""
        self._check_zone(zone)
        self.faults.pop(zone, None)
        return Message.event("restore", zone=zone)

    def voltages(self) -> dict[str, float]:
        """Per-zone pulse voltage in kV, with a little measurement noise."""
        out: dict[str, float] = {}
        for zone in self.zones:
            cause = self.faults.get(zone)
            base = _FAULT_KV[cause] if cause else self.nominal_kv + self.rng.uniform(-0.4, 0.3)
            out[zone] = round(max(0.0, base + (self.rng.uniform(-0.05, 0.05) if cause else 0.0)), 2)
        return out

    def heartbeat_fields(self, now: float) -> dict[str, Any]:
        return {"voltage_kv": self.voltages(), "armed": True}

    def _check_zone(self, zone: str) -> None:
        if zone not in self.zones:
            raise ValueError(f"fence host has no zone {zone!r} (zones: {self.zones})")
