"""Which alerts and devices a caller sees: one rule, as SQL for lists and as Python for the live stream.

Patrol users see the patrol alerts and the devices of their grids; maintenance
staff see the maintenance alerts (device health) everywhere; integrators see
every alert read-only; the community office every alert (of the token's grids when it names
some); admins see everything. Both forms below must agree
(a test checks them against each other).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import ColumnElement, false, true

from api.auth import Principal, Role
from kernel.db.models import Alert, Device


def alert_filter(who: Principal, columns: Any = Alert) -> ColumnElement[bool]:
    """A WHERE clause over `columns` (the alerts table, or the journal, which has the same columns)."""
    if who.role in (Role.ADMIN, Role.INTEGRATOR):
        return true()
    if who.role is Role.OFFICE:  # every alert, of its grids when the token names some (a street's office)
        return columns.grid_id.in_(sorted(who.grids)) if who.grids else true()
    if who.role is Role.MAINTENANCE:
        return columns.audience == "maintenance"
    if who.role is Role.PATROL and who.grids:
        return (columns.audience == "patrol") & columns.grid_id.in_(sorted(who.grids))
    return false()


def can_see_alert(who: Principal, alert: Mapping[str, Any]) -> bool:
    """The same rule for an alert as the API shows it (`alerting.alerts.alert_json`)."""
    if who.role in (Role.ADMIN, Role.INTEGRATOR):
        return True
    if who.role is Role.OFFICE:
        return not who.grids or alert.get("grid") in who.grids
    if who.role is Role.MAINTENANCE:
        return alert.get("audience") == "maintenance"
    if who.role is Role.PATROL and who.grids:
        return alert.get("audience") == "patrol" and alert.get("grid") in who.grids
    return False


def device_filter(who: Principal) -> ColumnElement[bool]:
    if who.role is Role.PATROL or (who.role is Role.OFFICE and who.grids):
        return Device.grid_id.in_(sorted(who.grids or ()))
    return true()


def can_see_device(who: Principal, device: Device) -> bool:
    if who.role is Role.PATROL or (who.role is Role.OFFICE and who.grids):
        return device.grid_id in (who.grids or ())
    return True
