"""海康威视 Hikvision cameras pushing ISAPI event notifications over HTTP: a vendor driver.

Hikvision plate and face cameras are registered as the built-in `plate_camera` and `face_camera`; what
is Hikvision's is only the way in (an HTTP push, in its own format). So this driver takes no MQTT topic
of its own: it is found by the vendor route (`POST /api/v1/vendors/hikvision/{site}/{device}`) through
`parse_push`, the HTTP counterpart of `normalize`, and hands back canonical messages of those kinds.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from datetime import timedelta
from typing import Literal

from devices.base import DeviceDriver, Push, Pushed, PushTarget
from devices.hikvision.isapi import parse

FORWARD_ATTRIBUTE = "hikvision_forward"
"""Device attribute: what the camera's `forward` direction means where it is mounted (`in`, the default, or `out`)."""


class Hikvision(DeviceDriver):
    kind = "hikvision"
    title = "海康威视 Hikvision camera (ISAPI HTTP push)"
    heartbeat_interval = timedelta(minutes=2)
    offline_timeout = timedelta(minutes=10)
    push_kinds = ("plate_camera", "face_camera")

    def parse_push(self, body: bytes, content_type: str, headers: Mapping[str, str], target: PushTarget) -> Pushed:
        """An `EventNotificationAlert` (XML, JSON or multipart with pictures) → the device's canonical messages.

        The picture, when the body has one, travels as bytes beside the payload (`Push.picture`).
        """
        forward = "out" if target.attributes.get(FORWARD_ATTRIBUTE, "in") == "out" else "in"
        note = parse(content_type, body, target.device, target.kind, target.timezone, forward)
        pushes = []
        for message in note.messages:
            payload = dict(message.payload)
            snapshot = payload.pop("snapshot", None)
            picture = base64.b64decode(snapshot) if isinstance(snapshot, str) else None
            channel: Literal["event", "telemetry"] = "event" if message.channel == "event" else "telemetry"
            pushes.append(Push(target.device, message.kind, channel, payload, picture))
        return Pushed(pushes, note.ignored)


