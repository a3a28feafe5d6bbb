"""Device drivers: one module per kind, all behind `devices.base.DeviceDriver`.

`DRIVERS` maps a kind (the `{kind}` segment of a topic) to its driver instance.
"""

from __future__ import annotations

from devices.access_gate import AccessGate
from devices.base import DeviceDriver
from devices.elder_button import ElderButton
from devices.face_camera import FaceCamera
from devices.fence import Fence
from devices.plate_camera import PlateCamera

BUILTIN_DRIVERS: tuple[type[DeviceDriver], ...] = (ElderButton, AccessGate, PlateCamera, FaceCamera, Fence)

DRIVERS: dict[str, DeviceDriver] = {cls.kind: cls() for cls in BUILTIN_DRIVERS}
KINDS: tuple[str, ...] = tuple(DRIVERS)


def get_driver(kind: str) -> DeviceDriver | None:
    return DRIVERS.get(kind)


__all__ = ["BUILTIN_DRIVERS", "DRIVERS", "KINDS", "DeviceDriver", "get_driver"]
