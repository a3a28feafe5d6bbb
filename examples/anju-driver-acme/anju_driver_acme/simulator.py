"""A simulated ACME VC-200: `anju simulate` and `SimulatedDevice(site, "acme_camera", ...)` use it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any, ClassVar

from devices.simulation import KindModel, Message

BEIJING = timezone(timedelta(hours=8))


class AcmeVC200Model(KindModel):
    kind: ClassVar[str] = "acme_camera"
    heartbeat_interval_s: ClassVar[float] = 60.0

    def plate(self, plate: str, confidence: int | None = None, direction: str | None = None) -> Message:
        """A car passed; `confidence` in ACME's 0-100, drawn when not given."""
        conf = confidence if confidence is not None else self.rng.randint(80, 99)
        fields: dict[str, Any] = {"plate": plate, "confidence": conf}
        if direction:
            fields["direction"] = direction
        return Message.event("plate", **fields)

    def encode(self, message: Message, msg_id: str, ts_ms: int) -> dict[str, Any]:
        """What the camera really sends: ACME's own format, not the SPEC's."""
        if message.channel == "telemetry":
            return {"evt": "HB"}
        time = datetime.fromtimestamp(ts_ms / 1000, UTC).astimezone(BEIJING).isoformat(timespec="seconds")
        out: dict[str, Any] = {"evt": "LPR", "plateNo": message.fields["plate"],
                               "conf": message.fields["confidence"], "time": time}
        if "direction" in message.fields:
            out["dir"] = message.fields["direction"].upper()
        return out
