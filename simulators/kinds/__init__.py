"""Per-kind device models: one module per SPEC device kind."""

from __future__ import annotations

import random
from typing import Any

from simulators.kinds.access_gate import AccessGateModel
from simulators.kinds.base import KindModel
from simulators.kinds.elder_button import ElderButtonModel
from simulators.kinds.face_camera import FaceCameraModel
from simulators.kinds.fence import FenceModel
from simulators.kinds.plate_camera import PlateCameraModel

MODEL_CLASSES: dict[str, type[KindModel]] = {
    cls.kind: cls
    for cls in (ElderButtonModel, AccessGateModel, PlateCameraModel, FaceCameraModel, FenceModel)
}


def make_model(
    kind: str, rng: random.Random | None = None, attributes: dict[str, Any] | None = None
) -> KindModel:
    """The model for a device kind, configured from the site file's `attributes` where that matters."""
    attributes = attributes or {}
    if kind == "fence":
        zones = [str(z) for z in attributes.get("zones") or ["Z1"]]
        return FenceModel(rng, zones=zones, nominal_kv=float(attributes.get("pulse_kv", 8.5)))
    if kind in MODEL_CLASSES:
        return MODEL_CLASSES[kind](rng)
    from devices import DRIVERS  # a third-party driver may ship its own simulated device (docs/integrators.md)

    driver = DRIVERS.get(kind)
    model = driver.simulated(rng) if driver is not None else None
    if model is None:
        raise ValueError(f"unknown device kind {kind!r}" if driver is None else f"the {kind} driver has no simulator")
    return model


__all__ = [
    "MODEL_CLASSES",
    "AccessGateModel",
    "ElderButtonModel",
    "FaceCameraModel",
    "FenceModel",
    "KindModel",
    "PlateCameraModel",
    "make_model",
]
