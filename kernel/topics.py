"""The topic layout of SPEC §2, in one place: the gateway parses with it, simulators and tests build with it.

Parsing does not check the kind against the drivers, so that the gateway can
tell an unknown kind (`unknown_kind`) from a malformed topic (`malformed_topic`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

PREFIX = "anju/v1"
CHANNELS = ("event", "telemetry", "status", "cmd_result")
"""What devices publish and the gateway subscribes to; `cmd_result` is a device's answer to a command."""
COMMAND_CHANNEL = "cmd"
"""What the gateway publishes to a device (docs/commands.md); devices subscribe to their own."""
_ID = r"[A-Za-z0-9_-]{1,64}"
ID_RE = re.compile(rf"^{_ID}$")
STATUS_ONLINE = b"online"
STATUS_OFFLINE = b"offline"
_DEVICE_TOPIC = re.compile(
    rf"^anju/v1/(?P<site>{_ID})/(?P<kind>{_ID})/(?P<device>{_ID})/(?P<channel>event|telemetry|status|cmd_result)$"
)


@dataclass(frozen=True, slots=True)
class DeviceTopic:
    site: str
    kind: str
    device: str
    channel: str


def parse_device_topic(topic: str) -> DeviceTopic | None:
    """The parts of a device-to-gateway topic, or None when it is not one."""
    m = _DEVICE_TOPIC.match(topic)
    if m is None:
        return None
    return DeviceTopic(m["site"], m["kind"], m["device"], m["channel"])


def subscription_filters(shared_group: str | None = None) -> list[str]:
    """What the gateway subscribes to; through `$share/<group>/` when workers share the load."""
    filters = [f"{PREFIX}/+/+/+/{channel}" for channel in CHANNELS]
    if shared_group:
        filters = [f"$share/{shared_group}/{f}" for f in filters]
    return filters


def is_valid_id(value: str) -> bool:
    """True for a site or device id the SPEC allows (`[A-Za-z0-9_-]{1,64}`)."""
    return bool(ID_RE.match(value))


def device_topic(site: str, kind: str, device: str, channel: str) -> str:
    """Build a device topic, refusing anything the gateway would call malformed."""
    for what, value in (("site", site), ("kind", kind), ("device", device)):
        if not is_valid_id(value):
            raise ValueError(f"bad {what} id {value!r}")
    if channel not in CHANNELS:
        raise ValueError(f"bad channel {channel!r}")
    return f"{PREFIX}/{site}/{kind}/{device}/{channel}"


def command_topic(site: str, kind: str, device: str) -> str:
    """The topic the gateway publishes a device's commands on (QoS 1), and the device subscribes to."""
    for what, value in (("site", site), ("kind", kind), ("device", device)):
        if not is_valid_id(value):
            raise ValueError(f"bad {what} id {value!r}")
    return f"{PREFIX}/{site}/{kind}/{device}/{COMMAND_CHANNEL}"


def alerts_topic(site: str) -> str:
    return f"{PREFIX}/{site}/alerts"
