"""人脸识别: a face-recognition camera at a gate."""

from __future__ import annotations

import random
from collections.abc import Mapping
from datetime import timedelta
from typing import Any, ClassVar, Literal

from pydantic import Field, model_validator

from devices.base import Capture, DeviceDriver, Heartbeat, PersonEvidence
from devices.face_camera.simulated import FaceCameraModel

FACE_MATCH_MIN = 0.6
"""A face match below this similarity is not a sighting (`face-unknown-night` calls it a poor match)."""


def good_face_match(similarity: Any) -> bool:
    """A camera's match counts unless it reports a similarity under `FACE_MATCH_MIN` (or not a number)."""
    if similarity is None:
        return True
    return isinstance(similarity, int | float) and not isinstance(similarity, bool) and similarity >= FACE_MATCH_MIN


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
    routine_types = frozenset({"face"})
    telemetry: ClassVar = {"heartbeat": Heartbeat}

    def describe_reading(self, data: Mapping[str, Any]) -> str:
        """The matched person and similarity, else the nearest enrolled one when the gallery had a candidate."""
        if data.get("person_id"):
            return f"person {data['person_id']} ({data.get('similarity')})"
        return "unknown face" + (f" (nearest {data['nearest']} {data.get('similarity')})" if data.get("nearest")
                                 else "")

    def person_evidence(self, type: str, data: Mapping[str, Any], device: str) -> PersonEvidence | None:
        """A `face` naming a `person_id` with a good enough match (a poor match or a bare snapshot shows nobody)."""
        if type != "face" or not good_face_match(data.get("similarity")):
            return None
        person = data.get("person_id")
        return PersonEvidence("person", person if isinstance(person, str) else "")

    def simulated(self, rng: random.Random | None = None,
                  attributes: Mapping[str, Any] | None = None) -> FaceCameraModel:
        """The simulated face camera (its attributes do not change the model)."""
        return FaceCameraModel(rng)
