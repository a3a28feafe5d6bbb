"""车牌识别: a licence-plate camera at a vehicle entrance."""

from __future__ import annotations

from datetime import timedelta
from typing import ClassVar, Literal

from pydantic import Field

from devices.base import Capture, DeviceDriver, Heartbeat


class Plate(Capture):
    """A plate read by the camera (`plate`), or only a snapshot for the gateway to read."""

    result_field: ClassVar[str] = "plate"
    type: Literal["plate"]
    plate: str | None = Field(default=None, min_length=1, max_length=16)
    color: str | None = Field(default=None, max_length=16)
    confidence: int | float | None = Field(default=None, ge=0, le=1)


class PlateCamera(DeviceDriver):
    kind = "plate_camera"
    title = "车牌识别 licence-plate camera"
    heartbeat_interval = timedelta(minutes=2)
    offline_timeout = timedelta(minutes=10)
    events: ClassVar = {"plate": Plate}
    telemetry: ClassVar = {"heartbeat": Heartbeat}
