"""What a device says, before and after it becomes an MQTT payload.

`Message` and `build_payload` live in `devices.simulation` (each kind's simulated device, in its
driver's folder, makes them); they are re-exported here for the simulators. What is left here is the
publishing side: message ids, time stamps and the bytes on the wire.
"""

from __future__ import annotations

import itertools
import json
import secrets
import time
from typing import Any

from devices.simulation import COMMON_FIELDS, Message, MessageChannel, build_payload

MAX_PAYLOAD_BYTES = 256 * 1024  # SPEC §2


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


def encode_payload(payload: dict[str, Any]) -> bytes:
    """UTF-8 JSON, compact, Chinese kept readable (plates, names)."""
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


__all__ = ["COMMON_FIELDS", "MAX_PAYLOAD_BYTES", "Message", "MessageChannel", "MsgIdFactory", "build_payload",
           "encode_payload", "epoch_ms"]
