"""The simulated device of each kind, as the drivers provide it.

Each kind's model lives in its driver's folder (`devices/<kind>/simulated.py`) and is returned by
`DeviceDriver.simulated`: built-in kinds and third-party plugins answer through the same hook, so this
module keeps no table of kinds. The model classes are re-exported here for the simulators' scripts.
"""

from __future__ import annotations

import random
from typing import Any

from devices.access_gate import AccessGateModel
from devices.elder_button import ElderButtonModel
from devices.elevator import ElevatorModel
from devices.face_camera import FaceCameraModel
from devices.fence import FenceModel
from devices.heating import HeatingModel
from devices.plate_camera import PlateCameraModel
from devices.simulation import KindModel, simulated_model
from devices.water import WaterModel


def make_model(
    kind: str, rng: random.Random | None = None, attributes: dict[str, Any] | None = None
) -> KindModel:
    """The model for a device kind, configured from the site file's `attributes` where that matters."""
    from devices import DRIVERS  # read at call time: drivers installed later (docs/integrators.md) count

    driver = DRIVERS.get(kind)
    if driver is None:
        raise ValueError(f"unknown device kind {kind!r}")
    model = simulated_model(driver, rng, attributes)
    if model is None:
        raise ValueError(f"the {kind} driver has no simulator")
    return model


__all__ = [
    "AccessGateModel",
    "ElderButtonModel",
    "ElevatorModel",
    "FaceCameraModel",
    "FenceModel",
    "HeatingModel",
    "KindModel",
    "PlateCameraModel",
    "WaterModel",
    "make_model",
]
