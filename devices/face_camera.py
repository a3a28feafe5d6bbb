"""人脸识别: a face-recognition camera at a gate."""

from __future__ import annotations

from datetime import timedelta
from typing import ClassVar, Literal

from pydantic import Field, model_validator

from devices.base import Capture, DeviceDriver, Heartbeat


class Face(Capture):
    """Either the camera recognised the person (`person_id`, `similarity`) or it sends a `snapshot`."""

    result_field: ClassVar[str] = "person_id"
    type: Literal["face"]
    person_id: str | None = Field(default=None, min_length=1, max_length=128)
    similarity: int | float | None = Field(default=None, ge=0, le=1)

    @model_validator(mode="after")
    def _similarity_with_person(self) -> Face:
        if self.person_id is not None and self.similarity is None:
            raise ValueError("`person_id` needs `similarity`")
        return self


class FaceCamera(DeviceDriver):
    kind = "face_camera"
    title = "人脸识别 face-recognition camera"
    heartbeat_interval = timedelta(minutes=2)
    offline_timeout = timedelta(minutes=10)
    events: ClassVar = {"face": Face}
    telemetry: ClassVar = {"heartbeat": Heartbeat}
