"""车牌识别: a licence-plate camera at a vehicle entrance."""

from __future__ import annotations

import random
from collections.abc import Mapping
from datetime import timedelta
from typing import Any, ClassVar, Literal

from pydantic import Field

from devices.base import Capture, DeviceDriver, Heartbeat, PersonEvidence
from devices.plate_camera.simulated import PlateCameraModel


class Plate(Capture):
    """A plate read by the camera (`plate`), or only a snapshot for the gateway to read."""

    result_field: ClassVar[str] = "plate"
    type: Literal["plate"]
    plate: str | None = Field(default=None, min_length=1, max_length=16)
    color: str | None = Field(default=None, max_length=16)
    confidence: int | float | None = Field(default=None, ge=0, le=1)
    uncertain: bool | None = None
    """Set by Anju's own reader: the calibrated confidence is below its threshold (docs/vision.md)."""


class PlateCamera(DeviceDriver):
    kind = "plate_camera"
    title = "车牌识别 licence-plate camera"
    heartbeat_interval = timedelta(minutes=2)
    offline_timeout = timedelta(minutes=10)
    events: ClassVar = {"plate": Plate}
    routine_types = frozenset({"plate"})
    telemetry: ClassVar = {"heartbeat": Heartbeat}

    def describe_reading(self, data: Mapping[str, Any]) -> str:
        """The plate read and the reader's confidence."""
        if data.get("plate"):
            return f"plate {data['plate']} ({data.get('confidence')})"
        return super().describe_reading(data)

    def person_evidence(self, type: str, data: Mapping[str, Any], device: str) -> PersonEvidence | None:
        """A `plate` shows the one person whose `plates` list it (a car several share shows none of them)."""
        if type != "plate":
            return None
        plate = data.get("plate")
        return PersonEvidence("plate", plate if isinstance(plate, str) else "")

    def simulated(self, rng: random.Random | None = None,
                  attributes: Mapping[str, Any] | None = None) -> PlateCameraModel:
        """The simulated plate camera (its attributes do not change the model)."""
        return PlateCameraModel(rng)
