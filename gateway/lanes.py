"""Which inbox lane a message takes (`gateway.inbox.Lane`), decided on the MQTT network thread.

Telemetry and status go to the bulk lane. A device event is urgent unless its kind's driver names its type
routine (`DeviceDriver.routine_types`: a gate pass, a plate or face read), which takes a glance at the payload's
`type`. Anything in doubt is urgent (an unknown kind, a payload that is not a small JSON object, a type under a
site's own alias): a wrong "urgent" costs a transaction, a wrong "routine" would make an alarm wait for the
telemetry batch's linger. The decoder still judges every message in full on the processing thread.
"""

from __future__ import annotations

import orjson

from devices import get_driver
from gateway.inbox import Lane
from gateway.tolerance import resolve_type

PEEK_LIMIT = 16_384
"""Larger event payloads (a camera's picture inside) are not parsed twice: urgent."""


def lane_of(topic: str, payload: bytes) -> Lane:
    if not topic.endswith("/event"):
        return Lane.BULK
    parts = topic.split("/")
    driver = get_driver(parts[3]) if len(parts) == 6 else None
    if driver is None or not driver.routine_types or len(payload) > PEEK_LIMIT:
        return Lane.URGENT
    try:
        data = orjson.loads(payload)
    except orjson.JSONDecodeError:
        return Lane.URGENT
    if not isinstance(data, dict):
        return Lane.URGENT
    type_, _deviation = resolve_type(data.get("type"), driver.events, driver.aliases)  # as the decoder reads it
    return Lane.ROUTINE if type_ in driver.routine_types else Lane.URGENT
