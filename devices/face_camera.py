"""人脸识别: a face-recognition camera at a gate."""

from __future__ import annotations

from datetime import timedelta
from typing import ClassVar, Literal

from pydantic import Field, model_validator

from devices.base import DeviceDriver, Payload


class Face(Payload):
    """Either the camera recognised the person (`person_id`, `similarity`) or it sends a `snapshot`."""

    type: Literal["face"]
    person_id: str | None = Field(default=None, min_length=1, max_length=128)
    similarity: int | float | None = Field(default=None, ge=0, le=1)
    snapshot: str | None = None
    snapshot_url: str | None = Field(default=None, max_length=2048)
    direction: Literal["in", "out"] | None = None

    @model_validator(mode="after")
    def _person_or_snapshot(self) -> Face:
        if self.person_id is None and self.snapshot is None and self.snapshot_url is None:
            raise ValueError("a face event needs `person_id` and `similarity`, or a `snapshot`")
        if self.person_id is not None and self.similarity is None:
            raise ValueError("`person_id` needs `similarity`")
        return self


class Heartbeat(Payload):
    type: Literal["heartbeat"]


class FaceCamera(DeviceDriver):
    kind = "face_camera"
    title = "人脸识别 face-recognition camera"
    heartbeat_interval = timedelta(minutes=2)
    offline_timeout = timedelta(minutes=10)
    events: ClassVar = {"face": Face}
    telemetry: ClassVar = {"heartbeat": Heartbeat}
