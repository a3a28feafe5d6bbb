"""车牌识别: a licence-plate camera at a vehicle entrance."""

from __future__ import annotations

from datetime import timedelta
from typing import ClassVar, Literal

from pydantic import Field, model_validator

from devices.base import DeviceDriver, Payload


class Plate(Payload):
    """A plate read by the camera (`plate`), or only a snapshot for the gateway to read."""

    type: Literal["plate"]
    plate: str | None = Field(default=None, min_length=1, max_length=16)
    color: str | None = Field(default=None, max_length=16)
    confidence: int | float | None = Field(default=None, ge=0, le=1)
    direction: Literal["in", "out"] | None = None
    snapshot: str | None = None
    snapshot_url: str | None = Field(default=None, max_length=2048)

    @model_validator(mode="after")
    def _plate_or_snapshot(self) -> Plate:
        if self.plate is None and self.snapshot is None and self.snapshot_url is None:
            raise ValueError("a plate event needs `plate`, `snapshot` or `snapshot_url`")
        return self


class Heartbeat(Payload):
    type: Literal["heartbeat"]


class PlateCamera(DeviceDriver):
    kind = "plate_camera"
    title = "车牌识别 licence-plate camera"
    heartbeat_interval = timedelta(minutes=2)
    offline_timeout = timedelta(minutes=10)
    events: ClassVar = {"plate": Plate}
    telemetry: ClassVar = {"heartbeat": Heartbeat}
