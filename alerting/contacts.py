"""Who to call about a device's alert: what its driver says (an elder button's elder and family).

One function for the alert page (`api/routers/alerts.py`) and the family's notifications
(`alerting.notifications.plan`), so the console and the messages can never name different families.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from devices import get_driver
from kernel.db.models import Device, Person
from rules.persons import PersonDirectory


def device_contacts(session: Session, device: Device, persons: PersonDirectory | None) -> dict[str, Any] | None:
    """The driver's `contacts` (`DeviceDriver.contacts`), from the device's attributes and, if the driver asks,
    the person whose `devices` list it; None when the kind has nobody to call."""
    driver = get_driver(device.kind)
    if driver is None:
        return None
    attrs = device.attributes if isinstance(device.attributes, dict) else {}

    def holder() -> tuple[str, dict[str, Any]] | None:
        directory = persons if persons is not None else PersonDirectory.load(session)  # an empty one is no reason
        held = directory.holder(device.site_id, device.id)
        person = session.get(Person, held.id) if held is not None else None
        if person is None:
            return None
        return person.name, person.attributes if isinstance(person.attributes, dict) else {}

    return driver.contacts(attrs, holder)
