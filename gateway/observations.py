"""What the pipeline hands on: one accepted message, or one change the gateway itself observed."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from devices.base import ReadingValue
from gateway.registry import DeviceInfo

DEVICE_ONLINE = "device_online"
DEVICE_OFFLINE = "device_offline"


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
