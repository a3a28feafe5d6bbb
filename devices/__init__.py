"""Device drivers: one folder per kind (`devices/<kind>/`: driver, simulated device, sample payloads), all
behind `devices.base.DeviceDriver`.

`DRIVERS` maps a kind (the `{kind}` segment of a topic) to its driver instance:
the built-in drivers plus those installed packages declare in the `anju.devices`
entry-point group (`devices.registry`, docs/integrators.md). Drivers that could
not be loaded are in `driver_errors`, each with its package, entry point and reason.
"""

from __future__ import annotations

from devices.access_gate import AccessGate
from devices.base import DeviceDriver
from devices.elder_button import ElderButton
from devices.elevator import Elevator
from devices.face_camera import FaceCamera
from devices.fence import Fence
from devices.heating import Heating
from devices.hikvision import Hikvision
from devices.plate_camera import PlateCamera
from devices.registry import ENTRY_POINT_GROUP, DriverError, discover
from devices.water import Water
from kernel.config import use_kind_catalog

BUILTIN_DRIVERS: tuple[type[DeviceDriver], ...] = (ElderButton, AccessGate, PlateCamera, FaceCamera, Fence,
                                                    Elevator, Water, Heating)
BUILTIN_VENDORS: tuple[type[DeviceDriver], ...] = (Hikvision,)
"""Drivers that only take HTTP pushes (`parse_push`) for devices of built-in kinds: not topic kinds, so not in
`DRIVERS`. A plugin driver in `DRIVERS` that overrides `parse_push` takes pushes the same way."""
VENDORS: dict[str, DeviceDriver] = {cls.kind: cls() for cls in BUILTIN_VENDORS}

DRIVERS: dict[str, DeviceDriver] = {}
driver_errors: list[DriverError] = []
KINDS: tuple[str, ...] = ()


def reload_drivers() -> list[DriverError]:
    """(Re)discover the drivers, updating `DRIVERS`, `KINDS` and `driver_errors` in place; returns the errors.

    Runs once at import; call it again after installing a driver package into a running
    interpreter (the tests do). Modules that did `from devices import DRIVERS` see the change.
    """
    global KINDS
    found, errors = discover(BUILTIN_DRIVERS, ENTRY_POINT_GROUP)
    DRIVERS.clear()
    DRIVERS.update(found)
    driver_errors[:] = errors
    KINDS = tuple(DRIVERS)
    return list(errors)


def get_driver(kind: str) -> DeviceDriver | None:
    return DRIVERS.get(kind)


def push_driver(vendor: str) -> DeviceDriver | None:
    """The driver serving `POST /api/v1/vendors/{vendor}/...`: a built-in vendor, else a driver of that topic kind
    that takes pushes; None when no driver does."""
    driver = VENDORS.get(vendor) or DRIVERS.get(vendor)
    return driver if driver is not None and driver.takes_pushes else None


def canonical_kinds() -> list[str]:
    """The kinds devices are registered, matched by rules and shown as: vendor drivers map to these."""
    return sorted({driver.canonical for driver in DRIVERS.values()})


reload_drivers()

__all__ = ["BUILTIN_DRIVERS", "BUILTIN_VENDORS", "DRIVERS", "KINDS", "VENDORS", "DeviceDriver", "DriverError",
           "canonical_kinds", "driver_errors", "get_driver", "push_driver", "reload_drivers"]

use_kind_catalog(lambda: DRIVERS)  # settings name kinds (`health.offline_timeouts`): checked against the drivers
