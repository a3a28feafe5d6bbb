"""What a device says, before and after it becomes an MQTT payload.

A `Message` is the device-level meaning (channel, type, fields); `build_payload`
adds the SPEC's common fields (`msg_id`, `ts`, `type`). Keeping the two apart
lets the per-kind models stay pure and the same plan be published or recorded.
"""

from __future__ import annotations

import itertools
import json
import secrets
import time
from dataclasses import dataclass, field
from typing import Any, Literal

MessageChannel = Literal["event", "telemetry"]
COMMON_FIELDS = frozenset({"msg_id", "ts", "type"})
MAX_PAYLOAD_BYTES = 256 * 1024  # SPEC §2


@dataclass(frozen=True)
class Message:
    """One event or telemetry reading of a device, without msg_id and ts yet."""

    channel: MessageChannel
    type: str
    fields: dict[str, Any] = field(default_factory=dict)
    ts_ms: int | None = None
    """The device's own time for it, when that is not the moment it is sent (a camera uploading a
    capture it buffered); None: stamped when published, like almost every message."""

    def __post_init__(self) -> None:
        clash = COMMON_FIELDS & self.fields.keys()
        if clash:
            raise ValueError(f"fields may not override the common fields: {sorted(clash)}")

    @classmethod
    def event(cls, type_: str, **fields: Any) -> Message:
        """A discrete event (published with QoS 1)."""
        return cls("event", type_, fields)

    @classmethod
    def telemetry(cls, type_: str, **fields: Any) -> Message:
        """A periodic reading."""
        return cls("telemetry", type_, fields)


class MsgIdFactory:
    """Unique message ids for one device: `<run prefix>-<counter>`.

    The prefix is random per run (not derived from the seed) so replaying a
    seeded scenario against a gateway that remembers msg_ids is not mistaken
    for a flood of duplicates; pass a fixed prefix for byte-exact tests.
    """

    def __init__(self, prefix: str | None = None) -> None:
        self.prefix = prefix if prefix is not None else secrets.token_hex(4)
        self._counter = itertools.count(1)

    def next(self) -> str:
        """The next id; thread-safe because `next()` on `itertools.count` is atomic."""
        return f"{self.prefix}-{next(self._counter)}"


def epoch_ms(now: float | None = None) -> int:
    """Epoch milliseconds, the SPEC's numeric `ts`."""
    return int((time.time() if now is None else now) * 1000)


def build_payload(message: Message, msg_id: str, ts_ms: int) -> dict[str, Any]:
    """The JSON object of SPEC §2: common fields first, then the message's own."""
    return {"msg_id": msg_id, "ts": ts_ms, "type": message.type, **message.fields}


def encode_payload(payload: dict[str, Any]) -> bytes:
    """UTF-8 JSON, compact, Chinese kept readable (plates, names)."""
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
