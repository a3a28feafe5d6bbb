"""Stored alerts as the API shows them (REST and the live stream): always renderable, pictures by public id.

The gateway and the journal keep an alert's evidence exactly as it was raised,
with the internal `snapshot_id` of each picture (sequential: what the gateway's
readers use). The API hands out only the picture's random `public_id`, under the
same key, so a picture's address cannot be guessed from another's (`null` once
the picture has expired). Every value goes through `renderable`, so nothing stored
can make an answer fail (api/jsonsafe.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from sqlalchemy.orm import Session

from api.jsonsafe import renderable
from gateway import snapshots

PICTURE_KEY = "snapshot_id"


def present_alerts(session: Session, alerts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Alerts as `alerting.alerts.alert_json` makes them, as the API shows them (one query for all their pictures)."""
    shown = [renderable(alert) for alert in alerts]
    holders = [holder for alert in shown for holder in _picture_holders(alert.get("evidence"))]
    if holders:
        public = snapshots.public_ids(session, (h[PICTURE_KEY] for h in holders))
        for holder in holders:
            holder[PICTURE_KEY] = public.get(holder[PICTURE_KEY])
    return shown


def present_alert(session: Session, alert: dict[str, Any]) -> dict[str, Any]:
    return present_alerts(session, [alert])[0]


def has_pictures(alert: dict[str, Any]) -> bool:
    """Whether showing this alert needs a look-up of picture ids (the live stream's fast path cannot do one)."""
    return next(_picture_holders(alert.get("evidence")), None) is not None


def public_picture_ids(session: Session, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Records carrying an internal `snapshot_id` (a person's sightings), with the public id instead."""
    public = snapshots.public_ids(session, (i[PICTURE_KEY] for i in items if _internal_id(i.get(PICTURE_KEY))))
    return [{**i, PICTURE_KEY: public.get(i[PICTURE_KEY]) if _internal_id(i.get(PICTURE_KEY)) else None}
            for i in items]


def _internal_id(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _picture_holders(value: Any) -> Iterator[dict[str, Any]]:
    """The objects in an evidence value that name a picture by its internal id (any depth, iteratively)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if _internal_id(item.get(PICTURE_KEY)):
                yield item
            stack.extend(v for v in item.values() if isinstance(v, dict | list))
        elif isinstance(item, list):
            stack.extend(v for v in item if isinstance(v, dict | list))
