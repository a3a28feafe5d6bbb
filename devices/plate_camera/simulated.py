"""Plate recognition camera (车牌识别): `plate` events and `heartbeat`."""

from __future__ import annotations

from typing import ClassVar

from devices.simulation import KindModel, Message


class PlateCameraModel(KindModel):
    """A camera over a vehicle lane that reads plates itself."""

    kind: ClassVar[str] = "plate_camera"

    def plate(
        self, plate: str, color: str | None, direction: str, confidence: float | None = None
    ) -> Message:
        """A car passed; confidence is drawn (mostly high, sometimes a dirty plate) when not given."""
        if confidence is None:
            confidence = (
                self.rng.uniform(0.90, 0.995) if self.rng.random() < 0.93 else self.rng.uniform(0.55, 0.85)
            )
        fields: dict[str, object] = {
            "plate": plate,
            "confidence": round(confidence, 3),
            "direction": direction,
        }
        if color:
            fields["color"] = color
        return Message.event("plate", **fields)
