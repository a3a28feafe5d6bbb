"""What the pipeline hands on: one accepted message, or one change the gateway itself observed."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from kernel.deviceinfo import DeviceInfo

DEVICE_ONLINE = "device_online"
DEVICE_OFFLINE = "device_offline"
DEVICE_FAULT = "device_fault"
"""The device's fault code changed (`data.fault`: the new code, None when cleared; `data.previous`)."""
DEVICE_TAMPER = "device_tamper"
"""The device reported tampering (a gate's `tamper`, a fence alarm with cause `tamper`)."""
BATTERY_LOW = "battery_low"
BATTERY_CRITICAL = "battery_critical"
"""The battery fell below `health.battery_low` / `health.battery_critical` (once per crossing)."""
DEVICE_FLAPPING = "device_flapping"
"""`health.flapping.count` offline transitions within `health.flapping.within`."""
UNRECOGNISED_ALARM = "unrecognised_alarm"
"""An event from a safety kind (elder button, fence, gate) that could not be understood: an unknown type, or a
payload that stays invalid after the tolerated deviations (`data`: `original_type`, `reason`, `detail`). The
message is also dead-lettered; this event makes sure a person hears of it (the floor rule `unrecognised-alarm`)."""
MESSAGES_REJECTED = "messages_rejected"
"""The device's messages are being dead-lettered faster than `gateway.rejected_per_minute` (`data`:
`rejected`, `window_s`, `reasons`): its firmware or configuration is broken; its integrator must look."""
PICTURE_FIELDS = frozenset({"snapshot"})
"""Payload fields that carry a picture (base64 JPEG): bounded by the payload limit only when decoding, and
replaced by their size wherever a payload is shown as evidence."""
HEALTH_TYPES = (DEVICE_ONLINE, DEVICE_OFFLINE, DEVICE_FAULT, DEVICE_TAMPER, BATTERY_LOW, BATTERY_CRITICAL,
                DEVICE_FLAPPING, UNRECOGNISED_ALARM, MESSAGES_REJECTED)
"""Types the gateway itself observes and stores as events, for every kind (not sent by devices)."""


@dataclass(slots=True)
class ReadingValue:
    """One value a message carries (a battery level, a zone's fence voltage), as drivers interpret it."""

    metric: str
    value: float
    zone: str | None = None


@dataclass(slots=True)
class PendingRead:
    """A stored picture the gateway still has to read (handed to vision after the commit)."""

    snapshot_id: int
    task: str
    content: bytes


@dataclass(slots=True)
class Observation:
    device: DeviceInfo
    channel: str
    """"event", "telemetry", or "status" for online/offline transitions."""
    type: str
    ts: datetime
    received_at: datetime
    msg_id: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
    readings: list[ReadingValue] = field(default_factory=list)
    event_id: int | None = None
    """Row id in `events` once stored (None for telemetry that is not stored as an event)."""
    unread: PendingRead | None = None
    """A picture the gateway has to read after the commit (a camera event without its own result)."""
