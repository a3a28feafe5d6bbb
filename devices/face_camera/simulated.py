"""Face recognition camera (人脸识别): `face` events and `heartbeat`."""

from __future__ import annotations

from typing import ClassVar

from devices.simulation import KindModel, Message

# A 24x32 grey JPEG (no real face), small enough to send often: it stands in for
# the camera's crop when the camera could not recognise the person itself.
PLACEHOLDER_SNAPSHOT_B64 = (
    "/9j/4AAQSkZJRgABAQAAAQABAAD/2wBDABQODxIPDRQSEBIXFRQYHjIhHhwcHj0sLiQySUBMS0dARkVQWnNiUFVtVkVGZIhlbXd7gYKB"
    "TmCNl4x9lnN+gXz/wAALCAAgABgBAREA/8QAHwAAAQUBAQEBAQEAAAAAAAAAAAECAwQFBgcICQoL/8QAtRAAAgEDAwIEAwUFBAQAAAF9"
    "AQIDAAQRBRIhMUEGE1FhByJxFDKBkaEII0KxwRVS0fAkM2JyggkKFhcYGRolJicoKSo0NTY3ODk6Q0RFRkdISUpTVFVWV1hZWmNkZWZn"
    "aGlqc3R1dnd4eXqDhIWGh4iJipKTlJWWl5iZmqKjpKWmp6ipqrKztLW2t7i5usLDxMXGx8jJytLT1NXW19jZ2uHi4+Tl5ufo6erx8vP0"
    "9fb3+Pn6/9oACAEBAAA/AK6R1ZS1kK7hG2PpUiR1Jp8IM24/wjI+talV54wWDDqetQW+Y3Dduhq6HUjrSEbz7VEkdTJHUyR1/9k="
)


class FaceCameraModel(KindModel):
    """A camera at a gate that recognises enrolled residents."""

    kind: ClassVar[str] = "face_camera"

    def recognised(self, person_id: str, similarity: float | None = None) -> Message:
        """The camera matched an enrolled person (similarity drawn if not given)."""
        if similarity is None:
            similarity = self.rng.uniform(0.80, 0.99)
        return Message.event("face", person_id=person_id, similarity=round(similarity, 3))

    def snapshot_only(self, snapshot_b64: str = PLACEHOLDER_SNAPSHOT_B64) -> Message:
        """No match on the camera: send the crop and let the gateway recognise it."""
        return Message.event("face", snapshot=snapshot_b64)
