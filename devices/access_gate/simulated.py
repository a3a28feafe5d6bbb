"""Access gate (门禁): `pass`, `forced_open`, `held_open`, `tamper`, `heartbeat`."""

from __future__ import annotations

from typing import Any, ClassVar

from devices.simulation import KindModel, Message

DIRECTIONS: tuple[str, ...] = ("in", "out")
METHODS: tuple[str, ...] = ("card", "face", "qr", "plate", "pin")
RESULTS: tuple[str, ...] = ("granted", "denied")


class AccessGateModel(KindModel):
    """A pedestrian gate with card, face, QR and PIN readers."""

    kind: ClassVar[str] = "access_gate"

    def passage(self, direction: str, method: str, credential: str, result: str = "granted") -> Message:
        """Someone presented a credential (`type: pass`; `pass` is a Python keyword)."""
        if direction not in DIRECTIONS or method not in METHODS or result not in RESULTS:
            raise ValueError(f"bad pass: {direction=} {method=} {result=}")
        return Message.event("pass", direction=direction, method=method, credential=credential, result=result)

    def forced_open(self) -> Message:
        """The door opened without a granted pass."""
        return Message.event("forced_open")

    def held_open(self, seconds: int) -> Message:
        """The door stayed open too long (a propped door, a delivery cart)."""
        return Message.event("held_open", seconds=int(seconds))

    def tamper(self) -> Message:
        """The reader's case was opened or the gate was hit."""
        return Message.event("tamper")

    def heartbeat_fields(self, now: float) -> dict[str, Any]:
        return {"door": "closed"}
